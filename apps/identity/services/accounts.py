"""Account flows: sign-up, e-mail verification, password reset and password change, the display name.

**No enumeration.** Sign-up, verification resend and reset answer the same
for an address that has an account and one that has none; only the mail
differs (a verification mail or an "account exists" notice; a reset link or
nothing). Sign-up hashes the password in both cases, so the known address
does not answer faster.

**Links** are minted by the mail jobs at send time (`apps.identity.jobs`),
never in the request: the outbox row keeps its arguments, and a live token
must not rest there.

- Verification key: Django signing with a salt and a 3-day age limit, naming
  the user and the address it went to. It is accepted only while that
  address is unverified (a conditional UPDATE), so it works once.
- Reset token: Django's `default_token_generator`, which hashes the password
  hash into the token; setting the password spends it. Users without a usable
  password are reached too (Django's PasswordResetForm would skip
  them).

**Sign-up** on a portal whose policy is `open` makes the user a `member` of the
portal's tenant, whether or not that portal admits `member` (then the
verification link points at a portal they may enter). The tenant's seat limit
applies, checked before the address is looked at. The account holds no
usable password until the address is verified: the chosen password waits in
a `PendingSignup` row, and the verification link moves it onto the account.
So an account registered for someone else's address can never sign in, and
nothing the registrant chose survives a later proof of the address (an
invitation, a reset, `create_tenant`: `services.proof`). A sign-up for a known
address leaves a pending row too, without an account, so that signing in with
what was typed gets the same 403 `email_unverified` as a new account.

**Reset** ends every session of the user (rows, session marks and a user-wide
"not before" mark), clears the login lockout, marks the address verified (the
link proved the mailbox; an unverified account first loses its password,
second factor and sessions), and mails a notice. **Change** ends every session
but the caller's.

Audit: events with no tenant (verification, resend, sign-up with a known
address) go to the platform stream; sign-up of a new member goes to that
tenant's stream; a password reset or change is recorded in the platform stream
and in the stream of every tenant the user is an active member of, so each
tenant's administrators see it (`audit_record_user_event`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Final
from uuid import UUID

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode

from apps.common.exceptions import ApplicationError
from apps.common.mail import mail_send
from apps.common.tenancy import tenant_context
from apps.identity.exceptions import TokenInvalid
from apps.identity.jobs import email_verify_mail_job, password_reset_mail_job
from apps.identity.links import (
    EMAIL_VERIFY_MAX_AGE_SECONDS,
    EMAIL_VERIFY_SALT,
    password_reset_request_path,
    portal_login_path,
)
from apps.identity.models import PendingSignup, Tenant, User
from apps.identity.selectors.accounts import user_get_active
from apps.identity.services import lockout
from apps.identity.services.audit import audit_record, audit_record_user_event
from apps.identity.services.proof import unproved_account_reset
from apps.identity.services.sessions import sessions_revoke_user
from apps.identity.services.signup import signup_account, signup_member_add, signup_portal

logger = logging.getLogger("atrium.identity.accounts")

INVALID_VERIFY_KEY: Final = "This verification link is invalid, used or expired."
INVALID_RESET_LINK: Final = "This password reset link is invalid, used or expired."
WRONG_CURRENT_PASSWORD: Final = "The current password is wrong."  # noqa: S105 - a message
NAME_MAX_LENGTH: Final = 150  # User.name


def _normalize_email(email: str) -> str:
    return User.objects.normalize_email(email)


def _validate_password(password: str, *, user: User, field: str) -> None:
    """The settings' validators (length, common, similarity, numeric); 400 with `errors.<field>`."""
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ApplicationError("The password is too weak.", errors={field: list(exc.messages)}) from exc


