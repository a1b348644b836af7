"""Signing in to a portal, and the sessions and tokens that follow.

Every sign-in is an `AuthSession` (its id is the token's `sid`). Refresh tokens
are opaque, stored as SHA-256 hashes, and rotate with a conditional update: a
token is marked used only if it was not, so of two parallel refreshes one
wins; presenting a used token again revokes the whole session (reuse).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from uuid import UUID

from django.conf import settings
from django.contrib.auth.hashers import check_password, get_hasher, make_password
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.common.exceptions import NotFound, PermissionDenied
from apps.common.tenancy import tenant_context
from apps.identity import metrics, revocation
from apps.identity.exceptions import EmailUnverified, InvalidCredentials, TokenInvalid
from apps.identity.models import (
    AuthSession,
    Membership,
    PendingSignup,
    Portal,
    RefreshToken,
    Tenant,
    User,
    canonical_email,
)
from apps.identity.services import lockout, mfa
from apps.identity.services.audit import audit_record
from apps.identity.services.mfa import MfaChallenge
from apps.identity.tokens import AtriumAccessToken

# Verifying against this hash costs what verifying a real one costs: an unknown
# e-mail takes as long as a wrong password (no enumeration by timing). It is made
# once per hasher, so the unknown-e-mail path runs exactly one hash, like the others.
_DUMMY_PASSWORD = "atrium-no-such-user"  # noqa: S105 - not a credential
_dummy_hashes: dict[str, str] = {}


def _dummy_hash() -> str:
    algorithm = str(get_hasher().algorithm)
    if algorithm not in _dummy_hashes:
        _dummy_hashes[algorithm] = make_password(_DUMMY_PASSWORD)
    return _dummy_hashes[algorithm]


@dataclass(frozen=True)
class ClientInfo:
    ip: str | None = None
    user_agent: str = ""
    # The `atrium_device` cookie: this client signed in to the account before (services.lockout).
    device: str = ""


@dataclass(frozen=True)
class IssuedTokens:
    access: str
    refresh: str
    expires_in: int
    session: AuthSession
    # A known-device mark for the client that signed in (the view sets it as a cookie).
    device: str = ""

    def as_response(self) -> dict[str, str | int]:
        return {"access": self.access, "refresh": self.refresh, "token_type": "Bearer", "expires_in": self.expires_in}


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def portal_get_for_login(*, slug: str) -> Portal:
    """An active portal; unknown and inactive portals look alike (404)."""
    portal = Portal.objects.select_related("tenant").filter(slug=slug, active=True).first()
    if portal is None or portal.tenant.status == Tenant.Status.OFFBOARDED:
        raise NotFound("No active portal with this slug.")
    return portal


def authenticate_password(*, user: User | None, email: str, password: str) -> User:
    """`user` (the account `email` resolved to) if `password` is its password; else why not.

    Exactly one password hash on every path where nobody signed up unproved,
    two where someone did (known and new address alike), so neither the answer
    nor its time tells whether the address had an account:

    - the account's own hash is verified (a dummy when there is no account or
      it has no usable password);
    - if that fails and an unexpired sign-up for the address holds a password,
      that is verified too: a match is 403 `email_unverified`, the same answer
      a new account gets, also when the sign-up was for an address that already
      had an account (so register-then-login is no existence oracle);
    - everything else is the same 401.
    """
    if user is not None and user.has_usable_password():
        if user.check_password(password) and user.is_active:  # (upgrades an outdated hash)
            return user
    else:
        check_password(password, _dummy_hash())
    pending = (
        PendingSignup.objects.filter(email__iexact=canonical_email(email), expires_at__gt=timezone.now())
        .order_by("-created_at")
        .first()
    )
    if pending is not None and check_password(password, pending.password):
        raise EmailUnverified("Confirm your e-mail address first: follow the link we mailed you.")
    raise InvalidCredentials("The e-mail or password is wrong.")


def admitted_membership(*, user: User, portal: Portal) -> Membership:
    """The user's active membership of the portal's tenant, in a role the portal admits, or 403."""
    tenant = portal.tenant
    if tenant.status != Tenant.Status.ACTIVE:
        raise PermissionDenied("This tenant is suspended.")
    with tenant_context(tenant):
        membership: Membership | None = (
            Membership.objects.select_related("role").filter(user=user, status=Membership.Status.ACTIVE).first()
        )
    if membership is None:
        raise PermissionDenied("You are not a member of this portal's organisation.")
    if membership.role.code not in (portal.admitted_roles or []):
        raise PermissionDenied("Your role may not enter this portal.")
    return membership


def access_token_for(*, session: AuthSession, role_code: str) -> str:
    token = AtriumAccessToken()
    token["sub"] = str(session.user_id)
    token["tenant_id"] = str(session.tenant_id)
    token["tenant"] = session.tenant.slug
    token["portal"] = session.portal.slug
    token["roles"] = [role_code]
    token["sid"] = str(session.id)
    token["amr"] = list(session.amr or ["pwd"])
    return str(token)


def _new_refresh(session: AuthSession) -> str:
    raw = secrets.token_urlsafe(48)
    RefreshToken.objects.create(token_hash=_hash(raw), session=session)
    return raw


def _issue(session: AuthSession, role_code: str) -> IssuedTokens:
    return IssuedTokens(
        access=access_token_for(session=session, role_code=role_code),
        refresh=_new_refresh(session),
        expires_in=int(settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
        session=session,
    )


@transaction.atomic
def session_start(
    *, user: User, membership: Membership, portal: Portal, amr: list[str], client: ClientInfo
) -> IssuedTokens:
    """A new session (refresh family) with its first tokens; audited in the tenant's stream.

    The membership is read again under its row lock, in the transaction that
    creates the session: a role change or removal that committed while this
    sign-in was under way has either ended this session too (it committed
    first: the re-read sees the new role, or no membership) or waits for it
    (this session commits first, and the change then ends it). Without the
    lock a sign-in racing the change kept the old role for its token's lifetime.
    """
    with tenant_context(portal.tenant):
        list(Membership.objects.select_for_update(no_key=True).filter(id=membership.id).values_list("id"))
    membership = admitted_membership(user=user, portal=portal)
    now = timezone.now()
    session = AuthSession.objects.create(
        user=user,
        tenant=portal.tenant,
        portal=portal,
        amr=amr,
        ip=client.ip,
        user_agent=client.user_agent,
        last_used_at=now,
        expires_at=now + settings.REFRESH_TOKEN_LIFETIME,
    )
    session.portal = portal
    session.tenant = portal.tenant
    tokens = replace(_issue(session, membership.role.code), device=lockout.known_device_issue(user=user))
    audit_record(
        tenant=portal.tenant,
        actor=user,
        action="auth.login",
        target=("session", session.id),
        ip=client.ip,
        data={"portal": portal.slug, "amr": amr},
    )
    return tokens


def login(*, email: str, password: str, portal_slug: str, client: ClientInfo) -> IssuedTokens | MfaChallenge:
    """Password sign-in to one portal. Failures are audited durably (they outlive the request).

    Order matters: a locked pair is refused before the password is looked at,
    and a user with (or owing) a second factor gets a challenge, never tokens.
    """
    portal = portal_get_for_login(slug=portal_slug)
    account = User.objects.by_email(email).first()

    def refused(action: str, reason: str, actor: User | None = None) -> None:
        # Durable: it must outlive the request's rollback. The account is the target, never the typed e-mail.
        audit_record(
            tenant=portal.tenant,
            actor=actor,
            action=action,
            target=("user", account.id) if account is not None else None,
            ip=client.ip,
            data={"portal": portal.slug, "reason": reason},
            durable=True,
        )

    lockout.login_guard(email=email, ip=client.ip, user=account, device=client.device)
    try:
        user = authenticate_password(user=account, email=email, password=password)
    except InvalidCredentials:
        lockout.login_failed(email=email, ip=client.ip, user=account)
        refused("auth.login_failed", "bad_credentials")
        raise
    except EmailUnverified:
        refused("auth.login_denied", "email_unverified")
        raise
    lockout.login_succeeded(email=email, ip=client.ip, user=user)
    try:
        membership = admitted_membership(user=user, portal=portal)
    except PermissionDenied as exc:
        refused("auth.login_denied", exc.detail, actor=user)
        raise
    challenge = mfa.login_challenge(user=user, membership=membership, portal=portal)
    if challenge is not None:
        return challenge
    return session_start(user=user, membership=membership, portal=portal, amr=["pwd"], client=client)


def _live_session(session: AuthSession) -> bool:
    return session.revoked_at is None and session.expires_at > timezone.now()


_REVOKE_ACTIONS = {"logout": "auth.logout", "refresh_reuse": "auth.refresh_reuse"}


@transaction.atomic
def session_revoke(*, session: AuthSession, reason: str, actor: User | None = None, ip: str | None = None) -> None:
    """End a session now: its refresh tokens stop at once, its access tokens at their next request."""
    updated = AuthSession.objects.filter(id=session.id, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoke_reason=reason
    )
    revocation.revoke_sessions([session.id])
    if updated:
        audit_record(
            tenant=session.tenant,
            actor=actor,
            action=_REVOKE_ACTIONS.get(reason, "auth.session_revoked"),
            target=("session", session.id),
            ip=ip,
            data={"reason": reason},
        )


def sessions_end(*, sessions: QuerySet[AuthSession], reason: str) -> list[UUID]:
    """Revoke every live session of `sessions`: rows (refresh stops) and cache marks (access stops)."""
    now = timezone.now()
    ids = list(sessions.filter(revoked_at__isnull=True, expires_at__gt=now).values_list("id", flat=True))
    if ids:
        AuthSession.objects.filter(id__in=ids, revoked_at__isnull=True).update(
            revoked_at=now, revoke_reason=reason[:50]
        )
        revocation.revoke_sessions(ids)
    return ids


def sessions_revoke_for_member(*, tenant: Tenant, user_id: UUID | str, reason: str) -> int:
    """End every live session of a user in one tenant (member removed, role changed)."""
    return len(sessions_end(sessions=AuthSession.objects.filter(tenant=tenant, user_id=user_id), reason=reason))


def refresh_rotate(*, raw: str, client: ClientInfo) -> IssuedTokens:
    """Trade a refresh token for new tokens; a reused token ends its whole session."""
    row = (
        RefreshToken.objects.select_related("session__user", "session__tenant", "session__portal")
        .filter(token_hash=_hash(raw))
        .first()
    )
    if row is None:
        raise TokenInvalid("The refresh token is invalid.")
    session = row.session
    if not _live_session(session) or revocation.session_predates_revocation(
        user_id=session.user_id, tenant_id=session.tenant_id, started=session.created_at.timestamp()
    ):
        raise TokenInvalid("This session has ended; sign in again.")
    with transaction.atomic():
        won = RefreshToken.objects.filter(token_hash=row.token_hash, used_at__isnull=True).update(
            used_at=timezone.now()
        )
    if not won:
        # Reuse: someone holds a token that was already exchanged. End the family.
        metrics.refresh_reused()
        session_revoke(session=session, reason="refresh_reuse", actor=session.user, ip=client.ip)
        raise TokenInvalid("This refresh token was already used; the session has been ended.")
    with transaction.atomic():
        try:
            membership: Membership | None = admitted_membership(user=session.user, portal=session.portal)
        except PermissionDenied:
            membership = None
        if membership is not None and session.user.is_active and session.portal.active:
            AuthSession.objects.filter(id=session.id).update(last_used_at=timezone.now(), ip=client.ip)
            return _issue(session, membership.role.code)
    # Outside the block above: ending the session must not be rolled back with the refusal.
    session_revoke(session=session, reason="access_lost", ip=client.ip)
    raise TokenInvalid("This session may no longer be refreshed; sign in again.")


def logout(*, raw_refresh: str, access_jti: str | None, client: ClientInfo) -> None:
    """End the session the refresh token belongs to (and the presented access token). Idempotent."""
    if access_jti:
        revocation.revoke_jti(access_jti)
    row = (
        RefreshToken.objects.select_related("session__tenant", "session__user")
        .filter(token_hash=_hash(raw_refresh))
        .first()
    )
    if row is None:
        raise TokenInvalid("The refresh token is invalid.")
    session_revoke(session=row.session, reason="logout", actor=row.session.user, ip=client.ip)


def switch_portal(*, user_id: UUID, amr: list[str], portal_slug: str, client: ClientInfo) -> IssuedTokens:
    """Tokens for another portal the user may enter, in a new session that keeps `amr`."""
    portal = portal_get_for_login(slug=portal_slug)
    user = User.objects.filter(id=user_id, is_active=True).first()
    if user is None:
        raise TokenInvalid("This account is no longer active.")
    membership = admitted_membership(user=user, portal=portal)
    if portal.mfa_required and "otp" not in amr:
        raise PermissionDenied("This portal requires multi-factor sign-in.")
    return session_start(user=user, membership=membership, portal=portal, amr=amr, client=client)
