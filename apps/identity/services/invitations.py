"""Invitations: offer a person a role in a tenant, mail them a link, let them accept it once.

**Who may invite whom** is `services.grants`' rule, read from the database
under the tenant's lock: the permission to invite, owner only from an owner,
nothing the inviter lacks. **Seats** are `services.seats`': a pending
invitation holds one, and accepting turns it into a membership. Creating and
accepting take the tenant's lock first, so two requests cannot both take the
last seat.

**Re-inviting** an e-mail that has a live pending invitation is 409: revoke the
old one to send a new one. An e-mail that already belongs to a member is 409.

**The token** is `secrets.token_urlsafe(32)`, stored only as its SHA-256 in the
global `InvitationToken` table (looked up before the tenant is known). It is
minted by `invitation_send_job` when the mail is sent, not when the invitation
is created, for the reason `set_password_mail_job` gives: a mail promised in a
transaction goes through the outbox, and the outbox row keeps its context
(for days after sending), so a raw token put into that context would rest in
the database in clear text and anyone reading the table, a replica or a backup
could join the tenant. The job, promised in the creating transaction like any
mail, mints the token, stores its hash and renders the mail in one go; the raw
token exists only in the mail. A re-run of the job (at-least-once delivery)
replaces the token, so only the newest mail's link works.

**Accepting** is single use: the token is consumed with a conditional update
(`used_at IS NULL`) under the tenant row lock, so of two parallel accepts one
wins. Unknown, used, revoked and expired tokens all answer the same 400
("invalid or expired invitation"), which reveals nothing about which.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from uuid import UUID

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.common.exceptions import ApplicationError, Conflict, NotFound, PermissionDenied
from apps.common.jobs import tenant_job
from apps.common.mail import mail_send_job
from apps.common.tenancy import TenantLike, tenant_context
from apps.identity.exceptions import EmailUnverified, InvalidCredentials
from apps.identity.models import Invitation, InvitationToken, Membership, Portal, Role, Tenant, User
from apps.identity.permissions import INVITE_MEMBER
from apps.identity.plugs import domain_event
from apps.identity.selectors.tenancy import invitation_live_pending_list
from apps.identity.services import lockout
from apps.identity.services.audit import audit_record
from apps.identity.services.grants import actor_require, require_may_grant
from apps.identity.services.proof import unproved_account_reset
from apps.identity.services.seats import seat_require
from apps.identity.services.signin import authenticate_password
from apps.identity.services.tenants import tenant_lock

logger = logging.getLogger("atrium.identity.invitations")

# Settings are not this module's to change; a constant is the documented knob.
INVITATION_TTL_DAYS: Final = 7
INVITATION_TTL: Final = timedelta(days=INVITATION_TTL_DAYS)
INVALID_INVITATION: Final = "This invitation is invalid or has expired."
MAIL_TEMPLATE: Final = "identity/mail/invitation"


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


# --------------------------------------------------------------------------- create and revoke


@transaction.atomic
def invitation_create(*, tenant: Tenant, actor: User, email: str, role: str, ip: str | None = None) -> Invitation:
    """Invite `email` as `role` and promise the invitation mail; audited `invitation.created`.

    400 unknown role; 403 a role granting more than the actor holds (only an
    owner invites an owner); 409 already a member, already invited, no portal
    to accept in, or no seat left.
    """
    locked = tenant_lock(tenant_id=tenant.id)
    mine = actor_require(tenant=tenant, actor=actor, code=INVITE_MEMBER)
    email = User.objects.normalize_email(email)
    target = Role.objects.filter(code=role).first()
    if target is None:
        raise ApplicationError("Unknown role.", errors={"role": [f"No role {role!r} in this organisation."]})
    require_may_grant(tenant=tenant, mine=mine, role=target, what="invite someone to a role with")
    if Membership.objects.filter(user__email__iexact=email).exists():
        raise Conflict("This person is already a member of the organisation.")
    if invitation_live_pending_list().filter(email__iexact=email).exists():
        raise Conflict("This e-mail already has a pending invitation; revoke it to send a new one.")
    if not Portal.objects.filter(tenant_id=tenant.id).exists():
        raise Conflict("The organisation has no portal in which an invitation could be accepted.")
    seat_require(tenant=locked)

    invitation: Invitation = Invitation.objects.create(
        email=email, role=target, invited_by=actor, expires_at=timezone.now() + INVITATION_TTL
    )
    invitation_send_job.defer(invitation_id=str(invitation.id))
    audit_record(
        tenant=tenant,
        actor=actor,
        action="invitation.created",
        target=invitation,
        ip=ip,
        data={"role": target.code},
    )
    return invitation


@transaction.atomic
def invitation_revoke(*, tenant: Tenant, actor: User, invitation_id: UUID | str, ip: str | None = None) -> Invitation:
    """Revoke an open invitation: its token stops working at once. 404 unknown, foreign or closed."""
    actor_require(tenant=tenant, actor=actor, code=INVITE_MEMBER)
    invitation: Invitation | None = (
        Invitation.objects.select_for_update()
        .filter(tenant_id=tenant.id, id=invitation_id, status=Invitation.Status.PENDING)
        .first()
    )
    if invitation is None:
        raise NotFound("No such open invitation.")
    invitation.status = Invitation.Status.REVOKED
    invitation.save(update_fields=["status", "updated_at"])
    InvitationToken.objects.filter(invitation_id=invitation.id).delete()
    audit_record(
        tenant=tenant,
        actor=actor,
        action="invitation.revoked",
        target=invitation,
        ip=ip,
        data={"role": invitation.role_code},
    )
    return invitation


# --------------------------------------------------------------------------- the mail


def invitation_accept_path(*, portal_slug: str, raw_token: str) -> str:
    return f"/portal/{portal_slug}/invitations/accept/?token={raw_token}"


def _accept_portal(tenant_id: UUID | str) -> Portal | None:
    """The tenant's default portal, else its oldest active one (docs/api.md, "Links in mails")."""
    portals = Portal.objects.filter(tenant_id=tenant_id)
    return portals.filter(is_default=True).first() or portals.filter(active=True).order_by("created_at").first()


