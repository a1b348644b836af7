"""Helpers for the MFA tests: codes computed the way an authenticator app computes them."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from apps.identity.models import User
from apps.identity.services import mfa
from apps.identity.services.mfa import clock as mfa_clock
from apps.identity.services.sessions import ClientInfo
from apps.identity.tokens import AtriumAccessToken

LOGIN = "/api/v1/identity/auth/login/"
VERIFY = "/api/v1/identity/auth/mfa/verify/"
STATUS = "/api/v1/identity/auth/mfa/"
SETUP = "/api/v1/identity/auth/mfa/totp/setup/"
CONFIRM = "/api/v1/identity/auth/mfa/totp/confirm/"
DISABLE = "/api/v1/identity/auth/mfa/totp/disable/"
BACKUP = "/api/v1/identity/auth/mfa/backup-codes/"
ME = "/api/v1/identity/auth/me/"
SWITCH = "/api/v1/identity/auth/switch/"


def device_of(user: User) -> TOTPDevice:
    """The user's newest TOTP device, confirmed or not."""
    return TOTPDevice.objects.filter(user=user).order_by("-pk").first()


class MfaClock:
    """The MFA service's clock, frozen at the real time it was made; tests move it instead of sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def use_mfa_clock(monkeypatch: pytest.MonkeyPatch) -> MfaClock:
    """Replace `mfa.clock.now` (token expiry, the lock, TOTP steps) with a clock the test moves."""
    clock = MfaClock()
    monkeypatch.setattr(mfa_clock, "now", clock)
    return clock


def totp_code(user: User, *, steps_ahead: int = 0) -> str:
    """The code an authenticator shows now (or `steps_ahead` 30-second steps later: still within tolerance).

    "Now" is the MFA service's clock, so a test that moved it gets the code of that moment.
    """
    device = device_of(user)
    assert device is not None, "the user has no TOTP device"
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = mfa_clock.now() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def code_for_secret(secret: str) -> str:
    """The current code of the base32 `secret` from a `totp/setup/` answer, as the authenticator app computes it."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    totp = TOTP(key)
    totp.time = mfa_clock.now()
    return f"{totp.token():06d}"


def wrong_code(user: User) -> str:
    """A six-digit code that is none of the accepted ones (previous, current, next step)."""
    accepted = {totp_code(user, steps_ahead=s) for s in (-1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444") if c not in accepted)


def enable_mfa(user: User) -> list[str]:
    """Enrol `user` through the services (as the API would); returns the ten backup codes."""
    mfa.totp_setup(user=user, ip=None)
    return mfa.totp_confirm(user=user, code=totp_code(user), client=ClientInfo()).backup_codes


def forget_last_step(user: User) -> None:
    """What 30 seconds of waiting does: the next code may be the current one again."""
    TOTPDevice.objects.filter(user=user).update(last_t=-1)


def claims(access: str) -> dict:
    return dict(AtriumAccessToken(access).payload)


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def password_login(api: APIClient, user: User, portal: object, password: str) -> dict:
    response = api.post(LOGIN, {"email": user.email, "password": password, "portal": portal.slug})  # type: ignore[attr-defined]
    assert response.status_code == 200, response.content
    return response.json()


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        """Every record's message, arguments and extra fields, unredacted: what any handler could print."""
        parts = []
        for record in self.records:
            parts.append(record.getMessage())
            parts.append(repr(record.__dict__))
            if record.exc_info:
                parts.append(logging.Formatter().formatException(record.exc_info))
        return "\n".join(parts)


@contextmanager
def all_logs() -> Iterator[_Capture]:
    """Capture every record of every logger at DEBUG, including those that do not propagate."""
    capture = _Capture()
    loggers = [logging.getLogger()] + [
        logging.getLogger(name) for name in list(logging.root.manager.loggerDict) if not name.startswith("asyncio")
    ]
    saved = [(lg, lg.level, lg.disabled) for lg in loggers]
    for lg in loggers:
        lg.addHandler(capture)
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
    try:
        yield capture
    finally:
        for lg, level, disabled in saved:
            lg.removeHandler(capture)
            lg.setLevel(level)
            lg.disabled = disabled
