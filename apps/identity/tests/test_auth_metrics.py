"""Sign-in counters, read the way Prometheus reads them: from `/metrics` with the bearer token."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.identity import metrics
from apps.identity.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "auth-metrics-test-token-0123456789"
LOGIN = "/api/v1/identity/auth/login/"
REFRESH = "/api/v1/identity/auth/refresh/"
NAMES = (
    "atrium_auth_login_success_total",
    "atrium_auth_login_failure_total",
    "atrium_auth_lockout_total",
    "atrium_auth_mfa_failure_total",
    "atrium_auth_refresh_reuse_total",
)


@pytest.fixture
def scrape(settings):
    settings.METRICS_TOKEN = TOKEN
    scraper = Client()

    def read() -> dict[str, float]:
        response = scraper.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        text = response.content.decode()
        values = {}
        for name in NAMES:
            match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
            assert match, f"{name} is not exported"
            values[name] = float(match.group(1))
        return values

    return read


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name.removeprefix("atrium_auth_").removesuffix("_total"): after[name] - before[name] for name in NAMES}


def test_failed_login_is_counted(api, member, portal, scrape):
    user = member()
    before = scrape()
    response = api.post(LOGIN, {"email": user.email, "password": "wrong", "portal": portal.slug})
    assert response.status_code == 401
    assert delta(before, scrape()) == {
        "login_success": 0,
        "login_failure": 1,
        "lockout": 0,
        "mfa_failure": 0,
        "refresh_reuse": 0,
    }


def test_success_lockout_and_refresh_reuse_are_counted(api, login, member, portal, scrape):
    user = member()
    before = scrape()
    tokens = login(user, portal)
    for _ in range(5):
        api.post(LOGIN, {"email": user.email, "password": "wrong", "portal": portal.slug})
    assert api.post(LOGIN, {"email": user.email, "password": PASSWORD, "portal": portal.slug}).status_code == 429
    assert api.post(REFRESH, {"refresh": tokens["refresh"]}).status_code == 200
    assert api.post(REFRESH, {"refresh": tokens["refresh"]}).status_code == 401  # reuse
    assert delta(before, scrape()) == {
        "login_success": 1,
        "login_failure": 5,  # the refused attempt during the lock is not a password failure
        "lockout": 1,
        "mfa_failure": 0,
        "refresh_reuse": 1,
    }


def test_mfa_failures_are_counted_through_the_hook_the_mfa_service_calls(scrape):
    before = scrape()
    metrics.mfa_failed()
    metrics.mfa_failed()
    assert delta(before, scrape())["mfa_failure"] == 2


def test_counters_carry_no_personal_data(api, member, portal, scrape, settings):
    user = member()
    api.post(LOGIN, {"email": user.email, "password": "wrong", "portal": portal.slug}, REMOTE_ADDR="192.0.2.44")
    text = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    assert user.email not in text
    assert "192.0.2.44" not in text
