"""htmx on portal pages: a partial update where it helps, from our own static files, within the CSP.

The members list pages with htmx (only the list is swapped, the address follows), and
the same links work as plain links without JavaScript.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.identity.tests.factories import UserFactory, make_membership
from tests.browser.support import sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def crowded_acme(demo):
    """Enough members in acme for a second page of the members list."""
    tenant = demo.tenants["acme"]
    for i in range(25):
        make_membership(user=UserFactory(email=f"crowd{i:02d}@acme.test"), tenant=tenant)
    return tenant


def test_members_pages_swap_only_the_list_and_break_no_csp(page: Page, demo, crowded_acme):
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    sign_in(page, "acme", "owner@acme.test", demo.password)
    page.goto("/portal/acme/members/")
    first = page.get_by_test_id("member-row").first.inner_text()
    page.evaluate("window.__notReloaded = true")

    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_url(re.compile(r"/portal/acme/members/\?page=2$"))
    expect(page.get_by_role("link", name="Previous page")).to_be_visible()
    assert page.get_by_test_id("member-row").first.inner_text() != first
    assert page.evaluate("window.__notReloaded === true"), "htmx swapped the list instead of loading a page"
    assert page.locator("#members-list").count() == 1
    assert [p for p in problems if "Content Security Policy" in p] == []


def test_the_same_links_work_without_javascript(browser, live_server, demo, crowded_acme):
    context = browser.new_context(java_script_enabled=False, base_url=live_server.url)
    try:
        page = context.new_page()
        sign_in(page, "acme", "owner@acme.test", demo.password)
        page.goto("/portal/acme/members/")
        page.get_by_role("link", name="Next page").click()
        expect(page).to_have_url(re.compile(r"/portal/acme/members/\?page=2$"))
        expect(page.get_by_role("link", name="Previous page")).to_be_visible()
    finally:
        context.close()
