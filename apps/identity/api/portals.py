"""Tenant administration of portals: `portals/` (list, create) and PATCH `portals/{slug}/`.

GET `portals/{slug}/` is the public metadata of a login page
(`views.PortalPublicView`); the URL conf routes that path by method
(`views.MethodDispatch`), so the public read and this authenticated write keep
their own base classes. Thin views: parse, call one service, render.
"""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.api import parse_fields, problems
from apps.common.net import client_ip
from apps.identity.api.base import TenantViewSet
from apps.identity.api.serializers import ThemeOutputSerializer
from apps.identity.models import Portal
from apps.identity.permissions import MANAGE_PORTAL
from apps.identity.selectors import portal_list, portal_view
from apps.identity.services import portals
from apps.identity.services.portal_fields import PortalFields

# --------------------------------------------------------------------------- serializers

SIGNUP_POLICIES = Portal.SignupPolicy.values


class StrictBooleanField(serializers.BooleanField):
    """JSON true/false only: "yes", 1 or "false" are not quietly read as booleans."""

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=str(data)[:50])
        raise AssertionError("unreachable")  # fail() raises


class PortalThemeInputSerializer(serializers.Serializer):
    primary_color = serializers.CharField(
        required=False, max_length=7, help_text="Hex colour, `#rrggbb`.", trim_whitespace=True
    )
    logo_url = serializers.CharField(
        required=False, max_length=500, allow_blank=True, help_text="An https:// URL, or empty for none."
    )


class PortalUpdateInputSerializer(serializers.Serializer):
    """Every field optional (a partial update); fields not named here (`tenant_id`, ...) are ignored."""

    slug = serializers.CharField(
        required=False, max_length=63, help_text="Cannot change: sending a different slug is a 400."
    )
    # Blank passes here so the service's check reports it together with the other fields' problems.
    name = serializers.CharField(required=False, max_length=200, allow_blank=True)
    theme = PortalThemeInputSerializer(required=False, help_text="Keys sent replace those keys only.")
    admitted_roles = serializers.ListField(
        child=serializers.CharField(max_length=50),
        required=False,
        max_length=50,
        help_text="Role codes admitted to sign in here: system roles or the tenant's custom roles.",
    )
    signup_policy = serializers.ChoiceField(choices=SIGNUP_POLICIES, required=False)
    mfa_required = StrictBooleanField(required=False)
    features = serializers.DictField(
        child=StrictBooleanField(), required=False, help_text="Feature flags; replaces the whole set."
    )
    active = StrictBooleanField(required=False)


class PortalCreateInputSerializer(PortalUpdateInputSerializer):
    """A new portal: `slug` and `name` required, every other field defaults like the tenant's first portal."""

    slug = serializers.CharField(
        max_length=63, help_text="Lower-case letters, digits and hyphens; unique across the platform; fixed for good."
    )
    name = serializers.CharField(max_length=200, allow_blank=True)


class PortalOutputSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    theme = ThemeOutputSerializer()
    admitted_roles = serializers.ListField(child=serializers.CharField())
    signup_policy = serializers.ChoiceField(choices=SIGNUP_POLICIES)
    mfa_required = serializers.BooleanField()
    features = serializers.DictField(child=serializers.BooleanField())
    active = serializers.BooleanField()


def _render(portal: Portal) -> dict[str, Any]:
    return dict(PortalOutputSerializer(portal_view(portal)).data)


# --------------------------------------------------------------------------- views


class PortalViewSet(TenantViewSet):
    """The tenant's portals. PATCH is reached through `portals/{slug}/`'s method dispatch."""

    required_permissions = {
        "list": {MANAGE_PORTAL},
        "create": {MANAGE_PORTAL},
        "partial_update": {MANAGE_PORTAL},
    }

    def scoped_queryset(self) -> QuerySet[Portal]:
        return portal_list(tenant=self.tenant)

    @extend_schema(
        operation_id="identity_portals_list",
        responses={200: PortalOutputSerializer(many=True), **problems(401, 403)},
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset()) or []
        return self.get_paginated_response([_render(portal) for portal in page])

    @extend_schema(
        operation_id="identity_portals_create",
        description=(
            "Create a portal. The slug is unique across the platform (a taken slug is 409, whoever holds it) "
            "and cannot be changed later. 409 too when the plan's limit of active portals is reached."
        ),
        request=PortalCreateInputSerializer,
        responses={201: PortalOutputSerializer, **problems(400, 401, 403, 409)},
    )
    def create(self, request: Request) -> Response:
        # Field by field, so one 400 names every invalid field: the type errors found here and the
        # rule errors the service finds in the fields that parsed.
        fields, rejected = parse_fields(PortalCreateInputSerializer, request.data)
        portal = portals.portal_create(
            tenant=self.tenant_row,
            actor=self.actor,
            fields=cast(PortalFields, fields),
            rejected=rejected,
            ip=client_ip(request),
        )
        location = reverse("identity:portal-detail", kwargs={"slug": portal.slug})
        return Response(_render(portal), status=201, headers={"Location": location})

    @extend_schema(
        operation_id="identity_portals_update",
        description=(
            "Change a portal's settings; only the fields sent change. The slug is fixed (400 if a different "
            "one is sent); another tenant's slug is 404. The default portal cannot be deactivated, nor the last "
            "active one, and some active portal must keep admitting owners (409); reactivating a portal counts "
            "against the plan's limit (409). Sessions that lose access — all of them on deactivation, members "
            "of a role no longer admitted, sessions without MFA when MFA becomes required — end at once."
        ),
        request=PortalUpdateInputSerializer,
        responses={200: PortalOutputSerializer, **problems(400, 401, 403, 404, 409)},
    )
    def partial_update(self, request: Request, slug: str) -> Response:
        fields, rejected = parse_fields(PortalUpdateInputSerializer, request.data)
        portal = portals.portal_update(
            tenant=self.tenant_row,
            actor=self.actor,
            slug=slug,
            fields=cast(PortalFields, fields),
            rejected=rejected,
            ip=client_ip(request),
        )
        return Response(_render(portal))
