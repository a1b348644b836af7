"""Issue 11, acceptance: signing in to the portals of `seed_demo` in Chromium, as each demo user.

- each demo user sees the navigation their role allows (read from the pages'
  declared permissions and every app's grants, not copied here), and every
  linked page opens; a page outside the role is the 403 page;
- a member is refused `acme-admin` (403 page, no session there), the owner of
  globex cannot sign in to `acme`, and a sign-in to `acme` opens no other portal;
- repeated wrong passwords lock the sign-in, with the wait, and the right password is refused while locked;
- the landing, login, dashboard, 403 and 404 pages pass axe-core, are
  screenshotted (var/screenshots/), and the dashboard fits a phone's width.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.identity.rbac.catalogue import declared_catalogue
from apps.identity.selectors.portals import portal_feature_on, portal_get_public
from apps.portals.navigation import ENTRIES, SIGNED_IN, page_requirements
from tests.browser.support import assert_accessible, goto_status, nav_labels, sign_in, sign_out

pytestmark = pytest.mark.browser

ACME_ROLES = {"owner@acme.test": "owner", "admin@acme.test": "admin", "member@acme.test": "member"}


def login_url(slug: str) -> re.Pattern[str]:
    """The portal's login page, with or without `?next=`."""
    return re.compile(rf"/portal/{re.escape(slug)}/login/(\?.*)?$")


def expected_navigation(role: str) -> list[str]:
    """What the navigation must list for `role` in `acme`: each entry whose page's permission the role is
    granted and whose feature (if any) is on in the portal."""
    held = declared_catalogue().grants[role]
    portal = portal_get_public(slug="acme")
    labels = []
    for label, name in ENTRIES:
        permission, feature = page_requirements(name)
        if permission in (SIGNED_IN, *held) and (not feature or portal_feature_on(portal=portal, code=feature)):
            labels.append(label)
    return labels


