"""Portal-bound login, refresh, me, logout and switch through the API."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.identity.models import Tenant
from apps.identity.tests.factories import PASSWORD, PortalFactory, UserFactory
from apps.identity.tests.hashing_support import COUNTING_HASHER, CountingHasher

LOGIN_URL = "/api/v1/identity/auth/login/"

# Token endpoints run outside the request transaction, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def test_login_returns_tokens_and_me_describes_the_caller(api, login, member, portal):
    user = member("admin")
    tokens = login(user, portal)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = api.get("/api/v1/identity/auth/me/")
    assert me.status_code == 200, me.content
    body = me.json()
    assert body["email"] == user.email
    assert body["tenant"]["slug"] == portal.tenant.slug
    assert body["portal"] == {"slug": portal.slug, "name": portal.name}
    assert body["roles"] == ["admin"]


def test_wrong_password_and_unknown_email_look_the_same(api, member, portal):
    user = member()
    wrong = api.post("/api/v1/identity/auth/login/", {"email": user.email, "password": "nope", "portal": portal.slug})
    unknown = api.post(
        "/api/v1/identity/auth/login/", {"email": "ghost@example.test", "password": "nope", "portal": portal.slug}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_refresh_rotates_and_reuse_kills_the_family(api, login, member, portal):
    user = member()
    first = login(user, portal)
    second = api.post("/api/v1/identity/auth/refresh/", {"refresh": first["refresh"]})
    assert second.status_code == 200
    assert second.json()["refresh"] != first["refresh"]
    replay = api.post("/api/v1/identity/auth/refresh/", {"refresh": first["refresh"]})
    assert replay.status_code == 401
    after = api.post("/api/v1/identity/auth/refresh/", {"refresh": second.json()["refresh"]})
    assert after.status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {second.json()['access']}")
    assert api.get("/api/v1/identity/auth/me/").status_code == 401


def test_logout_ends_access_and_refresh(api, login, member, portal):
    tokens = login(member(), portal)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert client.post("/api/v1/identity/auth/logout/", {"refresh": tokens["refresh"]}).status_code == 204
    assert client.get("/api/v1/identity/auth/me/").status_code == 401
    assert api.post("/api/v1/identity/auth/refresh/", {"refresh": tokens["refresh"]}).status_code == 401
    # Logging out again is fine.
    assert api.post("/api/v1/identity/auth/logout/", {"refresh": tokens["refresh"]}).status_code == 204


def test_login_rules(api, member, portal, tenant):
    user = member("member")
    staff = PortalFactory(tenant=tenant, slug="staff", admitted_roles=["owner", "admin"])
    body = {"email": user.email, "password": PASSWORD}
    assert api.post("/api/v1/identity/auth/login/", {**body, "portal": "nope"}).status_code == 404
    assert api.post("/api/v1/identity/auth/login/", {**body, "portal": staff.slug}).status_code == 403
    outsider = UserFactory()
    assert (
        api.post(
            "/api/v1/identity/auth/login/", {"email": outsider.email, "password": PASSWORD, "portal": portal.slug}
        ).status_code
        == 403
    )
    tenant.status = Tenant.Status.SUSPENDED
    tenant.save()
    assert api.post("/api/v1/identity/auth/login/", {**body, "portal": portal.slug}).status_code == 403


def test_switch_to_another_portal_of_another_tenant(api, login, member, portal, other_tenant):
    user = member("owner")
    other_portal = PortalFactory(tenant=other_tenant, slug="other")
    member("member", user=user, of=other_tenant)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login(user, portal)['access']}")
    switched = api.post("/api/v1/identity/auth/switch/", {"portal": other_portal.slug})
    assert switched.status_code == 200, switched.content
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {switched.json()['access']}")
    me = api.get("/api/v1/identity/auth/me/").json()
    assert me["tenant"]["slug"] == other_tenant.slug
    assert me["roles"] == ["member"]


def test_me_without_token_is_401_with_bearer_challenge(api):
    response = api.get("/api/v1/identity/auth/me/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response["Content-Type"] == "application/problem+json"


def test_unknown_email_costs_one_password_hash_in_total(api, portal, member, settings):
    """No enumeration by timing: every hash computed or checked is counted (structurally, not by the clock)."""
    settings.PASSWORD_HASHERS = [COUNTING_HASHER]
    known = member()
    known.set_password("a real passphrase 1234")
    known.save()
    counts = {}
    for email in ("ghost@example.test", "ghost2@example.test", known.email):
        CountingHasher.calls = 0
        response = api.post(LOGIN_URL, {"email": email, "password": "guess", "portal": portal.slug})
        assert response.status_code == 401
        counts[email] = CountingHasher.calls
    # The first unknown e-mail of a process may build the dummy hash; from then on each path costs one hash.
    assert counts["ghost2@example.test"] == counts[known.email] == 1


def test_case_variants_of_an_email_sign_in_to_the_same_account(api, member, portal):
    user = member()
    response = api.post(
        "/api/v1/identity/auth/login/", {"email": user.email.upper(), "password": PASSWORD, "portal": portal.slug}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/identity/auth/login/", "/api/v1/identity/auth/refresh/"])
def test_token_responses_are_never_cached(api, login, member, portal, path):
    tokens = login(member(), portal)
    body = (
        {"email": "x@example.test", "password": "x", "portal": portal.slug}
        if path.endswith("login/")
        else {"refresh": tokens["refresh"]}
    )
    response = api.post(path, body)
    assert "no-store" in response["Cache-Control"]
