"""Checking second-factor codes (TOTP and Atrium's backup codes), and the wrong-code lock.

Wrong codes are counted per user in the shared cache; `MFA_MAX_FAILURES`
within the window lock every code check of that user for `MFA_LOCK_SECONDS`
(429 + Retry-After, even for a right code) and burn the presented `mfa_token`.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, Final
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.common.exceptions import TooManyRequests
from apps.identity import metrics
from apps.identity.models import BackupCode, Tenant, User
from apps.identity.services.audit import audit_record, audit_record_user_event
from apps.identity.services.lockout import failure_count
from apps.identity.services.mfa import clock
from apps.identity.services.mfa.tokens import MfaTokenData, token_burn
from apps.identity.throttling import shared_store

_FAIL_KEY: Final = "auth:mfa:failures"
_LOCK_KEY: Final = "auth:mfa:lock"

# Backup codes: 10 characters from 32 that are hard to confuse (no 0/O, 1/I) — 50 bits each.
BACKUP_ALPHABET: Final = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_BACKUP_LENGTH: Final = 10
_BACKUP_RE: Final = re.compile(rf"[{BACKUP_ALPHABET}]{{{_BACKUP_LENGTH}}}")
_TOTP_RE: Final = re.compile(r"[0-9]{6}|[0-9]{8}")
_BACKUP_HMAC_SALT: Final = "atrium.identity.mfa.backup_code"


def _max_failures() -> int:
    return int(getattr(settings, "MFA_MAX_FAILURES", 5))


def _failure_window() -> int:
    return int(getattr(settings, "MFA_FAILURE_WINDOW_SECONDS", 900))


def _lock_seconds() -> int:
    return int(getattr(settings, "MFA_LOCK_SECONDS", 300))


def _backup_count() -> int:
    return int(getattr(settings, "MFA_BACKUP_CODE_COUNT", 10))


# --------------------------------------------------------------------------- wrong-code lock


def codes_guard(user_id: UUID) -> None:
    """429 while the user's code checks are locked — before the code is even looked at."""
    with shared_store():
        until: Any = cache.get(f"{_LOCK_KEY}:{user_id}")
    if isinstance(until, int | float):
        remaining = float(until) - clock.now()
        if remaining > 0:
            raise TooManyRequests(
                "Too many wrong codes; multi-factor sign-in is locked for a while.",
                retry_after=max(1, int(remaining) + 1),
            )


def code_failed(
    *,
    user: User,
    where: str,
    ip: str | None,
    tenant: Tenant | None = None,
    token: MfaTokenData | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Count a wrong code: audited durably, metered, and past the limit the user's code checks lock.

    Raises TooManyRequests when this failure tripped the lock; otherwise returns
    and the caller raises its own "wrong code" error.
    """
    metrics.mfa_failed()
    key = f"{_FAIL_KEY}:{user.id}"
    window = _failure_window()
    with shared_store():
        failures = failure_count(key, window=window)
    locked = failures >= _max_failures()
    audit_record(
        tenant=tenant,
        actor=user,
        action="auth.mfa_failed",
        target=("user", user.id),
        ip=ip,
        data={**(data or {}), "where": where, "failures": failures, "locked": locked},
        durable=True,
    )
    if not locked:
        return
    seconds = _lock_seconds()
    with shared_store():
        cache.set(f"{_LOCK_KEY}:{user.id}", clock.now() + seconds, timeout=seconds + 1)
        cache.delete(key)
    if token is not None:
        token_burn(token)
    # The lock holds in every tenant of the account: each of its admins sees it.
    audit_record_user_event(
        user=user,
        action="auth.mfa_locked",
        ip=ip,
        tenant=tenant,
        data={**(data or {}), "where": where, "seconds": seconds, "failures": failures},
        durable=True,
    )
    raise TooManyRequests("Too many wrong codes; multi-factor sign-in is locked for a while.", retry_after=seconds)


def failures_clear(user: User) -> None:
    """Start the wrong-code count over (a right code, or a new enrolment). An active lock stays."""
    with shared_store():
        cache.delete(f"{_FAIL_KEY}:{user.id}")


# --------------------------------------------------------------------------- codes


def normalize(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


def totp_verify(device: Any, code: str) -> bool:
    """django-otp's check: the current (±1 step) code, at a later step than the last accepted one (no replay).

    What `TOTPDevice.verify_token` does, on `clock.now()` instead of the wall clock:
    `django_otp.oath.TOTP.verify` within the device's tolerance and above its
    `last_t`, then `last_t` and the drift saved. Unlike `verify_token` a wrong
    code writes nothing (its throttle counter is unused here,
    `OTP_TOTP_THROTTLE_FACTOR = 0`): the durable audit of the failure must not
    wait behind a row this request wrote (on SQLite, a write locks the whole
    database).
    """
    if not _TOTP_RE.fullmatch(code):
        return False
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = clock.now()
    if not totp.verify(int(code), device.tolerance, device.last_t + 1):
        return False
    device.last_t = totp.t()
    if getattr(settings, "OTP_TOTP_SYNC", True):
        device.drift = totp.drift
    device.throttle_reset(commit=False)
    device.set_last_used_timestamp(commit=False)
    device.save()
    return True


def _totp_check(*, user: User, code: str) -> bool:
    # The row lock makes "check and advance last_t" one step: the same code sent twice at once passes once.
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk").first()
        return device is not None and totp_verify(device, code)


def _backup_hashes(user_id: UUID, code: str) -> list[str]:
    """The stored form of a code under the current secret key and each fallback (key rotation)."""
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [
        salted_hmac(_BACKUP_HMAC_SALT, f"{user_id}:{code}", secret=key, algorithm="sha256").hexdigest() for key in keys
    ]


def _backup_use(*, user: User, code: str) -> bool:
    """Spend a backup code: the conditional update succeeds for one caller only."""
    if not _BACKUP_RE.fullmatch(code):
        return False
    unused = BackupCode.objects.filter(user=user, code_hash__in=_backup_hashes(user.id, code), used_at__isnull=True)
    # Read first: a wrong code writes nothing (see `totp_verify`); the update is the single-use check.
    if not unused.exists():
        return False
    return unused.update(used_at=timezone.now()) > 0


def check_code(*, user: User, code: str, allow_backup: bool) -> str | None:
    """The method ("totp" or "backup_code") when `code` is right — and now spent — else None."""
    normalized = normalize(code)
    if _TOTP_RE.fullmatch(normalized):
        return "totp" if _totp_check(user=user, code=normalized) else None
    if allow_backup and _backup_use(user=user, code=normalized):
        return "backup_code"
    return None


def backup_codes_replace(*, user: User) -> list[str]:
    """Ten new codes for `user`; every earlier one stops working. The plain codes exist only in the answer."""
    BackupCode.objects.filter(user=user).delete()
    codes: list[str] = []
    while len(codes) < _backup_count():
        code = "".join(secrets.choice(BACKUP_ALPHABET) for _ in range(_BACKUP_LENGTH))
        if code not in codes:
            codes.append(code)
    BackupCode.objects.bulk_create(
        [BackupCode(user=user, code_hash=_backup_hashes(user.id, code)[0]) for code in codes]
    )
    return [f"{code[:5]}-{code[5:]}" for code in codes]
