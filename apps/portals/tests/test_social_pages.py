"""Social sign-in through the portal's pages and a fake OpenID Connect provider: the whole round trip.

The exchange (state, PKCE, code, ID token) is allauth's against tests/fixtures/fake_oidc.py; what a
completed exchange is worth is Atrium's. These tests try to break both halves from the browser's side.
"""

from __future__ import annotations

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.sessions.models import Session
from django.core.cache import cache

from apps.identity.models import AuthSession, Portal, User
from apps.identity.tests.factories import PortalFactory, UserFactory
from apps.identity.tests.mfa_support import enable_mfa, totp_code, use_mfa_clock
from apps.portals.tests.conftest import csrf_post
from apps.portals.tests.social_support import (
    PROVIDER_NAME,
    at_provider,
    configure,
    destination,
    link,
    path_of,
    round_trip,
    serve,
    social_sign_in,
    start,
)
from apps.portals.views import social as social_views

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


@pytest.fixture(scope="module")
def oidc_server():
    yield from serve()


@pytest.fixture
def oidc(oidc_server, settings):
    return configure(oidc_server, settings)


@pytest.fixture(autouse=True)
def _clock(monkeypatch):
    return use_mfa_clock(monkeypatch)


def browser_sessions(user) -> list[AuthSession]:
    return list(AuthSession.objects.filter(user=user, kind=AuthSession.Kind.BROWSER, revoked_at=None))


# --------------------------------------------------------------------------- the buttons


def test_the_login_page_shows_a_button_per_offered_provider_only(web, portal, oidc, settings):
    page = web.get(f"/portal/{portal.slug}/login/")
    assert f"Sign in with {PROVIDER_NAME}".encode() in page.content
    assert b"Sign in with Google" not in page.content  # not configured
    portal.features = {"social_providers": ["google"]}
    portal.save()
    assert b"Sign in with" not in web.get(f"/portal/{portal.slug}/login/").content
    settings.SOCIALACCOUNT_PROVIDERS = {}
    portal.features = {}
    portal.save()
    assert b"social-sign-in" not in web.get(f"/portal/{portal.slug}/login/").content


def test_starting_needs_a_post_with_csrf_and_an_offered_provider(web, portal, oidc):
    assert web.get(f"/portal/{portal.slug}/social/oidc/login/").status_code == 405
    assert web.post(f"/portal/{portal.slug}/social/oidc/login/").status_code == 403  # no CSRF token
    assert start(web, portal, provider="google").status_code == 404  # not configured
    assert start(web, portal, provider="github..").status_code == 404
    url = destination(start(web, portal))
    assert url.startswith(f"{oidc.url}/authorize?")
    assert "code_challenge=" in url  # PKCE


# --------------------------------------------------------------------------- signing in


def test_a_linked_member_signs_in_and_lands_in_the_portal(web, portal, member, oidc):
    user = member("member")
    link(user)
    back = round_trip(web, start(web, portal, data={"next": f"/portal/{portal.slug}/security/"}))
    assert back.status_code == 302
    assert back["Location"].startswith(f"/portal/{portal.slug}/social/complete/")
    done = web.get(back["Location"])
    assert done.status_code == 302
    assert done["Location"] == f"/portal/{portal.slug}/security/"
    assert web.get(done["Location"]).status_code == 200
    (session,) = browser_sessions(user)
    assert session.amr == ["social"]
    # allauth used PKCE, and the fake provider checked the verifier against the challenge.
    (token_request,) = oidc.seen("/token")
    assert token_request["code_verifier"]


def test_a_user_with_mfa_gets_the_code_step(web, portal, member, oidc):
    user = member("member")
    link(user)
    enable_mfa(user)
    done = social_sign_in(web, portal, oidc)
    assert done["Location"] == f"/portal/{portal.slug}/login/code/"
    assert not browser_sessions(user)
    coded = csrf_post(web, done["Location"], {"code": totp_code(user, steps_ahead=1)})
    assert coded.status_code == 302, coded.content
    (session,) = browser_sessions(user)
    assert session.amr == ["social", "otp"]


def test_a_portal_requiring_mfa_sends_a_user_without_it_to_enrolment(web, portal, member, oidc):
    portal.mfa_required = True
    portal.save()
    link(member("member"))
    assert social_sign_in(web, portal, oidc)["Location"] == f"/portal/{portal.slug}/login/enrol/"


def test_a_non_member_gets_the_403_page_and_no_session(web, portal, oidc):
    user = UserFactory()
    link(user)
    done = social_sign_in(web, portal, oidc)
    assert done.status_code == 403
    assert b"not a member" in done.content
    assert not browser_sessions(user)
    assert web.get(f"/portal/{portal.slug}/dashboard/").status_code == 302


def test_an_unlinked_identity_with_a_members_email_signs_in_as_nobody(web, portal, member, oidc):
    user = member("owner", user=UserFactory(email="owner@example.test", email_verified=True))
    portal.signup_policy = Portal.SignupPolicy.OPEN
    portal.save()
    done = social_sign_in(web, portal, oidc, sub="attacker", email="OWNER@Example.Test", email_verified=True)
    assert done.status_code == 403
    assert b"Sign in with your password first" in done.content
    assert b"security page" in done.content
    assert not SocialAccount.objects.exists()
    assert not browser_sessions(user)
    assert User.objects.count() == 1
    assert web.get(f"/portal/{portal.slug}/dashboard/").status_code == 302


def test_sign_up_is_refused_where_the_portal_takes_none(web, portal, oidc):
    portal.signup_policy = Portal.SignupPolicy.INVITE
    portal.save()
    done = social_sign_in(web, portal, oidc, email="new@example.test")
    assert done.status_code == 403
    assert b"Sign-up is by invitation" in done.content
    assert not User.objects.exists()


