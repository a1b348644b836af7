"""Which rows belong to a tenant, found from the model registry (never a hand-kept list that drifts).

A model is *owned* by a tenant when one of its rows can be traced to it:
- a foreign key to the tenant model (every `TenantScopedModel`, and global
  tables such as portals, sessions, API key prefixes; the mixed roles table
  too, whose system rows have no tenant and so are never matched);
- a plain `tenant_id` column (relay and webhook bookkeeping that keeps the id);
- a NOT NULL foreign key to an owned model (a refresh token through its session).

The one row keyed otherwise is the tenant's audit head (`AuditHead`, keyed by
stream name): it is named here because the chain cannot verify without it.

Users are global and may belong to several tenants: they are exported (every
user an owned row points at, members first of all) but never erased here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models

from apps.common.tenancy import TenantContextMissing, is_unscoped
from apps.identity.models import AuditHead
from apps.identity.services.audit.chain import TENANT_STREAM_PREFIX


@dataclass(frozen=True)
class Owned:
    """A model and the lookup that selects one tenant's rows of it."""

    model: type[models.Model]
    lookup: str

    @property
    def label(self) -> str:
        return str(self.model._meta.label)

    def rows(self, tenant_id: UUID | str) -> models.QuerySet[Any]:
        """The tenant's rows in pk order (deterministic files); only inside `unscoped()`.

        A plain queryset, not the model's manager: the tenant filter is explicit
        here, and append-only querysets (analytics) must still let an
        offboarding erase them (PostgreSQL's trigger admits the operator's bypass).
        """
        if not is_unscoped():
            raise TenantContextMissing("a tenant's rows across apps are read only inside `with unscoped():`")
        rows: models.QuerySet[Any] = models.QuerySet(model=self.model)
        if self.model is AuditHead:
            return rows.filter(stream=f"{TENANT_STREAM_PREFIX}{tenant_id}").order_by("pk")
        return rows.filter(**{self.lookup: tenant_id}).order_by("pk")


def tenant_model() -> type[models.Model]:
    return apps.get_model(settings.TENANT_MODEL)


def _foreign_keys(model: type[models.Model]) -> list[models.ForeignKey[Any, Any]]:
    return [f for f in model._meta.concrete_fields if isinstance(f, models.ForeignKey)]


def owned_models() -> list[Owned]:
    """Every owned model, dependencies first (a row's foreign-key targets come before it)."""
    tenant = tenant_model()
    user = get_user_model()
    candidates = [m for m in apps.get_models() if m not in (tenant, user) and not m._meta.proxy]
    found: dict[type[models.Model], str] = {}
    for model in candidates:
        for fk in _foreign_keys(model):
            if fk.related_model is tenant:
                found[model] = fk.attname
                break
        else:
            column = next((f for f in model._meta.concrete_fields if f.attname == "tenant_id"), None)
            if column is not None and not column.is_relation:
                found[model] = "tenant_id"
    # Owned through an owned parent: repeat until nothing new turns up.
    changed = True
    while changed:
        changed = False
        for model in candidates:
            if model in found:
                continue
            for fk in _foreign_keys(model):
                target = fk.related_model
                if isinstance(target, type) and not fk.null and target is not model and target in found:
                    found[model] = f"{fk.name}__{found[target]}"
                    changed = True
                    break
    found[AuditHead] = "stream"
    return [Owned(model, found[model]) for model in _dependency_order(list(found))]


def _dependency_order(models_: list[type[models.Model]]) -> list[type[models.Model]]:
    """Kahn's order over the foreign keys among `models_`, ties broken by label; a cycle keeps label order."""
    remaining = {m: {fk.related_model for fk in _foreign_keys(m)} & (set(models_) - {m}) for m in models_}
    ordered: list[type[models.Model]] = []
    while remaining:
        ready = sorted((m for m, deps in remaining.items() if not deps), key=lambda m: m._meta.label)
        if not ready:  # a cycle: take the rest by label (insert order then relies on deferred constraints)
            ready = sorted(remaining, key=lambda m: m._meta.label)
        for model in ready:
            ordered.append(model)
            del remaining[model]
        for deps in remaining.values():
            deps.difference_update(ready)
    return ordered


def referenced_user_ids(owned: Iterable[Owned], tenant_id: UUID | str) -> set[Any]:
    """Every user an owned row points at (members, inviters, uploaders...); call inside `unscoped()`."""
    user = get_user_model()
    ids: set[Any] = set()
    for entry in owned:
        for fk in _foreign_keys(entry.model):
            if fk.related_model is user:
                values = entry.rows(tenant_id).exclude(**{f"{fk.attname}__isnull": True})
                ids.update(values.values_list(fk.attname, flat=True).distinct())
    return ids


__all__ = ["Owned", "owned_models", "referenced_user_ids", "tenant_model"]
