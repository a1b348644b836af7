"""Social sign-in in Chromium, against the fake OpenID Connect provider (tests/fixtures/fake_oidc.py).

- a member links the provider from the security page, signs out, signs in with it, and unlinks it;
- an unlinked identity whose e-mail is a member's signs in as nobody: the page says to use the password;
- a user with two-factor sign-in still gets the code step after the provider;
- a non-member gets the 403 page and no session;
- a sign-up with an address the provider did not verify waits for the mailed link.

Every new page on the way passes axe-core.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from allauth.socialaccount.models import SocialAccount
from playwright.sync_api import Page, expect

from apps.identity.models import Portal, User
from apps.identity.tests.mfa_support import enable_mfa
from apps.identity.tests.mfa_support import totp_code as user_totp_code
from tests.browser.support import assert_accessible, enter_code, goto_status, sign_out
from tests.fixtures.fake_oidc import FakeOidc

pytestmark = pytest.mark.browser

NAME = "Fake ID"
DASHBOARD = re.compile(r"/portal/acme/dashboard/$")
LOGIN = re.compile(r"/portal/acme/login/(\?.*)?$")


@pytest.fixture(scope="module")
def oidc_server() -> Iterator[FakeOidc]:
    fake = FakeOidc().start()
    yield fake
    fake.stop()


@pytest.fixture
def oidc(oidc_server: FakeOidc, settings) -> FakeOidc:
    """The fake provider as the only social provider of the live server (it reads these settings)."""
    oidc_server.deny = False
    oidc_server.requests.clear()
    settings.SOCIALACCOUNT_PROVIDERS = oidc_server.provider_settings(NAME)
    return oidc_server


def click(page: Page, name: str, *, role: str = "button") -> None:
    with page.expect_navigation():
        page.get_by_role(role, name=name, exact=True).click()  # type: ignore[arg-type]


def sign_in_with_provider(page: Page, portal: str = "acme") -> None:
    page.goto(f"/portal/{portal}/login/")
    click(page, f"Sign in with {NAME}")


def password_sign_in(page: Page, email: str, password: str) -> None:
    """The password form (`support.sign_in` would also match the "Sign in with …" buttons)."""
    page.goto("/portal/acme/login/")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    click(page, "Sign in")


def linked(email: str, sub: str) -> User:
    user = User.objects.by_email(email).get()
    SocialAccount.objects.create(user=user, provider="oidc", uid=sub, extra_data={"email": email})
    return user


def test_a_member_links_the_provider_then_signs_in_with_it(page: Page, demo, oidc, screenshot):
    email = "member@acme.test"
    oidc.identity = {"sub": "member-at-fake", "email": "member.personal@example.test", "email_verified": True}
    password_sign_in(page, email, demo.password)
    click(page, "Security", role="link")
    expect(page.get_by_role("heading", name="Linked sign-in methods")).to_be_visible()
    assert_accessible(page)

    click(page, f"Link {NAME}")
    expect(page).to_have_url(re.compile(r"/portal/acme/security/$"))
    expect(page.get_by_role("status")).to_contain_text(f"{NAME} is linked")
    expect(page.get_by_test_id("social-link")).to_contain_text("member.personal@example.test")
    expect(page.get_by_role("button", name=f"Link {NAME}", exact=True)).to_have_count(0)
    assert_accessible(page)
    screenshot(page, "linked")

    sign_out(page)
    expect(page.get_by_role("button", name=f"Sign in with {NAME}")).to_be_visible()
    assert_accessible(page)
    click(page, f"Sign in with {NAME}")
    expect(page).to_have_url(DASHBOARD)
    expect(page.get_by_test_id("user-email")).to_have_text(email)
    assert oidc.seen("/token")[0]["code_verifier"]  # PKCE, checked by the provider

    click(page, "Security", role="link")
    click(page, f"Unlink {NAME}")
    expect(page.get_by_role("status")).to_contain_text(f"{NAME} is unlinked")
    expect(page.get_by_role("button", name=f"Link {NAME}", exact=True)).to_be_visible()


def test_an_unlinked_identity_with_a_members_email_signs_in_as_nobody(page: Page, demo, oidc, screenshot):
    oidc.identity = {"sub": "stranger", "email": "MEMBER@acme.test", "email_verified": True}
    sign_in_with_provider(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in with your password first")
    expect(page.get_by_test_id("social-notice")).to_contain_text("security page")
    assert_accessible(page)
    screenshot(page, "not-linked")
    assert goto_status(page, "/portal/acme/dashboard/") == 200  # the login page, after the redirect
    expect(page).to_have_url(LOGIN)
    assert not SocialAccount.objects.exists()


def test_a_user_with_two_factor_sign_in_still_gets_the_code_step(page: Page, demo, oidc):
    user = linked("owner@acme.test", "owner-at-fake")
    enable_mfa(user)
    oidc.identity = {"sub": "owner-at-fake", "email": "owner@acme.test", "email_verified": True}
    sign_in_with_provider(page)
    expect(page).to_have_url(re.compile(r"/portal/acme/login/code/$"))
    assert_accessible(page)
    enter_code(page, user_totp_code(user, steps_ahead=1))
    expect(page).to_have_url(DASHBOARD)
    expect(page.get_by_test_id("user-email")).to_have_text("owner@acme.test")


def test_a_non_member_gets_the_403_page_and_no_session(page: Page, demo, oidc):
    linked("owner@globex.test", "globex-at-fake")
    oidc.identity = {"sub": "globex-at-fake", "email": "owner@globex.test", "email_verified": True}
    page.goto("/portal/acme/login/")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name=f"Sign in with {NAME}").click()
    assert navigation.value is not None
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.locator("main")).to_contain_text("not a member")
    assert_accessible(page)
    goto_status(page, "/portal/acme/dashboard/")
    expect(page).to_have_url(LOGIN)


def test_a_sign_up_with_an_unverified_address_waits_for_the_mailed_link(page: Page, demo, oidc, mailbox):
    Portal.objects.filter(slug="acme").update(signup_policy=Portal.SignupPolicy.OPEN)
    oidc.identity = {"sub": "newcomer", "email": "newcomer@example.test", "email_verified": False}
    sign_in_with_provider(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your e-mail address")
    assert_accessible(page)
    assert not SocialAccount.objects.get().user.email_verified
    # Before the mailed link is followed the identity signs in to nothing; after it, it signs in.
    sign_in_with_provider(page)
    expect(page.get_by_test_id("social-notice")).to_have_attribute("data-kind", "unverified")
    assert_accessible(page)
    page.goto(mailbox.link_to("newcomer@example.test"))
    click(page, "Confirm my address")
    sign_in_with_provider(page)
    expect(page).to_have_url(DASHBOARD)
    expect(page.get_by_test_id("user-email")).to_have_text("newcomer@example.test")


def test_the_continue_page_is_accessible_and_its_link_goes_on_without_the_refresh(page: Page, demo, oidc):
    linked("member@acme.test", "member-at-fake")
    oidc.identity = {"sub": "member-at-fake", "email": "member@acme.test", "email_verified": True}
    # The automatic move is answered "204 No Content": the browser stays on the page, as one that ignores it.
    page.route(f"{oidc.url}/**", lambda route: route.fulfill(status=204))
    sign_in_with_provider(page)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Continuing to {NAME}")
    assert_accessible(page)
    page.unroute(f"{oidc.url}/**")
    click(page, f"Continue to {NAME}", role="link")
    expect(page).to_have_url(DASHBOARD)
