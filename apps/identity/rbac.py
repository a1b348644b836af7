"""RBAC: the declared permission catalogue, role → permissions resolution, and the checks.

**Declarations.** Every installed app may have a `permissions` module holding
`PERMISSIONS: dict[code, description]` (codes `<app label>.<verb>_<noun>`) and
`GRANTS: dict[system role code, frozenset[code]]`. `declared_catalogue()`
collects them from `apps.get_app_configs()`, so identity never imports billing,
flows or files by name (the import-linter layers contract). `manage.py
seed_rbac` (`apps.identity.services.rbac`) makes the database match.

**Resolution.** `role_permissions()` answers from an in-process map tagged with
the RBAC version, a counter kept in the Django cache (Redis in production)
under `RBAC_VERSION_KEY`. Anything that changes a role or the catalogue calls
`bump_rbac_version()`; the bump lands when the transaction commits (until then
only that transaction sees its change, through a private overlay), and every
process notices the new version at its next request and reloads from the
database. In the steady state a check costs no
query, and the version read can share one cache round trip with the token
revocation keys (`cache.get_many([RBAC_VERSION_KEY, ...])`, then
`rbac_version_from(values.get(RBAC_VERSION_KEY))`).

**Checks.**
- DRF: `ActionPermission` reads `view.required_permissions` (action → codes;
  the action is the viewset action, or the lower-case HTTP method for an
  `APIView`). An action missing from the map is denied.
- Services: `require_permission(tenant=, actor_role=, code=)` raises
  `apps.common.exceptions.PermissionDenied`; `has_permission(...)` answers.
- Templates: `{% load rbac %}{% if request|can:"billing.view_invoice" %}`.

The request side relies on one contract with the authentication layers (the
API's JWT authentication and the portal resolver): they set `request.auth` to a
`Principal` — an object with `tenant_id` and `roles` (the membership's role
codes) and optionally `rbac_version` (the version fetched together with the
revocation keys). DRF's `Request.auth` setter also sets it on the underlying
`HttpRequest`, so templates see the same principal. `RbacPrincipal` is a ready
implementation.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from django.apps import apps
from django.core.cache import cache as django_cache
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView
from rest_framework.viewsets import ViewSetMixin

from apps.common.exceptions import PermissionDenied
from apps.common.tenancy import TenantLike, current_tenant, tenant_context
from apps.identity.models import SYSTEM_ROLE_CODES, Role

logger = logging.getLogger("atrium.rbac")

# --------------------------------------------------------------------------- declarations

CODE_RE = re.compile(r"^(?P<app>[a-z][a-z0-9_]*)\.(?P<verb>[a-z]+)_(?P<noun>[a-z][a-z0-9_]*)$")
SYSTEM_ROLE_NAMES: dict[str, str] = {"owner": "Owner", "admin": "Admin", "member": "Member"}
_DESCRIPTION_MAX = 200  # Permission.description's max_length
_PROJECT_PACKAGE = "apps"


@dataclass(frozen=True)
class Catalogue:
    """Every declared permission code and what the system roles are granted (union over apps)."""

    permissions: Mapping[str, str]
    grants: Mapping[str, frozenset[str]]
    sources: Mapping[str, str] = field(default_factory=dict)  # code → declaring app label


def discover_catalogue() -> Catalogue:
    """Import each installed app's `permissions` module and merge and validate the declarations.

    Raises `ImproperlyConfigured` on a malformed declaration: a code that is not
    `<this app's label>.<verb>_<noun>`, an empty description, a grant to a role
    that is not a system role, or a grant of an undeclared code.
    """
    permissions: dict[str, str] = {}
    sources: dict[str, str] = {}
    grants: dict[str, set[str]] = {code: set() for code in SYSTEM_ROLE_CODES}
    for config in apps.get_app_configs():
        # Only Atrium's own apps: a third-party `permissions` module (DRF has one) is something else.
        if config.name.split(".")[0] != _PROJECT_PACKAGE:
            continue
        name = f"{config.name}.permissions"
        # find_spec first: a missing module is normal, but an ImportError raised
        # *inside* an existing permissions module must not be swallowed.
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        declared = getattr(module, "PERMISSIONS", None)
        if declared is None:
            continue
        for code, description in dict(declared).items():
            match = CODE_RE.match(code)
            if match is None or match["app"] != config.label:
                raise ImproperlyConfigured(f"{name}: permission code {code!r} is not '{config.label}.<verb>_<noun>'.")
            if not description or len(description) > _DESCRIPTION_MAX:
                raise ImproperlyConfigured(f"{name}: {code} needs a description of 1 to {_DESCRIPTION_MAX} characters.")
            permissions[code] = description
            sources[code] = config.label
        for role, codes in dict(getattr(module, "GRANTS", {})).items():
            if role not in grants:
                raise ImproperlyConfigured(f"{name}: GRANTS names {role!r}, which is not a system role.")
            grants[role].update(codes)
    for role, codes in grants.items():
        unknown = sorted(codes - permissions.keys())
        if unknown:
            raise ImproperlyConfigured(f"System role {role!r} is granted undeclared codes: {', '.join(unknown)}.")
    return Catalogue(
        permissions=permissions,
        grants={role: frozenset(codes) for role, codes in grants.items()},
        sources=sources,
    )


@cache
def declared_catalogue() -> Catalogue:
    """`discover_catalogue()`, once per process (declarations are code; they change on deploy)."""
    return discover_catalogue()


def ensure_declared(code: str) -> None:
    """A check naming an undeclared code is a programming error (a typo would deny everyone silently)."""
    if code not in declared_catalogue().permissions:
        raise ImproperlyConfigured(f"Permission code {code!r} is not declared in any app's permissions.py.")


# --------------------------------------------------------------------------- the RBAC version

RBAC_VERSION_KEY = "rbac:version"


def _fresh_epoch() -> int:
    # Random, not 1: after a cache flush a process may still hold a map tagged
    # with a small number, and restarting the count could land on it again.
    return secrets.randbelow(2**52) + 1


def rbac_version_from(value: object) -> int:
    """The RBAC version from an already-fetched cache value (e.g. a `get_many` result).

    A missing value (never bumped, evicted, flushed) starts a new random epoch,
    which costs one extra round trip once.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    epoch = _fresh_epoch()
    django_cache.add(RBAC_VERSION_KEY, epoch, timeout=None)  # only one process's epoch wins
    current = django_cache.get(RBAC_VERSION_KEY)
    return current if isinstance(current, int) else epoch


