"""A user's sessions, and ending sessions in bulk: of a user, a portal or a tenant.

Ending a session has two halves, both needed: the row is marked revoked (its
refresh tokens stop at once, `auth.refresh_rotate` checks it) and its id is
marked in the revocation cache (its access tokens stop at their next request,
`apps.identity.revocation`). One session goes through `auth.session_revoke`;
the bulk forms here do the same for many rows in one UPDATE and one
`set_many`, plus a "not before" mark for the user or tenant where the whole
user or tenant is concerned, so a token minted by a session that raced the
UPDATE dies as well.

Audit: a user-wide revocation has no tenant and goes to the platform stream;
a portal's or tenant's goes to that tenant's stream.
"""

from __future__ import annotations

import logging
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.common.exceptions import NotFound
from apps.identity import revocation
from apps.identity.models import AuthSession, Portal, Tenant, User
from apps.identity.services.audit import audit_record
from apps.identity.services.auth import session_revoke, sessions_end

logger = logging.getLogger("atrium.identity.sessions")


def _live() -> QuerySet[AuthSession]:
    return AuthSession.objects.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


# --------------------------------------------------------------------------- the user's own sessions


def session_list(*, user_id: UUID | str) -> QuerySet[AuthSession]:
    """The user's live sessions in every tenant and portal, most recently used first."""
    return _live().filter(user_id=user_id).select_related("portal").order_by("-last_used_at", "-created_at", "-id")


def session_revoke_own(*, user_id: UUID | str, session_id: UUID | str, ip: str | None = None) -> None:
    """End one live session of the user; another user's (or an ended) session is 404."""
    session = _live().filter(id=session_id, user_id=user_id).select_related("tenant", "user").first()
    if session is None:
        raise NotFound("No such session.")
    session_revoke(session=session, reason="user_revoked", actor=session.user, ip=ip)


# --------------------------------------------------------------------------- bulk


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


@transaction.atomic
def sessions_revoke_tenant(
    *, tenant: Tenant, reason: str = "revoke_all", actor: User | None = None, ip: str | None = None
) -> int:
    """End every session in one tenant; every access token it issued until now stops."""
    revocation.revoke_tenant_before_now(tenant.id)
    ended = sessions_end(sessions=AuthSession.objects.filter(tenant_id=tenant.id), reason=reason)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="auth.sessions_revoked",
        target=("tenant", tenant.slug),
        ip=ip,
        data={"scope": "tenant", "reason": reason, "count": len(ended)},
    )
    return len(ended)


@transaction.atomic
def tenant_suspend(*, tenant: Tenant, actor: User | None = None, ip: str | None = None, reason: str = "") -> int:
    """Suspend a tenant: sign-ins and refreshes are refused (403/401) and its access ends at the next request.

    Returns how many sessions ended. Suspending a suspended tenant ends any
    session left and changes nothing else.
    """
    locked = Tenant.objects.select_for_update().get(id=tenant.id)
    if locked.status == Tenant.Status.OFFBOARDED:
        raise NotFound("No such tenant.")
    was = locked.status
    if was != Tenant.Status.SUSPENDED:
        Tenant.objects.filter(id=tenant.id).update(status=Tenant.Status.SUSPENDED, updated_at=timezone.now())
    tenant.status = Tenant.Status.SUSPENDED
    revocation.revoke_tenant_before_now(tenant.id)
    ended = sessions_end(sessions=AuthSession.objects.filter(tenant_id=tenant.id), reason="tenant_suspended")
    if was != Tenant.Status.SUSPENDED:
        audit_record(
            tenant=tenant,
            actor=actor,
            action="tenant.suspended",
            target=("tenant", tenant.slug),
            ip=ip,
            data={"reason": reason[:200], "sessions_ended": len(ended)},
        )
    logger.info("tenant.suspend", extra={"tenant_slug": tenant.slug, "sessions_ended": len(ended)})
    return len(ended)


@transaction.atomic
def tenant_reactivate(*, tenant: Tenant, actor: User | None = None, ip: str | None = None) -> bool:
    """Lift a suspension: sign-ins work again at once. Sessions ended by the suspension stay ended.

    True when the tenant was suspended. Offboarded tenants are not brought back (404).
    """
    locked = Tenant.objects.select_for_update().get(id=tenant.id)
    if locked.status == Tenant.Status.OFFBOARDED:
        raise NotFound("No such tenant.")
    if locked.status != Tenant.Status.SUSPENDED:
        return False
    Tenant.objects.filter(id=tenant.id).update(status=Tenant.Status.ACTIVE, updated_at=timezone.now())
    tenant.status = Tenant.Status.ACTIVE
    audit_record(tenant=tenant, actor=actor, action="tenant.reactivated", target=("tenant", tenant.slug), ip=ip)
    return True


@transaction.atomic
def user_deactivate(*, user: User, actor: User | None = None, ip: str | None = None) -> int:
    """Deactivate an account: it can no longer sign in, and every token it holds stops now."""
    User.objects.filter(id=user.id).update(is_active=False)
    return sessions_revoke_user(user=user, reason="deactivated", actor=actor, ip=ip)
