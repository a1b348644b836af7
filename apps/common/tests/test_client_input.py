"""No client input gets a 5xx, a redirect or HTML from the API: every answer is problem+json.

Every route the URL walker knows under `/api/` and `/.well-known/` is sent a
body over `DATA_UPLOAD_MAX_MEMORY_SIZE` (413) and a POST without its trailing
slash (404/405, never a 301 that would drop the body), in debug and not: in
debug Django answers its own HTML pages (404, 500) unless the API says
otherwise. One test starts a real `DJANGO_DEBUG=true` process, as `make run`
does, so nothing decided when the settings are imported is missed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from django.test import Client

from tests.test_url_walker import ROUTES, Route

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
API_PREFIXES = ("api/", ".well-known/")
API_ROUTES = [r for r in ROUTES if r.route.startswith(API_PREFIXES)]
# A login-shaped body of 3 MB: over Django's default 2.5 MB.
BIG_BODY = json.dumps({"email": "a@example.test", "password": "x" * 3_000_000, "portal": "acme-test"})
_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
_VALUES = {"slug": "acme-test", "uuid": str(uuid.UUID(int=1)), "int": "1", "str": "member", "path": "x"}


def concrete(route: Route) -> str:
    """The route with plausible values for its parameters: `/api/v1/identity/portals/acme-test/`."""
    return "/" + _PARAM.sub(lambda m: _VALUES[m.group("converter") or "str"], route.route)


def methods(route: Route) -> list[str]:
    return sorted(route.methods) or ["GET", "POST"]


def _ids(routes: list[Route]) -> list[str]:
    return [f"{r.dispatch_method or 'ANY'} /{r.route}" for r in routes]


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def debug(request, settings) -> bool:
    settings.DEBUG = request.param
    return bool(request.param)


@pytest.fixture
def client() -> Client:
    # Unhandled exceptions become responses, as they do in a server.
    return Client(raise_request_exception=False)


def assert_problem(response, *statuses: int) -> dict:
    assert response.status_code in statuses, (response.status_code, response.content[:300])
    assert response["Content-Type"] == PROBLEM, response["Content-Type"]
    body = json.loads(response.content)
    assert body["status"] == response.status_code
    assert body["type"].startswith("https://atrium.dev/problems/")
    assert body["detail"]
    return body


def test_every_api_route_is_covered():
    assert any(r.route == "api/v1/identity/auth/login/" for r in API_ROUTES)
    assert any(r.route == ".well-known/jwks.json" for r in API_ROUTES)
    assert any("<" in r.route for r in API_ROUTES), "routes with parameters are exercised too"
    assert len(API_ROUTES) > 20


@pytest.mark.parametrize("route", API_ROUTES, ids=_ids(API_ROUTES))
def test_a_body_over_the_upload_limit_is_413_on_every_route(client, debug, route):
    for method in methods(route):
        response = client.generic(method, concrete(route), BIG_BODY, content_type="application/json")
        body = assert_problem(response, 413)
        assert body["type"].endswith("/request_too_large")


def test_a_body_just_under_the_limit_is_read_normally(client, debug, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(BIG_BODY)
    response = client.post("/api/v1/identity/auth/login/", BIG_BODY, content_type="application/json")
    assert response.status_code == 400  # the password is longer than any password: a field error
    assert "password" in assert_problem(response, 400)["errors"]


def test_a_large_multipart_body_is_left_to_the_endpoint(client):
    # Uploads have their own limit (files/); the JSON limit does not apply to them.
    response = client.post(
        "/api/v1/identity/auth/login/",
        {"file": ("big.bin", b"x" * 3_000_000)},
    )
    assert_problem(response, 415)


@pytest.mark.parametrize(
    "route",
    [r for r in API_ROUTES if r.route.endswith("/")],
    ids=_ids([r for r in API_ROUTES if r.route.endswith("/")]),
)
def test_a_post_without_the_trailing_slash_is_a_problem_never_a_redirect(client, debug, route):
    path = concrete(route).rstrip("/")
    response = client.post(path, {"refresh": "x"}, content_type="application/json")
    body = assert_problem(response, 404, 405)
    assert "Location" not in response
    assert f"{path}/" in body["detail"]  # names the address that exists


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/nope/", 404),
        ("GET", "/api/v1/identity/nope/", 404),
        ("POST", "/api/v1/identity/nope", 404),
        ("GET", "/api/nope", 404),
        ("GET", "/.well-known/nope", 404),
        ("POST", "/api/v1/schema/", 405),
        ("DELETE", "/api/v1/", 405),
        ("PUT", "/.well-known/jwks.json", 405),
    ],
)
def test_unknown_paths_and_methods_are_problems_in_debug_too(client, debug, method, path, status):
    response = client.generic(method, path, "{}", content_type="application/json")
    assert_problem(response, status)
    assert b"<html" not in response.content.lower()


def test_a_405_keeps_its_allow_header(client, debug):
    response = client.post("/api/v1/schema/", "{}", content_type="application/json")
    assert_problem(response, 405)
    assert "GET" in response["Allow"]


def test_pages_outside_the_api_keep_django_behaviour(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/api/v1/identity/auth/refresh/", "/api/v1/identity/auth/logout/"])
@pytest.mark.parametrize("value", [123, 1.5, True, None, [], ["x"], {"token": "x"}], ids=repr)
def test_a_refresh_token_that_is_no_string_is_400_naming_it(client, path, value):
    response = client.post(path, {"refresh": value}, content_type="application/json")
    body = assert_problem(response, 400)  # 123 used to be read as "123": an unknown token, 401
    assert set(body["errors"]) == {"refresh"}


@pytest.mark.parametrize("path", ["/api/v1/identity/auth/refresh/", "/api/v1/identity/auth/logout/"])
def test_an_unknown_refresh_token_string_is_still_401(client, path):
    assert_problem(client.post(path, {"refresh": "123"}, content_type="application/json"), 401)


_SCRIPT = textwrap.dedent(
    """
    import json, django
    django.setup()
    from django.conf import settings
    from django.test import Client

    assert settings.DEBUG, "the child process must run in debug"
    client = Client(raise_request_exception=False)
    big = json.dumps({"email": "a@example.test", "password": "x" * 3_000_000, "portal": "acme-test"})
    answers = [
        client.get("/api/v1/identity/no-such-endpoint/"),
        client.post("/api/v1/schema/", "{}", content_type="application/json"),
        client.post("/api/v1/identity/auth/login", "{}", content_type="application/json"),
        client.post("/api/v1/identity/auth/login/", big, content_type="application/json"),
    ]
    print(json.dumps([[r.status_code, r["Content-Type"], r.content.decode()[:200]] for r in answers]))
    """
)


def test_a_real_debug_process_answers_problems(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL"}}
    env.update(DJANGO_DEBUG="true", DATABASE_URL=f"sqlite:///{tmp_path / 'debug.sqlite3'}")
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        cwd=Path(__file__).resolve().parents[3],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    assert [(status, content_type) for status, content_type, _ in answers] == [
        (404, PROBLEM),
        (405, PROBLEM),
        (404, PROBLEM),
        (413, PROBLEM),
    ], answers
