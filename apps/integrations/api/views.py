"""`/api/v1/integrations/`: webhook endpoints (CRUD, rotate the secret, send a test), their delivery log, redelivery.

Thin views: parse, call one service or selector, render. Every action needs
`integrations.manage_webhook` and the plan feature `webhooks`; another
tenant's endpoint or delivery is 404, as an unknown one. No `Idempotency-Key`
on the writes that answer with a secret: a replayed answer would have to be
stored, secret and all.
"""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.api import problems
from apps.common.net import client_ip
from apps.common.pagination import NewestFirstCursorPagination
from apps.identity.api.base import TenantAPIView, TenantViewSet
from apps.identity.permissions import MANAGE_WEBHOOK
from apps.integrations.api.serializers import (
    DeliveryOutputSerializer,
    EndpointCreateInputSerializer,
    EndpointOutputSerializer,
    EndpointSecretOutputSerializer,
    EndpointUpdateInputSerializer,
    delivery_row,
    endpoint_row,
)
from apps.integrations.events import FEATURE_WEBHOOKS
from apps.integrations.models import WebhookDelivery, WebhookEndpoint
from apps.integrations.selectors import DELIVERY_FIELDS, ENDPOINT_FIELDS, delivery_list, endpoint_get, endpoint_list
from apps.integrations.services import endpoints as services

_MANAGE = {MANAGE_WEBHOOK}


class EndpointViewSet(TenantViewSet):
    """The tenant's webhook endpoints."""

    required_feature = FEATURE_WEBHOOKS
    required_permissions = {
        "list": _MANAGE,
        "create": _MANAGE,
        "retrieve": _MANAGE,
        "partial_update": _MANAGE,
        "destroy": _MANAGE,
    }

    def scoped_queryset(self) -> QuerySet[WebhookEndpoint]:
        return endpoint_list(tenant=self.tenant).only(*ENDPOINT_FIELDS)

    @extend_schema(
        operation_id="integrations_webhooks_list",
        description="The tenant's webhook endpoints, newest first (page pagination). The secret is never listed.",
        responses={200: EndpointOutputSerializer(many=True), **problems(401, 403)},
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset()) or []
        return self.get_paginated_response([endpoint_row(e) for e in page])

    @extend_schema(
        operation_id="integrations_webhooks_create",
        description=(
            "Add an endpoint. The answer holds `secret` (`whsec_…`), shown this once. 400: a URL that is not "
            "http(s), holds credentials, does not resolve or resolves to a private address; unknown event types. "
            "409: the organisation has 20 endpoints already."
        ),
        request=EndpointCreateInputSerializer,
        responses={201: EndpointSecretOutputSerializer, **problems(400, 401, 403, 409)},
    )
    def create(self, request: Request) -> Response:
        data = EndpointCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        made = services.endpoint_create(
            tenant=self.tenant_row, actor=self.actor, ip=client_ip(request), **data.validated_data
        )
        return Response({**EndpointOutputSerializer(endpoint_row(made.endpoint)).data, "secret": made.secret}, 201)

    @extend_schema(
        operation_id="integrations_webhooks_retrieve",
        responses={200: EndpointOutputSerializer, **problems(401, 403, 404)},
    )
    def retrieve(self, request: Request, pk: UUID) -> Response:
        return Response(EndpointOutputSerializer(endpoint_row(endpoint_get(tenant=self.tenant, endpoint_id=pk))).data)

    @extend_schema(
        operation_id="integrations_webhooks_update",
        description="Change the URL, events, description or `active`. 400 as for create.",
        request=EndpointUpdateInputSerializer,
        responses={200: EndpointOutputSerializer, **problems(400, 401, 403, 404)},
    )
    def partial_update(self, request: Request, pk: UUID) -> Response:
        data = EndpointUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(
            tenant=self.tenant_row, actor=self.actor, endpoint_id=pk, ip=client_ip(request), **data.validated_data
        )
        return Response(EndpointOutputSerializer(endpoint_row(endpoint)).data)

    @extend_schema(operation_id="integrations_webhooks_delete", responses={204: None, **problems(401, 403, 404)})
    def destroy(self, request: Request, pk: UUID) -> Response:
        services.endpoint_delete(tenant=self.tenant_row, actor=self.actor, endpoint_id=pk, ip=client_ip(request))
        return Response(status=204)


