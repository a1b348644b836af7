"""`/api/v1/identity/auth/mfa/...`: the sign-in challenge, TOTP enrolment, disabling, backup codes.

`verify/` is a token endpoint (public, outside the request transaction,
throttled per client IP on top of the per-user wrong-code lock). Wherever a
code is checked, a wrong one is counted in the shared cache and audited
durably, so both stay when the call answers 400/401/429 and its transaction
rolls back (docs/security.md, trap 18).
`setup/` and `confirm/` accept an access token or, while enrolling for a portal
that requires MFA, the enrolment `mfa_token` as bearer (and nothing else
does). Every answer here may hold a secret, so none is cached.

A wrong code is 401 at `verify/` (the caller is not signed in yet) and 400 on
the other calls (the caller is authenticated; the input is what is wrong).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common import request_context
from apps.common.api import problems
from apps.identity.api.auth_views import sign_in_response, token_endpoint
from apps.identity.api.base import PublicAPIView, SessionAPIView, TenantAPIView
from apps.identity.api.mfa_serializers import (
    BackupCodesOutputSerializer,
    MfaCodeInputSerializer,
    MfaStatusOutputSerializer,
    MfaVerifyInputSerializer,
    TotpConfirmOutputSerializer,
    TotpSetupOutputSerializer,
)
from apps.identity.api.serializers import TokensOutputSerializer
from apps.identity.authentication import BearerAuthentication, TokenUser, bearer_credential
from apps.identity.client_info import client_info
from apps.identity.exceptions import TokenInvalid
from apps.identity.models import User
from apps.identity.principal import Principal, TenantRef
from apps.identity.selectors.accounts import user_get_active
from apps.identity.services import mfa
from apps.identity.services.sessions import session_start
from apps.identity.throttling import MFA_VERIFY

# --------------------------------------------------------------------------- authentication

# An enrolment is not a session yet: its principal carries the nil session id.
_NIL = UUID(int=0)


@dataclass(frozen=True)
class EnrolmentPrincipal(Principal):
    """A caller holding an enrolment `mfa_token`: no session yet (`sid` is nil), only setup/confirm accept it."""

    enrolment: mfa.MfaTokenData | None = field(default=None, repr=False)


class EnrolmentOrBearerAuthentication(BaseAuthentication):
    """An access token, or the enrolment `mfa_token` from `auth/login/` (used only by setup/ and confirm/)."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[TokenUser, Principal] | None:
        raw = bearer_credential(request)
        if raw is None:
            return None
        if not mfa.is_mfa_token(raw):
            return BearerAuthentication().authenticate_access_token(raw)
        try:
            token = mfa.mfa_token_get(raw=raw, purpose="enrol")
        except TokenInvalid as exc:
            raise exceptions.AuthenticationFailed("The MFA token is invalid or has expired; sign in again.") from exc
        principal = EnrolmentPrincipal(
            user_id=token.user_id,
            tenant=TenantRef(id=token.tenant_id, slug=token.tenant_slug),
            portal=token.portal,
            roles=(token.role,),
            sid=_NIL,
            jti="",
            amr=("pwd",),
            issued_at=token.issued_at,
            expires_at=token.expires_at,
            enrolment=token,
        )
        request_context.bind(user=str(token.user_id), tenant=token.tenant_slug, portal=token.portal)
        return TokenUser(token.user_id), principal

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class EnrolmentOrBearerScheme(OpenApiAuthenticationExtension):
    target_class = "apps.identity.api.mfa_views.EnrolmentOrBearerAuthentication"
    name = "bearerOrMfaEnrolment"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An access token, or the enrolment `mfa_token` of a `mfa_setup_required` login answer.",
        }


# --------------------------------------------------------------------------- views


def _user(principal: Principal) -> User:
    user = user_get_active(user_id=principal.user_id)
    if user is None:
        raise TokenInvalid("This account is no longer active.")
    return user


@token_endpoint
class MfaVerifyView(PublicAPIView):
    throttle_scope = MFA_VERIFY

    @extend_schema(
        operation_id="auth_mfa_verify",
        request=MfaVerifyInputSerializer,
        responses={200: TokensOutputSerializer, **problems(400, 401, 403, 404, 429)},
        description="Answer the `mfa_required` login challenge with a TOTP code or a backup code (once each). "
        "Wrong codes are 401; repeated wrong codes lock the user's MFA (429 + Retry-After, even for a right code).",
    )
    def post(self, request: Request) -> Response:
        data = MfaVerifyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tokens = mfa.mfa_verify(
            mfa_token=data.validated_data["mfa_token"],
            code=data.validated_data["code"],
            client=client_info(request),
            start=session_start,
        )
        return sign_in_response(tokens)


