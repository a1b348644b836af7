"""Revocation at the next request, for one cache round trip.

An access token lives at most 15 minutes and is never looked up in the
database. What ends it early is a mark in the shared cache (Redis in
production, so every app server sees it): its session (`sid`), its own `jti`,
or a "not before" time for its user or tenant. `check()` reads all of them and
the RBAC version with one `get_many`. Marks expire with the longest access
token they could concern.

API keys are ended the same way: a mark per key prefix, and "not before" marks
of the key creator's membership (`member_key`), user and tenant, all read in
the key's one round trip (`apps.identity.api_key_auth`).

The marks are only as durable as the cache. A Redis that restarts without its
data (or is flushed) would forget them, and a signed-out token would work again
until it expired. So the same round trip reads the store's epoch: the time the
store was first seen holding marks (`EPOCH_KEY`, never expiring). When it is
missing, the store lost its data: a new epoch is set, and a token issued before
it is judged by its session's row in the database (every revocation also ends
the session there) until such tokens have all expired, at most one access-token
lifetime later (docs/security.md, "Faults").
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.cache import cache

from apps.identity.principal import Principal
from apps.identity.rbac.version import RBAC_VERSION_KEY, rbac_version_from
from apps.identity.throttling import shared_store

PREFIX = "auth:rev"
EPOCH_KEY = f"{PREFIX}:epoch"
# How long a process trusts what it loaded about an API key (`apps.identity.api_key_auth`) before reading
# the database again; every mark that can end a key outlives it, so no process can miss one.
API_KEY_STANDING_MAX_AGE = 300
_API_KEY_MARK_TTL = API_KEY_STANDING_MAX_AGE + 60


def _ttl() -> int:
    # A mark must outlive every access token minted before it, and every API key standing loaded before it.
    return max(int(settings.ACCESS_TOKEN_LIFETIME.total_seconds()) + 60, _API_KEY_MARK_TTL)


def sid_key(sid: UUID | str) -> str:
    return f"{PREFIX}:sid:{sid}"


def jti_key(jti: str) -> str:
    return f"{PREFIX}:jti:{jti}"


def user_key(user_id: UUID | str) -> str:
    return f"{PREFIX}:user:{user_id}"


def tenant_key(tenant_id: UUID | str) -> str:
    return f"{PREFIX}:tenant:{tenant_id}"


def api_key_key(prefix: str) -> str:
    return f"{PREFIX}:apikey:{prefix}"


def member_key(tenant_id: UUID | str, user_id: UUID | str) -> str:
    return f"{PREFIX}:member:{tenant_id}:{user_id}"


def revoke_api_key(prefix: str) -> None:
    """The API key stops at its next request on every server (its row says so after the mark expires)."""
    cache.set(api_key_key(prefix), 1, timeout=_API_KEY_MARK_TTL)


def revoke_member_before_now(tenant_id: UUID | str, user_id: UUID | str) -> None:
    """A member's standing changed (role, removal): what was loaded about it before now is stale.

    Read by the API keys the member created, which then re-read the creator's standing.
    """
    cache.set(member_key(tenant_id, user_id), _now(), timeout=_API_KEY_MARK_TTL)


def revoke_sessions(session_ids: Iterable[UUID | str]) -> None:
    marks = {sid_key(sid): 1 for sid in session_ids}
    if marks:
        cache.set_many(marks, timeout=_ttl())


def revoke_jti(jti: str) -> None:
    cache.set(jti_key(jti), 1, timeout=_ttl())


def _now() -> float:
    return time.time()


def revoke_user_before_now(user_id: UUID | str) -> None:
    """Every access token of the user issued up to now stops working; later ones work."""
    cache.set(user_key(user_id), _now(), timeout=_ttl())


def revoke_tenant_before_now(tenant_id: UUID | str) -> None:
    cache.set(tenant_key(tenant_id), _now(), timeout=_ttl())


def _session_started_before(sid: str, not_before: float) -> bool:
    """Whether session `sid` began before `not_before` (an unknown session counts as before)."""
    from apps.identity.models import AuthSession  # models import this module's callers, not the reverse

    started = AuthSession.objects.filter(id=sid).values_list("created_at", flat=True).first()
    return started is None or started.timestamp() <= not_before


def _predates(*, not_before: object, issued_at: int, sid: str) -> bool:
    """Was a token issued at `issued_at` (whole seconds, as in `iat`) minted before `not_before`?

    The mark keeps the revocation's time to the microsecond; `iat` has whole
    seconds. A token of an earlier second is older, one of a later second is
    newer. In the revocation's own second (a sign-in right after a reset, say)
    the token's session decides: one that started after the revocation is new
    (its creation time has full precision), one that started before it raced
    the revocation and is ended too. Only that rare case reads the database.
    """
    if not isinstance(not_before, int | float):
        return False
    second = math.floor(not_before)
    if issued_at != second:
        return issued_at < second
    return _session_started_before(sid, float(not_before))


def session_predates_revocation(*, user_id: UUID | str, tenant_id: UUID | str, started: float) -> bool:
    """Whether a session that started at `started` (epoch seconds) is older than its user's or tenant's mark.

    A refresh asks this: a session that raced a user- or tenant-wide revocation
    (it started before the mark but was not among the rows ended) must not mint
    new tokens either.
    """
    values: dict[str, Any] = cache.get_many([user_key(user_id), tenant_key(tenant_id)])
    return any(isinstance(nb, int | float) and started <= nb for nb in values.values())


# When this process last saw the epoch in the store: a token minted soon after needs no write to be newer.
_epoch_seen_at: float = float("-inf")
_EPOCH_RECHECK_SECONDS = 60


def _store_epoch(value: object) -> float:
    """When the store began holding marks, from an already-fetched value; missing: it lost them, now."""
    global _epoch_seen_at
    now = _now()
    if isinstance(value, int | float) and not isinstance(value, bool):
        _epoch_seen_at = now
        return float(value)
    cache.add(EPOCH_KEY, now, timeout=None)  # of two processes noticing at once, one epoch wins
    current = cache.get(EPOCH_KEY)
    return float(current) if isinstance(current, int | float) else now


def epoch_ensure() -> None:
    """Before minting a token: make sure the store has an epoch, so the token is newer than it.

    Without this, a token minted right after the store lost its data would be older than the
    epoch the next check sets, and would cost a database read on every request until it expired.
    Skipped when this process saw the epoch within the last minute.
    """
    global _epoch_seen_at
    now = _now()
    if now - _epoch_seen_at < _EPOCH_RECHECK_SECONDS:
        return
    cache.add(EPOCH_KEY, now, timeout=None)
    _epoch_seen_at = now


def epoch_forget() -> None:
    """Forget having seen the epoch (tests clear the store between them)."""
    global _epoch_seen_at
    _epoch_seen_at = float("-inf")


def _session_live_in_database(sid: str) -> bool:
    """Whether session `sid` is still live by its row: for tokens older than the store's marks."""
    from django.utils import timezone

    from apps.identity.models import AuthSession  # models import this module's callers, not the reverse

    live = AuthSession.objects.filter(
        id=sid, revoked_at__isnull=True, expires_at__gt=timezone.now(), user__is_active=True
    ).exists()
    if not live:
        revoke_sessions([sid])  # the mark again: the next request of this token costs no query
    return live


