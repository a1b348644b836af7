"""Payment providers: the offline default and Stripe, chosen by settings.

`offline` (no `STRIPE_SECRET_KEY`): trials and plan changes are local; the
invoices it computes are marked paid by an operator (`manage.py
billing_mark_paid`). `stripe`: checkout sessions and the customer portal on
Stripe, plan changes pushed to the Stripe subscription, and Stripe's webhooks
(`services.stripe_events`) bring its state back. Stripe's servers are only
called through the `stripe` package, never in tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import stripe
from django.conf import settings

from apps.common.exceptions import Conflict

if TYPE_CHECKING:
    from apps.billing.models import Subscription
    from apps.billing.selectors import PlanView
    from apps.identity.models import Tenant


class PaymentProvider(Protocol):
    name: str

    def checkout_url(self, *, tenant: Tenant, plan: PlanView, success_url: str, cancel_url: str) -> str: ...

    def portal_url(self, *, subscription: Subscription, return_url: str) -> str: ...

    def change_plan(self, *, subscription: Subscription, plan: PlanView) -> None: ...


class OfflineProvider:
    """No payment service: plan changes apply locally, invoices are settled by an operator."""

    name = "offline"

    def checkout_url(self, *, tenant: Tenant, plan: PlanView, success_url: str, cancel_url: str) -> str:
        raise Conflict("No payment provider is configured: plans are changed directly and invoices paid offline.")

    def portal_url(self, *, subscription: Subscription, return_url: str) -> str:
        raise Conflict("No payment provider is configured: there is no customer portal.")

    def change_plan(self, *, subscription: Subscription, plan: PlanView) -> None:
        return None


class StripeProvider:
    """Stripe through the `stripe` package. Prices are found by lookup key = the plan code."""

    name = "stripe"

    def __init__(self, *, api_key: str) -> None:
        self.client = stripe.StripeClient(api_key)

    def _price_id(self, plan: PlanView) -> str:
        prices = self.client.v1.prices.list(params={"lookup_keys": [plan.code], "active": True, "limit": 1})
        if not prices.data:
            raise Conflict(f"Stripe has no active price with lookup key {plan.code!r}.")
        return str(prices.data[0].id)

    def checkout_url(self, *, tenant: Tenant, plan: PlanView, success_url: str, cancel_url: str) -> str:
        params: dict[str, Any] = {
            "mode": "subscription",
            "line_items": [{"price": self._price_id(plan), "quantity": 1}],
            "client_reference_id": str(tenant.id),
            "success_url": success_url,
            "cancel_url": cancel_url,
            "subscription_data": {"metadata": {"tenant_id": str(tenant.id), "plan_code": plan.code}},
        }
        if plan.trial_days:
            params["subscription_data"]["trial_period_days"] = plan.trial_days
        session = self.client.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
        return str(session.url)

    def portal_url(self, *, subscription: Subscription, return_url: str) -> str:
        if not subscription.provider_customer_id:
            raise Conflict("This subscription has no Stripe customer yet: start with a checkout.")
        session = self.client.v1.billing_portal.sessions.create(
            params={"customer": subscription.provider_customer_id, "return_url": return_url}
        )
        return str(session.url)

    def change_plan(self, *, subscription: Subscription, plan: PlanView) -> None:
        if not subscription.provider_subscription_id:
            return None  # not on Stripe yet: the change is local until a checkout
        current = self.client.v1.subscriptions.retrieve(subscription.provider_subscription_id)
        item_id = current["items"]["data"][0]["id"]
        self.client.v1.subscriptions.update(
            subscription.provider_subscription_id,
            params={
                "items": [{"id": item_id, "price": self._price_id(plan)}],
                "metadata": {"tenant_id": str(subscription.tenant_id), "plan_code": plan.code},
                "proration_behavior": "create_prorations",
            },
        )
        return None


def provider_get() -> PaymentProvider:
    """Stripe when `STRIPE_SECRET_KEY` is set, the offline provider otherwise."""
    if settings.STRIPE_SECRET_KEY:
        return StripeProvider(api_key=settings.STRIPE_SECRET_KEY)
    return OfflineProvider()
