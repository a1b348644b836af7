"""`Host: evil` is refused (400) everywhere but the load balancer's probes (docs/security.md).

Django checks the Host header against ALLOWED_HOSTS at the first `request.get_host()`; every page
and API path reaches one. `X-Forwarded-Host` is never believed (USE_X_FORWARDED_HOST off), so a
client cannot name a host through it. `/healthz` and `/readyz` alone answer whatever the Host: the
AWS ALB probes by the task's IP address, and the probes reveal nothing and build no absolute URL
(apps.common.middleware.ProbeMiddleware).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

EVIL_HOSTS = ["evil.example", "10.0.3.17:8000", "testserver.evil.example", "evil.example:80@testserver"]
REFUSED_PATHS = [
    "/",
    "/api/v1/",
    "/api/v1/identity/portals/acme-test/",
    "/portal/acme-test/login/",
    "/portal/acme-test/dashboard/",
    "/.well-known/jwks.json",
    "/metrics",
    "/healthz/",  # only the probes' exact paths
    "/readyz/",
    "/healthzx",
]


@pytest.mark.parametrize("host", EVIL_HOSTS)
@pytest.mark.parametrize("path", REFUSED_PATHS)
def test_an_unknown_host_is_refused(client, portal, path, host):
    response = client.get(path, HTTP_HOST=host)
    assert response.status_code == 400
    assert b"evil" not in response.content


def test_the_refusal_is_problem_json_on_the_api_and_a_page_elsewhere(client, portal):
    api = client.get("/api/v1/", HTTP_HOST="evil.example")
    assert api["Content-Type"] == "application/problem+json"
    page = client.get("/portal/acme-test/login/", HTTP_HOST="evil.example")
    assert page["Content-Type"].startswith("text/html")


def test_a_post_with_an_unknown_host_is_refused_before_it_acts(client, portal, member):
    user = member("owner")
    response = client.post(
        "/api/v1/identity/auth/login/",
        {"email": user.email, "password": "x", "portal": portal.slug},
        HTTP_HOST="evil.example",
        content_type="application/json",
    )
    assert response.status_code == 400


@pytest.mark.parametrize("path", ["/", "/api/v1/", "/portal/acme-test/login/"])
def test_x_forwarded_host_cannot_name_an_allowed_host(client, portal, path):
    response = client.get(path, HTTP_HOST="evil.example", HTTP_X_FORWARDED_HOST="testserver")
    assert response.status_code == 400


@pytest.mark.parametrize("path", ["/", "/api/v1/", "/portal/acme-test/login/"])
def test_x_forwarded_host_is_ignored_not_checked(client, portal, path):
    # Were it believed, the evil name would be the host and the answer 400.
    response = client.get(path, HTTP_X_FORWARDED_HOST="evil.example")
    assert response.status_code == 200


def test_forwarded_host_is_off_even_behind_a_trusted_proxy(settings):
    assert settings.USE_X_FORWARDED_HOST is False
    assert settings.USE_X_FORWARDED_PORT is False


@pytest.mark.parametrize("host", ["10.0.3.17:8000", "10.0.3.17", "evil.example", "[fd00::17]:8000"])
def test_the_liveness_probe_answers_whatever_the_host(client, host):
    response = client.get("/healthz", HTTP_HOST=host)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]
    assert response["X-Content-Type-Options"] == "nosniff"  # the same headers as everywhere


def test_the_readiness_probe_answers_whatever_the_host(client):
    response = client.get("/readyz", HTTP_HOST="10.0.3.17:8000")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert "database" in body["checks"]
    assert b"10.0.3.17" not in response.content


def test_a_probe_by_ip_is_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz", HTTP_HOST="10.0.3.17:8000").status_code == 200
    assert client.get("/readyz", HTTP_HOST="10.0.3.17:8000").status_code == 200


def test_the_probes_still_take_only_get(client):
    assert client.post("/healthz", HTTP_HOST="10.0.3.17:8000").status_code == 405
    assert client.delete("/readyz", HTTP_HOST="10.0.3.17:8000").status_code == 405
