"""Every live tenant, a page at a time: the one walk that periodic jobs take over the tenant table.

The tenant table is global (no RLS), so the worker's database role reads it without a tenant
context; each job then enters each tenant's context to touch its rows. Pages are keyset pages on
the primary key: a tenant created or offboarded during the walk is either seen once or not at
all, never twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from uuid import UUID

from django.db.models import QuerySet

from apps.identity.models import Tenant

PAGE_SIZE = 500


def _live(*, active_only: bool, ids: Collection[str | UUID] | None) -> QuerySet[Tenant]:
    tenants = Tenant.objects.exclude(status=Tenant.Status.OFFBOARDED)
    if active_only:
        tenants = tenants.filter(status=Tenant.Status.ACTIVE)
    if ids is not None:
        tenants = tenants.filter(id__in=list(ids))
    return tenants.order_by("id")


def tenants_each(
    *, active_only: bool = False, ids: Collection[str | UUID] | None = None, page_size: int = PAGE_SIZE
) -> Iterator[Tenant]:
    """Every tenant not offboarded (only `active` ones if asked; only `ids` if given), in id order."""
    last: UUID | None = None
    while True:
        page = _live(active_only=active_only, ids=ids)
        if last is not None:
            page = page.filter(id__gt=last)
        tenants = list(page[:page_size])
        yield from tenants
        if len(tenants) < page_size:
            return
        last = tenants[-1].id


def tenant_id_batches(*, size: int) -> Iterator[list[str]]:
    """The ids of every tenant not offboarded, `size` at a time, in id order."""
    last: UUID | None = None
    while True:
        page = _live(active_only=False, ids=None)
        if last is not None:
            page = page.filter(id__gt=last)
        ids = list(page.values_list("id", flat=True)[:size])
        if ids:
            yield [str(tenant_id) for tenant_id in ids]
        if len(ids) < size:
            return
        last = ids[-1]
