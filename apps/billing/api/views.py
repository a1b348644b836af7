"""Billing's API (docs/api.md, "Billing"): plans, the subscription and its change, usage, invoices, Stripe's webhook.

Thin views: parse, call one service or selector, render. Who may do what is
the permission table of docs/api.md (`apps.billing.permissions`): the plan change, and the Stripe
checkout and customer-portal links (`services.checkout`), are the owner's.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.billing.api.serializers import (
    CheckoutInputSerializer,
    InvoiceOutputSerializer,
    LinkOutputSerializer,
    PlanOutputSerializer,
    PortalLinkInputSerializer,
    SubscriptionChangeInputSerializer,
    SubscriptionOutputSerializer,
    UsageOutputSerializer,
    WebhookOutputSerializer,
)
from apps.billing.models import Invoice, Plan
from apps.billing.permissions import MANAGE_SUBSCRIPTION, VIEW_INVOICE, VIEW_SUBSCRIPTION, VIEW_USAGE
from apps.billing.selectors import invoice_list, plan_list, plan_view, subscription_view, usage_view
from apps.billing.services.checkout import checkout_link, customer_portal_link
from apps.billing.services.stripe_events import stripe_webhook_receive
from apps.billing.services.subscriptions import subscription_change
from apps.common.api import problems
from apps.common.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent
from apps.common.net import client_ip
from apps.common.pagination import NewestFirstCursorPagination
from apps.identity.api.base import PublicAPIView, TenantAPIView, TenantViewSet


class PlanViewSet(TenantViewSet):
    """The plan catalogue: any member may read it."""

    required_permissions = {"list": set()}

    def scoped_queryset(self) -> QuerySet[Plan]:
        return plan_list()

    @extend_schema(
        operation_id="billing_plans_list",
        responses={200: PlanOutputSerializer(many=True), **problems(401)},
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset()) or []
        return self.get_paginated_response([plan_view(plan) for plan in page])


class SubscriptionView(TenantAPIView):
    required_permissions = {"get": {VIEW_SUBSCRIPTION}}

    @extend_schema(
        operation_id="billing_subscription_get",
        responses={200: SubscriptionOutputSerializer, **problems(401, 403)},
    )
    def get(self, request: Request) -> Response:
        return Response(_subscription(self.tenant_row))


def _subscription(tenant: Any) -> dict[str, Any]:
    return dict(SubscriptionOutputSerializer(subscription_view(tenant=tenant, now=timezone.now())).data)


class SubscriptionChangeView(TenantAPIView):
    required_permissions = {"post": {MANAGE_SUBSCRIPTION}}

    @extend_schema(
        operation_id="billing_subscription_change",
        description=(
            "Move the tenant to another plan (owner only). Effective at once: the next request's limits and "
            "features are the new plan's. Unknown plan 400; a past-due subscription may only move to `free` (409)."
        ),
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=SubscriptionChangeInputSerializer,
        responses={200: SubscriptionOutputSerializer, **problems(400, 401, 403, 409)},
    )
    @idempotent()
    def post(self, request: Request) -> Response:
        body = SubscriptionChangeInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        subscription_change(
            tenant=self.tenant_row, actor=self.actor, plan=body.validated_data["plan"], ip=client_ip(request)
        )
        self.tenant_row.refresh_from_db(fields=["plan_code", "subscription_status"])
        return Response(_subscription(self.tenant_row))


def _site(request: Request) -> str:
    """This site's origin as the caller reached it (the host is one of ALLOWED_HOSTS): return URLs must be on it."""
    return request.build_absolute_uri("/")


class CheckoutView(TenantAPIView):
    required_permissions = {"post": {MANAGE_SUBSCRIPTION}}

    @extend_schema(
        operation_id="billing_checkout_create",
        description=(
            "Start a Stripe checkout for a paid plan (owner only); answers the URL to send the browser to. "
            "The subscription changes when Stripe's webhook confirms it. 409 without Stripe configured or when "
            "already paying through Stripe; 400 for an unknown or free plan, or a return URL of another site."
        ),
        request=CheckoutInputSerializer,
        responses={200: LinkOutputSerializer, **problems(400, 401, 403, 409)},
    )
    def post(self, request: Request) -> Response:
        body = CheckoutInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        url = checkout_link(
            tenant=self.tenant_row,
            actor=self.actor,
            plan=body.validated_data["plan"],
            site=_site(request),
            portal=self.principal.portal,
            success_url=body.validated_data.get("success_url", ""),
            cancel_url=body.validated_data.get("cancel_url", ""),
            ip=client_ip(request),
        )
        return Response({"url": url})


class PortalLinkView(TenantAPIView):
    required_permissions = {"post": {MANAGE_SUBSCRIPTION}}

    @extend_schema(
        operation_id="billing_portal_link_create",
        description=(
            "A Stripe customer-portal session (owner only): payment method, invoices, plan, cancellation. "
            "409 without Stripe configured or before the tenant's first checkout; 400 for a return URL of "
            "another site."
        ),
        request=PortalLinkInputSerializer,
        responses={200: LinkOutputSerializer, **problems(400, 401, 403, 409)},
    )
    def post(self, request: Request) -> Response:
        body = PortalLinkInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        url = customer_portal_link(
            tenant=self.tenant_row,
            actor=self.actor,
            site=_site(request),
            portal=self.principal.portal,
            return_url=body.validated_data.get("return_url", ""),
            ip=client_ip(request),
        )
        return Response({"url": url})


class UsageView(TenantAPIView):
    required_permissions = {"get": {VIEW_USAGE}}

    @extend_schema(operation_id="billing_usage_get", responses={200: UsageOutputSerializer, **problems(401, 403)})
    def get(self, request: Request) -> Response:
        return Response(UsageOutputSerializer(usage_view(tenant=self.tenant_row, now=timezone.now())).data)


class InvoiceViewSet(TenantViewSet):
    required_permissions = {"list": {VIEW_INVOICE}}
    pagination_class = NewestFirstCursorPagination

    def scoped_queryset(self) -> QuerySet[Invoice]:
        return invoice_list(tenant=self.tenant)

    @extend_schema(
        operation_id="billing_invoices_list",
        parameters=[OpenApiParameter("cursor", str, description="The `next` or `previous` link's cursor.")],
        responses={200: InvoiceOutputSerializer(many=True), **problems(401, 403, 404)},
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset()) or []
        return self.get_paginated_response(InvoiceOutputSerializer(page, many=True).data)


class StripeWebhookView(PublicAPIView):
    """Stripe's deliveries: `Stripe-Signature` is the authentication."""

    @extend_schema(
        operation_id="billing_webhook_stripe",
        description=(
            "Verified with the `Stripe-Signature` header (tolerance 5 minutes): 400 for a bad or stale signature. "
            "Each event id is applied once: a duplicate delivery is 200 and changes nothing. Unknown event types "
            "are 200 and ignored."
        ),
        request={"application/json": {"type": "object"}},
        responses={200: WebhookOutputSerializer, **problems(400)},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        _, created = stripe_webhook_receive(payload=request.body, signature=request.headers.get("Stripe-Signature"))
        return Response({"received": True, "duplicate": not created})
