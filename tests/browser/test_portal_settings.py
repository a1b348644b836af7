"""Portal UI part 2, acceptance: the portal settings page and the roles pages in a real browser.

- An owner switches a page's feature flag off on the settings page: the page leaves the navigation
  and is the 403 page. The flag is picked from the navigation's own declarations
  (`navigation.ENTRIES` / `page_requirements`), so the test follows whatever feature pages exist.
- The theme preview follows the colour input live (theme-preview.js, CSSOM custom properties, no CSP
  violation), shows the saved colour without JavaScript, and the saved colour is the portal's after save.
- Every new page passes axe-core: settings (also with errors), roles list, create, edit, delete.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.billing.services.plans import plan_seed
from apps.billing.services.subscriptions import subscription_change
from apps.common.tenancy import tenant_context
from apps.identity import plugs
from apps.identity.models import Role, Tenant
from apps.portals.navigation import ENTRIES, page_requirements
from tests.browser.support import assert_accessible, goto_status, nav_labels, sign_in

pytestmark = pytest.mark.browser

OWNER = "owner@acme.test"
SETTINGS = "/portal/acme/settings/"
ROLES = "/portal/acme/roles/"


def csp_errors(page: Page) -> list[str]:
    """Console errors about the Content Security Policy, collected from now on."""
    found: list[str] = []
    page.on(
        "console",
        lambda msg: found.append(msg.text) if msg.type == "error" and "Content Security Policy" in msg.text else None,
    )
    return found


def move_to(demo, plan: str) -> Tenant:
    tenant = demo.tenants["acme"]
    plan_seed()
    with tenant_context(tenant):
        subscription_change(tenant=tenant, actor=demo.users[OWNER], plan=plan)
    return Tenant.objects.get(id=tenant.id)


def feature_page(demo) -> tuple[str, str, str]:
    """(label, URL name, feature) of the first navigation page that declares a feature in acme's plan.

    On the free plan that is whichever of the feature pages exist (onboarding, files, ...); should
    none be in the plan, acme moves to pro, whose "custom_roles" the roles page declares.
    """
    pages = [(label, name, page_requirements(name)[1]) for label, name in ENTRIES if page_requirements(name)[1]]
    assert pages, "no page of the navigation declares a feature"
    tenant = Tenant.objects.get(id=demo.tenants["acme"].id)
    in_plan = [entry for entry in pages if plugs.has_feature(tenant, entry[2])]
    if not in_plan:
        tenant = move_to(demo, "pro")
        in_plan = [entry for entry in pages if plugs.has_feature(tenant, entry[2])]
    return in_plan[0]


def background(page: Page, test_id: str) -> str:
    return str(page.get_by_test_id(test_id).evaluate("el => getComputedStyle(el).backgroundColor"))


def topbar_background(page: Page) -> str:
    return str(page.locator("header.topbar").evaluate("el => getComputedStyle(el).backgroundColor"))


def save(page: Page) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Save settings").click()


# --------------------------------------------------------------------------- feature flags


def test_an_owner_switches_a_feature_off_and_its_page_leaves_the_navigation_and_is_403(page: Page, demo):
    label, name, feature = feature_page(demo)
    violations = csp_errors(page)
    sign_in(page, "acme", OWNER, demo.password)
    page.goto(SETTINGS)
    expect(page.get_by_role("heading", level=1)).to_have_text("Portal settings")
    assert label in nav_labels(page)
    assert "Settings" in nav_labels(page)
    assert_accessible(page)

    flag = page.get_by_label(re.compile(rf"\({re.escape(feature)}\)$"))
    expect(flag).to_be_checked()
    flag.uncheck()
    save(page)
    expect(page.get_by_role("status")).to_contain_text("Portal settings saved.")
    expect(page.get_by_label(re.compile(rf"\({re.escape(feature)}\)$"))).not_to_be_checked()
    assert label not in nav_labels(page)
    page_path = f"/portal/acme/{name}/"
    assert goto_status(page, page_path) == 403
    expect(page.get_by_text("This page is not part of this portal")).to_be_visible()
    assert violations == []


# --------------------------------------------------------------------------- the theme


def test_the_theme_preview_follows_the_colour_live_and_the_saved_colour_applies(page: Page, demo):
    violations = csp_errors(page)
    sign_in(page, "acme", OWNER, demo.password)
    page.goto(SETTINGS)
    saved = "rgb(59, 91, 219)"  # acme's #3b5bdb
    assert background(page, "theme-preview-bar") == saved
    assert topbar_background(page) == saved

    page.get_by_label("Primary colour").fill("#aa3300")
    expect(page.get_by_test_id("theme-preview-bar")).to_have_css("background-color", "rgb(170, 51, 0)")
    expect(page.get_by_test_id("theme-preview-button")).to_have_css("background-color", "rgb(170, 51, 0)")
    assert topbar_background(page) == saved, "only the preview changes before saving"
    page.get_by_label("Primary colour").fill("#f5f0a0")  # a light colour: the preview's text turns dark
    expect(page.get_by_test_id("theme-preview-bar")).to_have_css("color", "rgb(17, 17, 17)")
    assert_accessible(page)

    page.get_by_label("Primary colour").fill("#aa3300")
    save(page)
    expect(page.get_by_role("status")).to_contain_text("Portal settings saved.")
    expect(page.locator("header.topbar")).to_have_css("background-color", "rgb(170, 51, 0)")
    assert background(page, "theme-preview-bar") == "rgb(170, 51, 0)"
    assert page.get_by_label("Primary colour").input_value() == "#aa3300"
    assert violations == []


def test_without_javascript_the_preview_shows_the_saved_colour_and_the_form_still_saves(browser, live_server, demo):
    context = browser.new_context(java_script_enabled=False, base_url=live_server.url)
    try:
        page = context.new_page()
        sign_in(page, "acme", OWNER, demo.password)
        page.goto(SETTINGS)
        assert background(page, "theme-preview-bar") == "rgb(59, 91, 219)"
        page.get_by_label("Portal name").fill("Acme Customers")
        save(page)
        expect(page.get_by_role("status")).to_contain_text("Portal settings saved.")
        expect(page.get_by_label("Portal name")).to_have_value("Acme Customers")
    finally:
        context.close()


def test_field_errors_show_beside_their_fields_and_pass_axe(page: Page, demo):
    sign_in(page, "acme", OWNER, demo.password)
    page.goto(SETTINGS)
    page.get_by_label("Portal name").fill("")
    page.get_by_label("Logo URL").fill("http://insecure.example.test/logo.png")
    for role in ("Owner", "Admin", "Member"):
        page.get_by_role("group", name="Who may sign in here").get_by_label(role, exact=True).uncheck()
    save(page)
    expect(page.get_by_test_id("settings-errors")).to_be_visible()
    expect(page.locator("#id_name_error")).to_have_text("A portal needs a name.")
    expect(page.locator("#id_logo_url_error")).to_contain_text("Use an https:// URL")
    expect(page.locator("#id_admitted_roles_error")).to_have_text("Admit at least one role.")
    assert_accessible(page)


# --------------------------------------------------------------------------- the roles pages


def test_an_owner_creates_edits_and_deletes_a_role_on_accessible_pages(page: Page, demo):
    tenant = move_to(demo, "pro")
    violations = csp_errors(page)
    sign_in(page, "acme", OWNER, demo.password)
    page.goto(ROLES)
    expect(page.get_by_role("heading", level=1)).to_have_text("Roles")
    assert "Roles" in nav_labels(page)
    expect(page.get_by_test_id("role-row")).to_have_count(3)
    assert_accessible(page)

    page.get_by_role("link", name="Create a role").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create a role")
    assert_accessible(page)
    page.get_by_label("Code").fill("admin")  # reserved: the service says so beside the field
    page.get_by_label("Name", exact=True).fill("Support desk")
    page.get_by_label(re.compile(r"See the tenant's members")).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Create role").click()
    expect(page.locator("#id_code_error")).to_contain_text("reserved for a system role. Choose another code.")
    assert_accessible(page)
    page.get_by_label("Code").fill("support")
    with page.expect_navigation():
        page.get_by_role("button", name="Create role").click()
    expect(page.get_by_role("status")).to_contain_text("Role created: Support desk (support).")
    expect(page.locator('[data-role="support"]')).to_contain_text("See the tenant's members")

    page.get_by_role("link", name="Edit Support desk").click()
    assert_accessible(page)
    page.get_by_label(re.compile(r"See the tenant's roles and their permissions")).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Save role").click()
    expect(page.locator('[data-role="support"]')).to_contain_text("identity.view_role")

    page.get_by_role("link", name="Delete Support desk").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete a role")
    assert_accessible(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Delete Support desk").click()
    expect(page.get_by_role("status")).to_contain_text("Role deleted: Support desk (support).")
    expect(page.locator('[data-role="support"]')).to_have_count(0)
    with tenant_context(tenant):
        assert not Role.objects.filter(tenant=tenant, code="support").exists()
    assert violations == []


def test_a_member_sees_the_roles_but_not_the_settings(page: Page, demo):
    move_to(demo, "pro")
    sign_in(page, "acme", "member@acme.test", demo.password)
    page.goto(ROLES)
    expect(page.get_by_test_id("role-row")).to_have_count(3)
    expect(page.get_by_role("link", name="Create a role")).to_have_count(0)
    assert "Settings" not in nav_labels(page)
    assert goto_status(page, SETTINGS) == 403
    assert goto_status(page, ROLES + "new/") == 403
    assert_accessible(page)
