"""Identity's reads, by topic; this package is the face other apps and the views import.

A selector is a plain typed function with keyword-only arguments that reads and
never writes (`<noun>_get`, `<noun>_list`); writes and rules are in `services`.
"""

from apps.identity.selectors.accounts import (
    UserMembership,
    me_get,
    user_audit_tenants,
    user_get_by_email,
    user_memberships,
    user_mfa_enabled,
)
from apps.identity.selectors.portals import portal_get_public, portal_login_methods

__all__ = [
    "UserMembership",
    "me_get",
    "portal_get_public",
    "portal_login_methods",
    "user_audit_tenants",
    "user_get_by_email",
    "user_memberships",
    "user_mfa_enabled",
]
