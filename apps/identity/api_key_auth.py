"""`Authorization: Bearer atr_…`: a tenant API key, for at most one cache round trip once warm.

What never changes about a key (its tenant, role, creator, digest, expiry) is kept in
the process under its prefix, for `revocation.API_KEY_STANDING_MAX_AGE` seconds at most,
with its creator's standing (active user, active membership, role) as read then. Each
request then makes one round trip to the shared cache — on Redis one pipeline — that
reads the key's revocation mark, the "not before" marks of its creator's membership,
user and tenant, and the RBAC version, counts the request against the key's rate
(`api_key` throttle scope, 429 past it), and claims "first use this minute". A mark
newer than what the process loaded makes it read the database again; nothing else does.

The rule a key obeys on every request: its role's permissions must all be held by its
creator's current role (re-checked with the request's RBAC version, from the in-process
role map); otherwise it is refused (401) until the creator holds them again. A revoked
or expired key, one whose creator left the tenant or was deactivated, or one of a
suspended tenant is 401, like a bad key, with `WWW-Authenticate: Bearer`.

Only the tenant API's base classes list this class (`apps.identity.api.base`); the
endpoints about a person's own sign-in do not, so a key never reaches them.
docs/adr/0015-api-keys-in-identity.md.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.settings import api_settings

from apps.common import request_context
from apps.common.net import client_ip
from apps.identity import revocation
from apps.identity.acting import API_KEY_AMR, ApiKeyPrincipal
from apps.identity.api_key_format import SCHEME, digest_matches, key_prefix
from apps.identity.authentication import TokenUser, bearer_credential
from apps.identity.principal import TenantRef
from apps.identity.rbac import RBAC_VERSION_KEY, rbac_version_from, role_permissions
from apps.identity.selectors.api_keys import ApiKeyStanding, api_key_standing
from apps.identity.services.api_keys import api_key_record_use
from apps.identity.throttling import counter_incr, shared_store

logger = logging.getLogger("atrium.auth")

API_KEY_SCOPE = "api_key"  # the throttle scope: REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api_key"]
THROTTLE_PREFIX = "auth:throttle:api_key"
TOUCH_PREFIX = "auth:apikey:used"
TOUCH_SECONDS = 60  # `last_used_at` is written at most once a minute per key
# A mark this close to a load may belong to a transaction that had not committed when the load read the rows.
STALE_GRACE = 5.0
NO_EXPIRY = 253402300799  # 9999-12-31T23:59:59Z: `Principal.expires_at` of a key without an expiry
_MAX_ENTRIES = 10_000
_REFUSED = "The API key is invalid, expired or revoked."
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class _Standings:
    """Prefix → (loaded at, standing or None for "no such key"), per process; emptied when full."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, ApiKeyStanding | None]] = {}

    def get(self, prefix: str, *, now: float) -> tuple[bool, ApiKeyStanding | None]:
        with self._lock:
            found = self._entries.get(prefix)
        if found is None or now - found[0] > revocation.API_KEY_STANDING_MAX_AGE:
            return False, None
        return True, found[1]

    def put(self, prefix: str, loaded_at: float, standing: ApiKeyStanding | None) -> None:
        with self._lock:
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries = {}
            self._entries[prefix] = (loaded_at, standing)

    def clear(self) -> None:
        with self._lock:
            self._entries = {}


_standings = _Standings()


def forget_standings() -> None:
    """Empty this process's key cache (tests; production relies on the marks and the maximum age)."""
    _standings.clear()


def _load(prefix: str) -> ApiKeyStanding | None:
    loaded_at = time.time()  # before the reads: a mark set while they run counts as newer
    standing = api_key_standing(prefix=prefix, loaded_at=loaded_at)
    _standings.put(prefix, loaded_at, standing)
    return standing


def _standing(prefix: str) -> ApiKeyStanding | None:
    known, standing = _standings.get(prefix, now=time.time())
    return standing if known else _load(prefix)


def _rate() -> tuple[int, int] | None:
    """(requests, seconds) of the `api_key` scope, read at call time; None when switched off."""
    rate = api_settings.DEFAULT_THROTTLE_RATES.get(API_KEY_SCOPE)
    if not rate:
        return None
    count, period = str(rate).split("/")
    return int(count), _PERIODS[period.strip()[0]]


@dataclass(frozen=True)
class _Trip:
    values: dict[str, Any]
    count: int
    first_this_minute: bool


