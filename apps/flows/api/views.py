"""Flows and analytics API: the caller's onboarding checklist, completing a step, their runs, tracking an event.

Thin views: parse, call one service or selector, render. Every action is open
to any member of the token's tenant (an empty permission set): the data is the
caller's own. The base classes authenticate, check and enter the tenant context.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.api import problems
from apps.common.pagination import NewestFirstCursorPagination
from apps.flows.api.serializers import (
    AnalyticsEventOutputSerializer,
    AnalyticsTrackInputSerializer,
    ChecklistOutputSerializer,
    FlowRunOutputSerializer,
)
from apps.flows.api.throttling import ANALYTICS, PerUserThrottle
from apps.flows.models import FlowRun
from apps.flows.selectors import checklist_get, flow_run_list
from apps.flows.services import analytics_record, flow_step_complete
from apps.identity.api.base import TenantAPIView, TenantViewSet


class ChecklistView(TenantAPIView):
    required_feature = "onboarding"
    required_permissions = {"get": set()}

    @extend_schema(
        operation_id="flows_onboarding_checklist",
        description="The caller's onboarding checklist in this tenant (and portal). Reading it writes nothing.",
        responses={200: ChecklistOutputSerializer, **problems(401, 403)},
    )
    def get(self, request: Request) -> Response:
        checklist = checklist_get(tenant=self.tenant, user_id=self.principal.user_id, portal=self.principal.portal)
        return Response(ChecklistOutputSerializer(checklist).data)


class StepCompleteView(TenantAPIView):
    required_feature = "onboarding"
    required_permissions = {"post": set()}

    @extend_schema(
        operation_id="flows_onboarding_step_complete",
        description="Mark an onboarding step done for the caller; idempotent. Answers the checklist after it.",
        parameters=[OpenApiParameter("code", str, OpenApiParameter.PATH, description="The step's code.")],
        request=None,
        responses={200: ChecklistOutputSerializer, **problems(401, 403, 404)},
    )
    def post(self, request: Request, code: str) -> Response:
        checklist = flow_step_complete(
            tenant=self.tenant_row, actor=self.actor, code=code, portal=self.principal.portal
        )
        return Response(ChecklistOutputSerializer(checklist).data)


class FlowRunCursorPagination(NewestFirstCursorPagination):
    """Newest first in the order of the (tenant, user, -started_at, -id) index."""

    ordering = ("-started_at", "-id")


class FlowRunViewSet(TenantViewSet):
    required_feature = "onboarding"
    required_permissions = {"list": set()}
    pagination_class = FlowRunCursorPagination

    def scoped_queryset(self) -> QuerySet[FlowRun]:
        return flow_run_list(tenant=self.tenant, user_id=self.principal.user_id)

    @extend_schema(
        operation_id="flows_runs_list",
        description="The caller's flow runs in this tenant, newest first (cursor pagination); empty when none.",
        responses={200: FlowRunOutputSerializer(many=True), **problems(401, 403, 404)},
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset()) or []
        return self.get_paginated_response(FlowRunOutputSerializer(page, many=True).data)


class AnalyticsTrackView(TenantAPIView):
    required_permissions = {"post": set()}
    throttle_classes = [PerUserThrottle]
    throttle_scope = ANALYTICS

    @extend_schema(
        operation_id="analytics_track",
        description="Record a product-analytics event for the caller. Only allow-listed event names; throttled "
        "per user.",
        request=AnalyticsTrackInputSerializer,
        responses={201: AnalyticsEventOutputSerializer, **problems(400, 401, 403, 429)},
    )
    def post(self, request: Request) -> Response:
        data = AnalyticsTrackInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        event = analytics_record(
            tenant=self.tenant,
            user_id=self.principal.user_id,
            portal=self.principal.portal,
            event=data.validated_data["event"],
            properties=data.validated_data.get("properties"),
        )
        return Response(AnalyticsEventOutputSerializer(event).data, status=status.HTTP_201_CREATED)
