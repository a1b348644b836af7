"""The second factor's flows: the sign-in challenge and its answer, enrolment, disabling, backup codes."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, overload

import segno
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.common.exceptions import ApplicationError, Conflict
from apps.identity.exceptions import MfaCodeInvalid, MfaCodeRejected, TokenInvalid
from apps.identity.models import AuthSession, BackupCode, Membership, Portal, Tenant, User
from apps.identity.selectors.accounts import user_get_active, user_mfa_enabled
from apps.identity.selectors.admission import admitted_membership
from apps.identity.selectors.portals import portal_get_public
from apps.identity.services.audit import audit_record, audit_record_user_event
from apps.identity.services.lockout import lockout_clear
from apps.identity.services.mfa.codes import (
    backup_codes_replace,
    check_code,
    code_failed,
    codes_guard,
    failures_clear,
    normalize,
    totp_verify,
)
from apps.identity.services.mfa.tokens import (
    MfaChallenge,
    MfaTokenData,
    Purpose,
    mfa_token_get,
    mfa_token_issue,
    token_burn,
)
from apps.identity.services.sessions import ClientInfo, IssuedTokens, session_start


class _Started(Protocol):
    @property
    def session(self) -> AuthSession: ...


S = TypeVar("S", bound=_Started, covariant=True)
T = TypeVar("T", bound=_Started)


class SessionStarter(Protocol[S]):
    """How the second factor's success starts a session: `sessions.session_start` (API tokens) or
    `browser_sessions.browser_session_start` (a portal's cookie); the result has the `session`."""

    def __call__(
        self, *, user: User, membership: Membership, portal: Portal, amr: list[str], client: ClientInfo
    ) -> S: ...


_DEVICE_NAME = "Authenticator app"


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
class TotpConfirmed(Generic[T]):
    """The backup codes (shown once) and, for an enrolment at sign-in, what `start` began."""

    backup_codes: list[str]
    tokens: T | None


# --------------------------------------------------------------------------- reads


def mfa_status(*, user: User) -> MfaStatus:
    enabled = user_mfa_enabled(user=user)
    left = BackupCode.objects.filter(user=user, used_at__isnull=True).count() if enabled else 0
    return MfaStatus(enabled=enabled, methods=["totp"] if enabled else [], backup_codes_left=left)


# --------------------------------------------------------------------------- sign-in


def login_challenge(
    *, user: User, membership: Membership, portal: Portal, first_factor: str = "pwd"
) -> MfaChallenge | None:
    """None: tokens may be issued on the first factor alone. Otherwise the challenge to answer.

    `first_factor` is how the user proved who they are (`pwd`, or `social` for a linked identity): the
    token keeps it, and the session the answer starts has amr [first_factor, "otp"].
    """
    purpose: Purpose
    if user_mfa_enabled(user=user):
        purpose = "verify"
    elif portal.mfa_required:
        purpose = "enrol"
    else:
        return None
    raw = mfa_token_issue(user=user, membership=membership, portal=portal, purpose=purpose, first_factor=first_factor)
    audit_record(
        tenant=portal.tenant,
        actor=user,
        action="auth.mfa_challenged",
        target=("user", user.id),
        data={"portal": portal.slug, "purpose": purpose},
    )
    return MfaChallenge(mfa_token=raw, setup_required=purpose == "enrol")


def _signed_in(*, user: User, token: MfaTokenData, client: ClientInfo, method: str, start: SessionStarter[T]) -> T:
    """The second factor is proven: spend the token and start the session with amr [first factor, "otp"]."""
    portal = portal_get_public(slug=token.portal)
    if portal.tenant_id != token.tenant_id:
        raise TokenInvalid("The MFA token is invalid or has expired; sign in again.")
    membership = admitted_membership(user=user, portal=portal)
    if not token_burn(token):
        raise TokenInvalid("This MFA token was already used; sign in again.")
    started = start(user=user, membership=membership, portal=portal, amr=[token.first_factor, "otp"], client=client)
    audit_record(
        tenant=portal.tenant,
        actor=user,
        action="auth.mfa_verified",
        target=("session", started.session.id),
        ip=client.ip,
        data={"portal": portal.slug, "method": method},
    )
    return started


def _token_user(token: MfaTokenData) -> User:
    user = user_get_active(user_id=token.user_id)
    if user is None:
        token_burn(token)
        raise TokenInvalid("The MFA token is invalid or has expired; sign in again.")
    return user


def mfa_verify(*, mfa_token: str, code: str, client: ClientInfo, start: SessionStarter[T]) -> T:
    """Answer a sign-in challenge with a TOTP or backup code: a session with amr ["pwd", "otp"], or 401/429.

    `start` begins the session (API tokens by default; a portal passes its browser sessions' starter).
    """
    token = mfa_token_get(raw=mfa_token, purpose="verify")
    codes_guard(token.user_id)
    user = _token_user(token)
    tenant = Tenant.objects.filter(id=token.tenant_id).first()
    method = check_code(user=user, code=code, allow_backup=True)
    if method is None:
        code_failed(user=user, where="verify", ip=client.ip, tenant=tenant, token=token, data={"portal": token.portal})
        raise MfaCodeInvalid("The code is wrong or was already used.")
    with transaction.atomic():
        started = _signed_in(user=user, token=token, client=client, method=method, start=start)
    failures_clear(user)
    lockout_clear(email=user.email)
    return started


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
    failures_clear(user)
    audit_record(
        actor=user, action="auth.mfa_setup_started", target=("user", user.id), ip=ip, data=_portal_data(portal)
    )
    return TotpSetup(secret=secret, otpauth_uri=uri, qr_svg=qr_svg)


@overload
def totp_confirm(*, user: User, code: str, client: ClientInfo) -> TotpConfirmed[IssuedTokens]: ...


@overload
def totp_confirm(
    *, user: User, code: str, client: ClientInfo, enrolment: MfaTokenData | None, start: SessionStarter[T]
) -> TotpConfirmed[T]: ...


def totp_confirm(
    *,
    user: User,
    code: str,
    client: ClientInfo,
    enrolment: MfaTokenData | None = None,
    start: SessionStarter[Any] = session_start,
) -> TotpConfirmed[Any]:
    """Finish enrolment with the first code: MFA on, ten backup codes, and — for an enrolment token — a session.

    400 for a wrong code (counted towards the lock), 409 without a pending setup.
    """
    codes_guard(user.id)
    portal = enrolment.portal if enrolment is not None else None
    codes: list[str] = []
    tokens: Any = None
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("-pk").first()
        if device is None:
            raise Conflict("No authenticator is waiting for confirmation; start with auth/mfa/totp/setup/.")
        verified = totp_verify(device, normalize(code))
        if verified:
            TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
            TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
            codes = backup_codes_replace(user=user)
            audit_record_user_event(user=user, action="auth.mfa_enabled", ip=client.ip, data=_portal_data(portal))
            if enrolment is not None:
                tokens = _signed_in(user=user, token=enrolment, client=client, method="totp", start=start)
    if not verified:
        code_failed(user=user, where="totp_confirm", ip=client.ip, token=enrolment, data=_portal_data(portal))
        raise MfaCodeRejected("The code is wrong.", errors={"code": ["The code is wrong or has expired."]})
    failures_clear(user)
    if enrolment is not None:
        lockout_clear(email=user.email)
    return TotpConfirmed(backup_codes=codes, tokens=tokens)


def _require_enabled(user: User) -> None:
    if not user_mfa_enabled(user=user):
        raise Conflict("Multi-factor sign-in is not on.")


def _wrong_code(*, user: User, where: str, ip: str | None) -> ApplicationError:
    code_failed(user=user, where=where, ip=ip)
    return MfaCodeRejected("The code is wrong.", errors={"code": ["The code is wrong or was already used."]})


def totp_disable(*, user: User, code: str, ip: str | None) -> None:
    """Turn MFA off — only with a current TOTP code or an unused backup code. Devices and codes are deleted."""
    codes_guard(user.id)
    _require_enabled(user)
    with transaction.atomic():
        method = check_code(user=user, code=code, allow_backup=True)
        if method is not None:
            TOTPDevice.objects.filter(user=user).delete()
            BackupCode.objects.filter(user=user).delete()
            audit_record_user_event(user=user, action="auth.mfa_disabled", ip=ip, data={"method": method})
    if method is None:
        raise _wrong_code(user=user, where="totp_disable", ip=ip)
    failures_clear(user)


def backup_codes_regenerate(*, user: User, code: str, ip: str | None) -> list[str]:
    """Ten new backup codes for a current TOTP code (not a backup code); the old ones stop working."""
    codes_guard(user.id)
    _require_enabled(user)
    with transaction.atomic():
        method = check_code(user=user, code=code, allow_backup=False)
        codes = backup_codes_replace(user=user) if method is not None else []
        if method is not None:
            audit_record_user_event(
                user=user, action="auth.mfa_backup_codes_regenerated", ip=ip, data={"count": len(codes)}
            )
    if method is None:
        raise _wrong_code(user=user, where="backup_codes", ip=ip)
    failures_clear(user)
    return codes