def _absolute(path: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def _password_changed_notice(*, user: User, reset: bool) -> None:
    mail_send(
        to=user.email,
        template="identity/mail/password_changed",
        context={
            "email": user.email,
            "reset": reset,
            "changed_at": timezone.now().strftime("%Y-%m-%d %H:%M"),
        },
        tenant=None,
    )


# --------------------------------------------------------------------------- sign-up


@transaction.atomic
def user_register(*, email: str, password: str, portal_slug: str, name: str = "", ip: str | None = None) -> bool:
    """Sign up on a portal whose policy is open. True when a new account was made.

    404 unknown or inactive portal; 403 sign-up not open or tenant suspended;
    400 weak password; 409 the tenant's seat limit is reached. A known address
    gets an "account exists" notice and nothing else changes; the caller
    answers the same either way.
    """
    portal = signup_portal(portal_slug=portal_slug)
    email = _normalize_email(email)
    name = name.strip()
    _validate_password(password, user=User(email=email, name=name), field="password")
    # Hashed whether or not the address is known: the answer takes as long either way.
    hashed = make_password(password)
    # The password waits for proof of the mailbox (models.PendingSignup), for a known address too:
    # signing in with it then answers as for a new account, so nothing tells the two apart.
    pending_until = timezone.now() + timedelta(seconds=EMAIL_VERIFY_MAX_AGE_SECONDS)

    with tenant_context(portal.tenant):
        user, created = signup_account(portal=portal, email=email, name=name)
        PendingSignup.objects.filter(email__iexact=email, user=None).delete()
        PendingSignup.objects.filter(email__iexact=email, expires_at__lte=timezone.now()).delete()
        PendingSignup.objects.create(
            email=email, user=user if created else None, password=hashed, expires_at=pending_until
        )
        if not created:
            mail_send(
                to=user.email,
                template="identity/mail/account_exists_notice",
                context={
                    "portal_name": portal.name,
                    "login_link": _absolute(portal_login_path(portal=portal)),
                    "reset_link": _absolute(password_reset_request_path(portal=portal)),
                },
                tenant=portal.tenant,
            )
            audit_record(actor=user, action="auth.register_existing", ip=ip, data={"portal": portal.slug})
            return False
        signup_member_add(portal=portal, user=user, method="password", ip=ip)
    return True


def pending_signup_purge() -> int:
    """Delete sign-up passwords whose verification link has expired; how many (a daily cron job)."""
    deleted, _ = PendingSignup.objects.filter(expires_at__lte=timezone.now()).delete()
    return int(deleted)


# --------------------------------------------------------------------------- e-mail verification


def _verify_payload(key: str) -> tuple[UUID, str]:
    try:
        payload = signing.loads(key, salt=EMAIL_VERIFY_SALT, max_age=EMAIL_VERIFY_MAX_AGE_SECONDS)
        if not isinstance(payload, dict):
            raise ValueError("not a mapping")
        return UUID(str(payload["u"])), str(payload["e"])
    except (signing.BadSignature, KeyError, ValueError, TypeError) as exc:
        raise ApplicationError(INVALID_VERIFY_KEY, errors={"key": [INVALID_VERIFY_KEY]}) from exc


def _awaiting_proof(user_id: UUID, email: str) -> QuerySet[User]:
    """The account a verification key names, while the key still works: that address, unverified, active."""
    return User.objects.filter(id=user_id, email__iexact=email, email_verified=False, is_active=True)


def email_verify_key_check(*, key: str) -> None:
    """400 unless the key would verify an address now; only a look (the portal's page asks before its button)."""
    if not _awaiting_proof(*_verify_payload(key)).exists():
        raise ApplicationError(INVALID_VERIFY_KEY, errors={"key": [INVALID_VERIFY_KEY]})


@transaction.atomic
def email_verify(*, key: str, ip: str | None = None) -> User:
    """Mark the address the key was sent to as verified. 400 for a bad, expired or spent key.

    The conditional UPDATE (still unverified, still that address) is what makes
    a key work once, also when two requests present it at the same moment.
    """
    user_id, email = _verify_payload(key)
    updated = _awaiting_proof(user_id, email).update(email_verified=True, updated_at=timezone.now())
    if not updated:
        raise ApplicationError(INVALID_VERIFY_KEY, errors={"key": [INVALID_VERIFY_KEY]})
    user = User.objects.get(id=user_id)
    # The password chosen at sign-up becomes the account's now that the mailbox is proved.
    pending = user.pending_signups.filter(expires_at__gt=timezone.now()).order_by("-created_at").first()
    if pending is not None and not user.has_usable_password():
        user.password = pending.password
        user.save(update_fields=["password", "updated_at"])
    PendingSignup.objects.filter(Q(user=user) | Q(email__iexact=user.email)).delete()
    audit_record(actor=user, action="auth.email_verified", target=("user", user.id), ip=ip)
    return user


@transaction.atomic
def email_verification_resend(*, email: str, portal_slug: str | None = None, ip: str | None = None) -> None:
    """Mail a new verification link if an active, unverified account has this address; else nothing."""
    user = User.objects.by_email(email).filter(is_active=True, email_verified=False).first()
    if user is None:
        logger.info("auth.verification_resend_ignored")
        return
    email_verify_mail_job.defer(tenant=None, user_id=str(user.id), portal_slug=portal_slug or "")
    audit_record(actor=user, action="auth.verification_resent", ip=ip, data={"portal": portal_slug or ""})


# --------------------------------------------------------------------------- password reset


@transaction.atomic
def password_reset_request(*, email: str, portal_slug: str | None = None, ip: str | None = None) -> None:
    """Mail a reset link if an active account has this address (with or without a password); else nothing."""
    user = User.objects.by_email(email).filter(is_active=True).first()
    if user is None:
        logger.info("auth.password_reset_ignored")
        return
    password_reset_mail_job.defer(tenant=None, user_id=str(user.id), portal_slug=portal_slug or "")
    audit_record(actor=user, action="auth.password_reset_requested", ip=ip, data={"portal": portal_slug or ""})


def _user_from_uid(uid: str) -> User | None:
    try:
        user_id = UUID(force_str(urlsafe_base64_decode(uid)))
    except (ValueError, TypeError, OverflowError):
        return None
    return user_get_active(user_id=user_id)


def _invalid_reset() -> ApplicationError:
    return ApplicationError(INVALID_RESET_LINK, errors={"token": [INVALID_RESET_LINK]})


def password_reset_link_check(*, uid: str, token: str) -> User:
    """The user a mailed reset link names, while it still works; else 400 (invalid, used, expired alike).

    Only a look: the portal's page asks before showing the new-password form.
    """
    user = _user_from_uid(uid)
    if user is None or not default_token_generator.check_token(user, token):
        raise _invalid_reset()
    return user


def password_reset_confirm(*, uid: str, token: str, new_password: str, ip: str | None = None) -> User:
    """Set a new password from a mailed link; every session of the user ends.

    400 for an invalid, used or expired link (all alike) and for a weak
    password (the link then still works).
    """
    user = password_reset_link_check(uid=uid, token=token)
    _validate_password(new_password, user=user, field="new_password")
    with transaction.atomic():
        # Locked and checked again: of two requests with one token, the second sees the new hash.
        locked = User.objects.select_for_update().filter(id=user.id, is_active=True).first()
        if locked is None or not default_token_generator.check_token(locked, token):
            raise _invalid_reset()
        # The link proves the mailbox: an account made before that proof keeps nothing of its own.
        unproved_account_reset(user=locked, via="password_reset", ip=ip)
        locked.set_password(new_password)
        locked.email_verified = True  # the link was mailed there: the mailbox is theirs
        locked.save(update_fields=["password", "email_verified", "updated_at"])
        ended = sessions_revoke_user(user=locked, reason="password_reset", actor=locked, ip=ip)
        audit_record_user_event(user=locked, action="auth.password_reset", ip=ip, data={"sessions_ended": ended})
        _password_changed_notice(user=locked, reset=True)
    lockout.lockout_clear(user=locked)
    return locked


# --------------------------------------------------------------------------- password change


def password_change(
    *,
    user_id: UUID,
    session_id: UUID,
    tenant_id: UUID,
    current_password: str,
    new_password: str,
    ip: str | None = None,
) -> int:
    """Change the caller's password; every other session of theirs ends. How many ended.

    400 wrong current password (counted by the lockout like a failed sign-in,
    so a stolen access token cannot be used to guess it) or weak new password;
    429 while locked.
    """
    user = user_get_active(user_id=user_id)
    if user is None:
        raise TokenInvalid("This account is no longer active.")
    tenant = Tenant.objects.get(id=tenant_id)
    lockout.login_guard(email=user.email, ip=ip, user=user)
    if not user.check_password(current_password):
        lockout.login_failed(email=user.email, ip=ip, user=user)
        audit_record(
            tenant=tenant,
            actor=user,
            action="auth.password_change_failed",
            target=("session", session_id),
            ip=ip,
            data={"reason": "wrong_current_password"},
            durable=True,
        )
        raise ApplicationError(WRONG_CURRENT_PASSWORD, errors={"current_password": [WRONG_CURRENT_PASSWORD]})
    _validate_password(new_password, user=user, field="new_password")
    with transaction.atomic():
        locked = User.objects.select_for_update().get(id=user.id)
        locked.set_password(new_password)
        locked.save(update_fields=["password", "updated_at"])
        ended = sessions_revoke_user(
            user=locked, reason="password_changed", actor=locked, ip=ip, keep_session_id=session_id
        )
        audit_record_user_event(
            user=locked,
            action="auth.password_changed",
            ip=ip,
            tenant=tenant,
            data={"other_sessions_ended": ended, "session": str(session_id)},
        )
        _password_changed_notice(user=locked, reset=False)
    lockout.login_succeeded(email=user.email, ip=ip, user=user)
    return ended


# --------------------------------------------------------------------------- profile


@transaction.atomic
def user_name_change(*, user: User, name: str, tenant: Tenant | None = None, ip: str | None = None) -> User:
    """Change the caller's display name (blank allowed); audited `auth.name_changed` like the account's other events.

    400 for a name longer than the column allows. The values are not put in
    the audit record: a name is personal data, and the trail outlives it.
    """
    clean = name.strip()
    if len(clean) > NAME_MAX_LENGTH:
        raise ApplicationError("The name is too long.", errors={"name": [f"Use at most {NAME_MAX_LENGTH} characters."]})
    if "\x00" in clean:
        raise ApplicationError("The name is not valid.", errors={"name": ["The name contains a null character."]})
    if clean == user.name:
        return user
    User.objects.filter(id=user.id).update(name=clean, updated_at=timezone.now())
    user.name = clean
    audit_record_user_event(user=user, action="auth.name_changed", ip=ip, tenant=tenant)
    return user


@transaction.atomic
def user_deactivate(*, user: User, actor: User | None = None, ip: str | None = None) -> int:
    """Deactivate an account: it can no longer sign in, and every token it holds stops now."""
    User.objects.filter(id=user.id).update(is_active=False)
    return sessions_revoke_user(user=user, reason="deactivated", actor=actor, ip=ip)
