"""CORS never lets an untrusted origin read the API (docs/security.md, "API input and web").

Only the origins in `CORS_ALLOWED_ORIGINS` get `Access-Control-Allow-Origin`, each exactly its
own origin back (never `*`), only under `/api/`, without credentials and exposing no extra
headers. Everything else — another origin, `null`, look-alike origins, a preflight from them,
a portal page — gets no ACAO at all, so the browser keeps the answer from the calling page.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings.security import cors_allowed_origins

pytestmark = pytest.mark.django_db

TRUSTED = "https://portal.example.com"
UNTRUSTED = [
    "https://evil.test",
    "null",
    "https://portal.example.com.evil.test",  # the trusted origin as a prefix of another host
    "https://evilportal.example.com",  # the trusted host as a suffix of another host
    "https://evil.test/https://portal.example.com",
    "http://portal.example.com",  # same host, other scheme
    "https://portal.example.com:8443",  # same host, other port
    "https://sub.portal.example.com",
    "https://portal.example.co",
    "*",
]
API = "/api/v1/"


@pytest.fixture(autouse=True)
def _trusted_origin(settings):
    settings.CORS_ALLOWED_ORIGINS = [TRUSTED]


def preflight(client, path: str, origin: str):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, idempotency-key",
    )


def test_an_allowed_origin_gets_exactly_its_origin_back_and_nothing_more(client):
    response = client.get(API, HTTP_ORIGIN=TRUSTED)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == TRUSTED
    assert "Access-Control-Allow-Credentials" not in response
    assert "Access-Control-Expose-Headers" not in response
    assert "origin" in response["Vary"].lower()  # a shared cache keeps one answer per origin


def test_an_allowed_origin_can_read_the_apis_errors(client):
    response = client.get("/api/v1/no-such-thing/", HTTP_ORIGIN=TRUSTED)
    assert response.status_code == 404
    assert response["Access-Control-Allow-Origin"] == TRUSTED


def test_an_allowed_origins_preflight_names_the_methods_and_headers(client):
    response = preflight(client, "/api/v1/identity/auth/login/", TRUSTED)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == TRUSTED
    assert "POST" in response["Access-Control-Allow-Methods"]
    allowed = {name.strip() for name in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key"} <= allowed  # what the API's clients send
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.parametrize("origin", UNTRUSTED)
def test_an_untrusted_origin_gets_no_allow_origin(client, origin):
    response = client.get(API, HTTP_ORIGIN=origin)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.parametrize("origin", UNTRUSTED)
def test_an_untrusted_origins_preflight_gets_no_allow_origin(client, origin):
    response = preflight(client, "/api/v1/identity/auth/login/", origin)
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Methods" not in response
    assert "Access-Control-Allow-Headers" not in response


def test_a_signed_in_call_from_an_untrusted_origin_gets_no_allow_origin(api_client, member, portal, rbac_seeded):
    client = api_client(member("owner"), portal)
    response = client.get("/api/v1/identity/auth/me/", HTTP_ORIGIN="https://evil.test")
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.parametrize("path", ["/portal/acme-test/login/", "/", "/healthz", "/.well-known/jwks.json"])
def test_no_allow_origin_outside_the_api_even_for_the_allowed_origin(client, portal, path):
    response = client.get(path, HTTP_ORIGIN=TRUSTED)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Origin" not in preflight(client, path, TRUSTED)


def test_without_configured_origins_no_origin_is_allowed(client, settings):
    settings.CORS_ALLOWED_ORIGINS = []
    for origin in (TRUSTED, "null", "https://evil.test"):
        assert "Access-Control-Allow-Origin" not in client.get(API, HTTP_ORIGIN=origin)
        assert "Access-Control-Allow-Origin" not in preflight(client, API, origin)


def test_the_settings_never_allow_every_origin_or_credentials(settings):
    assert settings.CORS_ALLOW_ALL_ORIGINS is False
    assert settings.CORS_ALLOW_CREDENTIALS is False
    assert settings.CORS_ALLOWED_ORIGIN_REGEXES == []
    assert settings.CORS_URLS_REGEX == r"^/api/"


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "null",
        "https://app.example.com/",
        "https://app.example.com/path",
        "app.example.com",
        "https://*.example.com",
    ],
)
def test_a_setting_that_is_not_an_origin_stops_the_start_up(value):
    with pytest.raises(ImproperlyConfigured, match="CORS_ALLOWED_ORIGINS"):
        cors_allowed_origins(["https://ok.example.com", value])


def test_the_setting_takes_origins_as_written(monkeypatch):
    assert cors_allowed_origins([" https://App.example.com ", "", "http://localhost:5173"]) == [
        "https://app.example.com",
        "http://localhost:5173",
    ]
