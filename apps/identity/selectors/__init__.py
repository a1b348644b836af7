"""Identity's reads, by topic; this package is the face other apps and the views import.

A selector is a plain typed function with keyword-only arguments that reads and
never writes (`<noun>_get`, `<noun>_list`); writes and rules are in `services`.
"""

from apps.identity.selectors.accounts import (
    UserMembership,
    me_get,
    user_audit_tenants,
    user_get_active,
    user_get_by_email,
    user_memberships,
    user_mfa_enabled,
)
from apps.identity.selectors.audit import audit_event_list
from apps.identity.selectors.portals import (
    PortalView,
    portal_get_public,
    portal_list,
    portal_login_methods,
    portal_view,
)
from apps.identity.selectors.sessions import session_list
from apps.identity.selectors.tenancy import (
    actor_get,
    invitation_display_status,
    invitation_list,
    membership_list,
    role_list,
    tenant_get,
)

__all__ = [
    "PortalView",
    "UserMembership",
    "actor_get",
    "audit_event_list",
    "invitation_display_status",
    "invitation_list",
    "me_get",
    "membership_list",
    "portal_get_public",
    "portal_list",
    "portal_login_methods",
    "portal_view",
    "role_list",
    "session_list",
    "tenant_get",
    "user_audit_tenants",
    "user_get_active",
    "user_get_by_email",
    "user_memberships",
    "user_mfa_enabled",
]
