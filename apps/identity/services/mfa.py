"""Multi-factor sign-in: TOTP (django-otp), Atrium's own backup codes, and the `mfa_token`.

After a correct password, `login_challenge` decides whether tokens may be
issued now or an `mfa_token` must be answered first (docs/security.md, trap 5:
django-otp's verified state lives in Django sessions and never reaches a token
login, so the token endpoints enforce the second factor themselves):

- a user with a confirmed TOTP device gets `{"mfa_required": true, "mfa_token"}`
  and answers it at `auth/mfa/verify/` with a TOTP code or a backup code;
- a user without one, signing in to a portal that requires MFA, gets
  `{"mfa_setup_required": true, "mfa_token"}` — an *enrolment* token accepted
  only by `auth/mfa/totp/setup/` and `confirm/`, whose success starts the session.

The `mfa_token` is an opaque random string, not a JWT: no bearer
authentication accepts it. Only its SHA-256 is a cache key (Redis in
production), holding user, tenant, portal, role, purpose and expiry (at most
`MFA_TOKEN_LIFETIME`, 10 minutes). It is deleted when answered (the delete is
the single-use check: of two racing answers one wins) and when the MFA lock
trips. A password reset or any other "revoke the user's tokens" mark ends it
too (`revocation.session_predates_revocation`, comparing the token's issue time
to the microsecond, as for a session's start).

Wrong codes — at sign-in, enrolment, disabling and regenerating — are counted
per user in the shared cache; `MFA_MAX_FAILURES` within the window lock every
code check of that user for `MFA_LOCK_SECONDS` (429 + Retry-After, even for a
right code) and burn the presented `mfa_token`. Reaching the check at all
needs the user's password (or a live access token), so the lock cannot be
tripped by a stranger who only knows the e-mail.

Secrets (docs/security.md, trap 15): django-otp stores the TOTP key in plain text in
`otp_totp_totpdevice.key` — the library has no encrypted field, and the server
must read the key to compute codes. That table is treated as a secret: its key
is returned once, to the user enrolling, and is never logged, audited or
exported (docs/adr/0007-mfa-secrets.md). Backup codes are Atrium's
(`identity.BackupCode`): only a keyed hash (HMAC-SHA256 with the secret key and
the user id) is stored, so a database copy alone reveals none of them.

Audit: changes to the account's second factor — enabled, disabled, new backup
codes — and the wrong-code lock are the account's, valid in every tenant the
user belongs to, so they go through `audit_record_user_event`: the platform
stream and the stream of each tenant where the user is an active member, where
that tenant's admins read them (`audit-events/`). A single wrong code
(`auth.mfa_failed`) stays where it happened: the sign-in's tenant, or the
platform stream for the authenticated endpoints. No audit row carries the
secret, a code or the `mfa_token`.

Time: every check here — token expiry, the lock, the TOTP step — reads `_now()`,
never `time.time()` directly, so tests move the clock instead of sleeping. For
the same reason the TOTP check does django-otp's arithmetic itself (with
`django_otp.oath.TOTP` at `_now()`) rather than call `TOTPDevice.verify_token`,
which reads the wall clock inside the library.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal
from uuid import UUID

import segno
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.common.exceptions import ApplicationError, Conflict, TooManyRequests
from apps.identity import metrics, revocation
from apps.identity.exceptions import MfaCodeInvalid, MfaCodeRejected, TokenInvalid
from apps.identity.models import BackupCode, Membership, Portal, Tenant, User
from apps.identity.selectors import user_mfa_enabled
from apps.identity.services.audit import audit_record, audit_record_user_event
from apps.identity.services.lockout import lockout_clear
from apps.identity.throttling import shared_store

if TYPE_CHECKING:
    from apps.identity.services.auth import ClientInfo, IssuedTokens

Purpose = Literal["verify", "enrol"]

TOKEN_PREFIX: Final = "mfa_"  # noqa: S105 - a prefix, not a credential
_TOKEN_KEY: Final = "auth:mfa:token"  # noqa: S105 - a cache key prefix
_FAIL_KEY: Final = "auth:mfa:failures"
_LOCK_KEY: Final = "auth:mfa:lock"
# No real token is longer; anything longer is not looked up at all.
_MAX_TOKEN_LENGTH: Final = 128
# The longest lifetime an mfa_token may have, whatever the setting says.
_MAX_TOKEN_SECONDS: Final = 600

# Backup codes: 10 characters from 32 that are hard to confuse (no 0/O, 1/I) — 50 bits each.
BACKUP_ALPHABET: Final = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_BACKUP_LENGTH: Final = 10
_BACKUP_RE: Final = re.compile(rf"[{BACKUP_ALPHABET}]{{{_BACKUP_LENGTH}}}")
_TOTP_RE: Final = re.compile(r"[0-9]{6}|[0-9]{8}")
_BACKUP_HMAC_SALT: Final = "atrium.identity.mfa.backup_code"
_DEVICE_NAME: Final = "Authenticator app"


@dataclass(frozen=True)
class MfaChallenge:
    mfa_token: str
    setup_required: bool

    def as_response(self) -> dict[str, str | bool]:
        flag = "mfa_setup_required" if self.setup_required else "mfa_required"
        return {flag: True, "mfa_token": self.mfa_token}


@dataclass(frozen=True)
class MfaTokenData:
    """What an `mfa_token` stands for. `digest` (the SHA-256 of the token) names it in the cache."""

    digest: str
    user_id: UUID
    tenant_id: UUID
    tenant_slug: str
    portal: str
    role: str
    purpose: Purpose
    issued_at: int
    expires_at: int
    # `issued_at` to the microsecond: a revocation in the same second must know which came first.
    issued: float


@dataclass(frozen=True)
class MfaStatus:
    enabled: bool
    methods: list[str]
    backup_codes_left: int


@dataclass(frozen=True)
class TotpSetup:
    """Shown once, to the user enrolling: the secret is never readable through the API again."""

    secret: str
    otpauth_uri: str
    qr_svg: str

    def __repr__(self) -> str:  # keeps the secret out of tracebacks and debug output
        return "TotpSetup(secret=<redacted>)"


@dataclass(frozen=True)
class TotpConfirmed:
    backup_codes: list[str]
    tokens: IssuedTokens | None


# --------------------------------------------------------------------------- settings


def _now() -> float:
    """The Unix time every MFA check reads; tests replace it (monkeypatch) to move on in time."""
    return time.time()


def _token_seconds() -> int:
    return min(int(settings.MFA_TOKEN_LIFETIME.total_seconds()), _MAX_TOKEN_SECONDS)


def _max_failures() -> int:
    return int(getattr(settings, "MFA_MAX_FAILURES", 5))


def _failure_window() -> int:
    return int(getattr(settings, "MFA_FAILURE_WINDOW_SECONDS", 900))


def _lock_seconds() -> int:
    return int(getattr(settings, "MFA_LOCK_SECONDS", 300))


def _backup_count() -> int:
    return int(getattr(settings, "MFA_BACKUP_CODE_COUNT", 10))


# --------------------------------------------------------------------------- the mfa_token


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def is_mfa_token(raw: str) -> bool:
    """Whether `raw` has the shape of an mfa_token (never of a JWT: it has no dots)."""
    return raw.startswith(TOKEN_PREFIX) and "." not in raw


def mfa_token_issue(*, user: User, membership: Membership, portal: Portal, purpose: Purpose) -> str:
    """A new single-use mfa_token for `user` signing in to `portal`; only its hash is stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    digest = _digest(raw)
    issued = _now()
    now = int(issued)
    lifetime = _token_seconds()
    data = {
        "user_id": str(user.id),
        "tenant_id": str(portal.tenant_id),
        "tenant_slug": portal.tenant.slug,
        "portal": portal.slug,
        "role": membership.role.code,
        "purpose": purpose,
        "issued_at": now,
        "issued": issued,
        "expires_at": now + lifetime,
    }
    with shared_store():
        cache.set(f"{_TOKEN_KEY}:{digest}", data, timeout=lifetime)
    return raw


