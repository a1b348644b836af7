"""Stripe's hosted pages: a checkout session to subscribe, and the customer portal to manage what is paid.

The one home of their rules, for the API (`checkout/`, `portal-link/`) and the
portal's billing page alike: only with the Stripe provider configured, a paid
plan of the catalogue, no second Stripe subscription, and the portal only for a
tenant Stripe knows as a customer. Stripe sends the browser back to the URLs
given here, so they must be of this site (`site`, the request's own origin):
anything else is refused rather than followed, and none means the portal's
billing page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import stripe
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from apps.billing.models import Subscription
from apps.billing.providers import PaymentProvider, provider_get
from apps.billing.selectors import plan_get, subscription_get
from apps.common.exceptions import ApplicationError, Conflict, NotFound, ServiceUnavailable
from apps.identity.models import Tenant, User
from apps.identity.services.audit import audit_record

logger = logging.getLogger("atrium.billing")

MAX_URL_LENGTH = 2000
# Where Stripe's hosted checkout and customer portal live: a page whose forms are answered with a redirect
# there must allow them in its CSP `form-action` (browsers apply it to the redirect too).
STRIPE_HOSTED_ORIGINS: tuple[str, ...] = ("https://checkout.stripe.com", "https://billing.stripe.com")


def checkout_available() -> bool:
    """Whether payments go through Stripe (its secret key is set): pages then offer checkout, not a plan switch."""
    return provider_get().name == Subscription.Provider.STRIPE


def _paying(subscription: Subscription | None) -> bool:
    """Paying through a live Stripe subscription: a second checkout would charge twice."""
    return (
        subscription is not None
        and bool(subscription.provider_subscription_id)
        and subscription.status != Subscription.Status.CANCELED
    )


def _customer(subscription: Subscription | None) -> bool:
    """Stripe knows the tenant as a customer (a checkout completed): its customer portal can open."""
    return subscription is not None and bool(subscription.provider_customer_id)


@dataclass(frozen=True)
class StripeOptions:
    """What a billing page may offer: a checkout (`checkout_link`) and the customer portal (`customer_portal_link`)."""

    checkout: bool
    portal: bool


def stripe_options(*, tenant: Tenant) -> StripeOptions | None:
    """None without Stripe (plans change directly); else which of the two links would be accepted now."""
    if not checkout_available():
        return None
    subscription = subscription_get(tenant=tenant)
    return StripeOptions(checkout=not _paying(subscription), portal=_customer(subscription))


def _stripe() -> PaymentProvider:
    provider = provider_get()
    if provider.name != Subscription.Provider.STRIPE:
        raise Conflict("No payment provider is configured: plans are changed directly and invoices paid offline.")
    return provider


def site_url(raw: str, *, site: str, default: str, field: str) -> str:
    """`raw` as an absolute URL of `site` (scheme://host/); `default` when empty; 400 naming `field` otherwise.

    A path is taken relative to the site. An absolute URL must have the site's
    scheme and host: Stripe redirects the browser there, so another host would
    be an open redirect through us.
    """
    value = (raw or "").strip() or default
    origin = urlsplit(site)
    problem = f"Must be a URL of this site ({origin.scheme}://{origin.netloc}/…)."
    if len(value) > MAX_URL_LENGTH or "\\" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ApplicationError("The return address is not of this site.", errors={field: [problem]})
    allowed = url_has_allowed_host_and_scheme(
        value, allowed_hosts={origin.netloc}, require_https=origin.scheme == "https"
    )
    absolute = urljoin(site, value)
    parts = urlsplit(absolute)
    if not allowed or (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc):
        raise ApplicationError("The return address is not of this site.", errors={field: [problem]})
    return absolute


def billing_page(*, site: str, portal: str) -> str:
    """The portal's billing page on `site`: where Stripe sends the browser back by default."""
    return urljoin(site, reverse("portals:billing", kwargs={"slug": portal}))


def _call(action: str, tenant: Tenant, call: Callable[[], str]) -> str:
    """Stripe's answer, or a 503 when Stripe cannot be reached or refuses (logged, never a 500)."""
    try:
        return call()
    except stripe.StripeError as exc:
        logger.warning(
            "billing.stripe_failed", extra={"action": action, "tenant_slug": tenant.slug, "error": type(exc).__name__}
        )
        raise ServiceUnavailable("The payment provider did not answer; try again in a moment.") from exc


def checkout_link(
    *,
    tenant: Tenant,
    actor: User,
    plan: str,
    site: str,
    portal: str,
    success_url: str = "",
    cancel_url: str = "",
    ip: str | None = None,
) -> str:
    """A Stripe checkout session's URL for subscribing `tenant` to paid `plan`; the browser goes there next.

    409 without Stripe, or when the tenant already pays through a Stripe
    subscription (plan changes then go through `subscription_change` or the
    customer portal); 400 for an unknown or free plan and for return URLs not of
    this site. Stripe's webhook applies the outcome (`stripe_events`).
    """
    provider = _stripe()
    try:
        target = plan_get(code=plan)
    except NotFound as exc:
        raise ApplicationError(f"No plan {plan!r}.", errors={"plan": [f"Unknown plan {plan!r}."]}) from exc
    if not target.price_cents:
        raise ApplicationError(
            f"The {target.name} plan is free: there is nothing to pay.",
            errors={"plan": ["Choose a paid plan to check out."]},
        )
    subscription = subscription_get(tenant=tenant)
    if _paying(subscription):
        raise Conflict("This organisation already pays through Stripe: manage the plan in the billing portal.")
    default = billing_page(site=site, portal=portal)
    success = site_url(success_url, site=site, default=default, field="success_url")
    cancel = site_url(cancel_url, site=site, default=default, field="cancel_url")
    url = _call(
        "checkout",
        tenant,
        lambda: provider.checkout_url(tenant=tenant, plan=target, success_url=success, cancel_url=cancel),
    )
    audit_record(
        tenant=tenant,
        actor=actor,
        action="billing.checkout_started",
        target=("subscription", str(subscription.id)) if subscription is not None else None,
        ip=ip,
        data={"plan": target.code},
    )
    return url


def customer_portal_link(
    *, tenant: Tenant, actor: User, site: str, portal: str, return_url: str = "", ip: str | None = None
) -> str:
    """The URL of a Stripe customer-portal session for `tenant` (invoices, payment method, plan, cancel).

    409 without Stripe, or before Stripe knows the tenant as a customer (a
    completed checkout records it); 400 for a return URL not of this site.
    """
    provider = _stripe()
    subscription = subscription_get(tenant=tenant)
    if subscription is None or not _customer(subscription):
        raise Conflict("Stripe does not know this organisation yet: subscribe with a checkout first.")
    back = site_url(return_url, site=site, default=billing_page(site=site, portal=portal), field="return_url")
    url = _call("customer_portal", tenant, lambda: provider.portal_url(subscription=subscription, return_url=back))
    audit_record(
        tenant=tenant,
        actor=actor,
        action="billing.customer_portal_opened",
        target=("subscription", str(subscription.id)),
        ip=ip,
    )
    return url