@method_decorator(never_cache, name="dispatch")
class MfaStatusView(SessionAPIView):
    required_permissions = {"get": set()}

    @extend_schema(operation_id="auth_mfa_status", responses={200: MfaStatusOutputSerializer, **problems(401)})
    def get(self, request: Request) -> Response:
        status = mfa.mfa_status(user=_user(self.principal))
        body = {"enabled": status.enabled, "methods": status.methods, "backup_codes_left": status.backup_codes_left}
        return Response(MfaStatusOutputSerializer(body).data)


@method_decorator(never_cache, name="dispatch")
class TotpSetupView(TenantAPIView):
    authentication_classes: Sequence[type[BaseAuthentication]] = [EnrolmentOrBearerAuthentication]
    required_permissions = {"post": set()}

    @extend_schema(
        operation_id="auth_mfa_totp_setup",
        request=None,
        responses={200: TotpSetupOutputSerializer, **problems(401, 409)},
        description="Start TOTP enrolment: a new secret (replacing an unconfirmed one, and starting the wrong-code "
        "count over); `qr_svg` is a standalone SVG document. 409 when MFA is already on.",
    )
    def post(self, request: Request) -> Response:
        setup = mfa.totp_setup(user=_user(self.principal), ip=client_info(request).ip, portal=self.principal.portal)
        body = {"secret": setup.secret, "otpauth_uri": setup.otpauth_uri, "qr_svg": setup.qr_svg}
        return Response(TotpSetupOutputSerializer(body).data)


@method_decorator(never_cache, name="dispatch")
class TotpConfirmView(TenantAPIView):
    authentication_classes: Sequence[type[BaseAuthentication]] = [EnrolmentOrBearerAuthentication]
    required_permissions = {"post": set()}

    @extend_schema(
        operation_id="auth_mfa_totp_confirm",
        request=MfaCodeInputSerializer,
        responses={200: TotpConfirmOutputSerializer, **problems(400, 401, 403, 404, 409, 429)},
        description="Confirm enrolment with the first code: ten backup codes; with an enrolment `mfa_token` "
        "also the new session's tokens (amr pwd+otp). 400 wrong code; 409 no setup pending.",
    )
    def post(self, request: Request) -> Response:
        data = MfaCodeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        principal = self.principal
        enrolment = principal.enrolment if isinstance(principal, EnrolmentPrincipal) else None
        confirmed = mfa.totp_confirm(
            user=_user(principal),
            code=data.validated_data["code"],
            client=client_info(request),
            enrolment=enrolment,
            start=session_start,
        )
        body: dict[str, Any] = {"backup_codes": confirmed.backup_codes}
        if confirmed.tokens is not None:
            body.update(confirmed.tokens.as_response())
        return Response(TotpConfirmOutputSerializer(body).data)


@method_decorator(never_cache, name="dispatch")
class TotpDisableView(SessionAPIView):
    required_permissions = {"post": set()}

    @extend_schema(
        operation_id="auth_mfa_totp_disable",
        request=MfaCodeInputSerializer,
        responses={204: None, **problems(400, 401, 409, 429)},
        description="Turn MFA off with a current TOTP code or an unused backup code. 400 wrong code; 409 MFA is off.",
    )
    def post(self, request: Request) -> Response:
        data = MfaCodeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        mfa.totp_disable(user=_user(self.principal), code=data.validated_data["code"], ip=client_info(request).ip)
        return Response(status=204)


@method_decorator(never_cache, name="dispatch")
class BackupCodesView(SessionAPIView):
    required_permissions = {"post": set()}

    @extend_schema(
        operation_id="auth_mfa_backup_codes",
        request=MfaCodeInputSerializer,
        responses={200: BackupCodesOutputSerializer, **problems(400, 401, 409, 429)},
        description="Ten new backup codes for a current TOTP code; the old ones stop working. 400 wrong code.",
    )
    def post(self, request: Request) -> Response:
        data = MfaCodeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        codes = mfa.backup_codes_regenerate(
            user=_user(self.principal), code=data.validated_data["code"], ip=client_info(request).ip
        )
        return Response(BackupCodesOutputSerializer({"backup_codes": codes}).data)
