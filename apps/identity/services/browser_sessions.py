"""Browser sessions: a portal sign-in held by the portal's session cookie instead of tokens.

Each browser sign-in is an `AuthSession` of kind "browser", listed in
`auth/sessions/` and ended by every revocation an API session obeys. What the
browser holds, through the Django session its cookie names, are the *claims*
of that sign-in — the same claims an access token carries (`sub`, `tenant_id`,
`tenant`, `portal`, `roles`, `sid`, `jti`, `amr`, `iat`, `exp`) — so the
request's principal is read from them by the one parser
(`principal.principal_from_payload`) and checked like a bearer token:

- every request: one cache round trip (`revocation.check`) for the session's,
  the user's and the tenant's revocation marks and the RBAC version;
- when the claims are older than an access token may be (`exp`, the access
  token lifetime), they are renewed against the database, with the rule an API
  refresh obeys (`sessions.session_still_admitted`): the session row live, the
  user active, the portal open and the membership still admitted. Revocation
  marks outlive every access token by a minute, so a revoked session is refused
  by its mark until its claims are due, and then by its row.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings

from apps.common.tenancy import tenant_context
from apps.identity import revocation
from apps.identity.models import AuthSession, Membership, Portal, User
from apps.identity.principal import Principal, principal_from_payload
from apps.identity.services.sessions import (
    ClientInfo,
    Kind,
    session_is_live,
    session_open,
    session_revoke,
    session_still_admitted,
)

Claims = dict[str, Any]


@dataclass(frozen=True)
class BrowserSignIn:
    """A started browser session and the claims the portal keeps for it."""

    session: AuthSession
    claims: Claims


@dataclass(frozen=True)
class BrowserAuth:
    """A live browser session's principal; `claims` replaces the stored ones when `renewed`."""

    principal: Principal
    claims: Claims
    renewed: bool = False


def _claims(*, session: AuthSession, role_code: str, tenant_slug: str, portal_slug: str) -> Claims:
    revocation.epoch_ensure()  # newer than the revocation store's epoch (apps.identity.revocation)
    now = int(time.time())
    return {
        "sub": str(session.user_id),
        "tenant_id": str(session.tenant_id),
        "tenant": tenant_slug,
        "portal": portal_slug,
        "roles": [role_code],
        "sid": str(session.id),
        # One per session: a jti mark (an API logout's) never names a browser session.
        "jti": f"browser-{session.id}",
        "amr": list(session.amr or ["pwd"]),
        "iat": now,
        "exp": now + int(settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
    }


def browser_session_start(
    *, user: User, membership: Membership, portal: Portal, amr: list[str], client: ClientInfo
) -> BrowserSignIn:
    """A new browser session for an admitted user (audited `auth.login`, like every sign-in)."""
    session, membership = session_open(
        user=user, membership=membership, portal=portal, amr=amr, client=client, kind=Kind.BROWSER
    )
    claims = _claims(
        session=session, role_code=membership.role.code, tenant_slug=portal.tenant.slug, portal_slug=portal.slug
    )
    return BrowserSignIn(session=session, claims=claims)


def _principal(claims: Mapping[str, Any]) -> Principal | None:
    try:
        return principal_from_payload(dict(claims))
    except (KeyError, TypeError, ValueError, IndexError):
        return None  # not claims this module wrote: treat as signed out


def _renew(principal: Principal, client: ClientInfo) -> Claims | None:
    session = (
        AuthSession.objects.select_related("user", "tenant", "portal")
        .filter(id=principal.sid, kind=Kind.BROWSER)
        .first()
    )
    if session is None or not session_is_live(session):
        return None
    with tenant_context(session.tenant):
        membership = session_still_admitted(session=session, client=client)
    if membership is None:
        session_revoke(session=session, reason="access_lost", ip=client.ip)
        return None
    return _claims(
        session=session,
        role_code=membership.role.code,
        tenant_slug=session.tenant.slug,
        portal_slug=session.portal.slug,
    )


def browser_auth(*, claims: Mapping[str, Any], portal: Portal, client: ClientInfo) -> BrowserAuth | None:
    """The principal of stored browser claims for `portal`, or None: signed out (ended, revoked, not this portal)."""
    principal = _principal(claims)
    if principal is None or principal.portal != portal.slug or principal.tenant_id != portal.tenant_id:
        return None
    live = revocation.principal_live(principal)  # the bearer token's check, the same round trip
    if live is None:
        return None
    renewed = None
    if live.expires_at <= time.time():
        renewed = _renew(live, client)
        if renewed is None:
            return None
        fresh = _principal(renewed)
        assert fresh is not None
        live = replace(fresh, rbac_version=live.rbac_version)
    return BrowserAuth(principal=live, claims=renewed or dict(claims), renewed=renewed is not None)


def browser_session_end(*, claims: Mapping[str, Any], ip: str | None) -> None:
    """Sign-out: end the session the claims name (idempotent; unknown claims do nothing)."""
    principal = _principal(claims)
    if principal is None:
        return
    session = AuthSession.objects.select_related("tenant", "user").filter(id=principal.sid).first()
    if session is not None and session.user_id == principal.user_id:
        session_revoke(session=session, reason="logout", actor=session.user, ip=ip)
