"""Identity's RQ entry points: load, enter tenant context (the decorator does), call a service."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings

from apps.common.jobs import tenant_job
from apps.common.mail import mail_send_job
from apps.common.tenancy import TenantLike
from apps.identity.links import (
    EMAIL_VERIFY_MAX_AGE_SECONDS,
    email_verify_path,
    mail_portal_for,
    password_set_path,
)
from apps.identity.models import Portal, User
from apps.identity.selectors.accounts import user_get_active

logger = logging.getLogger("atrium.identity.jobs")


@tenant_job(queue="mail")
def set_password_mail_job(*, tenant: TenantLike | None, user_id: str, portal_slug: str) -> None:
    """Mail a new owner the link to set a password.

    The token is minted here, at send time, so no live token rests in the outbox table.
    """
    user = User.objects.get(id=user_id)
    portal = Portal.objects.select_related("tenant").get(slug=portal_slug)
    link = settings.PUBLIC_BASE_URL.rstrip("/") + password_set_path(user=user, portal=portal)
    mail_send_job(
        tenant=tenant,
        to=[user.email],
        template="identity/mail/set_password",
        context={
            "link": link,
            "portal_name": portal.name,
            "tenant_name": portal.tenant.name,
            "valid_days": settings.PASSWORD_RESET_TIMEOUT // 86400,
        },
    )


def _mail_link(
    *, user: User | None, portal_slug: str, template: str, event: str, link: Callable[[User, Portal], str], days: int
) -> None:
    """Mail `user` a link into the portal `mail_portal_for` picks; skipped (and logged) when there is none."""
    if user is None:
        logger.info(f"auth.{event}_mail_skipped")
        return
    portal = mail_portal_for(user=user, requested_slug=portal_slug or None)
    if portal is None:
        logger.warning(f"auth.{event}_mail_no_portal", extra={"user_id": str(user.id)})
        return
    mail_send_job(
        tenant=portal.tenant,
        to=[user.email],
        template=template,
        context={
            "link": settings.PUBLIC_BASE_URL.rstrip("/") + link(user, portal),
            "portal_name": portal.name,
            "valid_days": days,
        },
    )


@tenant_job(queue="mail")
def email_verify_mail_job(*, tenant: TenantLike | None, user_id: str, portal_slug: str = "") -> None:
    """Mail a user the link that confirms their address; the key is minted here, at send time.

    Nothing is sent to a user who is inactive, already verified, or has no portal to link to.
    """
    user = user_get_active(user_id=user_id)
    _mail_link(
        user=user if user is not None and not user.email_verified else None,
        portal_slug=portal_slug,
        template="identity/mail/verify_email",
        event="verification",
        link=lambda user, portal: email_verify_path(user=user, portal=portal),
        days=EMAIL_VERIFY_MAX_AGE_SECONDS // 86400,
    )


@tenant_job(queue="mail")
def password_reset_mail_job(*, tenant: TenantLike | None, user_id: str, portal_slug: str = "") -> None:
    """Mail a user a password reset link, minted here so no live token rests in the outbox.

    Reaches users without a usable password too (Django's PasswordResetForm
    would skip them silently: docs/security.md, trap 11). The portal follows
    docs/api.md, "Links in mails": the one asked for if the user may enter
    it, else their latest sign-in's, else the first of their oldest membership.
    """
    _mail_link(
        user=user_get_active(user_id=user_id),
        portal_slug=portal_slug,
        template="identity/mail/password_reset",
        event="password_reset",
        link=lambda user, portal: password_set_path(user=user, portal=portal),
        days=max(settings.PASSWORD_RESET_TIMEOUT // 86400, 1),
    )