def mfa_token_get(*, raw: str, purpose: Purpose) -> MfaTokenData:
    """The live token `raw` for `purpose`, or TokenInvalid (unknown, expired, used, revoked, other purpose)."""
    invalid = TokenInvalid("The MFA token is invalid or has expired; sign in again.")
    if not isinstance(raw, str) or not is_mfa_token(raw) or len(raw) > _MAX_TOKEN_LENGTH:
        raise invalid
    digest = _digest(raw)
    with shared_store():
        stored: Any = cache.get(f"{_TOKEN_KEY}:{digest}")
    if not isinstance(stored, dict) or stored.get("purpose") != purpose:
        raise invalid
    try:
        token = MfaTokenData(
            digest=digest,
            user_id=UUID(str(stored["user_id"])),
            tenant_id=UUID(str(stored["tenant_id"])),
            tenant_slug=str(stored["tenant_slug"]),
            portal=str(stored["portal"]),
            role=str(stored["role"]),
            purpose=purpose,
            issued_at=int(stored["issued_at"]),
            expires_at=int(stored["expires_at"]),
            # Tokens issued before this field existed carry whole seconds only.
            issued=float(stored["issued"] if "issued" in stored else stored["issued_at"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise invalid from exc
    if token.expires_at <= _now():
        raise invalid
    # A "revoke everything of this user/tenant" mark (password reset, suspension) ends pending tokens too.
    # Compared like a session's start (an mfa_token has no session or jti): one issued up to the mark is ended.
    with shared_store():
        revoked = revocation.session_predates_revocation(
            user_id=token.user_id, tenant_id=token.tenant_id, started=token.issued
        )
    if revoked:
        raise invalid
    return token


def _token_burn(token: MfaTokenData) -> bool:
    """Delete the token; True only for the one caller whose delete removed it (single use)."""
    with shared_store():
        return bool(cache.delete(f"{_TOKEN_KEY}:{token.digest}"))


# --------------------------------------------------------------------------- wrong-code lock


def _guard(user_id: UUID) -> None:
    """429 while the user's code checks are locked — before the code is even looked at."""
    with shared_store():
        until: Any = cache.get(f"{_LOCK_KEY}:{user_id}")
    if isinstance(until, int | float):
        remaining = float(until) - _now()
        if remaining > 0:
            raise TooManyRequests(
                "Too many wrong codes; multi-factor sign-in is locked for a while.",
                retry_after=max(1, int(remaining) + 1),
            )


def _failed(
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
        cache.add(key, 0, timeout=window)
        try:
            failures = int(cache.incr(key))
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            failures = 1
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
        cache.set(f"{_LOCK_KEY}:{user.id}", _now() + seconds, timeout=seconds + 1)
        cache.delete(key)
    if token is not None:
        _token_burn(token)
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


def _succeeded(user: User) -> None:
    _failures_clear(user)


def _failures_clear(user: User) -> None:
    """Start the wrong-code count over (a right code, or a new enrolment). An active lock stays."""
    with shared_store():
        cache.delete(f"{_FAIL_KEY}:{user.id}")


# --------------------------------------------------------------------------- codes


def _normalize(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


def _totp_verify(device: Any, code: str) -> bool:
    """django-otp's check: the current (±1 step) code, at a later step than the last accepted one (no replay).

    What `TOTPDevice.verify_token` does, on `_now()` instead of the wall clock:
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
    totp.time = _now()
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
        return device is not None and _totp_verify(device, code)


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
    # Read first: a wrong code writes nothing (see `_totp_verify`); the update is the single-use check.
    if not unused.exists():
        return False
    return unused.update(used_at=timezone.now()) > 0


def _check_code(*, user: User, code: str, allow_backup: bool) -> str | None:
    """The method ("totp" or "backup_code") when `code` is right — and now spent — else None."""
    normalized = _normalize(code)
    if _TOTP_RE.fullmatch(normalized):
        return "totp" if _totp_check(user=user, code=normalized) else None
    if allow_backup and _backup_use(user=user, code=normalized):
        return "backup_code"
    return None


def _backup_codes_replace(*, user: User) -> list[str]:
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


# --------------------------------------------------------------------------- reads


def mfa_status(*, user: User) -> MfaStatus:
    enabled = user_mfa_enabled(user=user)
    left = BackupCode.objects.filter(user=user, used_at__isnull=True).count() if enabled else 0
    return MfaStatus(enabled=enabled, methods=["totp"] if enabled else [], backup_codes_left=left)


# --------------------------------------------------------------------------- sign-in


def login_challenge(*, user: User, membership: Membership, portal: Portal) -> MfaChallenge | None:
    """None: tokens may be issued on the password alone. Otherwise the challenge to answer."""
    purpose: Purpose
    if user_mfa_enabled(user=user):
        purpose = "verify"
    elif portal.mfa_required:
        purpose = "enrol"
    else:
        return None
    raw = mfa_token_issue(user=user, membership=membership, portal=portal, purpose=purpose)
    audit_record(
        tenant=portal.tenant,
        actor=user,
        action="auth.mfa_challenged",
        target=("user", user.id),
        data={"portal": portal.slug, "purpose": purpose},
    )
    return MfaChallenge(mfa_token=raw, setup_required=purpose == "enrol")


def _signed_in(*, user: User, token: MfaTokenData, client: ClientInfo, method: str) -> IssuedTokens:
    """The second factor is proven: spend the token and start the session with amr ["pwd", "otp"]."""
    from apps.identity.services import auth  # auth imports this module

    portal = auth.portal_get_for_login(slug=token.portal)
    if portal.tenant_id != token.tenant_id:
        raise TokenInvalid("The MFA token is invalid or has expired; sign in again.")
    membership = auth.admitted_membership(user=user, portal=portal)
    if not _token_burn(token):
        raise TokenInvalid("This MFA token was already used; sign in again.")
    tokens = auth.session_start(user=user, membership=membership, portal=portal, amr=["pwd", "otp"], client=client)
    audit_record(
        tenant=portal.tenant,
        actor=user,
        action="auth.mfa_verified",
        target=("session", tokens.session.id),
        ip=client.ip,
        data={"portal": portal.slug, "method": method},
    )
    return tokens


def _token_user(token: MfaTokenData) -> User:
    user = User.objects.filter(id=token.user_id, is_active=True).first()
    if user is None:
        _token_burn(token)
        raise TokenInvalid("The MFA token is invalid or has expired; sign in again.")
    return user


def mfa_verify(*, mfa_token: str, code: str, client: ClientInfo) -> IssuedTokens:
    """Answer a sign-in challenge with a TOTP or backup code: tokens with amr ["pwd", "otp"], or 401/429."""
    token = mfa_token_get(raw=mfa_token, purpose="verify")
    _guard(token.user_id)
    user = _token_user(token)
    tenant = Tenant.objects.filter(id=token.tenant_id).first()
    method = _check_code(user=user, code=code, allow_backup=True)
    if method is None:
        _failed(user=user, where="verify", ip=client.ip, tenant=tenant, token=token, data={"portal": token.portal})
        raise MfaCodeInvalid("The code is wrong or was already used.")
    with transaction.atomic():
        tokens = _signed_in(user=user, token=token, client=client, method=method)
    _succeeded(user)
    lockout_clear(email=user.email)
    return tokens


# --------------------------------------------------------------------------- enrolment and management


def _portal_data(portal: str | None) -> dict[str, Any]:
    return {"portal": portal} if portal else {}


def _qr_svg(uri: str) -> str:
    """A standalone SVG document (with the SVG namespace, no XML declaration): usable inline, as a file or a data URI.

    segno's `svg_inline` drops the namespace, which only HTML5 forgives.
    """
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False, svgns=True, nl=False)
    return out.getvalue().decode("utf-8")


@transaction.atomic
def totp_setup(*, user: User, ip: str | None, portal: str | None = None) -> TotpSetup:
    """Start enrolment: a fresh unconfirmed TOTP device, replacing an earlier unconfirmed one.

    The earlier secret stops working, and the wrong-code count starts over:
    codes mistyped from a secret that no longer exists say nothing about this
    one (and the caller knows the new secret anyway, so there is nothing to
    guess). A lock already imposed stays until it expires.

    409 when MFA is already on: a second authenticator would need no proof of
    the first, so the user disables MFA (with a code) before enrolling another.
    """
    if user_mfa_enabled(user=user):
        raise Conflict("Multi-factor sign-in is already on; disable it first to enrol another authenticator.")
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice.objects.create(user=user, name=_DEVICE_NAME, confirmed=False)
    secret = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    uri = str(device.config_url)
    qr_svg = _qr_svg(uri)
    _failures_clear(user)
    audit_record(
        actor=user, action="auth.mfa_setup_started", target=("user", user.id), ip=ip, data=_portal_data(portal)
    )
    return TotpSetup(secret=secret, otpauth_uri=uri, qr_svg=qr_svg)


def totp_confirm(*, user: User, code: str, client: ClientInfo, enrolment: MfaTokenData | None = None) -> TotpConfirmed:
    """Finish enrolment with the first code: MFA on, ten backup codes, and — for an enrolment token — a session.

    400 for a wrong code (counted towards the lock), 409 without a pending setup.
    """
    _guard(user.id)
    portal = enrolment.portal if enrolment is not None else None
    codes: list[str] = []
    tokens: IssuedTokens | None = None
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("-pk").first()
        if device is None:
            raise Conflict("No authenticator is waiting for confirmation; start with auth/mfa/totp/setup/.")
        verified = _totp_verify(device, _normalize(code))
        if verified:
            TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
            TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
            codes = _backup_codes_replace(user=user)
            audit_record_user_event(user=user, action="auth.mfa_enabled", ip=client.ip, data=_portal_data(portal))
            if enrolment is not None:
                tokens = _signed_in(user=user, token=enrolment, client=client, method="totp")
    if not verified:
        _failed(user=user, where="totp_confirm", ip=client.ip, token=enrolment, data=_portal_data(portal))
        raise MfaCodeRejected("The code is wrong.", errors={"code": ["The code is wrong or has expired."]})
    _succeeded(user)
    if enrolment is not None:
        lockout_clear(email=user.email)
    return TotpConfirmed(backup_codes=codes, tokens=tokens)


def _require_enabled(user: User) -> None:
    if not user_mfa_enabled(user=user):
        raise Conflict("Multi-factor sign-in is not on.")


def _wrong_code(*, user: User, where: str, ip: str | None) -> ApplicationError:
    _failed(user=user, where=where, ip=ip)
    return MfaCodeRejected("The code is wrong.", errors={"code": ["The code is wrong or was already used."]})


def totp_disable(*, user: User, code: str, ip: str | None) -> None:
    """Turn MFA off — only with a current TOTP code or an unused backup code. Devices and codes are deleted."""
    _guard(user.id)
    _require_enabled(user)
    with transaction.atomic():
        method = _check_code(user=user, code=code, allow_backup=True)
        if method is not None:
            TOTPDevice.objects.filter(user=user).delete()
            BackupCode.objects.filter(user=user).delete()
            audit_record_user_event(user=user, action="auth.mfa_disabled", ip=ip, data={"method": method})
    if method is None:
        raise _wrong_code(user=user, where="totp_disable", ip=ip)
    _succeeded(user)


def backup_codes_regenerate(*, user: User, code: str, ip: str | None) -> list[str]:
    """Ten new backup codes for a current TOTP code (not a backup code); the old ones stop working."""
    _guard(user.id)
    _require_enabled(user)
    with transaction.atomic():
        method = _check_code(user=user, code=code, allow_backup=False)
        codes = _backup_codes_replace(user=user) if method is not None else []
        if method is not None:
            audit_record_user_event(
                user=user, action="auth.mfa_backup_codes_regenerated", ip=ip, data={"count": len(codes)}
            )
    if method is None:
        raise _wrong_code(user=user, where="backup_codes", ip=ip)
    _succeeded(user)
    return codes
