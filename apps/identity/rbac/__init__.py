"""RBAC: the declared permission catalogue, role → permissions resolution, and the checks.

Import from here (`from apps.identity import rbac`) — except the request
checks and view coverage, which stand on the bearer authentication and are
imported from their modules (`apps.identity.rbac.request_checks`,
`apps.identity.rbac.view_coverage`) so that the revocation check, which the
authentication runs, can use this package without a cycle. The modules hold
one concern each:

- `catalogue` — **declarations.** Every app's `permissions.py` declares
  `PERMISSIONS` and the system roles' `GRANTS`; `declared_catalogue()`
  collects and validates them. `manage.py seed_rbac`
  (`apps.identity.services.seeding`) makes the database match.
- `version` — **the RBAC version**, a counter in the Django cache (Redis in
  production) under `RBAC_VERSION_KEY`, shared by every process.
- `role_map` — **resolution.** `role_permissions()` answers from an in-process
  map tagged with the RBAC version. Anything that changes a role or the
  catalogue calls `bump_rbac_version()`; the bump lands when the transaction
  commits (until then only that transaction sees its change, through a private
  overlay), and every process reloads at its next request. In the steady state
  a check costs no query. Service checks: `require_permission(tenant=,
  actor_role=, code=)` raises `apps.common.exceptions.PermissionDenied`;
  `has_permission(...)` answers.
- `request_checks` — **request checks** against the `Principal` that
  `apps.identity.authentication` leaves on `request.auth`: `ActionPermission`
  (DRF; an action missing from `view.required_permissions` is denied) and
  `request_has_permission` (the template filter
  `{% load rbac %}{% if request|can:"billing.view_invoice" %}`).
- `view_coverage` — `view_actions` / `uncovered_actions`, for tests that check
  every action of a view is mapped.
"""

from apps.identity.rbac.catalogue import (
    CODE_RE,
    SYSTEM_ROLE_NAMES,
    Catalogue,
    declared_catalogue,
    discover_catalogue,
    ensure_declared,
)
from apps.identity.rbac.role_map import (
    bump_rbac_version,
    has_permission,
    permissions_for,
    require_permission,
    reset_role_map,
    role_permissions,
)
from apps.identity.rbac.version import RBAC_VERSION_KEY, rbac_version, rbac_version_from

__all__ = [
    "CODE_RE",
    "RBAC_VERSION_KEY",
    "SYSTEM_ROLE_NAMES",
    "Catalogue",
    "bump_rbac_version",
    "declared_catalogue",
    "discover_catalogue",
    "ensure_declared",
    "has_permission",
    "permissions_for",
    "rbac_version",
    "rbac_version_from",
    "require_permission",
    "reset_role_map",
    "role_permissions",
]
