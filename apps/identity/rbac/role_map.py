"""Role → permissions: the in-process map, the transaction overlay, and the service checks.

`role_permissions()` answers from a per-process map tagged with the RBAC
version (`version.py`). Anything that changes a role or the catalogue calls
`bump_rbac_version()`: the bump lands when the transaction commits, and until
then only that transaction sees its change, through a private per-thread
overlay, so a rollback cannot leave rolled-back grants in the shared map. Every
process notices the new version at its next request and reloads from the
database; in the steady state a check costs no query.

Services check with `require_permission(tenant=, actor_role=, code=)`, which
raises `apps.common.exceptions.PermissionDenied`, or ask `has_permission(...)`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import transaction

from apps.common.exceptions import PermissionDenied
from apps.common.tenancy import TenantLike, current_tenant, tenant_context
from apps.identity.models import SYSTEM_ROLE_CODES, Role
from apps.identity.rbac.catalogue import ensure_declared
from apps.identity.rbac.version import increment_version, rbac_version

# --------------------------------------------------------------------------- the bump


class _PendingChange:
    """The on-commit callback of a transaction that changed RBAC.

    While it sits in the connection's pending on-commit callbacks, this
    thread's transaction holds uncommitted role changes: its checks read
    through a private overlay, never the shared map, so a rollback cannot
    leave rolled-back grants cached. Django drops it on rollback (of the
    transaction or of the savepoint it was registered in), runs it on commit.
    """

    def __init__(self) -> None:
        self.done = False

        # A plain function, not `__call__`: Django logs a robust callback's failure by its `__qualname__`.
        def bump_rbac_version_on_commit() -> None:
            self.done = True
            increment_version()

        self.callback = bump_rbac_version_on_commit


def bump_rbac_version() -> None:
    """Tell every process that roles or permissions changed. Call after any such write.

    Outside a transaction the change is committed already: bump now. Inside
    one, bump when it commits — a bump before commit would let another process
    reload the old rows and tag them with the new version — and until then let
    this transaction see its own changes through its overlay.
    """
    if not transaction.get_connection().in_atomic_block:
        increment_version()
        return
    _local.overlay = _RoleMap()  # whatever this transaction cached before the change is stale
    if not _uncommitted_change():
        pending = _PendingChange()
        _local.pending = pending
        # robust: the write has committed by then; a cache hiccup must not turn it into a 500.
        transaction.on_commit(pending.callback, robust=True)


# --------------------------------------------------------------------------- the map

_RoleKey = tuple[str | None, str]  # (tenant id, or None for a system role; role code)


@dataclass
class _RoleMap:
    version: int | None = None
    entries: dict[_RoleKey, frozenset[str]] = field(default_factory=dict)


_MAX_ENTRIES = 50_000  # custom roles of many tenants: start over rather than grow without bound
_map = _RoleMap()
_lock = threading.Lock()
# Per thread, like Django's connections: the pending change of this thread's transaction and its overlay.
_local = threading.local()


def _uncommitted_change() -> bool:
    """Whether this thread's open transaction changed RBAC (see `_PendingChange`). Cheap when not."""
    pending: _PendingChange | None = getattr(_local, "pending", None)
    if pending is None:
        return False
    connection = transaction.get_connection()
    # `run_on_commit` holds (savepoint ids, callback, robust) for the open transaction.
    if not pending.done and any(entry[1] is pending.callback for entry in connection.run_on_commit):
        return True
    _local.pending = None  # committed (and bumped) or rolled back: the overlay is over
    _local.overlay = _RoleMap()
    return False


@dataclass(frozen=True)
class _TenantRef:
    """Enough of a tenant for `tenant_context()`: the id is all the walls need."""

    id: Any


def _role_key(tenant_id: UUID | str, role_code: str) -> _RoleKey:
    # System codes are reserved (a check constraint forbids custom roles using them).
    return (None, role_code) if role_code in SYSTEM_ROLE_CODES else (str(tenant_id), role_code)


