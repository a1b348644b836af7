"""Onboarding in a browser: marking a step done moves the progress on the checklist and on the dashboard,
the page's script records the views through the portal's analytics route (within the CSP), and the same
form works without JavaScript.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.common.tenancy import tenant_context
from apps.flows.models import AnalyticsEvent
from tests.browser.support import assert_accessible, nav_labels, sign_in

pytestmark = pytest.mark.browser

ANALYTICS = re.compile(r"/portal/acme/analytics/$")


def progress(page: Page) -> str:
    return page.get_by_test_id("onboarding-progress").inner_text()


def test_marking_a_step_done_moves_the_progress_here_and_on_the_dashboard(page: Page, demo, screenshot):
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    sign_in(page, "acme", "member@acme.test", demo.password)
    expect(page).to_have_url(re.compile(r"/portal/acme/dashboard/$"))
    card = page.get_by_test_id("dashboard-onboarding")
    expect(card.get_by_test_id("onboarding-progress")).to_have_text("0 of 3 done")
    assert "Onboarding" in nav_labels(page)

    # The checklist page: its script sends `page_view` and `onboarding_step_viewed` (the first open step).
    with page.expect_response(lambda r: bool(ANALYTICS.search(r.url)) and r.status == 204):
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Onboarding").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Getting started")
    expect(page.get_by_test_id("step")).to_have_count(3)
    assert progress(page) == "0 of 3 done"
    assert page.locator("progress").get_attribute("value") == "0"
    assert_accessible(page)

    with page.expect_navigation():
        page.get_by_role("button", name="Mark done: Turn on two-factor authentication").click()
    expect(page.get_by_test_id("onboarding-progress")).to_have_text("1 of 3 done")
    assert page.locator("progress").get_attribute("value") == "1"
    expect(page.get_by_role("status")).to_contain_text("Done: Turn on two-factor authentication.")
    done = page.locator('[data-step="secure_account"]')
    expect(done.get_by_role("button")).to_have_count(0)
    expect(done).to_contain_text("Done")
    expect(page.get_by_role("button", name=re.compile(r"^Mark done"))).to_have_count(2)
    assert_accessible(page)
    screenshot(page, "checklist")

    page.goto("/portal/acme/dashboard/")
    expect(page.get_by_test_id("dashboard-onboarding").get_by_test_id("onboarding-progress")).to_have_text(
        "1 of 3 done"
    )
    assert_accessible(page)
    page.get_by_role("link", name="Continue with your onboarding checklist").click()
    expect(page).to_have_url(re.compile(r"/portal/acme/onboarding/$"))
    expect(page.get_by_test_id("onboarding-progress")).to_have_text("1 of 3 done")
    page.wait_for_load_state("networkidle")

    assert [p for p in problems if "Content Security Policy" in p] == []
    with tenant_context(demo.tenants["acme"]):
        viewed = list(
            AnalyticsEvent.objects.filter(event="onboarding_step_viewed").values_list("properties", flat=True)
        )
        assert AnalyticsEvent.objects.filter(event="page_view", portal="acme").exists()
    assert {"flow": "onboarding", "step": "complete_profile"} in viewed


def test_mark_done_works_without_javascript(browser, live_server, demo):
    context = browser.new_context(java_script_enabled=False, base_url=live_server.url)
    try:
        page = context.new_page()
        sign_in(page, "acme", "admin@acme.test", demo.password)
        page.goto("/portal/acme/onboarding/")
        with page.expect_navigation():
            page.get_by_role("button", name="Mark done: Complete your profile").click()
        expect(page).to_have_url(re.compile(r"/portal/acme/onboarding/$"))
        expect(page.get_by_test_id("onboarding-progress")).to_have_text("1 of 3 done")
    finally:
        context.close()
