"""Sign-in lockout: the one throttle on password guesses, shared by the API and the browser portal.

The login service calls `login_guard` before looking at the password, then
`login_failed` or `login_succeeded`; a password reset or a correct MFA sign-in
calls `lockout_clear`. All state lives in the Django cache (Redis in
production), so a lock imposed through one app server holds on every other.

Counters are keyed on the **account** the address resolves to (its user id),
not on the typed string: `Admin@`, `adm\u0131n@` (dotless i) and `admin@` reach the
same counters wherever the lookup reaches the same account. An address with no
account is keyed on its canonical form (`apps.identity.models.canonical_email`).

Three counters, each with its own lock (thresholds in `settings.ATRIUM_LOCKOUT`):

- **pair** (account, client IP): from the 5th failure on, each failure
  locks the pair for a delay that doubles per further failure (1 min, 2, 4, …,
  capped at 15 min). A locked pair is refused even with the right password. The
  attacker's IP being locked does nothing to the owner's other clients.
- **account** (every client): reaching the threshold within the window locks
  the account for everyone, briefly (60 s), **once per window**: failures while
  locked or after it do not re-arm it, so a trickle of failures cannot keep
  the owner out. A client that has signed in to the account before (its
  *known-device* cookie, OWASP's device cookie) is never refused by the
  account-wide lock, only by its own pair lock.
- **ip** (every account): many failures from one client across accounts
  (credential stuffing) lock that client out of signing in.

Keys are namespaced `auth:lock:…` and carry keyed hashes (HMAC with the secret
key) of the account and IP, never the values. A password reset or a correct MFA
sign-in (`lockout_clear`) changes the account's *generation*, a salt of every
pair key, so all its pairs start over at once without a key scan.

When the store cannot be reached, sign-in fails closed: `ServiceUnavailable`
(503 problem+json), never a pass and never a traceback.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.cache import cache

from apps.common.exceptions import TooManyRequests
from apps.identity import metrics
from apps.identity.models import User, canonical_email
from apps.identity.services.audit import audit_record
from apps.identity.throttling import counter_incr, digest, shared_store

logger = logging.getLogger("atrium.auth")

PREFIX = "auth:lock"
# A generation outlives every pair key salted with the previous one (their window is far shorter).
_GENERATION_TTL = 30 * 24 * 3600
_UNKNOWN_IP = "unknown"


@dataclass(frozen=True)
class LockoutPolicy:
    pair_threshold: int = 5
    pair_base_seconds: int = 60
    pair_max_seconds: int = 900
    pair_window_seconds: int = 3600
    account_threshold: int = 20
    account_window_seconds: int = 900
    account_lock_seconds: int = 60
    ip_threshold: int = 50
    ip_window_seconds: int = 900
    ip_lock_seconds: int = 900


def policy() -> LockoutPolicy:
    return LockoutPolicy(**getattr(settings, "ATRIUM_LOCKOUT", {}))


def _now() -> float:
    return time.time()


def account_key(*, user: User | None, email: str) -> str:
    """What the counters are keyed on: the resolved account, else the canonical address."""
    if user is not None:
        return f"user:{user.id}"
    return "email:" + canonical_email(email).casefold()


def _resolve(email: str) -> User | None:
    return User.objects.by_email(email).first()


# --------------------------------------------------------------------------- known devices

DEVICE_COOKIE = "atrium_device"
DEVICE_MAX_AGE_SECONDS = 365 * 24 * 3600
_DEVICE_SALT = "atrium.lockout.known-device"


def known_device_issue(*, user: User) -> str:
    """A signed mark that this client signed in to `user` (set as the `atrium_device` cookie)."""
    return signing.dumps({"u": str(user.id), "n": secrets.token_hex(8)}, salt=_DEVICE_SALT, compress=False)


def known_device_matches(*, value: str | None, user: User | None) -> bool:
    """Whether `value` is a known-device mark this service issued for `user`."""
    if not value or user is None:
        return False
    try:
        payload = signing.loads(value, salt=_DEVICE_SALT, max_age=DEVICE_MAX_AGE_SECONDS)
    except signing.BadSignature:
        return False
    return isinstance(payload, dict) and payload.get("u") == str(user.id)


@dataclass(frozen=True)
class _Keys:
    generation: str
    account_failures: str
    account_until: str
    ip_failures: str
    ip_until: str

    @classmethod
    def of(cls, *, account: str, ip: str | None) -> _Keys:
        account = digest("account", account)
        client = digest("ip", ip or _UNKNOWN_IP)
        return cls(
            generation=f"{PREFIX}:gen:{account}",
            account_failures=f"{PREFIX}:account:{account}:failures",
            account_until=f"{PREFIX}:account:{account}:until",
            ip_failures=f"{PREFIX}:ip:{client}:failures",
            ip_until=f"{PREFIX}:ip:{client}:until",
        )


def _pair_keys(*, account: str, ip: str | None, generation: object) -> tuple[str, str]:
    pair = digest("pair", account, ip or _UNKNOWN_IP, str(generation or ""))
    return f"{PREFIX}:pair:{pair}:failures", f"{PREFIX}:pair:{pair}:until"


def failure_count(key: str, *, window: int, sliding: bool = False) -> int:
    """Add one failure to `key` (atomic on Redis); the count expires `window` seconds after it started.

    `sliding`: after the latest failure instead, so a slow guesser is not forgotten between tries.
    """
    count = counter_incr(key, timeout=window)
    if sliding:
        cache.touch(key, timeout=window)
    return count


def _remaining(until: object, now: float) -> float:
    if isinstance(until, int | float):
        return float(until) - now
    return 0.0


# --------------------------------------------------------------------------- the login service's calls


def login_guard(*, email: str, ip: str | None, user: User | None, device: str | None = None) -> None:
    """Raise a 429 (with Retry-After) when this (account, client) pair, the account or the client is locked.

    Checked before the password is looked at, and the same for known and
    unknown e-mails. `user` is the account `email` resolves to (None: none);
    a `device` mark issued for that account exempts the client from the
    account-wide lock.
    """
    account = account_key(user=user, email=email)
    keys = _Keys.of(account=account, ip=ip)
    with shared_store():
        values = cache.get_many([keys.generation, keys.account_until, keys.ip_until])
        _, pair_until = _pair_keys(account=account, ip=ip, generation=values.get(keys.generation))
        until = cache.get(pair_until)
    now = _now()
    waits = [_remaining(until, now), _remaining(values.get(keys.ip_until), now)]
    if not known_device_matches(value=device, user=user):
        waits.append(_remaining(values.get(keys.account_until), now))
    wait = max(waits)
    if wait > 0:
        logger.info("auth.login_locked", extra={"client_ip": ip, "retry_after": math.ceil(wait)})
        raise TooManyRequests("Too many failed sign-in attempts; try again later.", retry_after=max(1, math.ceil(wait)))


def login_failed(*, email: str, ip: str | None, user: User | None) -> None:
    """Count a failed password attempt for the pair, the account and the client; lock where due."""
    metrics.login_failed()
    rules = policy()
    account = account_key(user=user, email=email)
    keys = _Keys.of(account=account, ip=ip)
    locks: list[tuple[str, int, int]] = []
    with shared_store():
        pair_failures, pair_until = _pair_keys(account=account, ip=ip, generation=cache.get(keys.generation))
        pair_count = failure_count(pair_failures, window=rules.pair_window_seconds, sliding=True)
        account_count = failure_count(keys.account_failures, window=rules.account_window_seconds)
        ip_count = failure_count(keys.ip_failures, window=rules.ip_window_seconds)
        now = _now()
        if pair_count >= rules.pair_threshold:
            # Doubling per failure past the threshold; the exponent is bounded before the cap applies.
            doublings = min(pair_count - rules.pair_threshold, 32)
            seconds = min(rules.pair_base_seconds * 2**doublings, rules.pair_max_seconds)
            cache.set(pair_until, now + seconds, timeout=seconds + 1)
            locks.append(("pair", seconds, pair_count))
        # Exactly at the threshold, once per window: later failures in the window (a trickle
        # meant to keep the owner out) do not re-arm it.
        if account_count == rules.account_threshold:
            seconds = rules.account_lock_seconds
            cache.set(keys.account_until, now + seconds, timeout=seconds + 1)
            locks.append(("account", seconds, account_count))
        if ip_count >= rules.ip_threshold:
            seconds = rules.ip_lock_seconds
            cache.set(keys.ip_until, now + seconds, timeout=seconds + 1)
            locks.append(("ip", seconds, ip_count))
    for scope, seconds, failures in locks:
        _record_lock(account=account, user=user, ip=ip, scope=scope, seconds=seconds, failures=failures)


def login_succeeded(*, email: str, ip: str | None, user: User | None) -> None:
    """A correct password from this client: its pair's failure count starts over.

    The account and IP counters stay: one success must not wipe out what other
    clients tried.
    """
    metrics.login_succeeded()
    account = account_key(user=user, email=email)
    keys = _Keys.of(account=account, ip=ip)
    with shared_store():
        failures, until = _pair_keys(account=account, ip=ip, generation=cache.get(keys.generation))
        cache.delete_many([failures, until])


def lockout_clear(*, email: str = "", user: User | None = None) -> None:
    """The account's owner proved themself (password reset, correct MFA sign-in): lift its locks.

    Every pair of the account starts over (new generation) and the account-wide
    count and lock go. Client-IP locks stay: they are about the client, not the account.
    """
    if user is None:
        user = _resolve(email)
    keys = _Keys.of(account=account_key(user=user, email=email), ip=None)
    with shared_store():
        cache.set(keys.generation, secrets.token_hex(8), timeout=_GENERATION_TTL)
        cache.delete_many([keys.account_failures, keys.account_until])
    logger.info("auth.lockout_cleared")


def _record_lock(*, account: str, user: User | None, ip: str | None, scope: str, seconds: int, failures: int) -> None:
    """Durably audit (platform stream: a lock spans every tenant of the account) and count a new lock."""
    metrics.lockout_imposed()
    target = ("user", user.id) if user is not None and scope != "ip" else None
    audit_record(
        actor=None,
        action="auth.lockout",
        target=target,
        ip=ip,
        # The keyed hash ties the event to the log lines of the same account without storing a typed e-mail.
        data={"scope": scope, "seconds": seconds, "failures": failures, "account": digest("account", account)[:16]},
        durable=True,
    )
