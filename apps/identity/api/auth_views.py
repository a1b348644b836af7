"""`/api/v1/identity/auth/`: sign in to a portal, refresh, sign out, who am I, switch portal.

Token endpoints run outside the request transaction: what they record when
they fail (a failed login, a reused refresh token ending its session) must
stay recorded. Their responses are never cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.api import problems
from apps.identity import selectors
from apps.identity.api.base import PublicAPIView, SessionAPIView
from apps.identity.api.mfa_serializers import LOGIN_RESULT_SERIALIZERS
from apps.identity.api.serializers import (
    LoginInputSerializer,
    MeOutputSerializer,
    RefreshInputSerializer,
    SwitchInputSerializer,
    TokensOutputSerializer,
)
from apps.identity.authentication import BearerAuthentication
from apps.identity.client_info import client_info
from apps.identity.principal import Principal
from apps.identity.rbac.request_checks import request_permissions
from apps.identity.services import sessions, signin
from apps.identity.services.lockout import DEVICE_COOKIE, DEVICE_MAX_AGE_SECONDS
from apps.identity.services.mfa import MfaChallenge
from apps.identity.tokens import keyring


def sign_in_response(result: sessions.IssuedTokens | MfaChallenge) -> Response:
    """The body of a sign-in; with tokens, the known-device cookie (services.lockout) too.

    The cookie is HttpOnly, SameSite=Lax and, outside debug, Secure: it tells the
    lockout that this client has signed in to the account before, so an
    account-wide lock imposed by someone else's failures does not refuse it.
    """
    response = Response(result.as_response())
    if isinstance(result, sessions.IssuedTokens) and result.device:
        response.set_cookie(
            DEVICE_COOKIE,
            result.device,
            max_age=DEVICE_MAX_AGE_SECONDS,
            httponly=True,
            secure=not settings.DEBUG,
            samesite="Lax",
        )
    return response


def token_endpoint(cls: type) -> type:
    """Outside the request transaction (failures stay recorded), and never cached."""
    cls = method_decorator(transaction.non_atomic_requests, name="dispatch")(cls)
    return method_decorator(never_cache, name="dispatch")(cls)


@token_endpoint
class LoginView(PublicAPIView):
    throttle_scope = "login"  # per client IP; per account and pair: services.lockout

    @extend_schema(
        operation_id="auth_login",
        request=LoginInputSerializer,
        responses={
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="LoginResult",
                    serializers=LOGIN_RESULT_SERIALIZERS,
                    resource_type_field_name=None,
                ),
                description="Tokens; or, for a user with MFA, `{mfa_required, mfa_token}` (answer it at "
                "auth/mfa/verify/); or, when the portal requires MFA and the user has none, "
                "`{mfa_setup_required, mfa_token}` (enrol at auth/mfa/totp/setup/ and confirm/ with it as bearer).",
            ),
            **problems(400, 401, 403, 404, 429),
        },
    )
    def post(self, request: Request) -> Response:
        data = LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        client = client_info(request)
        result = signin.sign_in(
            email=data.validated_data["email"],
            password=data.validated_data["password"],
            portal_slug=data.validated_data["portal"],
            client=client,
        )
        if isinstance(result, signin.Admitted):  # no second factor owed: this front's kind of session
            return sign_in_response(
                sessions.session_start(
                    user=result.user,
                    membership=result.membership,
                    portal=result.portal,
                    amr=list(result.amr),
                    client=client,
                )
            )
        return sign_in_response(result)


@token_endpoint
class RefreshView(PublicAPIView):
    throttle_scope = "refresh"

    @extend_schema(
        operation_id="auth_refresh",
        request=RefreshInputSerializer,
        responses={200: TokensOutputSerializer, **problems(400, 401, 429)},
    )
    def post(self, request: Request) -> Response:
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tokens = sessions.refresh_rotate(raw=data.validated_data["refresh"], client=client_info(request))
        return Response(tokens.as_response())


@token_endpoint
class LogoutView(PublicAPIView):
    """The refresh token authenticates the call; a bearer, if sent, must be valid and is revoked too."""

    authentication_classes: Sequence[type[BaseAuthentication]] = [BearerAuthentication]

    @extend_schema(
        operation_id="auth_logout", request=RefreshInputSerializer, responses={204: None, **problems(400, 401)}
    )
    def post(self, request: Request) -> Response:
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        principal = request.auth if isinstance(request.auth, Principal) else None
        sessions.logout(
            raw_refresh=data.validated_data["refresh"],
            access_jti=principal.jti if principal else None,
            client=client_info(request),
        )
        return Response(status=204)


@method_decorator(never_cache, name="dispatch")
class MeView(SessionAPIView):
    required_permissions = {"get": set()}
    lean_actions = frozenset({"get"})

    @extend_schema(operation_id="auth_me", responses={200: MeOutputSerializer, **problems(401)})
    def get(self, request: Request) -> Response:
        principal = self.principal
        me = selectors.me_get(principal=principal)
        body: dict[str, Any] = {
            "id": me.user_id,
            "email": me.email,
            "name": me.name,
            "email_verified": me.email_verified,
            "mfa_enabled": me.mfa_enabled,
            "tenant": {"id": me.tenant_id, "slug": me.tenant_slug, "name": me.tenant_name},
            "portal": {"slug": me.portal_slug, "name": me.portal_name},
            "roles": list(principal.roles),
            "permissions": sorted(request_permissions(request)),
        }
        # Plain values already in their JSON form's types: the serializer only documents the shape.
        return Response(body)


@token_endpoint
class SwitchView(SessionAPIView):
    required_permissions = {"post": set()}

    @extend_schema(
        operation_id="auth_switch",
        request=SwitchInputSerializer,
        responses={200: TokensOutputSerializer, **problems(400, 401, 403, 404)},
    )
    def post(self, request: Request) -> Response:
        data = SwitchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        principal = self.principal
        tokens = sessions.switch_portal(
            user_id=principal.user_id,
            amr=list(principal.amr),
            portal_slug=data.validated_data["portal"],
            client=client_info(request),
        )
        return Response(tokens.as_response())


class JWKSView(PublicAPIView):
    """`/.well-known/jwks.json`: the public keys (current and previous) that verify access tokens."""

    @extend_schema(operation_id="jwks", responses={200: dict})
    def get(self, request: Request) -> Response:
        response = Response(keyring.jwks())
        response["Cache-Control"] = "public, max-age=300"
        return response
