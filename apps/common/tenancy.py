"""The current tenant of a request, job or command, and the models that obey it.

The tenant is held in a context variable. It is set in a few places only — API
authentication, the portal resolver, the job decorator and
`with tenant_context(t):` in commands — and always reset in `finally`. Code
that needs it and finds none raises `TenantContextMissing`: there is no "last
tenant" fallback.

`TenantScopedModel.objects` (`apps.common.models`) filters by the current
tenant and raises without one. The one way round it is named and greppable: `with unscoped():` (operator
code, commands, migrations), inside which `Model.all_tenants` works. On
PostgreSQL the same context drives row-level security (see `apps.common.rls`);
there the escape works only for the operator database role, never for the
role web and worker processes connect as.

`apps.common` knows no tenant model: a tenant here is any object with an `id`.
The identity app registers a loader so jobs can turn a recorded id back into
its tenant (`register_tenant_loader`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol
from uuid import UUID

from django.db import DatabaseError, transaction

from apps.common import rls


class TenantLike(Protocol):
    @property
    def id(self) -> Any: ...


class TenantContextMissing(RuntimeError):
    """Tenant data was touched with no tenant context set."""


class TenantMismatch(RuntimeError):
    """A row of one tenant was written while another tenant's context was active."""


_current: ContextVar[TenantLike | None] = ContextVar("atrium_current_tenant", default=None)
_unscoped: ContextVar[bool] = ContextVar("atrium_unscoped", default=False)
_loader: Callable[[UUID | str], TenantLike] | None = None


def current_tenant() -> TenantLike | None:
    return _current.get()


def current_tenant_id() -> Any | None:
    tenant = _current.get()
    return tenant.id if tenant is not None else None


def require_tenant() -> TenantLike:
    tenant = _current.get()
    if tenant is None:
        raise TenantContextMissing(
            "No tenant context: enter one with `tenant_context(tenant)`, or use the named escape "
            "`with unscoped():` in operator code."
        )
    return tenant


def tenant_cache_key(*parts: object) -> str:
    """A cache key in the current tenant's namespace (`t:<tenant id>:<parts>`); raises without a tenant.

    Tenant data cached under a bare key would be served to whichever tenant asks
    next: every tenant-owned cache entry goes through here.
    """
    return ":".join(["t", str(require_tenant().id), *(str(part) for part in parts)])


def is_unscoped() -> bool:
    return _unscoped.get()


def register_tenant_loader(loader: Callable[[UUID | str], TenantLike]) -> None:
    """The identity app tells common how to load a tenant by id (for jobs)."""
    global _loader  # one loader per process, set in AppConfig.ready()
    _loader = loader


def load_tenant(tenant_id: UUID | str) -> TenantLike:
    if _loader is None:
        raise RuntimeError("No tenant loader registered; the identity app registers one in ready().")
    return _loader(tenant_id)


@contextmanager
def tenant_bound(tenant: TenantLike) -> Iterator[TenantLike]:
    """The context variable only (the ORM wall), for `statement_tenancy.tenant_reads`, which sets the database."""
    token = _current.set(tenant)
    try:
        yield tenant
    finally:
        _current.reset(token)


@contextmanager
def tenant_context(tenant: TenantLike | None) -> Iterator[TenantLike | None]:
    """Run the block as `tenant` (or as no tenant, with None) inside a transaction.

    The database's transaction-local tenant setting follows the context, so it
    cannot outlive the block or leak to the next user of a pooled connection.
    Inside an outer transaction the block takes no savepoint: an exception that
    leaves it dooms that transaction (as an erroring request should); code that
    wants to catch and carry on wraps its own `transaction.atomic()` inside.
    """
    outer = _current.get()
    # A setting made in a transaction we open dies with it: nothing to restore then.
    opens_transaction = not transaction.get_connection().in_atomic_block
    if not opens_transaction and _same_tenant(outer, tenant):
        # Already this tenant, in this very transaction (the outer block opened or joined it and is
        # still inside it): the database setting is already right, so there is nothing to set or restore.
        same = _current.set(tenant)
        try:
            yield tenant
        finally:
            _current.reset(same)
        return
    # Inside a request's transaction no savepoint is needed (and none is paid for);
    # outside one (commands, jobs) this opens the transaction the setting lives in.
    with transaction.atomic(savepoint=False):
        token = _current.set(tenant)
        try:
            rls.apply_tenant(tenant.id if tenant is not None else None)
            yield tenant
            if not opens_transaction:
                _restore(lambda: rls.apply_tenant(outer.id if outer is not None else None))
        finally:
            _current.reset(token)


@contextmanager
def tenant_transaction(tenant: TenantLike) -> Iterator[TenantLike]:
    """A transaction that is `tenant`'s from its first statement, so contexts nested in it set nothing again.

    Outside any transaction it opens one (one tenant setting, and nothing to restore at the end:
    the setting dies with the transaction). Inside someone else's, a savepoint keeps a failure
    here to itself, as `transaction.atomic` would.
    """
    if transaction.get_connection().in_atomic_block:
        with transaction.atomic(), tenant_context(tenant):
            yield tenant
    else:
        with tenant_context(tenant):
            yield tenant


def _same_tenant(outer: TenantLike | None, tenant: TenantLike | None) -> bool:
    return outer is not None and tenant is not None and str(outer.id) == str(tenant.id)


@contextmanager
def unscoped() -> Iterator[None]:
    """The named escape: operator code that must see every tenant's rows.

    Never used on a request path. Inside it `Model.all_tenants` works and, on
    PostgreSQL, the `operator_bypass` policies admit every row — for the
    operator database role only (commands, migrations). On the web and worker
    role the policies would stay shut and the block would quietly see nothing,
    so entering it there raises `rls.BypassUnavailable` (ADR 0008).
    """
    outer = _unscoped.get()
    opens_transaction = not transaction.get_connection().in_atomic_block
    with transaction.atomic(savepoint=False):
        token = _unscoped.set(True)
        try:
            rls.apply_bypass(True)
            yield
            if not opens_transaction:
                _restore(lambda: rls.apply_bypass(outer))
        finally:
            _unscoped.reset(token)


def _restore(apply: Callable[[], None]) -> None:
    """Put the outer setting back; a transaction already failed will roll back (and clear it) anyway."""
    if transaction.get_connection().needs_rollback:
        return
    try:
        apply()
    except DatabaseError:
        transaction.set_rollback(True)
