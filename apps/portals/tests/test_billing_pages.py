"""Billing pages: who sees what, the plan change (the API's service), usage and its chart, invoices by cursor,
Stripe's checkout and customer portal (the `stripe` package against a fake HTTP client), CSRF, odd input.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.billing.models import Invoice, Subscription
from apps.billing.services.plans import plan_seed
from apps.billing.services.subscriptions import subscription_create
from apps.billing.services.usage import usage_record
from apps.billing.tests.stripe_support import CHECKOUT_URL, PORTAL_URL, use_fake_stripe
from apps.common.tenancy import tenant_context
from apps.identity.models import Membership, Role, Tenant
from apps.identity.tests.factories import UserFactory
from apps.portals.tests.conftest import csrf_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def stripe_http(settings, monkeypatch):
    """Stripe as the provider, its HTTP client a fake that records what we send."""
    return use_fake_stripe(settings, monkeypatch)


@pytest.fixture(autouse=True)
def _plans(db) -> None:
    plan_seed()


@pytest.fixture
def subscribed(tenant):
    with tenant_context(tenant):
        subscription_create(tenant=tenant)
    return tenant


def billing(portal, tail: str = "") -> str:
    return f"/portal/{portal.slug}/billing/{tail}"


def plan_of(tenant) -> tuple[str, str]:
    row = Tenant.objects.get(id=tenant.id)
    return row.plan_code, row.subscription_status


def make_invoices(tenant, count: int, *, start: int = 0) -> None:
    now = timezone.now()
    with tenant_context(tenant):
        Invoice.objects.bulk_create(
            Invoice(
                tenant=tenant,
                plan_code="pro",
                period_start=now - timedelta(days=40 * (n + 1)),
                period_end=now - timedelta(days=40 * n),
                total_cents=4900 + n,
                created_at=now - timedelta(days=40 * n),
            )
            for n in range(start, start + count)
        )


def nav(content: bytes) -> str:
    text = content.decode()
    return text[text.index('<nav aria-label="Main">') : text.index("</nav>")]


# --------------------------------------------------------------------------- who sees what


def test_the_owner_sees_plan_status_period_limits_usage_invoices_and_the_plan_form(web, portal, subscribed, signed_in):
    signed_in("owner")
    page = web.get(billing(portal))
    assert page.status_code == 200
    html = page.content.decode()
    assert '<dd data-testid="plan-name">Free</dd>' in html
    assert '<dd data-testid="plan-status">Active</dd>' in html
    assert 'data-testid="period-end"' in html
    assert 'data-testid="trial-days"' not in html
    assert "100.0\xa0MB" in html  # the free plan's storage
    assert 'data-testid="usage-chart"><svg' in html
    assert "No invoices yet." in html
    assert f'action="{billing(portal, "plan/")}"' in html
    assert '<option value="pro">Pro (49.00 USD a month, 14-day trial)</option>' in html
    assert "Upgrade with Stripe" not in html
    assert ">Billing</a>" in nav(page.content)


def test_an_admin_sees_the_page_but_cannot_change_the_plan(web, portal, subscribed, signed_in):
    signed_in("admin")
    page = web.get(billing(portal))
    assert page.status_code == 200
    assert b'data-testid="plan-change"' not in page.content
    assert csrf_post(web, billing(portal, "plan/"), {"plan": "pro"}).status_code == 403
    assert csrf_post(web, billing(portal, "checkout/"), {"plan": "pro"}).status_code == 403
    assert csrf_post(web, billing(portal, "portal-link/")).status_code == 403
    assert plan_of(subscribed) == ("free", "active")


def test_a_member_gets_the_403_page_and_no_billing_link(web, portal, subscribed, signed_in):
    signed_in("member")
    response = web.get(billing(portal))
    assert response.status_code == 403
    assert b"Your role does not allow this page." in response.content
    assert ">Billing</a>" not in nav(web.get(f"/portal/{portal.slug}/dashboard/").content)


def test_a_role_with_only_the_subscription_sees_neither_usage_nor_invoices(
    web, tenant, portal, subscribed, portal_login, rbac_seeded
):
    with tenant_context(tenant):
        role = Role.objects.create(
            tenant=tenant, code="viewer", name="Viewer", permissions=["billing.view_subscription"]
        )
        user = UserFactory()
        Membership.objects.create(user=user, tenant=tenant, role=role)
    portal.admitted_roles = [*portal.admitted_roles, "viewer"]
    portal.save(update_fields=["admitted_roles"])
    assert portal_login(user, portal).status_code == 302
    page = web.get(billing(portal)).content.decode()
    assert 'data-testid="plan-name">Free<' in page
    assert 'data-testid="usage"' not in page
    assert 'data-testid="invoices"' not in page
    assert "In use" not in page


def test_anonymous_visitors_go_to_the_login_page(portal, subscribed):
    browser = Client()
    for response in (
        browser.get(billing(portal)),
        browser.post(billing(portal, "plan/"), {"plan": "pro"}),
        browser.post(billing(portal, "checkout/"), {"plan": "pro"}),
        browser.post(billing(portal, "portal-link/")),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith(f"/portal/{portal.slug}/login/")
    assert plan_of(subscribed) == ("free", "active")


# --------------------------------------------------------------------------- the plan change


def test_the_owner_moves_to_pro_and_the_page_follows(web, portal, subscribed, signed_in):
    signed_in("owner")
    response = csrf_post(web, billing(portal, "plan/"), {"plan": "pro"})
    assert response.status_code == 302
    assert response["Location"] == billing(portal)
    assert plan_of(subscribed) == ("pro", "active")
    html = web.get(billing(portal)).content.decode()
    assert "Your organisation is now on the Pro plan." in html
    assert '<dd data-testid="plan-name">Pro</dd>' in html
    assert "25</td>" in html  # pro's seats
    assert '<option value="pro" selected>' in html


def test_a_trial_shows_the_days_left(web, portal, subscribed, signed_in):
    ends = timezone.now() + timedelta(days=5, minutes=-1)
    with tenant_context(subscribed):
        Subscription.objects.update(plan_code="pro", status="trialing", trial_ends_at=ends, current_period_end=ends)
    signed_in("owner")
    html = web.get(billing(portal)).content.decode()
    assert '<dd data-testid="plan-status">Trialing</dd>' in html
    assert 'data-testid="trial-days">5 days left (ends' in html


@pytest.mark.parametrize("data", [{"plan": "nope"}, {}, {"plan": ""}, {"plan": "x" * 5000}, {"plan": "pro\x00"}])
def test_odd_plan_values_are_a_form_error(web, portal, subscribed, signed_in, data):
    signed_in("owner")
    response = csrf_post(web, billing(portal, "plan/"), data)
    assert response.status_code == 400
    assert b'class="field has-error"' in response.content
    assert plan_of(subscribed) == ("free", "active")


def test_the_services_refusal_shows_on_the_form(web, portal, subscribed, signed_in):
    with tenant_context(subscribed):
        Subscription.objects.update(status="past_due")
    signed_in("owner")
    response = csrf_post(web, billing(portal, "plan/"), {"plan": "pro"})
    assert response.status_code == 409
    assert b"The subscription is past due" in response.content
    assert Tenant.objects.get(id=subscribed.id).plan_code == "free"


def test_the_plan_change_needs_the_csrf_token(web, portal, subscribed, signed_in):
    signed_in("owner")
    web.get(billing(portal))
    assert web.post(billing(portal, "plan/"), {"plan": "pro"}).status_code == 403
    assert web.post(billing(portal, "checkout/"), {"plan": "pro"}).status_code == 403
    assert web.post(billing(portal, "portal-link/")).status_code == 403
    assert web.get(billing(portal, "plan/")).status_code == 405
    assert plan_of(subscribed) == ("free", "active")


# --------------------------------------------------------------------------- usage


def test_usage_of_both_periods_is_charted_and_tabled(web, portal, subscribed, signed_in):
    now = timezone.now()
    with tenant_context(subscribed):
        usage_record(tenant=subscribed, metric="api_calls", quantity=1234, at=now)
        usage_record(tenant=subscribed, metric="api_calls", quantity=500, at=now - timedelta(days=3))
    signed_in("owner")
    html = web.get(billing(portal)).content.decode()
    assert 'aria-labelledby="usage-chart-title usage-chart-desc"' in html
    assert re.search(r'<rect class="chart-bar chart-series-current"[^>]*data-value="1234"><title>', html)
    assert re.search(r'<rect class="chart-bar chart-series-previous"[^>]*data-value="500"><title>', html)
    assert f"{now.day} {now:%b %Y}: 1,234 API calls" in html
    assert "500 in all. Current period" in html
    assert "1,234 so far." in html
    row = re.search(r'<tr data-metric="api_calls">(.*?)</tr>', html, re.S)
    assert row is not None
    assert re.findall(r"<td>(\d+)</td>", row.group(1)) == ["500", "1234"]
    assert "style=" not in html


# --------------------------------------------------------------------------- invoices


def test_invoices_page_by_cursor_newest_first(web, portal, subscribed, signed_in):
    make_invoices(subscribed, 25)
    signed_in("owner")
    first = web.get(billing(portal)).content.decode()
    assert first.count('data-testid="invoice-row"') == 20
    assert "49.00 USD" in first
    assert "Newest invoices" not in first
    cursor = first.split('rel="next" href="?cursor=')[1].split('"')[0]
    second = web.get(billing(portal), {"cursor": cursor}).content.decode()
    assert second.count('data-testid="invoice-row"') == 5
    assert "Older invoices" not in second
    assert "Newest invoices" in second
    assert "49.24 USD" in second  # the oldest, last
    assert "49.24 USD" not in first


def test_invoices_issued_at_the_same_moment_page_without_loss_or_repeat(web, portal, subscribed, signed_in):
    moment = timezone.now()
    with tenant_context(subscribed):
        Invoice.objects.bulk_create(
            Invoice(
                tenant=subscribed,
                plan_code="pro",
                period_start=moment - timedelta(days=31 * (n + 1)),
                period_end=moment - timedelta(days=31 * n),
                total_cents=10_000 + n,
                created_at=moment,
            )
            for n in range(45)
        )
    signed_in("owner")
    seen: list[str] = []
    query: dict[str, str] = {}
    for _ in range(5):
        html = web.get(billing(portal), query).content.decode()
        seen += re.findall(r"<td>(1\d\d\.\d\d USD)</td>", html)
        following = re.search(r'rel="next" href="\?cursor=([^"]+)"', html)
        if following is None:
            break
        query = {"cursor": following.group(1)}
    assert len(seen) == 45
    assert len(set(seen)) == 45


def test_another_tenants_invoices_never_show(web, portal, subscribed, other_tenant, signed_in):
    make_invoices(other_tenant, 3)
    signed_in("owner")
    assert "No invoices yet." in web.get(billing(portal)).content.decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "%%%",
        "x" * 500,
        "MjAyNS0wMS0wMXxub3QtYS11dWlk",  # "2025-01-01|not-a-uuid"
        "bm90IGEgZGF0ZXwx",  # "not a date|1"
        "\x00",
        "AAAA",
        "MDAwMS0wMS0wMVQwMDowMDowMCsxNDowMHwwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA",  # year 0 in UTC
        "OTk5OS0xMi0zMVQyMzo1OTo1OS0xNDowMHwwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA",  # year 10000 in UTC
    ],
)
def test_a_bad_cursor_is_the_404_page(web, portal, subscribed, signed_in, cursor):
    signed_in("owner")
    response = web.get(billing(portal), {"cursor": cursor})
    assert response.status_code == 404
    assert b"start from the newest" in response.content


def test_the_page_makes_the_same_queries_at_1_20_and_100_invoices(web, portal, subscribed, signed_in):
    signed_in("owner")
    counts = []
    made = 0
    for total in (1, 20, 100):
        make_invoices(subscribed, total - made, start=made)
        made = total
        web.get(billing(portal))  # warm
        with CaptureQueriesContext(connection) as queries:
            page = web.get(billing(portal))
        assert page.content.count(b'data-testid="invoice-row"') == min(total, 20)
        counts.append(len(queries))
    assert counts[0] == counts[1] == counts[2], counts


# --------------------------------------------------------------------------- Stripe


def test_with_stripe_the_owner_gets_a_checkout_that_redirects_to_stripe(
    web, portal, subscribed, signed_in, stripe_http
):
    signed_in("owner")
    html = web.get(billing(portal)).content.decode()
    assert "Upgrade with Stripe" in html
    assert "Change plan</button>" not in html
    assert "Manage billing" not in html  # no Stripe customer yet
    assert '<option value="free">' not in html.split("Upgrade with Stripe")[0].split("billing/checkout/")[1]
    response = csrf_post(web, billing(portal, "checkout/"), {"plan": "pro"})
    assert response.status_code == 303
    assert response["Location"] == CHECKOUT_URL
    (sent,) = stripe_http.sent("POST", "/v1/checkout/sessions")
    assert sent["client_reference_id"] == str(subscribed.id)
    assert sent["line_items[0][price]"] == "price_pro"
    assert sent["success_url"] == sent["cancel_url"] == f"http://testserver{billing(portal)}"
    assert plan_of(subscribed) == ("free", "active")  # until Stripe's webhook


def test_only_a_page_with_stripe_forms_lets_them_post_towards_stripe(
    web, portal, subscribed, signed_in, settings, monkeypatch
):
    signed_in("owner")
    offline = web.get(billing(portal))["Content-Security-Policy"]
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in offline.split(";")}
    assert directives["form-action"] == "form-action 'self'"  # wherever the directive stands in the header
    assert "stripe.com" not in offline
    use_fake_stripe(settings, monkeypatch)
    policy = web.get(billing(portal))["Content-Security-Policy"]
    assert "form-action 'self' https://checkout.stripe.com https://billing.stripe.com" in policy
    assert "stripe.com" not in web.get(f"/portal/{portal.slug}/dashboard/")["Content-Security-Policy"]


def test_with_a_stripe_customer_the_owner_can_manage_billing(web, portal, subscribed, signed_in, stripe_http):
    with tenant_context(subscribed):
        Subscription.objects.update(provider_customer_id="cus_9", provider_subscription_id="sub_9")
    signed_in("owner")
    html = web.get(billing(portal)).content.decode()
    assert "Manage billing" in html
    assert "Upgrade with Stripe" not in html  # already paying: the portal changes the plan
    response = csrf_post(web, billing(portal, "portal-link/"))
    assert response.status_code == 303
    assert response["Location"] == PORTAL_URL
    assert stripe_http.sent("POST", "/v1/billing_portal/sessions") == [
        {"customer": "cus_9", "return_url": f"http://testserver{billing(portal)}"}
    ]


def test_stripes_refusals_show_on_the_page(web, portal, subscribed, signed_in, stripe_http):
    signed_in("owner")
    response = csrf_post(web, billing(portal, "portal-link/"))
    assert response.status_code == 409
    assert b"subscribe with a checkout first" in response.content
    assert csrf_post(web, billing(portal, "checkout/"), {"plan": "free"}).status_code == 400
    stripe_http.answers[("GET", "/v1/prices")] = (200, {"object": "list", "url": "/v1/prices", "data": []})
    refused = csrf_post(web, billing(portal, "checkout/"), {"plan": "pro"})
    assert refused.status_code == 409
    assert b"Stripe has no active price" in refused.content
    assert stripe_http.sent("POST", "/v1/checkout/sessions") == []