def rbac_version() -> int:
    """The current RBAC version: one cache round trip."""
    return rbac_version_from(django_cache.get(RBAC_VERSION_KEY))


def _incr_version() -> int:
    try:
        return int(django_cache.incr(RBAC_VERSION_KEY))
    except ValueError:  # missing: start an epoch (add is atomic), then count from it
        django_cache.add(RBAC_VERSION_KEY, _fresh_epoch(), timeout=None)
        return int(django_cache.incr(RBAC_VERSION_KEY))


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
            _incr_version()

        self.callback = bump_rbac_version_on_commit


def bump_rbac_version() -> None:
    """Tell every process that roles or permissions changed. Call after any such write.

    Outside a transaction the change is committed already: bump now. Inside
    one, bump when it commits — a bump before commit would let another process
    reload the old rows and tag them with the new version — and until then let
    this transaction see its own changes through its overlay.
    """
    if not transaction.get_connection().in_atomic_block:
        _incr_version()
        return
    _local.overlay = _RoleMap()  # whatever this transaction cached before the change is stale
    if not _uncommitted_change():
        pending = _PendingChange()
        _local.pending = pending
        # robust: the write has committed by then; a cache hiccup must not turn it into a 500.
        transaction.on_commit(pending.callback, robust=True)


# --------------------------------------------------------------------------- role → permissions

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


# --------------------------------------------------------------------------- request checks


