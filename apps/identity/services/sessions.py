"""Sessions: every way one starts, is refreshed, and ends.

Every sign-in is an `AuthSession`. Its kind says how the client holds it: an
API session's id is the `sid` claim of its access tokens, and its refresh
tokens are opaque, stored as SHA-256 hashes, and rotate with a conditional
update (a token is marked used only if it was not, so of two parallel
refreshes one wins; presenting a used token again ends the whole session). A
browser session is held by the portal's session cookie and has no tokens.

Ending a session has two halves, both needed: the row is marked revoked (its
refresh tokens stop at once, `refresh_rotate` checks it) and its id is marked
in the revocation cache (its access tokens stop at their next request,
`apps.identity.revocation`). One session ends through `session_revoke`; the
bulk forms (a member, a user, a portal, a tenant) do the same for many rows in
one UPDATE and one `set_many`, plus a "not before" mark where the whole user
or tenant is concerned, so a token minted by a session that raced the UPDATE
dies as well. Deactivating a user and suspending a tenant call these
(`services.accounts.user_deactivate`, `services.tenants.tenant_suspend`).

Audit: a user-wide revocation has no tenant and goes to the platform stream;
a portal's or tenant's goes to that tenant's stream.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.common.exceptions import NotFound, PermissionDenied
from apps.common.prepared import PreparedRows
from apps.common.tenancy import tenant_context, tenant_transaction
from apps.identity import metrics, revocation
from apps.identity.exceptions import TokenInvalid
from apps.identity.models import AuthSession, Membership, Portal, RefreshToken, Tenant, User
from apps.identity.selectors.accounts import user_get_active
from apps.identity.selectors.admission import admitted_membership
from apps.identity.selectors.portals import portal_get_public
from apps.identity.selectors.sessions import session_list
from apps.identity.services import lockout
from apps.identity.services.audit import audit_record
from apps.identity.tokens import AtriumAccessToken

Kind = AuthSession.Kind


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


# --------------------------------------------------------------------------- starting


def session_open(
    *, user: User, membership: Membership, portal: Portal, amr: list[str], client: ClientInfo, kind: str
) -> tuple[AuthSession, Membership]:
    """A new session of `kind` for an admitted user, audited `auth.login`; and the membership it holds.

    The membership is read again under its row lock, in the transaction that
    creates the session: a role change or removal that committed while this
    sign-in was under way has either ended this session too (it committed
    first: the re-read sees the new role, or no membership) or waits for it
    (this session commits first, and the change then ends it). Without the
    lock a sign-in racing the change kept the old role for its token's lifetime.
    """
    with tenant_transaction(portal.tenant):
        return _open(user=user, membership=membership, portal=portal, amr=amr, client=client, kind=kind)


def _open(
    *, user: User, membership: Membership, portal: Portal, amr: list[str], client: ClientInfo, kind: str
) -> tuple[AuthSession, Membership]:
    # In a transaction already the portal's tenant's (`tenant_transaction`): the lock, the re-read and the
    # audit entry set no tenant again. The re-read is its own statement, after the lock: it sees what a
    # change that held the lock committed.
    list(Membership.objects.select_for_update(no_key=True).filter(id=membership.id).values_list("id"))
    membership = admitted_membership(user=user, portal=portal)
    now = timezone.now()
    session = AuthSession.objects.create(
        user=user,
        tenant=portal.tenant,
        portal=portal,
        kind=kind,
        amr=amr,
        ip=client.ip,
        user_agent=client.user_agent,
        last_used_at=now,
        expires_at=now + settings.REFRESH_TOKEN_LIFETIME,
    )
    session.portal = portal
    session.tenant = portal.tenant
    audit_record(
        tenant=portal.tenant,
        actor=user,
        action="auth.login",
        target=("session", session.id),
        ip=client.ip,
        data={"portal": portal.slug, "amr": amr},
    )
    return session, membership


def session_start(
    *, user: User, membership: Membership, portal: Portal, amr: list[str], client: ClientInfo
) -> IssuedTokens:
    """A new API session (refresh family) with its first tokens: one transaction, one tenant setting."""
    with tenant_transaction(portal.tenant):
        session, membership = _open(
            user=user, membership=membership, portal=portal, amr=amr, client=client, kind=Kind.API
        )
        tokens = _issue(session, membership.role.code)
    return replace(tokens, device=lockout.known_device_issue(user=user))


def access_token_for(*, session: AuthSession, role_code: str) -> str:
    revocation.epoch_ensure()  # newer than the revocation store's epoch (apps.identity.revocation)
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


def switch_portal(*, user_id: UUID, amr: list[str], portal_slug: str, client: ClientInfo) -> IssuedTokens:
    """Tokens for another portal the user may enter, in a new session that keeps `amr`."""
    portal = portal_get_public(slug=portal_slug)
    user = user_get_active(user_id=user_id)
    if user is None:
        raise TokenInvalid("This account is no longer active.")
    membership = admitted_membership(user=user, portal=portal)
    if portal.mfa_required and "otp" not in amr:
        raise PermissionDenied("This portal requires multi-factor sign-in.")
    return session_start(user=user, membership=membership, portal=portal, amr=amr, client=client)


# --------------------------------------------------------------------------- refreshing


def _refresh_row(token_hash: str) -> QuerySet[RefreshToken]:
    return RefreshToken.objects.select_related("session__user", "session__tenant", "session__portal").filter(
        token_hash=token_hash
    )[:1]


# Compiled once per process (ADR 0018): this query's four joined models cost more to compile than to run.
_REFRESH_ROW = PreparedRows(_refresh_row)


def refresh_rotate(*, raw: str, client: ClientInfo) -> IssuedTokens:
    """Trade a refresh token for new tokens; a reused token ends its whole session."""
    row = _REFRESH_ROW.first(token_hash=_hash(raw))
    if row is None:
        raise TokenInvalid("The refresh token is invalid.")
    session = row.session
    if not session_is_live(session):
        raise TokenInvalid("This session has ended; sign in again.")
    # One transaction, the session's tenant's from its first statement, with one commit: the token used,
    # the session touched, the next token issued. Its first statement, a conditional UPDATE, decides
    # between two racers: the row lock makes the loser wait for the winner's commit, then see `used_at` set.
    with tenant_context(session.tenant):
        won = RefreshToken.objects.filter(token_hash=row.token_hash, used_at__isnull=True).update(
            used_at=timezone.now()
        )
        membership = session_still_admitted(session=session, client=client) if won else None
        if membership is not None:
            return _issue(session, membership.role.code)
    # Outside the block above: ending the session must not be rolled back with the refusal.
    if not won:
        # Reuse: someone holds a token that was already exchanged. End the family.
        metrics.refresh_reused()
        session_revoke(session=session, reason="refresh_reuse", actor=session.user, ip=client.ip)
        raise TokenInvalid("This refresh token was already used; the session has been ended.")
    session_revoke(session=session, reason="access_lost", ip=client.ip)
    raise TokenInvalid("This session may no longer be refreshed; sign in again.")


def session_is_live(session: AuthSession) -> bool:
    """Not ended, not expired, and not older than a user- or tenant-wide revocation it may have raced."""
    return session.is_live and not revocation.session_predates_revocation(
        user_id=session.user_id, tenant_id=session.tenant_id, started=session.created_at.timestamp()
    )


def session_still_admitted(*, session: AuthSession, client: ClientInfo) -> Membership | None:
    """The membership a live session still holds (its use recorded), or None: it must end.

    The one rule for carrying a session on (an API refresh, a browser session's
    periodic re-check): the user is active, the portal open, and the membership
    admitted to it. Run in the session's tenant context, with `user`, `tenant`
    and `portal` loaded.
    """
    session.portal.tenant = session.tenant  # one tenant, already loaded: admission reads it from the portal
    try:
        membership: Membership | None = admitted_membership(user=session.user, portal=session.portal)
    except PermissionDenied:
        return None
    if membership is None or not session.user.is_active or not session.portal.active:
        return None
    AuthSession.objects.filter(id=session.id).update(last_used_at=timezone.now(), ip=client.ip)
    return membership


# --------------------------------------------------------------------------- ending one


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


def session_revoke_own(*, user_id: UUID | str, session_id: UUID | str, ip: str | None = None) -> None:
    """End one live session of the user; another user's (or an ended) session is 404."""
    session = session_list(user_id=user_id).filter(id=session_id).select_related("tenant", "user").first()
    if session is None:
        raise NotFound("No such session.")
    session_revoke(session=session, reason="user_revoked", actor=session.user, ip=ip)


