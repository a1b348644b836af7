"""Billing: the plan, its status and limits, usage with its chart, invoices; the plan change or Stripe's pages.

Reads are billing's selectors, the API's (`subscription_view`, `usage_view`
and the others through `billing_support`, `invoice_list`, `plan_catalogue`);
writes are its services: `subscription_change` (as `POST
subscription/change/`) and, when Stripe is the provider, `checkout_link` and
`customer_portal_link` (as `POST checkout/` and `portal-link/`), whose answer
the browser is sent to (303). The page needs `billing.view_subscription`; usage
and invoices show to those who may read them through the API; the forms show,
and their routes answer, only with `billing.manage_subscription`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.utils import timezone

from apps.billing.models import Subscription
from apps.billing.permissions import MANAGE_SUBSCRIPTION, VIEW_INVOICE, VIEW_SUBSCRIPTION, VIEW_USAGE
from apps.billing.selectors import invoice_list, plan_catalogue, subscription_view
from apps.billing.services import checkout
from apps.billing.services.checkout import checkout_link, customer_portal_link, stripe_options
from apps.billing.services.subscriptions import subscription_change
from apps.common.exceptions import ApplicationError, TooManyRequests
from apps.common.net import client_ip
from apps.identity.models import Tenant, User
from apps.identity.rbac.request_checks import request_permissions
from apps.identity.selectors.tenancy import actor_get, tenant_get
from apps.portals.base import PortalPage
from apps.portals.views.billing_support import (
    days_left,
    invoice_page,
    limit_rows,
    money,
    plan_label,
    plan_price,
    usage_of,
)
from apps.portals.views.forms_support import add_service_errors


def _status_label(status: str) -> str:
    try:
        return str(Subscription.Status(status).label)
    except ValueError:
        return status


class PlanForm(forms.Form):
    plan = forms.ChoiceField(label="Plan")

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = choices  # type: ignore[attr-defined]


class BillingPage(PortalPage):
    """The organisation's plan and what it allows, usage over two periods, invoices; the owner's plan forms."""

    permission = VIEW_SUBSCRIPTION
    template_name = "portals/billing.html"

    def get(self, request: HttpRequest) -> HttpResponseBase:
        return self.render(self.billing_context(request))

    def render(self, context: dict[str, Any] | None = None, *, status: int = 200, template: str = "") -> HttpResponse:
        response = super().render(context, status=status, template=template)
        if (context or {}).get("stripe") is not None:
            # The Stripe forms' answer is a 303 to Stripe: the CSP's form-action must allow it (and only here).
            response._csp_update = {"form-action": list(checkout.STRIPE_HOSTED_ORIGINS)}  # type: ignore[attr-defined]
        return response

    def writes(self) -> tuple[Tenant, User]:
        """What the API's views pass to the services: the tenant row and the acting user."""
        return tenant_get(tenant_id=self.principal.tenant_id), actor_get(user_id=self.principal.user_id)

    def billing_context(
        self,
        request: HttpRequest,
        *,
        plan_form: PlanForm | None = None,
        checkout_form: PlanForm | None = None,
        portal_error: str = "",
    ) -> dict[str, Any]:
        tenant = tenant_get(tenant_id=self.principal.tenant_id)
        held = request_permissions(request)
        now = timezone.now()
        catalogue = plan_catalogue()
        subscription = subscription_view(tenant=tenant, now=now)
        plan = catalogue.get(subscription["plan"])
        limits = subscription["entitlements"]["limits"]
        usage = usage_of(tenant=tenant, now=now) if VIEW_USAGE in held else None
        context: dict[str, Any] = {
            "subscription": subscription,
            "plan_name": plan.name if plan is not None else subscription["plan"],
            "plan_price": plan_price(plan) if plan is not None else "",
            "status_label": _status_label(subscription["status"]),
            "trial_days_left": (
                days_left(subscription["trial_ends_at"], now) if subscription["status"] == "trialing" else None
            ),
            "limits": limit_rows(limits, usage.metrics if usage is not None else None),
            "usage": usage,
            "invoices": None,
            "manage": MANAGE_SUBSCRIPTION in held,
        }
        if VIEW_INVOICE in held:
            page = invoice_page(invoice_list(tenant=tenant), request.GET.get("cursor", ""))
            context["invoices"] = page
            context["invoice_rows"] = [
                {"invoice": invoice, "total": money(invoice.total_cents, invoice.currency)} for invoice in page.rows
            ]
        if context["manage"]:
            options = stripe_options(tenant=tenant)
            context["stripe"] = options
            if options is None:
                choices = [(code, plan_label(p)) for code, p in catalogue.items()]
                context["plan_form"] = plan_form or PlanForm(choices=choices, initial={"plan": subscription["plan"]})
            elif options.checkout:
                paid = [(code, plan_label(p)) for code, p in catalogue.items() if p.price_cents]
                context["checkout_form"] = checkout_form or PlanForm(choices=paid, auto_id="id_checkout_%s")
            context["portal_error"] = portal_error
        return context


