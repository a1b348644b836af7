"""A key on the hot path: no query once warm, throttled per key, its use recorded without a write per request,
and never accepted where a person's own sign-in is concerned."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.common.tenancy import tenant_context
from apps.identity.api.base import SessionAPIView, TenantAPIView, TenantViewSet
from apps.identity.api_key_auth import ApiKeyAuthentication, authenticate_key
from apps.identity.models import ApiKey
from apps.identity.tests.api_keys_support import (
    EVENTS,
    KEYS,
    MEMBERS,
    _fresh_key_cache,  # noqa: F401 - autouse
    events,
    key_client,
    key_row,
    make_key,
)
from tests.test_url_walker import ROUTES

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded", "pro_plan")]


# --------------------------------------------------------------------------- no query once warm


@pytest.mark.parametrize("path", [MEMBERS, EVENTS], ids=["members", "audit-events"])
def test_a_warm_key_costs_the_same_queries_as_an_access_token(path, tenant, member, portal, api_client):
    admin = member("admin")
    jwt = api_client(admin, portal)
    _, full_key = make_key(tenant, admin, "admin")
    key = key_client(full_key)
    for client in (jwt, key):
        assert client.get(path).status_code == 200  # warm: role map, the key's standing, its first use
    counts = {}
    for name, client in (("jwt", jwt), ("key", key)):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        counts[name] = [q["sql"] for q in queries.captured_queries]
    assert len(counts["key"]) == len(counts["jwt"]), counts


def test_authenticating_a_warm_key_runs_no_query(tenant, member):
    _, full_key = make_key(tenant, member("owner"), "member")
    authenticate_key(full_key, ip="198.51.100.7")  # cold: reads the key, records its first use
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            principal = authenticate_key(full_key, ip="198.51.100.7")
    assert queries.captured_queries == []
    assert principal.roles == ("member",)
    assert principal.tenant_id == tenant.id


def test_a_cold_key_is_read_once_then_served_from_the_process(tenant, member):
    _, full_key = make_key(tenant, member("owner"), "member")
    with CaptureQueriesContext(connection) as cold:
        authenticate_key(full_key, ip=None)
    assert any("identity_apikeyprefix" in q["sql"] for q in cold.captured_queries)
    with CaptureQueriesContext(connection) as warm:
        authenticate_key(full_key, ip=None)
    assert warm.captured_queries == []


# --------------------------------------------------------------------------- throttled per key


def test_every_use_is_throttled_per_key(tenant, member, portal, api_client, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "api_key": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    owner = member("owner")
    _, first = make_key(tenant, owner, "member")
    _, second = make_key(tenant, owner, "member")
    busy = key_client(first)
    assert [busy.get(MEMBERS).status_code for _ in range(3)] == [200, 200, 200]
    throttled = busy.get(MEMBERS)
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) >= 1
    assert key_client(second).get(MEMBERS).status_code == 200  # its own count
    assert api_client(owner, portal).get(MEMBERS).status_code == 200  # access tokens are not counted here


def test_a_key_rate_of_none_switches_the_throttle_off(tenant, member, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "api_key": None}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    _, full_key = make_key(tenant, member("owner"), "member")
    client = key_client(full_key)
    assert {client.get(MEMBERS).status_code for _ in range(5)} == {200}


def test_the_default_rate_is_600_a_minute(settings):
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api_key"] == "600/min"


# --------------------------------------------------------------------------- use: last used, new address


def test_a_new_address_is_audited_once_per_change(tenant, member):
    key, full_key = make_key(tenant, member("owner"), "member")
    for ip in ("198.51.100.7", "198.51.100.7", "198.51.100.7", "203.0.113.9", "203.0.113.9", "198.51.100.7"):
        assert key_client(full_key, ip=ip).get(MEMBERS).status_code == 200
    seen = [(e.ip, e.data["previous_ip"]) for e in events(tenant, "api_key.used_from_new_ip")]
    assert seen == [("198.51.100.7", None), ("203.0.113.9", "198.51.100.7"), ("198.51.100.7", "203.0.113.9")]
    row = key_row(tenant, key.id)
    assert row.last_used_ip == "198.51.100.7"
    assert row.last_used_at is not None


def test_another_server_that_sees_the_same_address_records_nothing_twice(tenant, member):
    from apps.identity.api_key_auth import forget_standings

    _, full_key = make_key(tenant, member("owner"), "member")
    assert key_client(full_key, ip="203.0.113.9").get(MEMBERS).status_code == 200
    forget_standings()  # a second process, which loaded the key before the first recorded the address
    cache.clear()
    assert key_client(full_key, ip="203.0.113.9").get(MEMBERS).status_code == 200
    assert len(events(tenant, "api_key.used_from_new_ip")) == 1


def test_last_used_is_written_at_most_once_a_minute(tenant, member):
    key, full_key = make_key(tenant, member("owner"), "member")
    client = key_client(full_key)
    assert client.get(MEMBERS).status_code == 200
    first = key_row(tenant, key.id).last_used_at
    assert first is not None
    with tenant_context(tenant):
        ApiKey.objects.filter(id=key.id).update(last_used_at=first - timedelta(hours=1))
    assert client.get(MEMBERS).status_code == 200  # the same minute: nothing written
    assert key_row(tenant, key.id).last_used_at == first - timedelta(hours=1)
    cache.delete_many([f"auth:apikey:used:{key.prefix}"])  # the minute is over
    assert client.get(MEMBERS).status_code == 200
    assert key_row(tenant, key.id).last_used_at > first - timedelta(minutes=1)
    assert key_row(tenant, key.id).last_used_at <= timezone.now()


# --------------------------------------------------------------------------- never a person's sign-in


SESSION_ONLY = [
    ("get", "/api/v1/identity/auth/me/"),
    ("post", "/api/v1/identity/auth/switch/"),
    ("get", "/api/v1/identity/auth/mfa/"),
    ("post", "/api/v1/identity/auth/mfa/totp/setup/"),
    ("post", "/api/v1/identity/auth/mfa/totp/confirm/"),
    ("post", "/api/v1/identity/auth/mfa/totp/disable/"),
    ("post", "/api/v1/identity/auth/mfa/backup-codes/"),
    ("post", "/api/v1/identity/auth/password/change/"),
    ("get", "/api/v1/identity/auth/sessions/"),
    ("delete", f"/api/v1/identity/auth/sessions/{uuid4()}/"),
    ("post", "/api/v1/identity/auth/logout/"),
]


@pytest.mark.parametrize(("method", "path"), SESSION_ONLY, ids=[f"{m} {p}" for m, p in SESSION_ONLY])
def test_a_key_never_reaches_a_person_s_own_sign_in(method, path, tenant, member):
    _, full_key = make_key(tenant, member("owner"), "owner")
    body = {"portal": "acme-test", "current_password": "x", "new_password": "y" * 12, "refresh": "z", "code": "1"}
    response = getattr(key_client(full_key), method)(path, body, format="json")
    assert response.status_code == 401, (path, response.content)


@pytest.mark.parametrize("path", ["/api/v1/identity/auth/login/", "/api/v1/identity/auth/refresh/"])
def test_login_and_refresh_with_a_key_issue_nothing(path, tenant, member, portal):
    _, full_key = make_key(tenant, member("owner"), "owner")
    response = key_client(full_key).post(path, {"portal": portal.slug, "refresh": full_key}, format="json")
    assert response.status_code in {400, 401}, response.content
    assert "access" not in response.json()


def test_no_endpoint_under_auth_lists_the_key_authentication():
    """Structural: the sign-in endpoints' classes do not include the key's authentication at all."""
    auth_views = {r.view_class for r in ROUTES if r.route.startswith("api/v1/identity/auth/") and r.view_class}
    assert auth_views
    for view in auth_views:
        assert ApiKeyAuthentication not in list(getattr(view, "authentication_classes", [])), view
    tenant_views = {r.view_class for r in ROUTES if r.view_class and issubclass(r.view_class, TenantAPIView)}
    assert {v for v in tenant_views if issubclass(v, SessionAPIView)}  # the base class is in use
    keyed = [r for r in ROUTES if r.view_class and issubclass(r.view_class, TenantViewSet) and "/members/" in r.route]
    assert all(ApiKeyAuthentication in r.view_class.authentication_classes for r in keyed)


# --------------------------------------------------------------------------- bad keys: 401, never a 500


@pytest.mark.parametrize(
    "raw",
    ["atr_", "atr_short_secret", "atr_" + "a" * 12 + "_" + "b" * 43, "atr_" + "a" * 12 + "_" + "b" * 44, "atr_é_x"],
    ids=["empty", "short", "unknown", "long-secret", "non-ascii"],
)
def test_a_malformed_or_unknown_key_is_401(raw, tenant, member):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get(MEMBERS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_the_right_prefix_with_a_wrong_secret_is_401(tenant, member):
    _, full_key = make_key(tenant, member("owner"), "member")
    assert key_client(full_key).get(MEMBERS).status_code == 200
    forged = full_key[:-4] + ("AAAA" if not full_key.endswith("AAAA") else "BBBB")
    assert key_client(forged).get(MEMBERS).status_code == 401


# --------------------------------------------------------------------------- the OpenAPI document


def test_the_schema_lists_the_key_endpoints_and_the_bearer_scheme_names_keys(client):
    document = client.get("/api/v1/schema/?format=json").json()
    assert {"get", "post"} <= set(document["paths"]["/api/v1/integrations/api-keys/"])
    assert "delete" in document["paths"]["/api/v1/integrations/api-keys/{id}/"]
    assert document["paths"]["/api/v1/integrations/api-keys/"]["post"]["security"] == [{"bearerAuth": []}]
    assert "API key" in document["components"]["securitySchemes"]["bearerAuth"]["description"]
    assert KEYS.startswith("/api/v1/integrations/")
