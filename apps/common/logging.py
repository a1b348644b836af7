"""JSON log formatting and redaction of secrets.

Every record becomes one JSON object with the request context (request id,
tenant, user, portal). Values under sensitive keys (authorization, cookies,
passwords, tokens, secrets) are replaced before anything is written; compliance
profiles (`COMPLIANCE_PROFILES`) widen the set of redacted keys.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from apps.common.request_context import log_fields

REDACTED = "[REDACTED]"

# Keys containing one of these never reach a log line.
BASE_SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "cookie",
        "password",
        "passwd",
        "token",
        "secret",
        "api_key",
        "apikey",
        "csrf",
        "session",
        "signature",
        "otp",
        "backup_code",
    }
)
# Keys that are sensitive only as a whole word (a `code` field, not `status_code`).
EXACT_SENSITIVE_KEYS = frozenset({"code", "refresh", "access", "key", "new_password1", "new_password2"})

# Extra keys redacted when a compliance profile is on.
PROFILE_SENSITIVE_KEYS: dict[str, frozenset[str]] = {
    "hipaa": frozenset({"email", "name", "phone", "address", "birth", "ssn", "ip", "user_agent"}),
    "pci": frozenset({"card", "pan", "cvv", "cvc", "expiry", "iban", "account_number"}),
    "ferpa": frozenset({"email", "name", "student", "grade", "ip"}),
}

_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_KV = re.compile(r"(?i)\b(password|passwd|token|secret|refresh|access|code|sessionid|csrftoken)=([^&\s;]+)")

_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def sensitive_keys() -> frozenset[str]:
    keys = set(BASE_SENSITIVE_KEYS)
    for profile in getattr(settings, "COMPLIANCE_PROFILES", []):
        keys |= PROFILE_SENSITIVE_KEYS.get(profile.strip().lower(), frozenset())
    return frozenset(keys)


def _is_sensitive(key: str, keys: frozenset[str]) -> bool:
    lowered = key.lower()
    return lowered in EXACT_SENSITIVE_KEYS or any(part in lowered for part in keys)


def redact_text(text: str) -> str:
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    return _KV.sub(lambda m: f"{m.group(1)}={REDACTED}", text)


def redact(value: Any, keys: frozenset[str] | None = None) -> Any:
    """Return `value` with sensitive keys' values and token-looking strings replaced."""
    keys = keys if keys is not None else sensitive_keys()
    if isinstance(value, dict):
        return {k: (REDACTED if _is_sensitive(str(k), keys) else redact(v, keys)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, keys) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class RedactionFilter(logging.Filter):
    """Redacts the message and every extra field of a record in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        keys = sensitive_keys()
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = redact_text(str(record.msg))
        for key, value in list(vars(record).items()):
            if key in _RESERVED:
                continue
            record.__dict__[key] = REDACTED if _is_sensitive(key, keys) else redact(value, keys)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, context and extras."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        payload.update(log_fields())
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)
