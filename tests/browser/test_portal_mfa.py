"""Issue 11, acceptance: two-factor sign-in in Chromium, codes computed from the secret the page shows.

- enrolment on the security page (QR code and key, the first code, the ten
  backup codes shown once), sign-out, sign-in with a TOTP code, sign-out,
  sign-in with a backup code, and the same backup code refused a second time;
- forced enrolment at sign-in on a portal that requires MFA, ending on the backup codes page.

Each page on the way passes axe-core; the security page is screenshotted.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.support import assert_accessible, enter_code, sign_in, sign_out, totp_code

pytestmark = pytest.mark.browser

DASHBOARD = re.compile(r"/dashboard/$")


def click(page: Page, name: str, *, role: str = "button") -> None:
    with page.expect_navigation():
        page.get_by_role(role, name=name, exact=True).click()  # type: ignore[arg-type]


def backup_codes(page: Page) -> list[str]:
    codes = [c.strip() for c in page.get_by_test_id("backup-codes").locator("code").all_inner_texts()]
    assert len(codes) == 10, codes
    assert len(set(codes)) == 10, codes
    return codes


def test_enrol_on_the_security_page_then_sign_in_with_a_code_and_a_backup_code_once(page: Page, demo, screenshot):
    email = "owner@acme.test"
    sign_in(page, "acme", email, demo.password)
    click(page, "Security", role="link")
    expect(page.get_by_test_id("mfa-status")).to_contain_text("off")
    assert_accessible(page)
    screenshot(page, "security")

    click(page, "Set up two-factor sign-in")
    expect(page.get_by_role("img").or_(page.locator("figure.qr svg")).first).to_be_visible()  # the QR code
    secret = page.get_by_test_id("totp-secret").inner_text()
    assert re.fullmatch(r"[A-Z2-7 =-]{16,}", secret), secret
    assert_accessible(page)

    # A wrong code first: the error next to the field, two-factor still off.
    page.get_by_label("Code", exact=True).fill("000000" if totp_code(secret) != "000000" else "111111")
    click(page, "Turn on two-factor sign-in")
    expect(page.locator(".field-error")).to_be_visible()
    assert_accessible(page)

    page.get_by_label("Code", exact=True).fill(totp_code(secret))
    click(page, "Turn on two-factor sign-in")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your backup codes")
    expect(page.get_by_role("status")).to_contain_text("Two-factor enabled")
    codes = backup_codes(page)
    assert_accessible(page)
    click(page, "Done", role="link")
    expect(page.get_by_test_id("mfa-status")).to_contain_text("on")
    expect(page.get_by_test_id("mfa-status")).to_contain_text("Backup codes left: 10")
    screenshot(page, "security-mfa-on")

    # Sign out; the password alone now leads to the code step; a TOTP code (the next step's) signs in.
    sign_out(page)
    sign_in(page, "acme", email, demo.password)
    expect(page).to_have_url(re.compile(r"/portal/acme/login/code/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-factor sign-in")
    assert_accessible(page)
    enter_code(page, totp_code(secret, steps_ahead=1))
    expect(page).to_have_url(DASHBOARD)
    expect(page.get_by_test_id("user-email")).to_have_text(email)

    # Sign out; a backup code signs in, once.
    sign_out(page)
    sign_in(page, "acme", email, demo.password, code=codes[0])
    expect(page).to_have_url(DASHBOARD)
    expect(page.get_by_test_id("user-email")).to_have_text(email)
    page.goto("/portal/acme/security/")
    expect(page.get_by_test_id("mfa-status")).to_contain_text("Backup codes left: 9")

    sign_out(page)
    sign_in(page, "acme", email, demo.password, code=codes[0])
    expect(page).to_have_url(re.compile(r"/portal/acme/login/code/$"))
    expect(page.locator(".field-error")).to_be_visible()
    expect(page.get_by_test_id("user-email")).to_have_count(0)
    assert_accessible(page)
    page.goto("/portal/acme/dashboard/")
    expect(page).to_have_url(re.compile(r"/portal/acme/login/\?next="))


def test_a_portal_that_requires_mfa_enrols_at_sign_in_and_shows_the_backup_codes(page: Page, demo):
    portal = demo.portals["acme-admin"]
    portal.mfa_required = True
    portal.save(update_fields=["mfa_required"])
    email = "admin@acme.test"

    sign_in(page, "acme-admin", email, demo.password)
    expect(page).to_have_url(re.compile(r"/portal/acme-admin/login/enrol/$"))
    secret = page.get_by_test_id("totp-secret").inner_text()
    assert_accessible(page)
    enter_code(page, totp_code(secret))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your backup codes")
    backup_codes(page)
    assert_accessible(page)
    click(page, "Continue", role="link")
    expect(page).to_have_url(re.compile(r"/portal/acme-admin/dashboard/$"))
    expect(page.get_by_test_id("user-email")).to_have_text(email)