@runtime_checkable
class Principal(Protocol):
    """Who is asking, as the authentication layer leaves it on `request.auth`."""

    @property
    def tenant_id(self) -> UUID | str: ...

    @property
    def roles(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class RbacPrincipal:
    """A ready `Principal`. `rbac_version`: the version fetched with the revocation keys, if any."""

    tenant_id: UUID | str
    roles: tuple[str, ...]
    rbac_version: int | None = None


def request_principal(request: Request | Any) -> Principal | None:
    """The principal on `request.auth`, or None (anonymous, or another kind of auth)."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, Principal) else None


def request_permissions(request: Request | Any) -> frozenset[str]:
    """Every code the request's principal holds; empty when there is none.

    Defence in depth: a principal of another tenant than the current context
    holds nothing here (the authentication layer should already have refused).
    """
    principal = request_principal(request)
    if principal is None:
        return frozenset()
    active = current_tenant()
    if active is not None and str(active.id) != str(principal.tenant_id):
        return frozenset()
    version = getattr(principal, "rbac_version", None)
    roles = principal.roles
    return permissions_for(
        tenant_id=principal.tenant_id,
        # A bare string is a Sequence[str] too; iterating it would look up one-letter roles.
        roles=(roles,) if isinstance(roles, str) else roles,
        version=version if isinstance(version, int) else None,
    )


def request_has_permission(request: Request | Any, code: str) -> bool:
    """Whether the request's principal holds `code` (the template filter `can` uses this)."""
    ensure_declared(code)
    return code in request_permissions(request)


class ActionPermission(BasePermission):
    """DRF permission: `view.required_permissions[action]` must all be held; unlisted actions are denied.

    `required_permissions: dict[str, set[str]]` maps the viewset action (or, on
    an `APIView`, the lower-case HTTP method; HEAD falls back to GET) to the
    codes it needs, all of them. An empty set admits any principal of the
    tenant. A method the view does not handle passes here so DRF answers 405.
    """

    message = "You do not have permission to perform this action."

    def has_permission(self, request: Request, view: APIView) -> bool:
        method = (request.method or "").lower()
        if method not in view.http_method_names or getattr(view, method, None) is None:
            return True  # no handler: DRF's 405 follows, no data is reachable
        action = _action_of(request, view, method)
        required: Mapping[str, Iterable[str]] | None = getattr(view, "required_permissions", None)
        if required is None or action not in required:
            # Deny by default, and say why in the log: the view's map is incomplete.
            logger.warning(
                "rbac.action_unmapped",
                extra={"view": type(view).__qualname__, "action": action},
            )
            return False
        codes = set(required[action])
        for code in codes:
            ensure_declared(code)
        if request_principal(request) is None:
            return False
        missing = codes - request_permissions(request)
        if missing:
            self.message = f"This needs the permission {', '.join(sorted(missing))}."
            return False
        return True


def _action_of(request: Request, view: APIView, method: str) -> str:
    if isinstance(view, ViewSetMixin):
        return str(getattr(view, "action", None) or method)
    required = getattr(view, "required_permissions", None) or {}
    if method == "head" and "head" not in required:
        return "get"
    return method


_STANDARD_ACTIONS = ("list", "create", "retrieve", "update", "partial_update", "destroy")


def view_actions(view_class: type[APIView]) -> set[str]:
    """The actions a view class can be asked to perform, as `ActionPermission` names them.

    For tests that check `required_permissions` covers every action. OPTIONS
    (DRF's metadata) and HEAD (follows GET) are left out.
    """
    if issubclass(view_class, ViewSetMixin):
        names = {name for name in _STANDARD_ACTIONS if hasattr(view_class, name)}
        names |= {extra.__name__ for extra in view_class.get_extra_actions()}
        return names
    return {m for m in view_class.http_method_names if m not in {"options", "head"} and hasattr(view_class, m)}


def uncovered_actions(view_class: type[APIView]) -> set[str]:
    """Actions of `view_class` missing from its `required_permissions` (they would all be denied)."""
    required = getattr(view_class, "required_permissions", None) or {}
    return view_actions(view_class) - set(required)