def _round_trip(keys: list[str], counter: tuple[str, int] | None, touch: str) -> _Trip:
    """Read `keys`, count one use under `counter` (key, expiry), claim `touch`: one Redis pipeline.

    Without Redis (the embedded file cache, tests) the same three steps run as local calls.
    """
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        names = [backend.make_and_validate_key(k) for k in keys]
        pipe = backend._cache.get_client(names[0], write=True).pipeline()
        pipe.mget(names)
        if counter is not None:
            counted = backend.make_and_validate_key(counter[0])
            pipe.incr(counted)
            pipe.expire(counted, counter[1], nx=True)
        pipe.set(backend.make_and_validate_key(touch), 1, nx=True, ex=TOUCH_SECONDS)
        results = pipe.execute()
        loads = backend._cache._serializer.loads  # type: ignore[attr-defined] # get_many's own decoder
        values = {k: loads(v) for k, v in zip(keys, results[0], strict=True) if v is not None}
        count = int(results[1]) if counter is not None else 0
        return _Trip(values=values, count=count, first_this_minute=bool(results[-1]))
    values = cache.get_many(keys)
    count = counter_incr(counter[0], timeout=counter[1]) if counter is not None else 0
    return _Trip(values=values, count=count, first_this_minute=bool(cache.add(touch, 1, timeout=TOUCH_SECONDS)))


def _stale(standing: ApiKeyStanding, marks: list[object]) -> bool:
    """Whether a "not before" mark (creator's membership, user, tenant) is newer than the load."""
    return any(isinstance(m, int | float) and m >= standing.loaded_at - STALE_GRACE for m in marks)


def _refuse(prefix: str | None, reason: str) -> exceptions.AuthenticationFailed:
    logger.info("auth.api_key_refused", extra={"api_client": prefix, "reason": reason})
    return exceptions.AuthenticationFailed(_REFUSED)


def authenticate_key(raw: str, *, ip: str | None) -> ApiKeyPrincipal:
    """The principal of a valid key, or AuthenticationFailed (401) / Throttled (429) / 503."""
    prefix = key_prefix(raw)
    if prefix is None:
        raise _refuse(None, "malformed")
    standing = _standing(prefix)
    if standing is None or not digest_matches(raw, standing.secret_hash):
        raise _refuse(prefix, "unknown")
    now = time.time()
    tenant_id, creator_id = standing.tenant_id, standing.creator_id
    keys = [
        revocation.api_key_key(prefix),
        revocation.member_key(tenant_id, creator_id),
        revocation.user_key(creator_id),
        revocation.tenant_key(tenant_id),
        RBAC_VERSION_KEY,
    ]
    rate = _rate()
    counter = None
    if rate is not None:
        window = int(now // rate[1])
        counter = (f"{THROTTLE_PREFIX}:{prefix}:{window}", rate[1] - int(now % rate[1]) + 1)
    with shared_store("The service cannot check API keys right now; try again in a moment."):
        trip = _round_trip(keys, counter, f"{TOUCH_PREFIX}:{prefix}")
    if keys[0] in trip.values:
        raise _refuse(prefix, "revoked")
    if _stale(standing, [trip.values.get(k) for k in keys[1:4]]):
        standing = _load(prefix)
        if standing is None:
            raise _refuse(prefix, "unknown")
    if standing.refusal:
        raise _refuse(prefix, standing.refusal)
    if standing.expires_at is not None and standing.expires_at <= now:
        raise _refuse(prefix, "expired")
    version = rbac_version_from(trip.values.get(RBAC_VERSION_KEY))
    granted = role_permissions(tenant_id=tenant_id, role_code=standing.role_code, version=version)
    held = role_permissions(tenant_id=tenant_id, role_code=standing.creator_role, version=version)
    if not granted <= held:
        raise _refuse(prefix, "exceeds_creator")
    if rate is not None and trip.count > rate[0]:
        raise exceptions.Throttled(wait=max(1, rate[1] - int(now % rate[1])))
    if (ip is not None and ip != standing.last_ip) or trip.first_this_minute:
        tenant = TenantRef(id=tenant_id, slug=standing.tenant_slug)
        api_key_record_use(
            tenant=tenant,
            key_id=standing.key_id,
            creator_id=creator_id,
            ip=ip,
            new_ip=ip is not None and ip != standing.last_ip,
            touch=trip.first_this_minute,
        )
        if ip is not None and ip != standing.last_ip:
            _standings.put(prefix, standing.loaded_at, replace(standing, last_ip=ip))
    return ApiKeyPrincipal(
        user_id=creator_id,
        tenant=TenantRef(id=tenant_id, slug=standing.tenant_slug),
        portal=standing.portal,
        roles=(standing.role_code,),
        sid=standing.key_id,
        jti=f"apikey:{prefix}",
        amr=(API_KEY_AMR,),
        issued_at=int(now),
        expires_at=int(standing.expires_at) if standing.expires_at is not None else NO_EXPIRY,
        rbac_version=version,
        api_key_id=standing.key_id,
        api_key_prefix=prefix,
    )


class ApiKeyAuthentication(BaseAuthentication):
    """`Bearer atr_…`: a tenant API key. Any other bearer is left to `BearerAuthentication` (listed after)."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[TokenUser, ApiKeyPrincipal] | None:
        raw = bearer_credential(request)
        if raw is None or not raw.startswith(SCHEME):
            return None
        principal = authenticate_key(raw, ip=client_ip(request))
        # `api_client`: the log's redaction hides anything called `api_key`; the prefix is public.
        request_context.bind(
            user=str(principal.user_id), tenant=principal.tenant.slug, api_client=principal.api_key_prefix
        )
        return TokenUser(principal.user_id), principal

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
