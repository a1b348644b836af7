"""`/api/v1/identity/auth/...` account flows: sign-up, e-mail verification, password reset and change, sessions.

Thin views: parse, call one service, render. The public ones answer the same
for known and unknown addresses (202 with one fixed body). The sign-up, e-mail
and password endpoints, like the token endpoints, run outside the request
transaction (their services open their own, and a failed password check is
audited durably); nothing here is cached.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.api import problems
from apps.common.net import client_ip
from apps.common.pagination import PagePagination
from apps.identity import throttling
from apps.identity.api.auth_views import token_endpoint
from apps.identity.api.base import PublicAPIView, SessionAPIView
from apps.identity.models import AuthSession
from apps.identity.selectors.sessions import session_list
from apps.identity.services import accounts, sessions

# --------------------------------------------------------------------------- serializers


class RegisterInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=1024, trim_whitespace=False, write_only=True)
    portal = serializers.SlugField(max_length=63)
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class AcceptedOutputSerializer(serializers.Serializer):
    detail = serializers.CharField()


class EmailVerifyInputSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=1000)


class EmailResendInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    portal = serializers.SlugField(max_length=63, required=False, allow_blank=True)


class PasswordResetInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    portal = serializers.SlugField(max_length=63, required=False, allow_blank=True)


class PasswordResetConfirmInputSerializer(serializers.Serializer):
    uid = serializers.CharField(max_length=100)
    token = serializers.CharField(max_length=200)
    new_password = serializers.CharField(max_length=1024, trim_whitespace=False, write_only=True)


class PasswordChangeInputSerializer(serializers.Serializer):
    current_password = serializers.CharField(max_length=1024, trim_whitespace=False, write_only=True)
    new_password = serializers.CharField(max_length=1024, trim_whitespace=False, write_only=True)


class SessionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The session id (the `sid` claim of its access tokens).")
    portal = serializers.CharField(help_text="The portal slug the session signed in to.")
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    ip = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField(allow_blank=True)
    current = serializers.BooleanField(help_text="Whether this is the session of the calling token.")


# The same body for every accepted request, whatever the address: nothing to tell apart.
_REGISTER_ACCEPTED = {"detail": "If the sign-up can go ahead, a message is on its way to this address."}
_RESEND_ACCEPTED = {"detail": "If this address has an unverified account, a new link is on its way."}
_RESET_ACCEPTED = {"detail": "If this address has an account, a reset link is on its way."}


def _session_row(session: AuthSession, current_sid: UUID) -> dict[str, Any]:
    return {
        "id": session.id,
        "portal": session.portal.slug,
        "created_at": session.created_at,
        "last_used_at": session.last_used_at,
        "ip": session.ip,
        "user_agent": session.user_agent,
        "current": session.id == current_sid,
    }


# --------------------------------------------------------------------------- sign-up and verification


@token_endpoint
class RegisterView(PublicAPIView):
    throttle_scope = throttling.REGISTER

    @extend_schema(
        operation_id="auth_register",
        request=RegisterInputSerializer,
        responses={202: AcceptedOutputSerializer, **problems(400, 403, 404, 409, 429)},
        description="Sign up on a portal whose sign-up policy is open. The same 202 for a known address "
        "(which gets an 'account exists' notice instead of a verification mail).",
    )
    def post(self, request: Request) -> Response:
        data = RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        accounts.user_register(
            email=data.validated_data["email"],
            password=data.validated_data["password"],
            portal_slug=data.validated_data["portal"],
            name=data.validated_data["name"],
            ip=client_ip(request),
        )
        return Response(_REGISTER_ACCEPTED, status=202)


@token_endpoint
class EmailVerifyView(PublicAPIView):
    @extend_schema(
        operation_id="auth_email_verify",
        request=EmailVerifyInputSerializer,
        responses={204: None, **problems(400, 429)},
    )
    def post(self, request: Request) -> Response:
        data = EmailVerifyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        accounts.email_verify(key=data.validated_data["key"], ip=client_ip(request))
        return Response(status=204)


@token_endpoint
class EmailResendView(PublicAPIView):
    throttle_scope = throttling.EMAIL_RESEND

    @extend_schema(
        operation_id="auth_email_resend",
        request=EmailResendInputSerializer,
        responses={202: AcceptedOutputSerializer, **problems(400, 429)},
    )
    def post(self, request: Request) -> Response:
        data = EmailResendInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        accounts.email_verification_resend(
            email=data.validated_data["email"],
            portal_slug=data.validated_data.get("portal") or None,
            ip=client_ip(request),
        )
        return Response(_RESEND_ACCEPTED, status=202)


# --------------------------------------------------------------------------- passwords


@token_endpoint
class PasswordResetView(PublicAPIView):
    throttle_scope = throttling.PASSWORD_RESET

    @extend_schema(
        operation_id="auth_password_reset",
        request=PasswordResetInputSerializer,
        responses={202: AcceptedOutputSerializer, **problems(400, 429)},
        description="Always 202 with the same body; mails a reset link only to an existing, active account.",
    )
    def post(self, request: Request) -> Response:
        data = PasswordResetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        accounts.password_reset_request(
            email=data.validated_data["email"],
            portal_slug=data.validated_data.get("portal") or None,
            ip=client_ip(request),
        )
        return Response(_RESET_ACCEPTED, status=202)


@token_endpoint
class PasswordResetConfirmView(PublicAPIView):
    @extend_schema(
        operation_id="auth_password_reset_confirm",
        request=PasswordResetConfirmInputSerializer,
        responses={204: None, **problems(400, 429)},
        description="Sets the new password; the link works once. Every session of the user ends.",
    )
    def post(self, request: Request) -> Response:
        data = PasswordResetConfirmInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        accounts.password_reset_confirm(
            uid=data.validated_data["uid"],
            token=data.validated_data["token"],
            new_password=data.validated_data["new_password"],
            ip=client_ip(request),
        )
        return Response(status=204)


@token_endpoint
class PasswordChangeView(SessionAPIView):
    required_permissions: ClassVar[dict[str, set[str]]] = {"post": set()}

    @extend_schema(
        operation_id="auth_password_change",
        request=PasswordChangeInputSerializer,
        responses={204: None, **problems(400, 401, 429)},
        description="The caller's session stays; every other session of the user ends.",
    )
    def post(self, request: Request) -> Response:
        data = PasswordChangeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        principal = self.principal
        accounts.password_change(
            user_id=principal.user_id,
            session_id=principal.sid,
            tenant_id=principal.tenant_id,
            current_password=data.validated_data["current_password"],
            new_password=data.validated_data["new_password"],
            ip=client_ip(request),
        )
        return Response(status=204)


# --------------------------------------------------------------------------- sessions


@method_decorator(never_cache, name="dispatch")
class SessionListView(SessionAPIView):
    required_permissions: ClassVar[dict[str, set[str]]] = {"get": set()}
    pagination_class = PagePagination

    @extend_schema(
        operation_id="auth_session_list",
        responses={200: SessionOutputSerializer(many=True), **problems(401)},
        parameters=[
            OpenApiParameter("page", int, required=False),
            OpenApiParameter("page_size", int, required=False, description="20 by default, at most 100."),
        ],
        description="The caller's live sessions in every tenant and portal.",
    )
    def get(self, request: Request) -> Response:
        principal = self.principal
        paginator = PagePagination()
        rows = paginator.paginate_queryset(session_list(user_id=principal.user_id), request, view=self)
        body = SessionOutputSerializer([_session_row(s, principal.sid) for s in rows], many=True).data
        return paginator.get_paginated_response(body)


@method_decorator(never_cache, name="dispatch")
class SessionDetailView(SessionAPIView):
    required_permissions: ClassVar[dict[str, set[str]]] = {"delete": set()}

    @extend_schema(
        operation_id="auth_session_revoke",
        responses={204: None, **problems(401, 404)},
        description="End one of the caller's sessions: its tokens stop at once. Another user's session is 404.",
    )
    def delete(self, request: Request, id: UUID) -> Response:
        sessions.session_revoke_own(user_id=self.principal.user_id, session_id=id, ip=client_ip(request))
        return Response(status=204)
