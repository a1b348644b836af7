"""Secrets never reach a log line; compliance profiles redact personal data too.

Everything is read from what the configured console handler (JsonFormatter +
RedactionFilter from LOGGING) actually writes.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from apps.common import request_context
from apps.common.logging import REDACTED, redact, redact_text

JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0"
    ".eyJzdWIiOiI0MiIsInRlbmFudCI6ImFjbWUiLCJleHAiOjE3MDAwMDAwMDB9"
    ".c2lnbmF0dXJlLWJ5dGVzLWhlcmUtYW5kLW1vcmU"
)
PASSWORD = "correct-horse-battery-staple"

log = logging.getLogger("atrium.test.logging")


def raw(lines: list[dict]) -> str:
    return json.dumps(lines)


@pytest.mark.django_db
@pytest.mark.urls("apps.common.tests.urls_errors")
def test_request_with_bearer_token_and_password_body_logs_neither(client, atrium_log_lines, settings):
    settings.COMPLIANCE_PROFILES = []
    response = client.post(
        "/api/v1/test/echo-log/",
        {"email": "ann@example.com", "password": PASSWORD, "profile": {"new_password1": PASSWORD}},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {JWT}",
        HTTP_COOKIE=f"sessionid=abcdef123456; csrftoken={PASSWORD}",
        HTTP_X_TRACE="visible-header-value",
    )
    assert response.status_code == 200
    lines = atrium_log_lines()
    output = raw(lines)
    assert JWT not in output
    assert JWT.split(".")[1] not in output
    assert PASSWORD not in output
    assert "abcdef123456" not in output
    # The rest of the line survives: redaction is targeted, not a blank line.
    (echo,) = [line for line in lines if line["event"] == "echo"]
    assert echo["headers"]["Authorization"] == REDACTED
    assert echo["headers"]["X-Trace"] == "visible-header-value"
    assert echo["body"]["password"] == REDACTED
    assert echo["body"]["email"] == "ann@example.com"
    (raw_body,) = [line for line in lines if line["event"].startswith("raw body")]
    assert "ann@example.com" in raw_body["event"]


@pytest.mark.django_db
@pytest.mark.urls("apps.common.tests.urls_errors")
def test_django_error_line_has_no_query_string(atrium_log_lines):
    Client(raise_request_exception=False).get("/api/v1/test/boom/?signature=SIGNED-LINK-VALUE")
    lines = atrium_log_lines()
    assert "SIGNED-LINK-VALUE" not in raw(lines)
    (django_line,) = [line for line in lines if line["logger"] == "django.request"]
    assert django_line["request"] == {"method": "GET", "path": "/api/v1/test/boom/"}


def test_extra_fields_with_secret_names_are_redacted(atrium_log_lines):
    log.info(
        "login",
        extra={
            "password": PASSWORD,
            "refresh": JWT,
            "client_secret": "s3cr3t-value",
            "attempt": {"otp_code": "123456", "backup_code": "abcd-efgh", "status_code": 401},
        },
    )
    (line,) = atrium_log_lines()
    assert line["password"] == REDACTED
    assert line["refresh"] == REDACTED
    assert line["client_secret"] == REDACTED
    assert line["attempt"] == {"otp_code": REDACTED, "backup_code": REDACTED, "status_code": 401}


def test_tokens_in_message_text_and_arguments_are_redacted(atrium_log_lines):
    log.warning("callback %s failed: Authorization: Bearer %s", "/cb?access_token=QUERYTOKEN&x=1", JWT)
    log.warning("payload %s", {"password": PASSWORD, "user": "ann"})
    log.warning("body %s", json.dumps({"api_key": "AKIA-SECRET", "n": 1}).encode())
    first, second, third = (line["event"] for line in atrium_log_lines())
    assert "QUERYTOKEN" not in first
    assert JWT not in first
    assert "x=1" in first
    assert PASSWORD not in second
    assert "ann" in second
    assert "AKIA-SECRET" not in third


def test_non_text_message_and_byte_fields_are_redacted(atrium_log_lines):
    log.info({"event": "login", "password": PASSWORD})
    log.info(
        "upload", extra={"raw": json.dumps({"password": PASSWORD}).encode(), "stack_info_here": True}, stack_info=True
    )
    first, second = atrium_log_lines()
    assert PASSWORD not in first["event"]
    assert "login" in first["event"]
    assert PASSWORD not in second["raw"]
    assert "test_non_text_message_and_byte_fields_are_redacted" in second["stack"]


def test_mapping_argument_keeps_working_when_a_value_is_redacted(atrium_log_lines):
    log.info("sent code %(code)d to user %(user)s", {"code": 424242, "user": "ann"})
    log.info("retry %d of %d", 2, 3)
    first, second = (line["event"] for line in atrium_log_lines())
    assert "424242" not in first
    assert first.startswith("sent code")
    assert second == "retry 2 of 3"


def test_exception_text_is_redacted(atrium_log_lines):
    try:
        raise ValueError(f"token rejected: {JWT} password: {PASSWORD}")
    except ValueError:
        log.exception("verify_failed")
    (line,) = atrium_log_lines()
    assert "ValueError" in line["exception"]
    assert JWT not in line["exception"]
    assert PASSWORD not in line["exception"]


def test_context_fields_appear_on_every_line(atrium_log_lines):
    token = request_context.reset()
    try:
        request_context.bind(request_id="req-12345678", tenant="acme", user="42", portal=None)
        log.info("inside")
    finally:
        request_context.restore(token)
    log.info("outside")
    inside, outside = atrium_log_lines()
    assert (inside["request_id"], inside["tenant"], inside["user"]) == ("req-12345678", "acme", "42")
    assert "portal" not in inside
    assert "request_id" not in outside


def test_unserialisable_extra_is_written_as_text(atrium_log_lines):
    log.info("odd", extra={"thing": object(), "when": 1.5})
    (line,) = atrium_log_lines()
    assert line["thing"].startswith("<object object")
    assert line["when"] == 1.5


def test_email_is_logged_without_a_profile(atrium_log_lines, settings):
    settings.COMPLIANCE_PROFILES = []
    log.info("invite sent to ann@example.com", extra={"email": "ann@example.com", "membership_id": "m-1"})
    (line,) = atrium_log_lines()
    assert line["email"] == "ann@example.com"
    assert "ann@example.com" in line["event"]


def test_hipaa_profile_also_redacts_email_fields(atrium_log_lines, settings):
    settings.COMPLIANCE_PROFILES = ["hipaa"]
    log.info(
        "invite sent to ann@example.com",
        extra={
            "email": "ann@example.com",
            "invitee": {"user_email": "bob@example.com", "phone": "+1 555 0100"},
            "client_ip": "203.0.113.9",
            "membership_id": "m-1",
            "description": "kept",
        },
    )
    (line,) = atrium_log_lines()
    assert "ann@example.com" not in raw([line])
    assert "bob@example.com" not in raw([line])
    assert line["email"] == REDACTED
    assert line["invitee"] == {"user_email": REDACTED, "phone": REDACTED}
    assert line["client_ip"] == REDACTED
    # Short profile words match whole parts of a key only: `ip` is inside these names.
    assert line["membership_id"] == "m-1"
    assert line["description"] == "kept"


def test_hipaa_profile_redacts_email_bound_into_the_request_context(atrium_log_lines, settings):
    settings.COMPLIANCE_PROFILES = ["hipaa"]
    token = request_context.reset()
    try:
        request_context.bind(user="ann@example.com")
        log.info("x")
    finally:
        request_context.restore(token)
    (line,) = atrium_log_lines()
    assert line["user"] == REDACTED


def test_pci_profile_redacts_card_numbers(atrium_log_lines, settings):
    settings.COMPLIANCE_PROFILES = ["pci"]
    log.info("charge failed for 4111 1111 1111 1111", extra={"card_number": "4111111111111111", "pan": "1"})
    (line,) = atrium_log_lines()
    assert "4111" not in raw([line])


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Cookie: sessionid=SESS123; csrftoken=CSRF456", "SESS123"),
        ("Cookie: sessionid=SESS123; csrftoken=CSRF456", "CSRF456"),
        ("/reset?uid=1&key=RESETKEY", "RESETKEY"),
        ("grant_type=refresh_token&refresh_token=RTOKEN", "RTOKEN"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("{'client_secret': 'CS', 'n': 1}", "'CS'"),
        ('{"password": "with \\" quote"}', "quote"),
    ],
)
def test_redact_text_removes_credentials(text, secret):
    assert secret not in redact_text(text, ())


def test_redact_text_keeps_harmless_text():
    text = 'WWW-Authenticate: Bearer realm="metrics"; status_code=401; password authentication failed'
    assert redact_text(text, ()) == text


def test_redact_walks_nested_containers():
    value = {"items": [{"token": "T"}, ("Bearer abc.def.ghi",)], "count": 2, "ok": True, "none": None}
    assert redact(value) == {
        "items": [{"token": REDACTED}, [f"Bearer {REDACTED}"]],
        "count": 2,
        "ok": True,
        "none": None,
    }
