"""Flows' permission codes and what each system role is granted.

Autodiscovered by `apps.identity.rbac`; `manage.py seed_rbac` writes them to
the database. Following one's own onboarding checklist needs no code: it is
every member's own data.
"""

from __future__ import annotations

from typing import Final

MANAGE_FLOW: Final = "flows.manage_flow"

PERMISSIONS: Final[dict[str, str]] = {
    MANAGE_FLOW: "Define the tenant's onboarding flows and see everyone's progress",
}

GRANTS: Final[dict[str, frozenset[str]]] = {
    "owner": frozenset({MANAGE_FLOW}),
    "admin": frozenset({MANAGE_FLOW}),
}
