"""`invitations/`: invite people to the tenant, revoke invitations, and accept one (public).

Thin views: parse, call one service, render. Serializers live here, next to
the only views that use them.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.api import problems
from apps.common.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent
from apps.common.net import client_ip
from apps.identity.api.base import PublicAPIView, TenantViewSet
from apps.identity.models import Invitation
from apps.identity.permissions import INVITE_MEMBER
from apps.identity.selectors import invitation_display_status, invitation_list
from apps.identity.services import invitations

# --------------------------------------------------------------------------- serializers


class InvitationCreateInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.CharField(max_length=50)


class InviterOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()


class InvitationOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    role = serializers.CharField(help_text="The role code the invitee will get.")
    status = serializers.ChoiceField(choices=["pending", "expired"])
    expires_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    invited_by = InviterOutputSerializer(allow_null=True)


class InvitationAcceptInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200, trim_whitespace=True)
    password = serializers.CharField(max_length=1024, required=False, allow_blank=True, trim_whitespace=False)
    name = serializers.CharField(max_length=150, required=False, allow_blank=True)


class AcceptedTenantOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    name = serializers.CharField()


class InvitationAcceptOutputSerializer(serializers.Serializer):
    tenant = AcceptedTenantOutputSerializer()
    role = serializers.CharField()


def _render(invitation: Invitation) -> dict[str, Any]:
    inviter = invitation.invited_by
    return {
        "id": invitation.id,
        "email": invitation.email,
        "role": invitation.role_code,
        "status": invitation_display_status(invitation),
        "expires_at": invitation.expires_at,
        "created_at": invitation.created_at,
        "invited_by": {"id": inviter.id, "email": inviter.email} if inviter is not None else None,
    }


# --------------------------------------------------------------------------- views


class InvitationViewSet(TenantViewSet):
    """The tenant's open invitations: list, invite (mails a link), revoke."""

    required_permissions = {"list": {INVITE_MEMBER}, "create": {INVITE_MEMBER}, "destroy": {INVITE_MEMBER}}

    def scoped_queryset(self) -> QuerySet[Invitation]:
        return invitation_list(tenant=self.tenant)

    @extend_schema(
        operation_id="identity_invitations_list",
        description="Open invitations, newest first; `status` is `expired` once past `expires_at`.",
        responses={200: InvitationOutputSerializer(many=True), **problems(401, 403)},
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None
        return self.get_paginated_response(InvitationOutputSerializer([_render(i) for i in page], many=True).data)

    @extend_schema(
        operation_id="identity_invitations_create",
        description=(
            "Invite an e-mail with a role (a system role or one of the tenant's). Mails the link "
            "`/portal/<default portal>/invitations/accept/?token=…`. Only an owner invites an owner (403). "
            "409: already a member, a pending invitation for the e-mail exists (revoke it first), or the "
            "seat limit is reached (pending invitations count as seats)."
        ),
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=InvitationCreateInputSerializer,
        responses={201: InvitationOutputSerializer, **problems(400, 401, 403, 409)},
    )
    @idempotent()
    def create(self, request: Request) -> Response:
        data = InvitationCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation = invitations.invitation_create(
            tenant=self.tenant_row,
            actor=self.actor,
            email=data.validated_data["email"],
            role=data.validated_data["role"],
            ip=client_ip(request),
        )
        return Response(InvitationOutputSerializer(_render(invitation)).data, status=201)

    @extend_schema(operation_id="identity_invitations_revoke", responses={204: None, **problems(401, 403, 404)})
    def destroy(self, request: Request, pk: UUID) -> Response:
        invitations.invitation_revoke(tenant=self.tenant_row, actor=self.actor, invitation_id=pk, ip=client_ip(request))
        return Response(status=204)


@method_decorator(never_cache, name="dispatch")
class InvitationAcceptView(PublicAPIView):
    """The invitee's side: the mailed token proves the mailbox; an existing account also shows its password."""

    @extend_schema(
        operation_id="identity_invitations_accept",
        description=(
            "Join the invitation's tenant. A new user chooses `password` (and optionally `name`); an existing "
            "user sends their own `password` (400 without it, 401 wrong, 429 locked out). 400 for an unknown, "
            "used, revoked or expired token (all alike); 409 already a member or the seat limit reached."
        ),
        request=InvitationAcceptInputSerializer,
        responses={200: InvitationAcceptOutputSerializer, **problems(400, 401, 403, 409, 429)},
    )
    def post(self, request: Request) -> Response:
        data = InvitationAcceptInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        accepted = invitations.invitation_accept(
            raw_token=data.validated_data["token"],
            password=data.validated_data.get("password") or None,
            name=data.validated_data.get("name", ""),
            ip=client_ip(request),
        )
        tenant = accepted.tenant
        body = {"tenant": {"id": tenant.id, "slug": tenant.slug, "name": tenant.name}, "role": accepted.role}
        return Response(InvitationAcceptOutputSerializer(body).data)