def _load_roles(tenant_id: UUID | str | None) -> dict[_RoleKey, frozenset[str]]:
    """System roles, plus — for a tenant id — that tenant's custom roles, read under its context."""
    if tenant_id is None:
        # System rows are readable without a tenant (the RLS policy admits NULL-tenant rows).
        rows = list(Role.all_roles.filter(tenant__isnull=True).values_list("tenant_id", "code", "permissions"))
    else:
        active = current_tenant()
        if active is not None and str(active.id) == str(tenant_id):
            rows = list(Role.objects.values_list("tenant_id", "code", "permissions"))
        else:
            with tenant_context(_TenantRef(tenant_id)):
                rows = list(Role.objects.values_list("tenant_id", "code", "permissions"))
    return {
        (None if owner is None else str(owner), code): frozenset(str(p) for p in (perms or ()))
        for owner, code, perms in rows
    }


def _store(role_map: _RoleMap, version: int, loaded: dict[_RoleKey, frozenset[str]]) -> None:
    if role_map.version != version or len(role_map.entries) + len(loaded) > _MAX_ENTRIES:
        role_map.version = version
        role_map.entries = {}
    role_map.entries.update(loaded)


def role_permissions(*, tenant_id: UUID | str, role_code: str, version: int | None = None) -> frozenset[str]:
    """The permission codes of `role_code` (a system role or a custom role of `tenant_id`).

    Answers from the in-process map when it is tagged with the current version
    and knows the role; otherwise reloads from the database. An unknown role
    grants nothing (and is remembered, so a stale code costs one query).
    `version`: an RBAC version the caller already fetched (saves the cache read).
    """
    current = rbac_version() if version is None else version
    key = _role_key(tenant_id, role_code)
    if _uncommitted_change():
        overlay: _RoleMap = _local.overlay
        if overlay.version == current and key in overlay.entries:
            return overlay.entries[key]
        loaded = _load_roles(key[0])
        loaded.setdefault(key, frozenset())
        _store(overlay, current, loaded)
        return loaded[key]
    with _lock:
        if _map.version == current:
            found = _map.entries.get(key)
            if found is not None:
                return found
    # Load outside the lock: a query must not serialise every thread of the process.
    loaded = _load_roles(key[0])
    loaded.setdefault(key, frozenset())  # an unknown role: remembered as granting nothing
    with _lock:
        _store(_map, current, loaded)
    return loaded[key]


def permissions_for(*, tenant_id: UUID | str, roles: Iterable[str], version: int | None = None) -> frozenset[str]:
    """The union of the permissions of `roles` in the tenant."""
    current = rbac_version() if version is None else version
    granted: frozenset[str] = frozenset()
    for role in roles:
        granted |= role_permissions(tenant_id=tenant_id, role_code=role, version=current)
    return granted


def reset_role_map() -> None:
    """Forget the in-process map (tests; never needed in production — the version does it)."""
    with _lock:
        _map.version = None
        _map.entries = {}
    _local.pending = None
    _local.overlay = _RoleMap()


# --------------------------------------------------------------------------- service checks


def has_permission(*, tenant: TenantLike, actor_role: str | None, code: str, version: int | None = None) -> bool:
    """Whether a member holding `actor_role` in `tenant` has `code`. No role (no membership): no."""
    ensure_declared(code)
    if not actor_role:
        return False
    return code in role_permissions(tenant_id=tenant.id, role_code=actor_role, version=version)


def require_permission(*, tenant: TenantLike, actor_role: str | None, code: str, version: int | None = None) -> None:
    """Raise `PermissionDenied` (403 problem+json) unless `actor_role` grants `code` in `tenant`."""
    if not has_permission(tenant=tenant, actor_role=actor_role, code=code, version=version):
        raise PermissionDenied(f"This needs the permission {code}.", permission=code)
