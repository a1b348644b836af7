"""DRF throttles for the auth endpoints: per client IP, in the shared cache, failing closed.

`ScopedAuthThrottle` is the project's default throttle class
(`REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]`). It counts only views that name a
scope, so a view opts in with one attribute::

    class PasswordResetView(PublicAPIView):
        throttle_scope = "password_reset"

The scopes and their default rates are in `config/settings/drf.py`
(`login`, `refresh`, `mfa_verify`, `password_reset`, `email_resend`,
`register`); `ATRIUM_THROTTLE_RATES` overrides them. Past the rate a request is
429 with `Retry-After`.

Two differences from DRF's `ScopedRateThrottle`:

- The client is `apps.common.net.client_ip` — X-Forwarded-For is believed only
  from `TRUSTED_PROXIES` (DRF would key on whatever X-Forwarded-For a client
  sends, so each forged header would get a fresh allowance).
- A fixed-window counter incremented atomically in the cache (Redis: INCR)
  instead of DRF's read-modify-write request log, so several app servers
  share one exact count. Cache errors become a 503, never a pass.

Imports stay light (no models): DRF loads this module while importing
`rest_framework.views`, possibly before the app registry is ready.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import salted_hmac
from redis.exceptions import RedisError
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from apps.common.exceptions import ServiceUnavailable
from apps.common.net import client_ip

if TYPE_CHECKING:
    # Not at run time: DRF imports this module while `rest_framework.views` is itself being imported.
    from rest_framework.request import Request
    from rest_framework.views import APIView

logger = logging.getLogger("atrium.auth")

PREFIX = "auth:throttle"
# The scopes the auth endpoints use; the account flows and MFA views name theirs with these constants.
LOGIN = "login"
REFRESH = "refresh"
MFA_VERIFY = "mfa_verify"
PASSWORD_RESET = "password_reset"  # noqa: S105 - a throttle scope name, not a secret
EMAIL_RESEND = "email_resend"
REGISTER = "register"
SCOPES = (LOGIN, REFRESH, MFA_VERIFY, PASSWORD_RESET, EMAIL_RESEND, REGISTER)
# Seconds a client is asked to wait when the shared store does not answer (a Redis restart or fail-over).
SHARED_STORE_RETRY_AFTER = 5


@contextmanager
def shared_store(message: str = "Sign-in is unavailable right now; try again in a moment.") -> Iterator[None]:
    """Turn an unreachable cache into a 503: security state fails closed, without a traceback."""
    try:
        yield
    except (RedisError, OSError) as exc:
        logger.error("auth.shared_store_unavailable", extra={"error": type(exc).__name__})
        unavailable = ServiceUnavailable(message)
        unavailable.headers["Retry-After"] = str(SHARED_STORE_RETRY_AFTER)
        raise unavailable from exc


def counter_incr(key: str, *, timeout: int) -> int:
    """Add one to the counter `key` (made at 1, expiring `timeout` seconds after); the new count.

    On Redis one round trip: INCR and EXPIRE NX in one MULTI/EXEC, so the count
    and its expiry are set together and a later increment never extends it.
    Other caches (the embedded file cache, tests): add, then an atomic increment.
    Call inside `shared_store()`.
    """
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        full = backend.make_and_validate_key(key)
        pipe = backend._cache.get_client(full, write=True).pipeline()
        pipe.incr(full)
        pipe.expire(full, timeout, nx=True)
        count, _ = pipe.execute()
        return int(count)
    cache.add(key, 0, timeout=timeout)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr: a new window
        cache.set(key, 1, timeout=timeout)
        return 1


def digest(*parts: str) -> str:
    """A keyed hash for a cache key: no e-mail or IP in Redis, and none guessable from the key."""
    return salted_hmac("atrium.lockout", "\n".join(parts), algorithm="sha256").hexdigest()[:40]


def _now() -> float:
    return time.time()


class ScopedAuthThrottle(ScopedRateThrottle):
    """`view.throttle_scope` requests per client IP per window; views without a scope pass."""

    _window: int = 0
    _window_end: float = 0.0
    _at: float = 0.0

    def get_rate(self) -> str | None:
        # Read at call time: DRF's class attribute freezes the rates at import, which hides overrides.
        rates: Mapping[str, Any] = api_settings.DEFAULT_THROTTLE_RATES
        try:
            rate = rates[str(self.scope)]
        except KeyError:
            raise ImproperlyConfigured(
                f"No throttle rate for scope {self.scope!r}: add it to REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']."
            ) from None
        return None if rate is None else str(rate)

    def get_ident(self, request: Request) -> str:
        return client_ip(request) or "unknown"

    def get_cache_key(self, request: Request, view: APIView) -> str:
        return f"{PREFIX}:{self.scope}:{digest('ip', self.get_ident(request))}:{self._window}"

    def allow_request(self, request: Request, view: APIView) -> bool:
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        limit, duration = self.parse_rate(self.rate)
        self.num_requests, self.duration = limit, duration
        if limit is None or duration is None:
            return True
        self._at = _now()
        self._window = int(self._at // duration)
        self._window_end = float((self._window + 1) * duration)
        key = self.get_cache_key(request, view)
        timeout = math.ceil(self._window_end - self._at) + 1
        with shared_store():
            count = counter_incr(key, timeout=timeout)
        return count <= limit

    def wait(self) -> float:
        return float(max(1, math.ceil(self._window_end - self._at)))