@dataclass(frozen=True)
class CheckResult:
    revoked: bool
    rbac_version: int


def check(*, sid: str, jti: str, user_id: str, tenant_id: str, issued_at: int) -> CheckResult:
    """One round trip: is this token revoked, and which RBAC version is current."""
    keys = [sid_key(sid), jti_key(jti), user_key(user_id), tenant_key(tenant_id), RBAC_VERSION_KEY, EPOCH_KEY]
    values: dict[str, Any] = cache.get_many(keys)
    revoked = keys[0] in values or keys[1] in values
    for key in (keys[2], keys[3]):
        if not revoked and key in values:
            revoked = _predates(not_before=values[key], issued_at=issued_at, sid=sid)
    if not revoked and issued_at < math.floor(_store_epoch(values.get(EPOCH_KEY))):
        # Minted before the store's marks begin: one it lost may have ended it; the row knows. A token of
        # the epoch's own second is let be: to be wrong it must be minted, revoked and lost in that second.
        revoked = not _session_live_in_database(sid)
    return CheckResult(revoked=revoked, rbac_version=rbac_version_from(values.get(RBAC_VERSION_KEY)))


def principal_live(principal: Principal) -> Principal | None:
    """The principal with the current RBAC version, or None when it was revoked.

    The one check every authenticated request makes, whatever carried the principal (a bearer
    token, a portal's browser session): one cache round trip. Without the shared cache it
    cannot be checked, so it refuses (503) rather than trusts.
    """
    with shared_store("The service cannot check sessions right now; try again in a moment."):
        result = check(
            sid=str(principal.sid),
            jti=principal.jti,
            user_id=str(principal.user_id),
            tenant_id=str(principal.tenant_id),
            issued_at=principal.issued_at,
        )
    if result.revoked:
        return None
    return Principal(**{**principal.__dict__, "rbac_version": result.rbac_version})
