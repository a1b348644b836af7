"""Request ids and the one JSON access line per request (apps.common.middleware)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.common.request_context import log_fields

pytestmark = [pytest.mark.django_db, pytest.mark.urls("apps.common.tests.urls_errors")]

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def access_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "atrium.request"]


def test_well_formed_request_id_is_echoed_and_logged(client, atrium_log_lines):
    response = client.get("/api/v1/", HTTP_X_REQUEST_ID="lb-7f3a.9c2e_1")
    assert response["X-Request-ID"] == "lb-7f3a.9c2e_1"
    (line,) = access_lines(atrium_log_lines())
    assert line["request_id"] == "lb-7f3a.9c2e_1"


@pytest.mark.parametrize(
    "incoming",
    ["short", "has spaces in it", "abcdefgh\nforged-log-line", "<script>alert(1)</script>", "x" * 129, "ünïcødé-id-1"],
)
def test_malformed_request_id_is_replaced(client, atrium_log_lines, incoming):
    response = client.get("/api/v1/", HTTP_X_REQUEST_ID=incoming)
    replaced = response["X-Request-ID"]
    assert GENERATED_ID.fullmatch(replaced)
    (line,) = access_lines(atrium_log_lines())
    assert line["request_id"] == replaced


def test_each_request_gets_its_own_id(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert first != second


def test_access_line_has_request_fields_and_no_query_string(client, atrium_log_lines):
    client.get("/api/v1/?access_token=SEKRIT-QUERY-VALUE&page=2")
    (line,) = access_lines(atrium_log_lines())
    assert line["event"] == "request"
    assert line["method"] == "GET"
    assert line["path"] == "/api/v1/"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], (int, float))
    assert line["duration_ms"] >= 0
    assert GENERATED_ID.fullmatch(line["request_id"])
    assert "time" in line
    assert line["level"] == "INFO"
    raw = str(atrium_log_lines())
    assert "SEKRIT-QUERY-VALUE" not in raw
    assert "page=2" not in raw


@pytest.mark.parametrize(("method", "path", "status"), [("get", "/api/v1/nope/", 404), ("post", "/api/v1/", 405)])
def test_access_line_records_error_statuses(client, atrium_log_lines, method, path, status):
    getattr(client, method)(path)
    (line,) = access_lines(atrium_log_lines())
    assert (line["method"], line["path"], line["status"]) == (method.upper(), path, status)


def test_access_line_records_unhandled_failure_as_500(atrium_log_lines):
    Client(raise_request_exception=False).get("/api/v1/test/plain-boom/")
    (line,) = access_lines(atrium_log_lines())
    assert line["status"] == 500


def test_lines_written_during_a_request_carry_its_id(client, atrium_log_lines):
    response = client.post("/api/v1/test/echo-log/", {"a": 1}, content_type="application/json")
    ids = {line["request_id"] for line in atrium_log_lines()}
    assert ids == {response["X-Request-ID"]}


def test_request_context_does_not_outlive_the_request(client):
    client.get("/api/v1/", HTTP_X_REQUEST_ID="request-one-1234")
    assert log_fields() == {}