class EndpointRotateSecretView(TenantAPIView):
    required_feature = FEATURE_WEBHOOKS
    required_permissions = {"post": _MANAGE}

    @extend_schema(
        operation_id="integrations_webhooks_rotate_secret",
        description=(
            "A new signing secret, shown this once. The previous one keeps signing too (both signatures in "
            "`webhook-signature`) for `WEBHOOKS_SECRET_OVERLAP_HOURS` (default 24), then stops."
        ),
        request=None,
        responses={200: EndpointSecretOutputSerializer, **problems(401, 403, 404)},
    )
    def post(self, request: Request, pk: UUID) -> Response:
        made = services.endpoint_rotate_secret(
            tenant=self.tenant_row, actor=self.actor, endpoint_id=pk, ip=client_ip(request)
        )
        return Response({**EndpointOutputSerializer(endpoint_row(made.endpoint)).data, "secret": made.secret})


class EndpointTestView(TenantAPIView):
    required_feature = FEATURE_WEBHOOKS
    required_permissions = {"post": _MANAGE}

    @extend_schema(
        operation_id="integrations_webhooks_test",
        description="Send the endpoint a `ping` event now (retried like any other). 409 while it is disabled.",
        request=None,
        responses={202: DeliveryOutputSerializer, **problems(401, 403, 404, 409)},
    )
    def post(self, request: Request, pk: UUID) -> Response:
        delivery = services.endpoint_test(tenant=self.tenant_row, actor=self.actor, endpoint_id=pk)
        return Response(DeliveryOutputSerializer(delivery_row(delivery)).data, status=202)


class DeliveryViewSet(TenantViewSet):
    """An endpoint's delivery log."""

    required_feature = FEATURE_WEBHOOKS
    required_permissions = {"list": _MANAGE}
    pagination_class = NewestFirstCursorPagination

    def scoped_queryset(self) -> QuerySet[WebhookDelivery]:
        rows = delivery_list(tenant=self.tenant, endpoint_id=self.kwargs["pk"])
        return rows.select_related("event").only(*DELIVERY_FIELDS)

    @extend_schema(
        operation_id="integrations_webhooks_deliveries",
        description=(
            "The endpoint's deliveries, newest first, each with its last attempt's outcome. Follow `next` for "
            "older ones (cursor pagination). Kept for `WEBHOOKS_DELIVERY_RETENTION_DAYS` (default 30)."
        ),
        responses={200: DeliveryOutputSerializer(many=True), **problems(401, 403, 404)},
    )
    def list(self, request: Request, pk: UUID) -> Response:
        page = self.paginate_queryset(self.get_queryset()) or []
        return self.get_paginated_response([delivery_row(d) for d in page])


class DeliveryRedeliverView(TenantAPIView):
    required_feature = FEATURE_WEBHOOKS
    required_permissions = {"post": _MANAGE}

    @extend_schema(
        operation_id="integrations_deliveries_redeliver",
        description=(
            "One more attempt now, with the same body and `webhook-id` (a receiver that saw it drops the "
            "duplicate). 409 while the endpoint is disabled."
        ),
        request=None,
        responses={202: DeliveryOutputSerializer, **problems(401, 403, 404, 409)},
    )
    def post(self, request: Request, pk: UUID) -> Response:
        delivery = services.delivery_redeliver(
            tenant=self.tenant_row, actor=self.actor, delivery_id=pk, ip=client_ip(request)
        )
        return Response(DeliveryOutputSerializer(delivery_row(delivery)).data, status=202)