class BillingPlanPage(BillingPage):
    """POST: move the organisation to another plan at once (offline provider: no payment step)."""

    permission = MANAGE_SUBSCRIPTION
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponseBase:
        catalogue = plan_catalogue()
        form = PlanForm(request.POST, choices=[(code, plan_label(p)) for code, p in catalogue.items()])
        if not form.is_valid():
            return self.render(self.billing_context(request, plan_form=form), status=400)
        tenant, actor = self.writes()
        try:
            subscription = subscription_change(
                tenant=tenant, actor=actor, plan=form.cleaned_data["plan"], ip=client_ip(request)
            )
        except TooManyRequests:
            raise
        except ApplicationError as exc:
            add_service_errors(form, exc)
            return self.render(self.billing_context(request, plan_form=form), status=exc.status)
        name = catalogue[subscription.plan_code].name if subscription.plan_code in catalogue else subscription.plan_code
        messages.success(request, f"Your organisation is now on the {name} plan.")
        return HttpResponseRedirect(self.url("billing"))


def _see_other(url: str) -> HttpResponseRedirect:
    """303: the browser follows with a GET (to Stripe's hosted page)."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


class BillingCheckoutPage(BillingPage):
    """POST: start a Stripe checkout for a paid plan and send the browser to it."""

    permission = MANAGE_SUBSCRIPTION
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponseBase:
        catalogue = plan_catalogue()
        paid = [(code, plan_label(p)) for code, p in catalogue.items() if p.price_cents]
        form = PlanForm(request.POST, choices=paid, auto_id="id_checkout_%s")
        if not form.is_valid():
            return self.render(self.billing_context(request, checkout_form=form), status=400)
        tenant, actor = self.writes()
        try:
            url = checkout_link(
                tenant=tenant,
                actor=actor,
                plan=form.cleaned_data["plan"],
                site=request.build_absolute_uri("/"),
                portal=self.portal.slug,
                ip=client_ip(request),
            )
        except ApplicationError as exc:
            add_service_errors(form, exc)
            return self.render(self.billing_context(request, checkout_form=form), status=exc.status)
        return _see_other(url)


class BillingPortalLinkPage(BillingPage):
    """POST: open Stripe's customer portal for the organisation (payment method, invoices, cancelling)."""

    permission = MANAGE_SUBSCRIPTION
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponseBase:
        tenant, actor = self.writes()
        try:
            url = customer_portal_link(
                tenant=tenant,
                actor=actor,
                site=request.build_absolute_uri("/"),
                portal=self.portal.slug,
                ip=client_ip(request),
            )
        except ApplicationError as exc:
            return self.render(self.billing_context(request, portal_error=exc.detail), status=exc.status)
        return _see_other(url)
