"""The current tenant of a request, job or command, held in a context variable.

It is set in a few places only — API authentication, the portal resolver, the
job decorator and `with tenant_context(t):` in commands — and always reset in
`finally`. Code that needs it and finds none raises `TenantContextMissing`:
there is no "last tenant" fallback.

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


class TenantLike(Protocol):
    @property
    def id(self) -> Any: ...


class TenantContextMissing(RuntimeError):
    """Tenant data was touched with no tenant context set."""


_current: ContextVar[TenantLike | None] = ContextVar("atrium_current_tenant", default=None)
_loader: Callable[[UUID | str], TenantLike] | None = None
_enter_hooks: list[Callable[[TenantLike | None], None]] = []


def current_tenant() -> TenantLike | None:
    return _current.get()


def current_tenant_id() -> Any | None:
    tenant = _current.get()
    return tenant.id if tenant is not None else None


def require_tenant() -> TenantLike:
    tenant = _current.get()
    if tenant is None:
        raise TenantContextMissing(
            "No tenant context: enter one with `tenant_context(tenant)` or use the named escape `all_tenants`."
        )
    return tenant


def register_tenant_loader(loader: Callable[[UUID | str], TenantLike]) -> None:
    """The identity app tells common how to load a tenant by id (for jobs)."""
    global _loader  # one loader per process, set in AppConfig.ready()
    _loader = loader


def load_tenant(tenant_id: UUID | str) -> TenantLike:
    if _loader is None:
        raise RuntimeError("No tenant loader registered; the identity app registers one in ready().")
    return _loader(tenant_id)


def register_enter_hook(hook: Callable[[TenantLike | None], None]) -> None:
    """Called whenever the context changes (e.g. to apply the database's tenant setting)."""
    if hook not in _enter_hooks:
        _enter_hooks.append(hook)


def _notify(tenant: TenantLike | None) -> None:
    for hook in _enter_hooks:
        hook(tenant)


@contextmanager
def tenant_context(tenant: TenantLike | None) -> Iterator[TenantLike | None]:
    """Run the block as `tenant` (or as no tenant, with None); restores the outer context."""
    token = _current.set(tenant)
    _notify(tenant)
    try:
        yield tenant
    finally:
        _current.reset(token)
        _notify(_current.get())
