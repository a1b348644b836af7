"""JSON log formatting and redaction of secrets.

Every record becomes one JSON object with the request context (request id,
tenant, user, portal). Values under sensitive keys (authorization, cookies,
passwords, tokens, secrets) are replaced before anything is written, and so are
token-looking strings in free text; compliance profiles (`COMPLIANCE_PROFILES`)
widen the set of redacted keys and patterns.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest

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
# Profile keys this short match only a whole part of a key (`client_ip`), never a
# substring: `ip` is inside `membership` and `pan` inside `company`.
_SHORT_KEY = 3

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Free-text patterns each profile adds: personal data that turns up in messages.
PROFILE_TEXT_PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    "hipaa": (_EMAIL,),
    "ferpa": (_EMAIL,),
    "pci": (re.compile(r"\b(?:\d[ -]?){13,19}\b"),),
}

# The credential after an auth scheme; `Bearer realm=...` (a challenge, not a secret) is kept.
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+(?!realm\b)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_SECRET_WORDS = r"password|passwd|token|secret|signature|sessionid|csrf|api_?key|authorization|cookie"  # noqa: S105
# `name=value` pairs (query strings, cookies, form bodies), also inside `access_token=`.
_KV = re.compile(rf"(?i)\b([\w.-]*(?:{_SECRET_WORDS})[\w.-]*|refresh|access|code|key)=([^&\s;,\"']+)")
# `"name": "value"` pairs in JSON or Python reprs that reached a message as text.
_QUOTED_KV = re.compile(
    rf"""(?i)(["'])([\w.-]*(?:{_SECRET_WORDS})[\w.-]*|refresh|access|code|key)\1(\s*:\s*)(["'])(?:\\.|(?!\4).)*\4"""
)

# `password: value` in free text (exception messages), after the quoted forms above are done.
_COLON_KV = re.compile(r"(?i)\b([\w.-]*(?:password|passwd|secret|token|api_?key))(\s*:\s*)([^\s,;'\"\[][^\s,;'\"]*)")

_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_KEY_PARTS = re.compile(r"[^a-z0-9]+")


def _profiles() -> tuple[str, ...]:
    return tuple(p.strip().lower() for p in getattr(settings, "COMPLIANCE_PROFILES", []) if p.strip())


def sensitive_keys() -> frozenset[str]:
    return _keys_of(_profiles())


def _text_patterns() -> tuple[re.Pattern[str], ...]:
    return _patterns_of(_profiles())


# Built once per set of compliance profiles (every log record asks), not once per record.
@functools.lru_cache(maxsize=16)
def _keys_of(profiles: tuple[str, ...]) -> frozenset[str]:
    keys = set(BASE_SENSITIVE_KEYS)
    for profile in profiles:
        keys |= PROFILE_SENSITIVE_KEYS.get(profile, frozenset())
    return frozenset(keys)


@functools.lru_cache(maxsize=16)
def _patterns_of(profiles: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    found: list[re.Pattern[str]] = []
    for profile in profiles:
        found.extend(p for p in PROFILE_TEXT_PATTERNS.get(profile, ()) if p not in found)
    return tuple(found)


# Log records carry the same few field names over and over: each is judged once per set of keys.
@functools.lru_cache(maxsize=2048)
def _is_sensitive(key: str, keys: frozenset[str]) -> bool:
    lowered = key.lower()
    if lowered in EXACT_SENSITIVE_KEYS:
        return True
    parts = set(_KEY_PARTS.split(lowered))
    return any((word in parts) if len(word) <= _SHORT_KEY else (word in lowered) for word in keys)


# Each base pattern needs one of these in the text to match: `=` (_KV), `:` (_QUOTED_KV, _COLON_KV),
# `eyJ` (_JWT), or a word `bearer`/`basic` (_BEARER). Text with none of them (most paths, slugs, ids,
# audit values) skips the five substitutions; the profiles' own patterns still run.
_MAY_HOLD_SECRET = re.compile(r"[=:]|eyJ|(?i:bearer|basic)")


def redact_text(text: str, patterns: tuple[re.Pattern[str], ...] | None = None) -> str:
    """Replace bearer credentials, JWTs and `secret=value` / `"secret": "value"` pairs in `text`."""
    if _MAY_HOLD_SECRET.search(text) is not None:
        text = _redact_base(text)
    for pattern in _text_patterns() if patterns is None else patterns:
        text = pattern.sub(REDACTED, text)
    return text


def _redact_base(text: str) -> str:
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    text = _KV.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _QUOTED_KV.sub(rf"\1\2\1\3\4{REDACTED}\4", text)
    return _COLON_KV.sub(rf"\1\2{REDACTED}", text)


def redact(value: Any, keys: frozenset[str] | None = None) -> Any:
    """Return `value` with sensitive keys' values and token-looking strings replaced."""
    keys = keys if keys is not None else sensitive_keys()
    return _redact(value, keys, _text_patterns())


def _redact(value: Any, keys: frozenset[str], patterns: tuple[re.Pattern[str], ...]) -> Any:
    if isinstance(value, dict):
        return {k: (REDACTED if _is_sensitive(str(k), keys) else _redact(v, keys, patterns)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_redact(v, keys, patterns) for v in value]
    if isinstance(value, HttpRequest):
        # Django logs the request object itself; its repr carries the query string.
        return {"method": value.method, "path": value.path}
    if isinstance(value, (bytes, bytearray)):
        return redact_text(bytes(value).decode("utf-8", errors="replace"), patterns)
    if isinstance(value, str):
        return redact_text(value, patterns)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    # Anything else is written as its str(); redact that text, not the object.
    return redact_text(str(value), patterns)


class RedactionFilter(logging.Filter):
    """Redacts the message, its arguments and every extra field of a record in place.

    It mutates the record on purpose: handlers that see it afterwards get the
    redacted values too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        keys = sensitive_keys()
        patterns = _text_patterns()
        if record.args:
            record.msg = self._merged_message(record, keys, patterns)
            record.args = None
        if not isinstance(record.msg, str):
            record.msg = str(_redact(record.msg, keys, patterns))
        record.msg = redact_text(record.msg, patterns)
        for key, value in list(vars(record).items()):
            if key in _RESERVED:
                continue
            record.__dict__[key] = REDACTED if _is_sensitive(key, keys) else _redact(value, keys, patterns)
        return True

    @staticmethod
    def _merged_message(record: logging.LogRecord, keys: frozenset[str], patterns: tuple[re.Pattern[str], ...]) -> str:
        """The message with its arguments, redacted while dict arguments still have their keys.

        Only containers are rewritten: other arguments keep their type so `%d` still works,
        and their text is redacted with the whole message afterwards.
        """
        args = record.args
        if isinstance(args, dict):
            record.args = {
                k: REDACTED if _is_sensitive(str(k), keys) else _redact_container(v, keys, patterns)
                for k, v in args.items()
            }
        else:
            record.args = tuple(_redact_container(arg, keys, patterns) for arg in args or ())
        try:
            return record.getMessage()
        except (TypeError, ValueError):
            # A redacted value no longer fits its placeholder (`%(code)d`): keep the template only.
            return f"{record.msg} [arguments withheld]"


def _redact_container(value: Any, keys: frozenset[str], patterns: tuple[re.Pattern[str], ...]) -> Any:
    return _redact(value, keys, patterns) if isinstance(value, (dict, list, tuple, set, frozenset)) else value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, context and extras."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        # Context fields are bound by other layers (user, tenant): they get the same rules.
        payload.update(redact(log_fields()))
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = redact_text(self.formatException(record.exc_info))
        if record.stack_info:
            payload["stack"] = redact_text(self.formatStack(record.stack_info))
        return json.dumps(payload, default=str)
