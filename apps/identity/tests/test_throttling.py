"""Request throttles on the auth endpoints: per client IP, shared, 429 + Retry-After, failing closed."""

from __future__ import annotations

import subprocess
import sys
from uuid import uuid4

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

from apps.identity import throttling
from apps.identity.api.auth_views import LoginView, RefreshView
from apps.identity.api.base import PublicAPIView
from apps.identity.tests.test_lockout import redis_down  # noqa: F401 - fixture
from apps.identity.throttling import SCOPES, ScopedAuthThrottle

LOGIN = "/api/v1/identity/auth/login/"
REFRESH = "/api/v1/identity/auth/refresh/"


@pytest.fixture
def rates(settings):
    """`rates(login="3/min")`: set some scopes' rates for this test."""

    def set_rates(**overrides: str | None) -> None:
        merged = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **overrides}
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": merged}

    return set_rates


@pytest.fixture
def timer(monkeypatch):
    now = [1_800_000_000.0]  # a window boundary for every rate period
    monkeypatch.setattr(throttling, "_now", lambda: now[0])
    return now


def scoped_view(scope: str):
    class Probe(PublicAPIView):
        throttle_scope = scope

        def post(self, request: Request) -> Response:
            return Response(status=204)

    return Probe.as_view()


def test_every_auth_scope_has_a_default_rate_and_the_default_class_counts_it(settings):
    assert set(SCOPES) == {"login", "refresh", "mfa_verify", "password_reset", "email_resend", "register"}
    configured = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    for scope in SCOPES:
        assert configured[scope], scope
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] == ["apps.identity.throttling.ScopedAuthThrottle"]
    assert any(isinstance(t, ScopedAuthThrottle) for t in LoginView().get_throttles())
    assert LoginView.throttle_scope == "login"
    assert RefreshView.throttle_scope == "refresh"


@pytest.mark.django_db(transaction=True)
def test_login_is_throttled_per_client_ip_with_retry_after(api, portal, rates, timer):
    rates(login="3/min")
    body = {"email": "a@example.test", "password": "wrong", "portal": portal.slug}
    assert [api.post(LOGIN, body, REMOTE_ADDR="192.0.2.1").status_code for _ in range(3)] == [401] * 3
    timer[0] += 20
    throttled = api.post(LOGIN, body, REMOTE_ADDR="192.0.2.1")
    assert throttled.status_code == 429
    assert throttled["Content-Type"] == "application/problem+json"
    assert throttled["Retry-After"] == "40"
    assert throttled.json()["status"] == 429
    # Input is not even looked at once throttled (malformed bodies count too).
    assert api.post(LOGIN, {}, REMOTE_ADDR="192.0.2.1").status_code == 429
    # Another client is unaffected; the next window lets the first one in again.
    assert api.post(LOGIN, body, REMOTE_ADDR="192.0.2.2").status_code == 401
    timer[0] += 40
    assert api.post(LOGIN, body, REMOTE_ADDR="192.0.2.1").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_forged_forwarded_for_does_not_buy_a_fresh_allowance(api, portal, rates, timer, settings):
    settings.TRUSTED_PROXIES = []
    rates(login="3/min")
    body = {"email": "a@example.test", "password": "wrong", "portal": portal.slug}
    statuses = [
        api.post(LOGIN, body, REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code
        for n in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]


@pytest.mark.django_db(transaction=True)
def test_behind_a_trusted_proxy_each_client_has_its_own_allowance(api, portal, rates, timer, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    rates(login="2/min")
    body = {"email": "a@example.test", "password": "wrong", "portal": portal.slug}

    def post(forwarded: str) -> int:
        return api.post(LOGIN, body, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded).status_code

    assert [post("192.0.2.1"), post("1.1.1.1, 192.0.2.1")] == [401, 401]
    assert post("8.8.8.8, 192.0.2.1") == 429  # a forged left-hand part changes nothing
    assert post("192.0.2.2") == 401


@pytest.mark.django_db(transaction=True)
def test_refresh_is_throttled(api, rates, timer):
    rates(refresh="2/min")
    statuses = [api.post(REFRESH, {"refresh": "nope"}).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


@pytest.mark.parametrize("scope", SCOPES)
def test_each_scope_throttles_a_view_that_names_it(scope, rates, timer):
    rates(**{scope: "2/hour"})
    view = scoped_view(scope)
    factory = APIRequestFactory()
    responses = [view(factory.post("/probe/", {}, format="json")) for _ in range(3)]
    assert [r.status_code for r in responses] == [204, 204, 429]
    assert int(responses[-1]["Retry-After"]) == 3600
    # Scopes are counted apart: another scope's view is not affected.
    other = next(s for s in SCOPES if s != scope)
    assert scoped_view(other)(factory.post("/probe/", {}, format="json")).status_code == 204


def test_a_view_without_a_scope_is_not_counted(rates, timer):
    class Unscoped(PublicAPIView):
        def post(self, request: Request) -> Response:
            return Response(status=204)

    view = Unscoped.as_view()
    factory = APIRequestFactory()
    assert {view(factory.post("/probe/", {}, format="json")).status_code for _ in range(50)} == {204}


def test_a_scope_switched_off_is_not_counted(rates, timer):
    rates(register=None)
    view = scoped_view("register")
    factory = APIRequestFactory()
    assert {view(factory.post("/probe/", {}, format="json")).status_code for _ in range(50)} == {204}


@pytest.mark.django_db(transaction=True)
def test_unreachable_store_fails_closed_with_503(api, redis_down):  # noqa: F811
    response = api.post(REFRESH, {"refresh": "whatever"})
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert b"Traceback" not in response.content


def test_rates_are_overridable_from_the_environment(tmp_path, child_env):
    env = child_env(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="true",
        ATRIUM_THROTTLE_RATES="login=7/min,register=none",
    )
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "r = settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']; print(r['login'], r['register'], r['refresh'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["7/min", "None", "60/min"]


def test_throttle_key_holds_no_client_address(rates, timer):
    rates(register="5/min")
    scoped_view("register")(APIRequestFactory().post("/probe/", {}, format="json", REMOTE_ADDR="192.0.2.77"))
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        keys = [k.decode() for k in backend._cache.get_client().keys("*auth:throttle:*")]
    else:
        keys = [k for k in backend._cache if ":auth:throttle:" in k]  # type: ignore[attr-defined]
    assert keys
    assert all("192.0.2.77" not in k and ":auth:throttle:register:" in k for k in keys)


@pytest.mark.redis
def test_a_count_is_one_round_trip_and_keeps_its_first_expiry(monkeypatch):
    import redis.connection

    from apps.identity.throttling import counter_incr, shared_store

    backend = caches["default"]
    assert isinstance(backend, RedisCache)
    sent = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):  # type: ignore[no-untyped-def]
        sent.append(command)
        return original(self, command, check_health)

    key = f"test:counter:{uuid4().hex}"
    with shared_store():
        assert counter_incr(key, timeout=30) == 1
        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
        assert counter_incr(key, timeout=3600) == 2
    assert len(sent) == 1
    full = backend.make_and_validate_key(key)
    ttl = backend._cache.get_client(full).ttl(full)
    assert 0 < ttl <= 30  # the second count did not stretch the window
