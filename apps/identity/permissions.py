"""Identity's permission codes and what each system role is granted.

Codes are `app.verb_noun`. `apps.identity.rbac` autodiscovers this module (and
every installed app's `permissions` module); `manage.py seed_rbac` makes the
database's catalogue and system roles match these declarations.
"""

from __future__ import annotations

from typing import Final

VIEW_MEMBER: Final = "identity.view_member"
VIEW_ROLE: Final = "identity.view_role"
MANAGE_MEMBER: Final = "identity.manage_member"
INVITE_MEMBER: Final = "identity.invite_member"
VIEW_AUDIT: Final = "identity.view_audit"
MANAGE_PORTAL: Final = "identity.manage_portal"
MANAGE_ROLE: Final = "identity.manage_role"
# Integrations: API keys live in identity (docs/adr/0015-api-keys-in-identity.md); webhooks use the second code.
MANAGE_API_KEY: Final = "integrations.manage_api_key"
MANAGE_WEBHOOK: Final = "integrations.manage_webhook"

# Namespaces this module declares codes in besides its app label (`apps.identity.rbac.catalogue`).
NAMESPACES: Final = ("integrations",)

PERMISSIONS: Final[dict[str, str]] = {
    VIEW_MEMBER: "See the tenant's members",
    VIEW_ROLE: "See the tenant's roles and their permissions",
    MANAGE_MEMBER: "Change members' roles, suspend and remove members",
    INVITE_MEMBER: "Invite people to the tenant and revoke invitations",
    VIEW_AUDIT: "Read the tenant's audit trail",
    MANAGE_PORTAL: "Create portals and change their settings",
    MANAGE_ROLE: "Create, change and delete the tenant's custom roles",
    MANAGE_API_KEY: "Create, list and revoke the tenant's API keys",
    MANAGE_WEBHOOK: "Manage the tenant's outbound webhook endpoints and their deliveries",
}

_EVERYONE: Final = frozenset({VIEW_MEMBER, VIEW_ROLE})
_ADMINS: Final = _EVERYONE | {
    MANAGE_MEMBER,
    INVITE_MEMBER,
    VIEW_AUDIT,
    MANAGE_PORTAL,
    MANAGE_ROLE,
    MANAGE_API_KEY,
    MANAGE_WEBHOOK,
}

GRANTS: Final[dict[str, frozenset[str]]] = {
    "owner": _ADMINS,
    "admin": _ADMINS,
    "member": _EVERYONE,
}
