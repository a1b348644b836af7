"""`integrations/api-keys/`: a tenant's API keys — list, create (the key shown once), revoke.

Thin views: parse, call one service, render. No `Idempotency-Key` on create: a replayed
answer would have to be stored with the key in it, and the key is stored nowhere.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.utils.cache import add_never_cache_headers
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.api import problems
from apps.common.net import client_ip
from apps.common.pagination import NewestFirstCursorPagination
from apps.identity.api.base import TenantViewSet
from apps.identity.models import ApiKey
from apps.identity.permissions import MANAGE_API_KEY
from apps.identity.selectors.api_keys import api_key_list, api_key_status
from apps.identity.services import api_keys

# --------------------------------------------------------------------------- serializers


class ApiKeyCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="What the key is for, e.g. `CRM sync`.")
    role = serializers.CharField(max_length=50, help_text="A system role code or one of the tenant's custom roles.")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Optional; in the future.")


class ApiKeyCreatorOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()


class ApiKeyOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    role = serializers.CharField(help_text="The role code the key acts with.")
    prefix = serializers.CharField(help_text="The public part of the key: `atr_<prefix>_…`.")
    status = serializers.ChoiceField(choices=["active", "expired", "revoked"])
    created_at = serializers.DateTimeField()
    created_by = ApiKeyCreatorOutputSerializer(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True, help_text="Updated at most once a minute.")
    last_used_ip = serializers.IPAddressField(allow_null=True)


class ApiKeyCreatedOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    role = serializers.CharField()
    prefix = serializers.CharField()
    key = serializers.CharField(help_text="The whole key, `atr_<prefix>_<secret>`. Shown this once: store it now.")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)


def _render(key: ApiKey) -> dict[str, Any]:
    creator = key.created_by
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role_code,
        "prefix": key.prefix,
        "status": api_key_status(key),
        "created_at": key.created_at,
        "created_by": {"id": creator.id, "email": creator.email} if creator is not None else None,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "last_used_at": key.last_used_at,
        "last_used_ip": key.last_used_ip,
    }


# --------------------------------------------------------------------------- views


class ApiKeyViewSet(TenantViewSet):
    """The tenant's API keys: list (never the secret), create (the key once), revoke."""

    required_permissions = {"list": {MANAGE_API_KEY}, "create": {MANAGE_API_KEY}, "destroy": {MANAGE_API_KEY}}
    pagination_class = NewestFirstCursorPagination

    def scoped_queryset(self) -> QuerySet[ApiKey]:
        return api_key_list(tenant=self.tenant)

    @extend_schema(
        operation_id="integrations_api_keys_list",
        description="The tenant's API keys, newest first, revoked ones included (cursor pagination). "
        "Never the secret: only its prefix.",
        responses={200: ApiKeyOutputSerializer(many=True), **problems(401, 403, 404, 429)},
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset()) or []
        return self.get_paginated_response(ApiKeyOutputSerializer([_render(k) for k in page], many=True).data)

    @extend_schema(
        operation_id="integrations_api_keys_create",
        description=(
            "A new key acting with `role` in this tenant. The answer holds the whole key (`key`) this once; "
            "only its SHA-256 is stored. The role's permissions must all be yours (403), only an owner gives "
            "`owner`; an unknown role or an expiry in the past is 400."
        ),
        request=ApiKeyCreateInputSerializer,
        responses={201: ApiKeyCreatedOutputSerializer, **problems(400, 401, 403, 429)},
    )
    def create(self, request: Request) -> Response:
        data = ApiKeyCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, full_key = api_keys.api_key_create(
            tenant=self.tenant_row,
            actor=self.actor,
            name=data.validated_data["name"],
            role=data.validated_data["role"],
            expires_at=data.validated_data.get("expires_at"),
            ip=client_ip(request),
        )
        body = {
            "id": key.id,
            "name": key.name,
            "role": key.role_code,
            "prefix": key.prefix,
            "key": full_key,
            "created_at": key.created_at,
            "expires_at": key.expires_at,
        }
        response = Response(ApiKeyCreatedOutputSerializer(body).data, status=201)
        add_never_cache_headers(response)  # the key is in this answer: no cache keeps it
        return response

    @extend_schema(
        operation_id="integrations_api_keys_revoke",
        description="Revoke the key: it is refused (401) from its next request on. Revoking twice is fine.",
        responses={204: None, **problems(401, 403, 404, 429)},
    )
    def destroy(self, request: Request, pk: UUID) -> Response:
        api_keys.api_key_revoke(tenant=self.tenant_row, actor=self.actor, key_id=pk, ip=client_ip(request))
        return Response(status=204)
