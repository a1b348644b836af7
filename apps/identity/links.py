"""Links in mails point to portal pages (ARCHITECTURE §3)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.db import connection
from django.db.models import F
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from apps.common.exceptions import ApplicationError
from apps.common.tenancy import unscoped
from apps.identity.models import AuthSession, Membership, Portal, Tenant, User


def password_set_path(*, user: User, portal: Portal) -> str:
    """The portal page where `user` sets a (new) password, with Django's reset token."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return f"/portal/{portal.slug}/password/reset/?uid={uid}&token={token}"


# --------------------------------------------------------------------------- e-mail verification

# The key is a signed, timestamped payload (Django signing); nothing is stored.
# It names the user and the address it was sent to; `email_verify` accepts it
# only while that address is still unverified, so a key works once.
EMAIL_VERIFY_SALT = "atrium.identity.email-verify"
EMAIL_VERIFY_MAX_AGE_SECONDS = 3 * 24 * 3600


def email_verify_key(*, user: User) -> str:
    """A signed key proving `user` received mail at their current address."""
    return signing.dumps({"u": str(user.pk), "e": user.email.lower()}, salt=EMAIL_VERIFY_SALT, compress=True)


def email_verify_path(*, user: User, portal: Portal) -> str:
    """The portal page where `user` confirms their address."""
    return f"/portal/{portal.slug}/email/verify/?key={email_verify_key(user=user)}"


def portal_login_path(*, portal: Portal) -> str:
    return f"/portal/{portal.slug}/login/"


def password_reset_request_path(*, portal: Portal) -> str:
    """The page that asks for a reset link (no token: safe to mail to anyone)."""
    return f"/portal/{portal.slug}/password/reset/"


# --------------------------------------------------------------------------- which portal a mail links to


def mail_portal_for(*, user: User, requested_slug: str | None = None) -> Portal | None:
    """The portal a link mailed to `user` points at (ARCHITECTURE §3).

    The portal named in the request if the user may enter it; else the portal
    of their latest sign-in; else the first portal of their oldest membership
    (its default portal, else its oldest active one). None when the user has
    no portal at all.
    """
    # Imported here: the auth service imports the token machinery, which mail jobs do not need at import.
    from apps.identity.services.auth import admitted_membership

    if requested_slug:
        portal = (
            Portal.objects.select_related("tenant")
            .filter(slug=requested_slug, active=True, tenant__status=Tenant.Status.ACTIVE)
            .first()
        )
        if portal is not None:
            try:
                admitted_membership(user=user, portal=portal)
            except ApplicationError:
                pass
            else:
                return portal
    latest = (
        AuthSession.objects.select_related("portal__tenant")
        .filter(user=user, portal__active=True)
        .exclude(tenant__status=Tenant.Status.OFFBOARDED)
        .order_by("-created_at")
        .first()
    )
    if latest is not None:
        return latest.portal
    # Reached only by users who never signed in (an owner mailed a set-password link, say).
    oldest = _oldest_membership(user=user)
    if oldest is None:
        return None
    tenant_id, role_code = oldest
    portals = list(
        Portal.objects.select_related("tenant")
        .filter(tenant_id=tenant_id, active=True)
        .order_by(F("is_default").desc(), "created_at", "id")
    )
    # The default portal first, else the oldest; one that admits the user's role before one that does not.
    chosen = [portal for portal in portals if role_code in (portal.admitted_roles or [])] or portals
    return chosen[0] if chosen else None


# The one fact about a user's memberships across tenants that a mail job needs.
# On PostgreSQL the worker's database role cannot lift row-level security (ADR
# 0008): a SECURITY DEFINER function (migration common 0003) answers this one
# question, one row of tenant id and role code, and nothing else.
_OLDEST_MEMBERSHIP_SQL = "SELECT tenant_id, role_code FROM identity_user_oldest_membership(%s)"


def _oldest_membership(*, user: User) -> tuple[Any, str] | None:
    """(tenant id, role code) of the user's oldest membership of a tenant not offboarded, or None."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_OLDEST_MEMBERSHIP_SQL, [user.pk])
            row = cursor.fetchone()
        return (row[0], row[1]) if row else None
    # SQLite has no row-level security to lift: only the ORM wall, stepped over for this one user.
    with unscoped():
        return (
            Membership.all_tenants.filter(user=user)
            .exclude(tenant__status=Tenant.Status.OFFBOARDED)
            .order_by("created_at", "id")
            .values_list("tenant_id", "role__code")
            .first()
        )
