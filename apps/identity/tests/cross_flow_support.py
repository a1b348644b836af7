"""Helpers shared by the cross-flow attack tests (not a test module itself).

The two autouse fixtures apply to a test module that imports them, together with
`embedded_queues`, which the first one requests.
"""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
from rest_framework.test import APIClient

from apps.common.tests.jobs_fixtures import embedded_queues  # noqa: F401 - fixture
from apps.identity.services import lockout

LOGIN = "/api/v1/identity/auth/login/"
REGISTER = "/api/v1/identity/auth/register/"
VERIFY = "/api/v1/identity/auth/email/verify/"
RESET = "/api/v1/identity/auth/password/reset/"
RESET_CONFIRM = "/api/v1/identity/auth/password/reset/confirm/"
ME = "/api/v1/identity/auth/me/"
INVITATIONS = "/api/v1/identity/invitations/"
ACCEPT = "/api/v1/identity/invitations/accept/"
ATTACKER_PASSWORD = "attacker chose this 1234"
VICTIM_PASSWORD = "victim chose this 5678"
VICTIM = "victim@example.test"


@pytest.fixture(autouse=True)
def _mail_jobs_run_inline(embedded_queues):  # noqa: F811 - the imported fixture
    """Mail jobs run right after commit, as in the embedded setup, even where REDIS_URL is set."""


@pytest.fixture(autouse=True)
def _no_request_throttle(settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login": None, "register": None}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def sign_in(email: str, password: str, portal, ip: str = "192.0.2.10", device: str | None = None):
    client = APIClient()
    if device:
        client.cookies = SimpleCookie({lockout.DEVICE_COOKIE: device})
    return client.post(LOGIN, {"email": email, "password": password, "portal": portal.slug}, REMOTE_ADDR=ip)


def me(access: str) -> dict:
    response = APIClient().get(ME, HTTP_AUTHORIZATION=f"Bearer {access}")
    assert response.status_code == 200, response.content
    return response.json()
