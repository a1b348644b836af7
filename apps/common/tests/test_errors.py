"""Every API error is RFC 9457 problem+json; pages outside /api/ keep Django's HTML.

docs/api.md: `type`, `title`, `status`, `detail`, and `errors: {field: [messages]}`
for validation; 401 carries `WWW-Authenticate: Bearer`; no 5xx body leaks a
traceback.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from rest_framework.exceptions import ValidationError

from apps.common.errors import flatten_errors, problem

pytestmark = [pytest.mark.django_db, pytest.mark.urls("apps.common.tests.urls_errors")]

PROBLEM = "application/problem+json"


@pytest.fixture
def api() -> Client:
    # Unhandled exceptions must become responses, as they do in production.
    return Client(raise_request_exception=False)


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def test_validation_error_lists_messages_per_field(api):
    response = api.post(
        "/api/v1/test/validate/", {"email": "not-an-email", "age": 12, "address": {}}, content_type="application/json"
    )
    body = assert_problem(response, 400)
    assert body["type"].endswith("/validation_error")
    errors = body["errors"]
    assert set(errors) == {"email", "age", "address.city"}
    assert all(isinstance(messages, list) and messages for messages in errors.values())
    assert all(isinstance(m, str) for messages in errors.values() for m in messages)
    assert "18" in errors["age"][0]


def test_errors_inside_lists_name_the_item(api):
    payload = {
        "email": "a@example.com",
        "age": 30,
        "address": {"city": "Oslo"},
        "previous_addresses": [{"city": "Rome"}, {}],
    }
    body = assert_problem(api.post("/api/v1/test/validate/", payload, content_type="application/json"), 400)
    assert set(body["errors"]) == {"previous_addresses[1].city"}


def test_malformed_json_is_400_problem(api):
    response = api.post("/api/v1/test/validate/", "{not json", content_type="application/json")
    body = assert_problem(response, 400)
    assert body["type"].endswith("/parse_error")
    assert "errors" not in body


def test_unsupported_media_type_is_415_problem(api):
    response = api.post("/api/v1/test/validate/", "email=a@b.c", content_type="text/plain")
    assert_problem(response, 415)


def test_unauthenticated_is_401_with_bearer_challenge(api):
    response = api.get("/api/v1/test/bearer/")
    body = assert_problem(response, 401)
    assert response["WWW-Authenticate"] == "Bearer"
    assert body["type"].endswith("/not_authenticated")


def test_unknown_api_path_is_404_problem(api):
    body = assert_problem(api.get("/api/v1/nope/"), 404)
    assert body["type"].endswith("/not_found")


@pytest.mark.parametrize("path", ["/api/v1/test/drf-404/", "/api/v1/test/django-404/"])
def test_not_found_raised_in_a_view_is_404_problem(api, path):
    assert_problem(api.get(path), 404)


def test_drf_not_found_keeps_its_detail(api):
    assert api.get("/api/v1/test/drf-404/").json()["detail"] == "No invoice with that id."


def test_wrong_method_is_405_problem(api):
    response = api.post("/api/v1/", {}, content_type="application/json")
    body = assert_problem(response, 405)
    assert "POST" in body["detail"]
    assert "GET" in response["Allow"]


def test_django_permission_denied_in_api_view_is_403_problem(api):
    assert_problem(api.get("/api/v1/test/django-403/"), 403)


def test_throttled_is_429_with_retry_after(api):
    response = api.get("/api/v1/test/throttled/")
    assert_problem(response, 429)
    assert response["Retry-After"] == "42"


def test_unhandled_exception_is_500_problem_without_internals(api, atrium_log_lines):
    response = api.get("/api/v1/test/boom/")
    body = assert_problem(response, 500)
    text = response.content.decode()
    for leak in ("Traceback", "RuntimeError", "hunter2", "secret.py", "urls_errors"):
        assert leak not in text
    assert set(body) == {"type", "title", "status", "detail"}
    # The operator still gets the exception, in the log, with the secret redacted.
    logged = [line for line in atrium_log_lines() if line["event"] == "unhandled_exception"]
    assert len(logged) == 1
    assert "RuntimeError" in logged[0]["exception"]
    assert "hunter2" not in logged[0]["exception"]


def test_unhandled_exception_in_plain_django_api_view_is_500_problem(api):
    response = api.get("/api/v1/test/plain-boom/")
    assert_problem(response, 500)
    assert b"abc123" not in response.content
    assert b"Traceback" not in response.content


def test_permission_denied_in_plain_django_api_view_is_403_problem(api):
    assert_problem(api.get("/api/v1/test/plain-denied/"), 403)


def test_suspicious_request_to_api_is_400_problem(api):
    assert_problem(api.get("/api/v1/test/plain-bad/"), 400)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/no-such-page/", 404), ("/test/plain-boom/", 500), ("/test/plain-denied/", 403), ("/test/plain-bad/", 400)],
)
def test_pages_outside_the_api_keep_django_html_errors(api, path, status):
    response = api.get(path)
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    assert b"Traceback" not in response.content


@pytest.mark.parametrize(
    ("kind", "status", "code", "detail"),
    [
        ("invalid", 400, "invalid", "Seats exceed the plan."),
        ("not-found", 404, "not_found", "No such member."),
        ("denied", 403, "permission_denied", "Only an owner can grant owner."),
        ("conflict", 409, "conflict", "Slug taken."),
        ("locked", 429, "throttled", "Too many attempts."),
        ("unavailable", 503, "service_unavailable", "Service unavailable"),
    ],
)
def test_application_errors_map_to_status_and_problem(api, kind, status, code, detail):
    body = assert_problem(api.get(f"/api/v1/test/app-error/{kind}/"), status)
    assert body["type"].endswith(f"/{code}")
    assert body["detail"] == detail


def test_application_error_carries_field_errors(api):
    body = api.get("/api/v1/test/app-error/invalid/").json()
    assert body["errors"] == {"seats": ["At most 5."]}


def test_application_error_extensions_cannot_overwrite_standard_members(api):
    response = api.get("/api/v1/test/app-error/conflict/")
    body = response.json()
    assert response.status_code == 409
    assert body["status"] == 409  # the error passed status=200 as an extension
    assert body["slug"] == "acme"


def test_lockout_error_sends_retry_after(api):
    assert api.get("/api/v1/test/app-error/locked/")["Retry-After"] == "30"


@pytest.mark.parametrize(
    ("path", "status", "name"),
    [
        ("/api/v1/test/write-then-refuse/", 409, "written-before-refusal"),
        ("/api/v1/test/write-then-crash/", 500, "written-before-crash"),
    ],
)
def test_failed_request_does_not_commit_its_writes(api, monkeypatch, path, status, name):
    # With ATOMIC_REQUESTS, an error turned into a response must still roll the request back.
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    response = api.post(path, {}, content_type="application/json")
    assert response.status_code == status
    assert not Group.objects.filter(name=name).exists()


def test_problem_defaults_title_from_status():
    assert problem(409, code="conflict", detail="x")["title"] == "Conflict"
    assert problem(418, code="teapot", detail="x")["title"] == "Error"


def test_item_errors_raised_as_a_list_name_the_item():
    detail = ValidationError({"items": [{}, {"sku": ["Unknown SKU."]}], "note": "Too long."}).detail
    assert flatten_errors(detail) == {"items[1].sku": ["Unknown SKU."], "note": ["Too long."]}
