"""Issue 11, acceptance: a browser session revoked elsewhere ends at that browser's next page.

Two browsers (contexts with their own cookies) signed in as the same user:
the second signs the first out from its security page; or the user ends the
first browser's session through the API with a bearer token. Either way the
first browser's next page is the login page. The profile page, reachable in
these flows, passes axe-core too.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.support import assert_accessible, sign_in

pytestmark = pytest.mark.browser

API = "/api/v1/identity"
EMAIL = "member@acme.test"
LOGIN_AFTER_END = re.compile(r"/portal/acme/login/\?next=")


def this_browsers_session(page: Page) -> str:
    """The id of the browser's own session, as its security page marks it."""
    page.goto("/portal/acme/security/")
    row = page.locator('[data-testid="session-row"][data-current="true"]')
    expect(row).to_have_count(1)
    return str(row.get_attribute("data-session"))


def expect_signed_in(page: Page) -> None:
    page.goto("/portal/acme/dashboard/")
    expect(page.get_by_test_id("user-email")).to_have_text(EMAIL)


def expect_signed_out(page: Page) -> None:
    page.goto("/portal/acme/dashboard/")
    expect(page).to_have_url(LOGIN_AFTER_END)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Your session has ended")


def test_revoking_a_browser_session_from_another_browser_signs_it_out(page: Page, demo, new_context):
    sign_in(page, "acme", EMAIL, demo.password)
    first = this_browsers_session(page)

    other = new_context().new_page()
    sign_in(other, "acme", EMAIL, demo.password)
    assert this_browsers_session(other) != first
    assert_accessible(other)
    row = other.locator(f'[data-testid="session-row"][data-session="{first}"]')
    expect(row).to_contain_text("Browser")
    with other.expect_navigation():
        row.get_by_role("link", name="Sign out this session").click()
    expect(other.get_by_role("heading", level=1)).to_have_text("Sign out a session")
    assert_accessible(other)
    with other.expect_navigation():
        other.get_by_role("button", name="Sign out this session").click()
    expect(other.get_by_role("status")).to_contain_text("Session signed out")
    expect(other.locator(f'[data-testid="session-row"][data-session="{first}"]')).to_have_count(0)

    expect_signed_out(page)
    assert_accessible(page)
    # The browser that revoked it is still signed in, and its profile page works.
    other.goto("/portal/acme/profile/")
    expect(other.get_by_test_id("user-email")).to_have_text(EMAIL)
    assert_accessible(other)


def test_revoking_a_browser_session_through_the_api_signs_it_out(page: Page, demo, new_context):
    sign_in(page, "acme", EMAIL, demo.password)
    first = this_browsers_session(page)

    api = new_context().request
    login = api.post(f"{API}/auth/login/", data={"email": EMAIL, "password": demo.password, "portal": "acme"})
    assert login.status == 200, login.text()
    bearer = {"Authorization": f"Bearer {login.json()['access']}"}
    listed = api.get(f"{API}/auth/sessions/", headers=bearer)
    assert listed.status == 200, listed.text()
    assert first in {str(s["id"]) for s in listed.json()["results"]}, listed.text()

    expect_signed_in(page)
    deleted = api.delete(f"{API}/auth/sessions/{first}/", headers=bearer)
    assert deleted.status == 204, deleted.text()

    expect_signed_out(page)