@pytest.mark.parametrize("email", list(ACME_ROLES))
def test_each_demo_user_sees_the_navigation_of_their_role(page: Page, demo, email):
    role = ACME_ROLES[email]
    sign_in(page, "acme", email, demo.password)
    expect(page).to_have_url(re.compile(r"/portal/acme/dashboard/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Customer Portal")
    expect(page.get_by_test_id("user-email")).to_have_text(email)

    labels = nav_labels(page)
    assert labels == expected_navigation(role)
    # What issue 11 says in words, whatever ENTRIES and the grants become.
    assert "Members" in labels
    assert ("Invitations" in labels) is (role in ("owner", "admin"))

    # Every linked page opens for this role (and passes axe-core); the member's missing page is the 403 page.
    links = page.get_by_role("navigation", name="Main").get_by_role("link")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    for href in hrefs:
        assert goto_status(page, str(href)) == 200, href
        assert nav_labels(page) == labels
        assert_accessible(page)
    if "Invitations" not in labels:
        assert goto_status(page, "/portal/acme/members/invitations/") == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
        assert_accessible(page)


def test_a_member_is_refused_the_staff_portal_and_gets_no_session_there(page: Page, demo, screenshot):
    sign_in(page, "acme-admin", "member@acme.test", demo.password)
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_text("Error 403")).to_be_visible()
    assert nav_labels(page) == []
    assert_accessible(page)
    screenshot(page, "403")

    page.goto("/portal/acme-admin/dashboard/")
    expect(page).to_have_url(login_url("acme-admin"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    # Nor did the refusal sign the member in to the customer portal of the same tenant.
    page.goto("/portal/acme/dashboard/")
    expect(page).to_have_url(login_url("acme"))


def test_the_owner_of_another_tenant_cannot_sign_in_to_acme(page: Page, demo):
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        sign_in(page, "acme", "owner@globex.test", demo.password)
    # The right password of someone with no membership in acme's tenant: the 403 page, no session.
    assert answer.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_test_id("user-email")).to_have_count(0)
    page.goto("/portal/acme/dashboard/")
    expect(page).to_have_url(login_url("acme"))
    # Their own portal lets them in.
    sign_in(page, "globex", "owner@globex.test", demo.password)
    expect(page).to_have_url(re.compile(r"/portal/globex/dashboard/$"))
    expect(page.get_by_test_id("user-email")).to_have_text("owner@globex.test")


def test_signing_in_to_acme_does_not_open_acme_admin(page: Page, demo):
    sign_in(page, "acme", "owner@acme.test", demo.password)
    expect(page.get_by_test_id("user-email")).to_have_text("owner@acme.test")

    page.goto("/portal/acme-admin/dashboard/")
    expect(page).to_have_url(login_url("acme-admin"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Acme Staff Portal")
    # Still signed in where they signed in; and signing in to acme-admin too is its own sign-in.
    page.goto("/portal/acme/dashboard/")
    expect(page.get_by_test_id("user-email")).to_have_text("owner@acme.test")
    sign_in(page, "acme-admin", "owner@acme.test", demo.password)
    expect(page).to_have_url(re.compile(r"/portal/acme-admin/dashboard/$"))
    # Signing out of one leaves the other signed in.
    sign_out(page)
    expect(page).to_have_url(login_url("acme-admin"))
    page.goto("/portal/acme/dashboard/")
    expect(page.get_by_test_id("user-email")).to_have_text("owner@acme.test")


def test_repeated_wrong_passwords_lock_the_sign_in_with_the_wait(page: Page, demo):
    email = "admin@acme.test"
    for attempt in range(1, 11):
        sign_in(page, "acme", email, f"wrong password number {attempt}")
        if page.get_by_text("Try again in").count():
            break
        expect(page.get_by_role("alert")).to_be_visible()  # the wrong-credentials error, next to the form
    else:
        pytest.fail("ten wrong passwords in a row and no lockout message")
    assert attempt > 1, "locked at the first wrong password"
    expect(page.get_by_role("alert")).to_contain_text(re.compile(r"Try again in \d+ (second|minute)s?"))
    assert_accessible(page)

    # While locked, the right password is refused with the same wait.
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        sign_in(page, "acme", email, demo.password)
    assert answer.value.status == 429
    expect(page).to_have_url(login_url("acme"))
    expect(page.get_by_role("alert")).to_contain_text("Try again in")
    page.goto("/portal/acme/dashboard/")
    expect(page).to_have_url(login_url("acme"))


def test_landing_login_dashboard_and_404_pages_screenshots_and_accessibility(page: Page, demo, screenshot):
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to Atrium")
    assert_accessible(page)
    screenshot(page, "landing")

    # The landing page's form takes the visitor to their portal's login page.
    page.get_by_label("Portal address").fill("acme")
    with page.expect_navigation():
        page.get_by_role("button", name="Go to your portal").click()
    expect(page).to_have_url(login_url("acme"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Acme Customer Portal")
    assert_accessible(page)
    screenshot(page, "login")

    # A wrong password: the error next to the form, still accessible.
    sign_in(page, "acme", "owner@acme.test", "not the password at all")
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page)

    sign_in(page, "acme", "owner@acme.test", demo.password)
    expect(page.get_by_test_id("user-email")).to_have_text("owner@acme.test")
    assert_accessible(page)
    screenshot(page, "dashboard")

    assert goto_status(page, "/portal/no-such-portal/login/") == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    assert_accessible(page)
    screenshot(page, "404")


def test_the_dashboard_fits_a_phone_width(page: Page, demo, screenshot):
    sign_in(page, "acme", "owner@acme.test", demo.password)
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto("/portal/acme/dashboard/")
    expect(page.get_by_test_id("user-email")).to_be_visible()
    screenshot(page, "phone")
    # The dashboard, and every other page of the owner's navigation (the widest: tables of members, sessions).
    links = page.get_by_role("navigation", name="Main").get_by_role("link")
    hrefs = [str(links.nth(i).get_attribute("href")) for i in range(links.count())]
    assert hrefs[0] == "/portal/acme/dashboard/"
    for href in hrefs:
        page.goto(href)
        scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll_width <= inner_width, f"{href} scrolls sideways at 375px: {scroll_width} > {inner_width}"
