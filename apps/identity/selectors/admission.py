"""Who may enter which portal: the one rule every way into a session asks.

Password sign-in, the second factor, switching portals, refreshing a session
and links in mails all ask the same two questions — is this portal open
(`selectors.portals.portal_get_public`), and does this user's membership admit
them to it (here) — so each answer lives in one place.
"""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from apps.common.exceptions import PermissionDenied
from apps.common.prepared import PreparedRows
from apps.common.tenancy import tenant_context
from apps.identity.models import Membership, Portal, Tenant, User


def _active_membership(user_id: UUID) -> QuerySet[Membership]:
    # At most one row: a user has one membership per tenant (a unique constraint); the manager adds the tenant.
    return Membership.objects.select_related("role").filter(user_id=user_id, status=Membership.Status.ACTIVE)[:1]


# Compiled once per process (ADR 0018): every sign-in, second factor, portal switch and refresh asks it.
_ACTIVE_MEMBERSHIP = PreparedRows(_active_membership)


def admitted_membership(*, user: User, portal: Portal) -> Membership:
    """The user's active membership of the portal's tenant, in a role the portal admits, or 403."""
    tenant = portal.tenant
    if tenant.status != Tenant.Status.ACTIVE:
        raise PermissionDenied("This tenant is suspended.")
    with tenant_context(tenant):
        membership: Membership | None = _ACTIVE_MEMBERSHIP.first(user_id=user.id)
    if membership is None:
        raise PermissionDenied("You are not a member of this portal's organisation.")
    if membership.role.code not in (portal.admitted_roles or []):
        raise PermissionDenied("Your role may not enter this portal.")
    return membership
