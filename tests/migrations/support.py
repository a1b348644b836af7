"""Helpers for migration tests on populated data: move the schema, write and read rows as each state knew them.

Rows are written through the historical models of the executor's state (never `apps.*.models`,
which describe only the newest schema) and read back field by field, so a migration that loses a
row or changes a value shows up as a difference.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.apps.registry import Apps
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from apps.common import rls

Target = tuple[str, str | None]


def migrate(targets: list[Target]) -> Apps:
    """Migrate the test database to `targets` (forwards or backwards); the models of that state."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor.loader.build_graph()
    # (app, None) unapplies the whole app: it has no models in that state.
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def migrate_to_latest() -> Apps:
    """Leave the schema as the other tests expect it: every app at its newest migration."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    return migrate(executor.loader.graph.leaf_nodes())


def rows(model: Any, ids: Iterable[Any], fields: list[str] | None = None) -> dict[Any, dict[str, Any]]:
    """id -> {column: value} for the given rows, read across tenants (operator bypass)."""
    names = fields or [f.attname for f in model._meta.concrete_fields]
    with transaction.atomic():
        rls.apply_bypass(True)
        found = model._base_manager.filter(pk__in=list(ids)).values(*names)
        return {row[model._meta.pk.attname]: row for row in found}


def visible_ids(model: Any, tenant_id: Any) -> set[Any]:
    """The ids of `model` a tenant's own transaction can see (row-level security, no bypass)."""
    with transaction.atomic():
        rls.apply_tenant(tenant_id)
        return set(model._base_manager.values_list("pk", flat=True))


def row_maker(old: Apps, made: dict[tuple[str, str], list[Any]], *, when: datetime) -> Callable[..., Any]:
    """`create(app, model, **values)`: a row through the historical model, its id noted in `made`.

    Rows with a `created_at` get `when`, so values read back after the migration can be compared.
    """

    def create(app: str, model_name: str, /, **values: Any) -> Any:
        model = old.get_model(app, model_name)
        if any(f.name == "created_at" for f in model._meta.fields):
            values["created_at"] = when
        obj = model._base_manager.create(id=uuid.uuid4(), **values)
        made.setdefault((app, model_name), []).append(obj.id)
        return obj

    return create
