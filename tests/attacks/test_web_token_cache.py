"""Answers that carry a credential are never stored by a browser or a proxy (`Cache-Control: no-store`).

Tokens (login, refresh, MFA verify), an API key shown once, a TOTP secret, backup codes, and the
social sign-in's callback, which carries the provider's code and ends with a session: a shared
cache or the browser's back button must not hand any of them to the next person.
"""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.identity.tests.api_keys_support import KEYS
from apps.identity.tests.factories import PASSWORD
from apps.identity.tests.mfa_support import (
    BACKUP,
    LOGIN,
    SETUP,
    VERIFY,
    bearer,
    enable_mfa,
    forget_last_step,
    password_login,
    totp_code,
    use_mfa_clock,
)
from apps.portals.tests.conftest import csrf_post
from apps.portals.tests.social_support import configure, link, round_trip, serve, start

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded", "pro_plan")]

REFRESH = "/api/v1/identity/auth/refresh/"


@pytest.fixture(autouse=True)
def _clock(monkeypatch):
    return use_mfa_clock(monkeypatch)


@pytest.fixture(scope="module")
def oidc_server():
    yield from serve()


@pytest.fixture
def oidc(oidc_server, settings):
    return configure(oidc_server, settings)


def assert_no_store(response, what: str) -> None:
    directives = {part.strip().lower() for part in response.get("Cache-Control", "").split(",")}
    assert "no-store" in directives, f"{what}: Cache-Control is {response.get('Cache-Control')!r}"
    assert "public" not in directives, what


# --------------------------------------------------------------------------- the API


def test_login_tokens_are_not_stored(api, member, portal):
    user = member("owner")
    response = api.post(LOGIN, {"email": user.email, "password": PASSWORD, "portal": portal.slug})
    assert response.status_code == 200
    assert "access" in response.json()
    assert_no_store(response, "login")


def test_a_failed_login_is_not_stored_either(api, member, portal):
    user = member("owner")
    response = api.post(LOGIN, {"email": user.email, "password": "wrong-password", "portal": portal.slug})
    assert response.status_code == 401
    assert_no_store(response, "failed login")


def test_refreshed_tokens_are_not_stored(api, member, portal, login):
    tokens = login(member("owner"), portal)
    response = APIClient().post(REFRESH, {"refresh": tokens["refresh"]})
    assert response.status_code == 200
    assert "access" in response.json()
    assert_no_store(response, "refresh")


def test_the_mfa_step_and_its_tokens_are_not_stored(api, member, portal):
    user = member("owner")
    enable_mfa(user)
    forget_last_step(user)  # the code enrolment used may come again, as after 30 seconds
    first = api.post(LOGIN, {"email": user.email, "password": PASSWORD, "portal": portal.slug})
    assert first.status_code == 200
    assert "mfa_token" in first.json()
    assert_no_store(first, "login answering with an mfa_token")
    response = api.post(VERIFY, {"mfa_token": first.json()["mfa_token"], "code": totp_code(user)})
    assert response.status_code == 200
    assert "access" in response.json()
    assert_no_store(response, "MFA verify")


def test_a_totp_secret_and_backup_codes_are_not_stored(api, member, portal):
    user = member("owner")
    client = bearer(password_login(api, user, portal, PASSWORD)["access"])
    setup = client.post(SETUP)
    assert setup.status_code == 200
    assert_no_store(setup, "TOTP setup (the secret)")
    confirm = client.post("/api/v1/identity/auth/mfa/totp/confirm/", {"code": totp_code(user)})
    assert confirm.status_code == 200
    assert_no_store(confirm, "TOTP confirm (backup codes)")
    codes = client.post(BACKUP, {"code": totp_code(user, steps_ahead=1)})
    assert codes.status_code == 200
    assert_no_store(codes, "new backup codes")


def test_a_new_api_key_is_not_stored(api_client, member, portal):
    client = api_client(member("admin"), portal)
    response = client.post(KEYS, {"name": "CRM sync", "role": "member"}, format="json")
    assert response.status_code == 201
    assert response.json()["key"].startswith("atr_")
    assert_no_store(response, "API key creation")


# --------------------------------------------------------------------------- the portal pages


def signed_in_browser(portal, user) -> Client:
    web = Client(enforce_csrf_checks=True)
    response = csrf_post(web, f"/portal/{portal.slug}/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return web


def test_the_portal_sign_in_is_not_stored(member, portal):
    user = member("owner")
    web = Client(enforce_csrf_checks=True)
    response = csrf_post(web, f"/portal/{portal.slug}/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert_no_store(response, "portal sign-in (sets the session cookie)")


def test_the_portal_code_step_is_not_stored(member, portal):
    user = member("owner")
    enable_mfa(user)
    forget_last_step(user)  # the code enrolment used may come again, as after 30 seconds
    web = Client(enforce_csrf_checks=True)
    step = csrf_post(web, f"/portal/{portal.slug}/login/", {"email": user.email, "password": PASSWORD})
    assert step.status_code == 302
    code_page = step["Location"]
    assert_no_store(web.get(code_page), "the code step's page")
    done = csrf_post(web, code_page, {"code": totp_code(user)})
    assert done.status_code == 302
    assert_no_store(done, "the code step's answer (sets the session)")


def test_a_new_api_key_on_its_page_is_not_stored(member, portal):
    user = member("owner")
    web = signed_in_browser(portal, user)
    page = f"/portal/{portal.slug}/api-keys/"
    response = csrf_post(web, page, {"name": "CRM sync", "role": "member", "expires_at": ""})
    assert response.status_code == 200
    assert b"atr_" in response.content
    assert_no_store(response, "API key shown on its page")


def test_the_totp_secret_page_is_not_stored(member, portal):
    user = member("owner")
    web = signed_in_browser(portal, user)
    response = csrf_post(web, f"/portal/{portal.slug}/security/totp/", {})
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        response = web.get(response["Location"])
    assert_no_store(response, "TOTP enrolment page (the secret)")


def test_the_social_callback_is_not_stored(member, portal, oidc):
    user = member("member")
    link(user)
    web = Client(enforce_csrf_checks=True)
    back = round_trip(web, start(web, portal))
    assert back.status_code == 302
    assert back["Location"].startswith(f"/portal/{portal.slug}/social/complete/")
    assert_no_store(back, "social callback")
    done = web.get(back["Location"])
    assert done.status_code == 302  # signed in: on to the portal
    assert_no_store(done, "social sign-in's end (sets the session)")


@pytest.mark.parametrize("path", ["/social/google/callback/?code=x&state=y", "/social/oidc/callback/?error=denied"])
def test_a_refused_social_callback_is_not_stored(client, portal, oidc, path):
    response = client.get(path)
    assert response.status_code >= 300
    assert_no_store(response, path)
