"""Billing in a browser: the usage chart draws what the usage service recorded, and an owner's plan change
changes what the navigation offers (a page of a feature only the new plan has appears, and goes again).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.billing.catalogue import DEFAULT_BY_CODE, FREE, PRO
from apps.billing.services import checkout
from apps.billing.services.usage import usage_record
from apps.billing.tests.stripe_support import use_fake_stripe
from apps.common.tenancy import tenant_context
from apps.portals.navigation import ENTRIES, page_requirements
from tests.browser.support import assert_accessible, goto_status, nav_labels, sign_in

pytestmark = pytest.mark.browser

BILLING = "/portal/acme/billing/"


def test_the_chart_shows_the_usage_recorded_in_both_periods(page: Page, demo, screenshot):
    acme = demo.tenants["acme"]
    now = timezone.now()
    with tenant_context(acme):
        usage_record(tenant=acme, metric="api_calls", quantity=1234, at=now)
        usage_record(tenant=acme, metric="api_calls", quantity=321, at=now - timedelta(days=2))
    sign_in(page, "acme", "owner@acme.test", demo.password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Billing").click()
    expect(page).to_have_url(re.compile(r"/portal/acme/billing/$"))
    expect(page.get_by_test_id("plan-name")).to_have_text("Free")

    chart = page.get_by_role("img", name="API calls per day, previous and current period")
    expect(chart).to_be_visible()
    today = chart.locator('rect.chart-series-current[data-value="1234"]')
    expect(today).to_have_count(1)
    expect(today.locator("title")).to_have_text(f"{now.day} {now:%b %Y}: 1,234 API calls")
    assert float(today.get_attribute("height") or 0) > 0
    expect(chart.locator('rect.chart-series-previous[data-value="321"]')).to_have_count(1)
    expect(chart.locator("desc")).to_contain_text("321 in all")
    expect(chart.locator("desc")).to_contain_text("1,234 so far")
    # Styled by portal.css, not by attributes: the current period's bars take the portal's colour.
    assert today.evaluate("el => getComputedStyle(el).fill") not in ("", "none", "rgb(0, 0, 0)")
    row = page.get_by_test_id("usage-table").locator('tr[data-metric="api_calls"]')
    expect(row.locator("td")).to_have_text(["321", "1234"])
    assert_accessible(page)
    screenshot(page, "usage-chart")


def feature_page_of_pro_only() -> tuple[str, str, str]:
    """(label, URL name, feature) of the first navigation entry whose feature `pro` grants and `free` does not."""
    pro, free = set(DEFAULT_BY_CODE[PRO]["features"]), set(DEFAULT_BY_CODE[FREE]["features"])
    for label, name in ENTRIES:
        feature = page_requirements(name)[1]
        if feature and feature in pro and feature not in free:
            return label, name, feature
    pytest.fail(f"No navigation entry belongs to a feature of pro that free lacks ({sorted(pro - free)}).")


def change_plan(page: Page, code: str) -> None:
    page.goto(BILLING)
    plan_name = DEFAULT_BY_CODE[code]["name"]
    field = page.get_by_label("Plan", exact=True)
    field.select_option(label=field.locator("option", has_text=re.compile(rf"^{plan_name} \(")).inner_text())
    with page.expect_navigation():
        page.get_by_role("button", name="Change plan").click()
    expect(page.get_by_role("status")).to_contain_text(f"now on the {plan_name} plan")
    expect(page.get_by_test_id("plan-name")).to_have_text(plan_name)


def test_the_owners_plan_change_changes_the_navigation(page: Page, demo):
    label, name, feature = feature_page_of_pro_only()
    url = reverse(f"portals:{name}", kwargs={"slug": "acme"})
    sign_in(page, "acme", "owner@acme.test", demo.password)
    assert label not in nav_labels(page), f"acme is on free: {label} ({feature}) must not be offered"
    assert goto_status(page, url) == 403

    change_plan(page, PRO)
    assert label in nav_labels(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name=label, exact=True).click()
    expect(page).to_have_url(re.compile(re.escape(url) + "$"))
    assert goto_status(page, url) == 200
    assert_accessible(page)

    change_plan(page, FREE)
    assert label not in nav_labels(page)
    assert goto_status(page, url) == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    assert_accessible(page)


def test_upgrade_with_stripe_takes_the_browser_to_stripe_within_the_csp(
    page: Page, demo, live_server, settings, monkeypatch
):
    """The checkout form's answer is a 303 to another origin: the page's CSP `form-action` must let it through.

    Stripe is faked at its HTTP client and its "hosted page" is this server under another origin (127.0.0.1
    for localhost), listed as Stripe's origin for the test: the browser must arrive there.
    """
    stripe_http = use_fake_stripe(settings, monkeypatch)
    elsewhere = live_server.url.replace("localhost", "127.0.0.1") if "localhost" in live_server.url else None
    if elsewhere is None:
        elsewhere = live_server.url.replace("127.0.0.1", "localhost")
    monkeypatch.setattr(checkout, "STRIPE_HOSTED_ORIGINS", (elsewhere,))
    hosted = f"{elsewhere}/healthz"
    stripe_http.answers[("POST", "/v1/checkout/sessions")] = (
        200,
        {"id": "cs_1", "object": "checkout.session", "url": hosted},
    )
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)

    sign_in(page, "acme", "owner@acme.test", demo.password)
    page.goto(BILLING)
    expect(page.get_by_role("button", name="Change plan")).to_have_count(0)
    assert_accessible(page)
    page.get_by_label("Plan", exact=True).select_option("pro")
    with page.expect_navigation(url=hosted):
        page.get_by_role("button", name="Upgrade with Stripe").click()
    assert [p for p in problems if "Content Security Policy" in p] == []
    (sent,) = stripe_http.sent("POST", "/v1/checkout/sessions")
    assert sent["client_reference_id"] == str(demo.tenants["acme"].id)
    assert sent["success_url"] == f"{live_server.url}{BILLING}"