@tenant_job(queue="mail")
def invitation_send_job(*, tenant: TenantLike | None, invitation_id: str) -> None:
    """Mint the invitation's token and mail its link (see the module docstring for why here).

    An invitation revoked, accepted or expired before the job runs gets no mail.
    """
    invitation: Invitation | None = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("role", "invited_by")
        .filter(id=invitation_id, status=Invitation.Status.PENDING, expires_at__gt=timezone.now())
        .first()
    )
    if invitation is None:
        logger.info("invitation.mail_skipped", extra={"invitation_id": invitation_id})
        return
    portal = _accept_portal(invitation.tenant_id)
    if portal is None:
        raise RuntimeError(f"Tenant {invitation.tenant_id} has no portal to accept invitation {invitation_id} in.")
    raw = secrets.token_urlsafe(32)
    # One token per invitation: a re-run replaces the token an earlier attempt minted.
    InvitationToken.objects.filter(invitation_id=invitation.id).delete()
    InvitationToken.objects.create(
        token_hash=_hash(raw),
        tenant_id=invitation.tenant_id,
        invitation_id=invitation.id,
        expires_at=invitation.expires_at,
    )
    inviter = invitation.invited_by
    mail_send_job(
        tenant=tenant,
        to=[invitation.email],
        template=MAIL_TEMPLATE,
        context={
            "link": settings.PUBLIC_BASE_URL.rstrip("/")
            + invitation_accept_path(portal_slug=portal.slug, raw_token=raw),
            "tenant_name": portal.tenant.name,
            "portal_name": portal.name,
            "role_name": invitation.role.name if invitation.role is not None else invitation.role_code,
            "inviter": (inviter.name or inviter.email) if inviter is not None else "",
            "valid_days": INVITATION_TTL_DAYS,
        },
    )


# --------------------------------------------------------------------------- accept


@dataclass(frozen=True)
class InvitationPreview:
    """What the accept page shows whoever holds a live token (it reached the invited mailbox)."""

    email: str
    tenant_id: UUID
    tenant_name: str
    role_name: str
    # True: accepting sets the account's password (no account yet, or one whose address was never
    # proved); False: an account with a proved address, which accepts as itself.
    chooses_password: bool


def _prove_account(*, user: User, password: str | None, ip: str | None) -> None:
    """An account with a proved address accepts as itself: its own password, under the sign-in lockout."""
    if not password:
        raise ApplicationError(
            "This address has an account: enter its password to join.",
            errors={"password": ["Enter the password of your existing account."]},
        )
    lockout.login_guard(email=user.email, ip=ip, user=user)
    try:
        authenticate_password(user=user, email=user.email, password=password)
    except (InvalidCredentials, EmailUnverified):
        lockout.login_failed(email=user.email, ip=ip, user=user)
        raise
    lockout.login_succeeded(email=user.email, ip=ip, user=user)


def _chooses_password(user: User | None) -> bool:
    """Whether accepting sets the password: a new account, or one nobody proved the address of."""
    return user is None or not user.email_verified


