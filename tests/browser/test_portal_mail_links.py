"""Issue 11, acceptance: every link Atrium mails, followed in Chromium from a real mail (aiosmtpd), then a sign-in.

- an admin invites a new address on the invitations page; the invited person
  opens the mail's link in their own browser, chooses a name and a password,
  is signed in, and later signs in with that password;
- someone signs up on a portal whose policy is "open", follows the
  verification mail, presses **Confirm my address**, and signs in;
- "Forgot your password?" on the login page, the mail, a new password, a sign-in with it;
- `create_tenant` mails the new owner a set-password link; they set it and sign in.

Each page on the way passes axe-core.
"""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from tests.browser.support import assert_accessible, goto_status, nav_labels, sign_in, sign_out

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a brand new browser passphrase 31"


def click(page: Page, name: str, *, role: str = "button") -> None:
    """Click the button (or link) `name` and wait for the page it leads to."""
    with page.expect_navigation():
        page.get_by_role(role, name=name, exact=True).click()  # type: ignore[arg-type]


def expect_dashboard(page: Page, slug: str, email: str) -> None:
    expect(page).to_have_url(re.compile(rf"/portal/{re.escape(slug)}/dashboard/$"))
    expect(page.get_by_test_id("user-email")).to_have_text(email)


def test_an_invitation_from_the_invitations_page_is_accepted_by_a_new_person(page: Page, demo, mailbox, new_context):
    invited = "newcomer@example.test"
    sign_in(page, "acme", "admin@acme.test", demo.password)
    click(page, "Invitations", role="link")
    assert_accessible(page)
    page.get_by_label("Email", exact=True).fill(invited)
    page.get_by_label("Role", exact=True).select_option("member")
    click(page, "Send invitation")
    expect(page.get_by_role("status")).to_contain_text(f"Invitation sent to {invited}")
    expect(page.get_by_test_id("invitation-row").filter(has_text=invited)).to_have_count(1)
    assert_accessible(page)

    # The invited person, in a browser of their own, opens the link of the mail.
    link = mailbox.link_to(invited)
    assert "/portal/acme/invitations/accept/?token=" in link, link
    guest = new_context().new_page()
    guest.goto(link)
    expect(guest.get_by_role("heading", level=1)).to_have_text("Join Acme Corporation")
    expect(guest.get_by_text(invited).first).to_be_visible()
    assert_accessible(guest)

    # Two passwords that differ: the error next to the second field, nothing accepted yet.
    guest.get_by_label("Your name (optional)", exact=True).fill("Nina Newcomer")
    guest.get_by_label("Choose a password", exact=True).fill(NEW_PASSWORD)
    guest.get_by_label("Password, again", exact=True).fill(NEW_PASSWORD + " typo")
    click(guest, "Accept the invitation")
    expect(guest.get_by_text("The two passwords differ.")).to_be_visible()
    assert_accessible(guest)

    guest.get_by_label("Choose a password", exact=True).fill(NEW_PASSWORD)
    guest.get_by_label("Password, again", exact=True).fill(NEW_PASSWORD)
    click(guest, "Accept the invitation")
    expect_dashboard(guest, "acme", invited)
    assert "Invitations" not in nav_labels(guest)  # joined as a member

    # Later: signed out, they sign in with the password they chose; the link is spent.
    sign_out(guest)
    sign_in(guest, "acme", invited, NEW_PASSWORD)
    expect_dashboard(guest, "acme", invited)
    assert goto_status(guest, link) == 400
    assert_accessible(guest)

    # The admin's members page lists them.
    page.goto("/portal/acme/members/")
    expect(page.get_by_test_id("member-row").filter(has_text=invited)).to_have_count(1)


def test_a_sign_up_on_an_open_portal_is_confirmed_from_the_mail_then_signs_in(page: Page, demo, mailbox):
    portal = demo.portals["globex"]
    portal.signup_policy = "open"
    portal.save(update_fields=["signup_policy"])
    email = "signer@example.test"

    page.goto("/portal/globex/login/")
    click(page, "Create an account", role="link")
    expect(page.get_by_role("heading", level=1)).to_have_text("Create an account on Globex Portal")
    assert_accessible(page)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Name (optional)", exact=True).fill("Sam Signer")
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Password, again", exact=True).fill(NEW_PASSWORD)
    click(page, "Create the account")
    expect(page.get_by_role("status")).to_contain_text("a message is on its way")

    # Before the address is confirmed, the password does not sign in.
    sign_in(page, "globex", email, NEW_PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("Confirm your e-mail address first")

    link = mailbox.link_to(email)
    assert "/portal/globex/email/verify/?key=" in link, link
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your e-mail address")
    assert_accessible(page)
    click(page, "Confirm my address")
    expect(page).to_have_url(re.compile(r"/portal/globex/login/$"))
    expect(page.get_by_role("status")).to_contain_text("Your e-mail address is confirmed")

    sign_in(page, "globex", email, NEW_PASSWORD)
    expect_dashboard(page, "globex", email)

    # The key was spent by the POST: the link is now a dead link, with the form for a new one.
    assert goto_status(page, link) == 400
    assert_accessible(page)


def test_forgot_password_mail_sets_a_new_password_that_signs_in(page: Page, demo, mailbox):
    email = "member@acme.test"
    page.goto("/portal/acme/login/")
    click(page, "Forgot your password?", role="link")
    expect(page.get_by_role("heading", level=1)).to_have_text("Forgot your password?")
    assert_accessible(page)
    page.get_by_label("Email", exact=True).fill(email)
    click(page, "Send me a link")
    expect(page).to_have_url(re.compile(r"/portal/acme/login/$"))
    expect(page.get_by_role("status")).to_contain_text("a reset link is on its way")

    link = mailbox.link_to(email)
    assert "/portal/acme/password/reset/?uid=" in link, link
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    expect(page.get_by_text(email)).to_be_visible()
    assert_accessible(page)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password, again", exact=True).fill(NEW_PASSWORD)
    click(page, "Set the password")
    expect(page).to_have_url(re.compile(r"/portal/acme/login/$"))
    expect(page.get_by_role("status")).to_contain_text("Your password is set")

    sign_in(page, "acme", email, demo.password)
    expect(page.get_by_role("alert")).to_contain_text("The e-mail or password is wrong")
    sign_in(page, "acme", email, NEW_PASSWORD)
    expect_dashboard(page, "acme", email)

    # The link worked once: opened again, it is the dead-link page with the form for a new one.
    assert goto_status(page, link) == 400
    expect(page.get_by_role("heading", level=1)).to_have_text("Forgot your password?")
    assert_accessible(page)


def test_the_owner_of_a_new_tenant_sets_the_first_password_from_the_mail(page: Page, demo, mailbox):
    owner = "founder@initech.test"
    call_command(
        "create_tenant", slug="initech", name="Initech", owner_email=owner, stdout=io.StringIO(), stderr=io.StringIO()
    )

    link = mailbox.link_to(owner)
    assert "/portal/initech/password/reset/?uid=" in link, link
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    assert_accessible(page)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password, again", exact=True).fill(NEW_PASSWORD)
    click(page, "Set the password")
    expect(page).to_have_url(re.compile(r"/portal/initech/login/$"))

    sign_in(page, "initech", owner, NEW_PASSWORD)
    expect_dashboard(page, "initech", owner)
    expect(page.get_by_role("heading", level=1)).to_have_text("Initech")
    assert "Invitations" in nav_labels(page)  # the owner