# --------------------------------------------------------------------------- ending many


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
    """End every live session of a user in one tenant (member removed, role changed).

    The API keys the member created re-read the creator's standing at their next request.
    """
    revocation.revoke_member_before_now(tenant.id, user_id)
    return len(sessions_end(sessions=AuthSession.objects.filter(tenant=tenant, user_id=user_id), reason=reason))


@transaction.atomic
def sessions_revoke_user(
    *,
    user: User,
    reason: str = "revoke_all",
    actor: User | None = None,
    ip: str | None = None,
    keep_session_id: UUID | str | None = None,
) -> int:
    """End every session of `user`, in every tenant; how many ended.

    `keep_session_id` spares one session (a password change keeps the caller's);
    without it every access token the user holds stops, including one minted
    by a session that started while this ran.
    """
    sessions = AuthSession.objects.filter(user_id=user.id)
    if keep_session_id is not None:
        sessions = sessions.exclude(id=keep_session_id)
    else:
        revocation.revoke_user_before_now(user.id)
    ended = sessions_end(sessions=sessions, reason=reason)
    audit_record(
        actor=actor,
        action="auth.sessions_revoked",
        target=("user", user.id),
        ip=ip,
        data={"scope": "user", "reason": reason, "count": len(ended)},
    )
    return len(ended)


@transaction.atomic
def sessions_revoke_portal(
    *, portal: Portal, reason: str = "revoke_all", actor: User | None = None, ip: str | None = None
) -> int:
    """End every session of one portal; how many ended (audited in the portal's tenant stream)."""
    ended = sessions_end(sessions=AuthSession.objects.filter(portal_id=portal.id), reason=reason)
    audit_record(
        tenant=portal.tenant,
        actor=actor,
        action="auth.sessions_revoked",
        target=("portal", portal.slug),
        ip=ip,
        data={"scope": "portal", "reason": reason, "count": len(ended)},
    )
    return len(ended)


def sessions_end_tenant(*, tenant: Tenant, reason: str) -> list[UUID]:
    """End every session in one tenant, and every access token it issued until now; not audited here."""
    revocation.revoke_tenant_before_now(tenant.id)
    return sessions_end(sessions=AuthSession.objects.filter(tenant_id=tenant.id), reason=reason)


@transaction.atomic
def sessions_revoke_tenant(
    *, tenant: Tenant, reason: str = "revoke_all", actor: User | None = None, ip: str | None = None
) -> int:
    """End every session in one tenant; every access token it issued until now stops."""
    ended = sessions_end_tenant(tenant=tenant, reason=reason)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="auth.sessions_revoked",
        target=("tenant", tenant.slug),
        ip=ip,
        data={"scope": "tenant", "reason": reason, "count": len(ended)},
    )
    return len(ended)