def _live_token(*, token_hash: str, now: datetime) -> InvitationToken:
    token = (
        InvitationToken.objects.select_related("tenant")
        .filter(token_hash=token_hash, used_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if token is None or token.tenant.status == Tenant.Status.OFFBOARDED:
        raise ApplicationError(INVALID_INVITATION)
    if token.tenant.status != Tenant.Status.ACTIVE:
        raise PermissionDenied("This organisation is suspended.")
    return token


def invitation_preview(*, raw_token: str) -> InvitationPreview:
    """The open invitation a token names, to show before accepting; the errors `invitation_accept` gives.

    Only a look: nothing is locked or spent, so the answer may be stale by the
    time the person accepts (the accept decides again).
    """
    now = timezone.now()
    token = _live_token(token_hash=_hash(raw_token), now=now)
    with tenant_context(token.tenant):
        invitation = (
            Invitation.objects.select_related("role")
            .filter(id=token.invitation_id, status=Invitation.Status.PENDING, expires_at__gt=now)
            .first()
        )
    if invitation is None or invitation.role is None:
        raise ApplicationError(INVALID_INVITATION)
    return InvitationPreview(
        email=invitation.email,
        tenant_id=token.tenant_id,
        tenant_name=token.tenant.name,
        role_name=invitation.role.name,
        chooses_password=_chooses_password(User.objects.by_email(invitation.email).first()),
    )


@dataclass(frozen=True)
class AcceptedInvitation:
    tenant: Tenant
    role: str
    user: User
    user_created: bool


def _check_new_password(*, email: str, password: str | None, name: str) -> None:
    if not password:
        raise ApplicationError("Choose a password for your account.", errors={"password": ["This field is required."]})
    try:
        validate_password(password, user=User(email=email, name=name))
    except ValidationError as exc:
        raise ApplicationError("The password is too weak.", errors={"password": list(exc.messages)}) from exc


def _new_user(*, email: str, password: str | None, name: str) -> User:
    _check_new_password(email=email, password=password, name=name)
    return User.objects.create_user(email=email, password=password, name=name, email_verified=True)


@transaction.atomic
def invitation_accept(
    *, raw_token: str, password: str | None = None, name: str = "", ip: str | None = None
) -> AcceptedInvitation:
    """Join the invitation's tenant with its role; a new user sets a password here.

    The token proves the mailbox: it was mailed to the invited address (a new
    or unproved account's e-mail becomes verified). An existing account whose
    address was never proved is not handed over: it loses its password, second
    factor and sessions (`services.proof`) and takes the password chosen here
    (400 without one). An account whose address was proved joins only with its
    own password, checked as a sign-in checks it (lockout included): the
    mailbox alone must not carry a new membership to whoever else knows that
    account's password — say, someone who signed the address up and whose
    verification mail its owner clicked (docs/security.md, "Account
    pre-hijack").

    400 invalid, used, revoked or expired token, a missing or weak password for
    a new or unproved account, or no password for an existing one; 401 a wrong
    password for an existing account; 403 suspended tenant or disabled account;
    409 already a member, or no seat left; 429 locked out.
    """
    now = timezone.now()
    token_hash = _hash(raw_token)
    token = _live_token(token_hash=token_hash, now=now)

    with tenant_context(token.tenant):
        # Lock order everywhere: tenant, then invitation, then token (revoke and the mail job
        # lock the invitation before its token too), so no two of them deadlock.
        tenant = tenant_lock(tenant_id=token.tenant_id)
        invitation = (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("role")
            .filter(id=token.invitation_id, status=Invitation.Status.PENDING, expires_at__gt=now)
            .first()
        )
        if invitation is None or invitation.role is None:
            raise ApplicationError(INVALID_INVITATION)
        # The conditional update is the single-use guarantee: a parallel accept finds it used.
        if not InvitationToken.objects.filter(token_hash=token_hash, used_at__isnull=True).update(used_at=now):
            raise ApplicationError(INVALID_INVITATION)

        user = User.objects.by_email(invitation.email).first()
        created = False
        if user is None:
            try:
                with transaction.atomic():
                    user = _new_user(email=invitation.email, password=password, name=name.strip())
                    created = True
            except IntegrityError:  # the same address signed up a moment ago (another tenant's invite)
                user = User.objects.by_email(invitation.email).get()
        if not user.is_active:
            raise PermissionDenied("This account is disabled.")
        if Membership.objects.filter(user=user).exists():
            raise Conflict("You are already a member of this organisation.")
        seat_require(tenant=tenant, claiming=invitation)
        if not created and _chooses_password(user):
            # The mailed token proves the mailbox; the account was made before anyone proved it,
            # possibly by someone else: it keeps nothing of its own, and takes the invitee's password.
            user = User.objects.select_for_update().get(id=user.id)
            _check_new_password(email=invitation.email, password=password, name=name.strip())
            unproved_account_reset(user=user, via="invitation", ip=ip)
            user.set_password(password)
            user.email_verified = True
            user.save(update_fields=["password", "email_verified", "updated_at"])
        elif not created:
            _prove_account(user=user, password=password, ip=ip)

        Membership.objects.create(user=user, role=invitation.role)
        invitation.status = Invitation.Status.ACCEPTED
        invitation.accepted_at = now
        invitation.save(update_fields=["status", "accepted_at", "updated_at"])
        audit_record(
            tenant=tenant,
            actor=user,
            action="invitation.accepted",
            target=invitation,
            ip=ip,
            data={"role": invitation.role.code, "new_user": created},
        )
        added = {"user_id": str(user.id), "role": invitation.role.code}
        domain_event(tenant=tenant, event="member.added", data={**added, "via": "invitation"})
        domain_event(tenant=tenant, event="invitation.accepted", data={"invitation_id": str(invitation.id), **added})
    return AcceptedInvitation(tenant=tenant, role=invitation.role.code, user=user, user_created=created)