def test_sign_up_on_an_open_portal_makes_a_member_and_signs_in(web, portal, oidc):
    portal.signup_policy = Portal.SignupPolicy.OPEN
    portal.save()
    done = social_sign_in(web, portal, oidc, sub="new-sub", email="new@example.test", email_verified=True)
    assert done["Location"] == f"/portal/{portal.slug}/dashboard/"
    user = User.objects.get(email="new@example.test")
    assert browser_sessions(user)


def test_sign_up_with_an_unverified_address_asks_to_confirm_it(web, portal, oidc):
    portal.signup_policy = Portal.SignupPolicy.OPEN
    portal.save()
    done = social_sign_in(web, portal, oidc, sub="new-sub", email="new@example.test", email_verified=False)
    assert done.status_code == 200
    assert b"Confirm your e-mail address" in done.content
    assert not browser_sessions(User.objects.get(email="new@example.test"))


# --------------------------------------------------------------------------- forged, replayed and crossed


def test_a_forged_or_missing_state_is_refused_before_any_identity_counts(web, portal, member, oidc):
    user = member("member")
    link(user)
    start(web, portal)  # a real state exists in this session; the forged one is not it
    forged = web.get("/social/oidc/callback/?code=whatever&state=forged-state-1234")
    assert forged.status_code == 400
    assert web.get("/social/oidc/callback/?code=whatever").status_code == 400
    assert web.get("/social/oidc/callback/").status_code == 400
    assert not oidc.seen("/token")  # no code was ever exchanged
    assert not browser_sessions(user)


def test_a_callback_works_once_and_only_in_the_browser_that_started_it(web, client, portal, member, oidc):
    user = member("member")
    link(user)
    callback = path_of(at_provider(destination(start(web, portal))))
    assert client.get(callback).status_code == 400  # another browser: not its state
    assert web.get(callback).status_code == 302
    assert web.get(callback).status_code == 400  # the state is spent
    assert not browser_sessions(user)  # the completion page was never visited


def test_a_callback_for_portal_a_signs_in_to_nothing_at_portal_b(web, portal, tenant, member, oidc):
    user = member("member")
    link(user)
    other = PortalFactory(tenant=tenant, slug="acme-other", name="Other")
    back = round_trip(web, start(web, portal))
    assert back["Location"].startswith(f"/portal/{portal.slug}/")
    crossed = web.get(f"/portal/{other.slug}/social/complete/")
    assert crossed.status_code == 302
    assert crossed["Location"] == f"/portal/{other.slug}/login/"
    assert web.get(back["Location"]).status_code == 302  # used up by the attempt: A's page signs in nobody
    assert not browser_sessions(user)


def test_a_cancelled_sign_in_goes_back_to_the_login_page(web, portal, oidc):
    oidc.deny = True
    back = round_trip(web, start(web, portal))
    assert back["Location"] == f"/portal/{portal.slug}/login/"
    assert b"was cancelled" in web.get(back["Location"]).content


def test_an_unconfigured_provider_has_no_callback(web, oidc, settings):
    settings.SOCIALACCOUNT_PROVIDERS = {}
    assert web.get("/social/oidc/callback/?code=x&state=y").status_code == 404
    assert web.get("/social/google/callback/?code=x&state=y").status_code == 404


def test_the_completion_page_with_nothing_pending_is_harmless(web, portal):
    assert web.get(f"/portal/{portal.slug}/social/complete/")["Location"] == f"/portal/{portal.slug}/login/"
    assert web.get("/portal/nope/social/complete/").status_code == 404


def test_a_tampered_pending_entry_is_ignored(web, portal, member, oidc):
    link(member("member"))
    back = round_trip(web, start(web, portal))
    session = Session.objects.get(session_key=web.cookies["sessionid"].value)
    data = session.get_decoded()
    data["atrium.social"]["identity"] = {"provider": 1, "uid": None}
    Session.objects.filter(pk=session.pk).update(session_data=Session.objects.encode(data))
    cache.clear()  # the cached_db engine reads the cache first
    assert web.get(back["Location"])["Location"] == f"/portal/{portal.slug}/login/"


def test_a_proved_identity_waits_only_minutes_for_its_page(web, portal, member, oidc, monkeypatch):
    user = member("member")
    link(user)
    back = round_trip(web, start(web, portal))
    monkeypatch.setattr(social_views, "PENDING_SECONDS", -1)  # as if the browser came back too late
    assert web.get(back["Location"])["Location"] == f"/portal/{portal.slug}/login/"
    assert not browser_sessions(user)


def test_starts_count_against_the_sign_in_throttle_of_the_client(web, portal, oidc):
    for _ in range(20):  # the API's login rate: 20/min per client IP
        assert start(web, portal).status_code == 200
    refused = start(web, portal)
    assert refused.status_code == 429
    assert b"Try again in" in refused.content


def test_a_provider_that_does_not_answer_is_a_page_not_a_500(web, portal, oidc, settings):
    callback = path_of(at_provider(destination(start(web, portal))))  # a real state and code, then the outage
    down = oidc.provider_settings()
    down["openid_connect"]["APPS"][0]["settings"]["server_url"] = "http://127.0.0.1:9"
    settings.SOCIALACCOUNT_PROVIDERS = down
    assert web.get(callback).status_code == 503
    assert start(web, portal).status_code == 503


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/", "/social/oidc/login/", "/accounts/"]
)
def test_allauths_own_pages_are_not_mounted(web, oidc, path):
    assert web.get(path).status_code == 404
