"""Stripe checkout and customer-portal links (`services.checkout`, `POST checkout/` and `portal-link/`).

The `stripe` package runs for real against a fake HTTP client (`stripe_support`): the tests assert what we
send Stripe (the tenant as client_reference_id, the plan's price, the return URLs) and that nothing is
sent when a rule says no: offline provider, not the owner, a free or unknown plan, a foreign return URL,
already paying, no Stripe customer yet.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from apps.billing.models import Subscription
from apps.billing.services.checkout import site_url, stripe_options
from apps.billing.services.subscriptions import subscription_create
from apps.common.exceptions import ApplicationError
from apps.common.tenancy import tenant_context
from apps.identity.models import AuditEvent

from .conftest import BILLING
from .stripe_support import CHECKOUT_URL, PORTAL_URL, use_fake_stripe

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


@pytest.fixture
def stripe_http(settings, monkeypatch):
    """Stripe as the provider, its HTTP client a fake that records what we send."""
    return use_fake_stripe(settings, monkeypatch)


CHECKOUT = f"{BILLING}checkout/"
PORTAL_LINK = f"{BILLING}portal-link/"
BILLING_PAGE = "http://testserver/portal/acme-test/billing/"


@pytest.fixture
def subscription(tenant, stripe_http):
    with tenant_context(tenant):
        return subscription_create(tenant=tenant)


def set_stripe(tenant, **fields) -> None:
    with tenant_context(tenant):
        Subscription.objects.filter(tenant_id=tenant.id).update(**fields)


def test_a_checkout_sends_the_tenant_the_price_and_our_billing_page_and_answers_stripes_url(
    owner_api, tenant, subscription, stripe_http
):
    response = owner_api.post(CHECKOUT, {"plan": "pro"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"url": CHECKOUT_URL}
    assert stripe_http.sent("GET", "/v1/prices") == [{"lookup_keys[0]": "pro", "active": "true", "limit": "1"}]
    (sent,) = stripe_http.sent("POST", "/v1/checkout/sessions")
    assert sent["client_reference_id"] == str(tenant.id)
    assert sent["line_items[0][price]"] == "price_pro"
    assert sent["line_items[0][quantity]"] == "1"
    assert sent["mode"] == "subscription"
    assert sent["success_url"] == BILLING_PAGE
    assert sent["cancel_url"] == BILLING_PAGE
    assert sent["subscription_data[metadata][tenant_id]"] == str(tenant.id)
    assert sent["subscription_data[metadata][plan_code]"] == "pro"
    assert sent["subscription_data[trial_period_days]"] == "14"
    with tenant_context(tenant):
        assert AuditEvent.objects.filter(action="billing.checkout_started", data__plan="pro").count() == 1
        # Nothing changes until Stripe's webhook says the checkout completed.
        assert Subscription.objects.get().plan_code == "free"


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("/portal/acme-test/billing/?paid=1", "http://testserver/portal/acme-test/billing/?paid=1"),
        ("http://testserver/portal/acme-test/", "http://testserver/portal/acme-test/"),
        ("", BILLING_PAGE),
    ],
)
def test_return_urls_of_this_site_are_sent_absolute(owner_api, subscription, stripe_http, given, sent):
    response = owner_api.post(CHECKOUT, {"plan": "pro", "success_url": given, "cancel_url": given}, format="json")
    assert response.status_code == 200, response.content
    (params,) = stripe_http.sent("POST", "/v1/checkout/sessions")
    assert (params["success_url"], params["cancel_url"]) == (sent, sent)


@pytest.mark.parametrize(
    "foreign",
    [
        "https://evil.example/phish",
        "//evil.example/x",
        "javascript:alert(1)",
        "https://testserver/x",  # another scheme: not where the caller came from
        "http://testserver.evil.example/",
        "/\\evil.example",
        "http://testserver/\x00",
        "/" + "a" * 3000,
    ],
)
def test_a_return_url_of_another_site_is_400_and_nothing_is_sent(owner_api, subscription, stripe_http, foreign):
    set_stripe(subscription.tenant, provider_customer_id="cus_123")
    for field, path in (("success_url", CHECKOUT), ("cancel_url", CHECKOUT), ("return_url", PORTAL_LINK)):
        body = {"plan": "pro", field: foreign} if path == CHECKOUT else {field: foreign}
        response = owner_api.post(path, body, format="json")
        assert response.status_code == 400, (field, response.content)
        assert field in response.json()["errors"]
    assert stripe_http.requests == []


def test_site_url_keeps_to_the_site():
    site = "https://portal.example.com/"
    assert site_url("/a/b?c=1", site=site, default="", field="f") == "https://portal.example.com/a/b?c=1"
    assert (
        site_url("", site=site, default="https://portal.example.com/d/", field="f") == "https://portal.example.com/d/"
    )
    for bad in ("http://portal.example.com/a", "https://other.example/", "ftp://portal.example.com/"):
        with pytest.raises(ApplicationError) as caught:
            site_url(bad, site=site, default="", field="f")
        assert caught.value.errors == {"f": ["Must be a URL of this site (https://portal.example.com/…)."]}


@pytest.mark.parametrize(
    ("body", "status"),
    [({"plan": "free"}, 400), ({"plan": "nope"}, 400), ({"plan": 7}, 400), ({}, 400), ({"plan": ["pro"]}, 400)],
)
def test_a_free_unknown_or_malformed_plan_is_400(owner_api, subscription, stripe_http, body, status):
    response = owner_api.post(CHECKOUT, body, format="json")
    assert response.status_code == status
    assert "plan" in response.json()["errors"]
    assert stripe_http.sent("POST", "/v1/checkout/sessions") == []


def test_only_the_owner_may_start_a_checkout_or_open_the_portal(admin_api, member_api, subscription, stripe_http):
    set_stripe(subscription.tenant, provider_customer_id="cus_123")
    for client in (admin_api, member_api):
        assert client.post(CHECKOUT, {"plan": "pro"}, format="json").status_code == 403
        assert client.post(PORTAL_LINK, {}, format="json").status_code == 403
    assert stripe_http.requests == []


def test_without_stripe_both_are_409(owner_api, tenant):
    with tenant_context(tenant):
        subscription_create(tenant=tenant)
    for path, body in ((CHECKOUT, {"plan": "pro"}), (PORTAL_LINK, {})):
        response = owner_api.post(path, body, format="json")
        assert response.status_code == 409
        assert "No payment provider is configured" in response.json()["detail"]
    with tenant_context(tenant):
        assert stripe_options(tenant=tenant) is None


def test_a_tenant_already_paying_through_stripe_gets_409_and_the_portal_instead(
    owner_api, tenant, subscription, stripe_http
):
    set_stripe(tenant, provider_customer_id="cus_123", provider_subscription_id="sub_123", status="active")
    response = owner_api.post(CHECKOUT, {"plan": "enterprise"}, format="json")
    assert response.status_code == 409
    assert "already pays through Stripe" in response.json()["detail"]
    assert stripe_http.requests == []
    with tenant_context(tenant):
        options = stripe_options(tenant=tenant)
    assert options is not None
    assert (options.checkout, options.portal) == (False, True)


def test_the_customer_portal_needs_a_stripe_customer(owner_api, tenant, subscription, stripe_http):
    response = owner_api.post(PORTAL_LINK, {}, format="json")
    assert response.status_code == 409
    assert "subscribe with a checkout first" in response.json()["detail"]
    assert stripe_http.requests == []


def test_the_customer_portal_link_for_the_tenants_customer(owner_api, tenant, subscription, stripe_http):
    set_stripe(tenant, provider_customer_id="cus_123")
    response = owner_api.post(PORTAL_LINK, {"return_url": "/portal/acme-test/dashboard/"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"url": PORTAL_URL}
    assert stripe_http.sent("POST", "/v1/billing_portal/sessions") == [
        {"customer": "cus_123", "return_url": "http://testserver/portal/acme-test/dashboard/"}
    ]
    with tenant_context(tenant):
        assert AuditEvent.objects.filter(action="billing.customer_portal_opened").count() == 1


def test_stripe_refusing_is_a_503_not_a_500(owner_api, subscription, stripe_http):
    stripe_http.answers[("GET", "/v1/prices")] = (400, {"error": {"type": "invalid_request_error", "message": "x"}})
    response = owner_api.post(CHECKOUT, {"plan": "pro"}, format="json")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/problem+json")


def test_no_price_on_stripe_is_a_409(owner_api, subscription, stripe_http):
    stripe_http.answers[("GET", "/v1/prices")] = (200, {"object": "list", "url": "/v1/prices", "data": []})
    response = owner_api.post(CHECKOUT, {"plan": "pro"}, format="json")
    assert response.status_code == 409
    assert stripe_http.sent("POST", "/v1/checkout/sessions") == []


def test_both_operations_are_in_the_openapi_document():
    document = json.loads(Client().get("/api/v1/schema/?format=json").content)
    for path, operation_id, fields in (
        ("/api/v1/billing/checkout/", "billing_checkout_create", {"plan", "success_url", "cancel_url"}),
        ("/api/v1/billing/portal-link/", "billing_portal_link_create", {"return_url"}),
    ):
        post = document["paths"][path]["post"]
        assert post["operationId"] == operation_id
        assert {"200", "400", "401", "403", "409"} <= set(post["responses"])
        schema = post["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        assert set(document["components"]["schemas"][schema]["properties"]) == fields
