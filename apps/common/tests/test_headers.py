"""Security headers on HTML and JSON responses (docs/security.md, "API input and web", and trap 7).

`check --deploy` says nothing about CSP or Permissions-Policy, so they are
checked here on real responses. The test client's `secure=True` stands for the
TLS proxy: Django sends HSTS only on secure requests.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def csp_directives(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_security_headers(response) -> None:
    csp = csp_directives(response["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    script_src = csp.get("script-src", csp["default-src"])
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
    permissions = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
        assert feature in permissions
    hsts = response["Strict-Transport-Security"]
    assert "max-age=31536000" in hsts
    assert "includeSubDomains" in hsts


@pytest.mark.parametrize("path", ["/no-such-page/", "/api/v1/docs/"])
def test_html_response_has_every_security_header(client, path):
    response = client.get(path, secure=True)
    assert response["Content-Type"].startswith("text/html")
    assert_security_headers(response)
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.parametrize(("path", "status"), [("/api/v1/", 200), ("/api/v1/nope/", 404), ("/healthz", 200)])
def test_json_response_has_every_security_header(client, path, status):
    response = client.get(path, secure=True)
    assert response.status_code == status
    assert "json" in response["Content-Type"]
    assert_security_headers(response)


def test_no_hsts_over_plain_http(client):
    # HSTS on plain HTTP is ignored by browsers and would mislead; Django omits it.
    response = client.get("/api/v1/")
    assert "Strict-Transport-Security" not in response


def test_plain_http_is_redirected_to_https_when_configured(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/api/v1/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/api/v1/"


def test_probes_are_not_redirected_to_https(client, settings):
    # Load balancers probe over plain HTTP inside the network.
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200


def test_unknown_host_is_refused(client):
    response = client.get("/api/v1/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 400


@pytest.mark.parametrize("path", ["/", "/portal/no-such-portal/login/", "/metrics", "/healthz/"])
def test_unknown_host_is_refused_on_pages_too(client, path):
    assert client.get(path, HTTP_HOST="evil.example").status_code == 400


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_whatever_the_host(client, path):
    # The load balancer's health check sends the task's IP as Host (apps.common.middleware.ProbeMiddleware).
    response = client.get(path, HTTP_HOST="10.0.3.17:8000", secure=True)
    assert response.status_code == 200
    assert_security_headers(response)
