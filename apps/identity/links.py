"""Links in mails point to portal pages (docs/api.md, "Links in mails")."""

from __future__ import annotations

from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.db.models import F
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from apps.common.exceptions import ApplicationError
from apps.identity.models import AuthSession, Portal, Tenant, User
from apps.identity.selectors import user_memberships
from apps.identity.selectors.admission import admitted_membership


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
    """The portal a link mailed to `user` points at (docs/api.md, "Links in mails").

    The portal named in the request if the user may enter it; else the portal
    of their latest sign-in; else the first portal of their oldest membership
    (its default portal, else its oldest active one). None when the user has
    no portal at all.
    """
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
    memberships = user_memberships(user=user)
    if not memberships:
        return None
    tenant_id, role_code = memberships[0].tenant_id, memberships[0].role_code
    portals = list(
        Portal.objects.select_related("tenant")
        .filter(tenant_id=tenant_id, active=True)
        .order_by(F("is_default").desc(), "created_at", "id")
    )
    # The default portal first, else the oldest; one that admits the user's role before one that does not.
    chosen = [portal for portal in portals if role_code in (portal.admitted_roles or [])] or portals
    return chosen[0] if chosen else None
