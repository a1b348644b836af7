"""The one rule for what a tenant's auditors may read: no credential, on write or on read.

`data` of a user event is passed through `audit_data_redacted` before it is
stored, and the API passes every event's `data` through it again on the way out
(older rows, and events recorded with plain `audit_record`). Keeping the rule
in one key-based function is what keeps those two passes from disagreeing. It
is a pure function of the data, with no database access, so both the writers
and the API view can import it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final

from apps.common.logging import redact_text

REDACTED: Final = "[REDACTED]"
# A key is split into words (`backup_codes`, `backupCode` → backup, code); any of these words marks a credential.
_SECRET_WORDS: Final = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "token",
        "secret",
        "key",
        "apikey",
        "code",
        "otp",
        "totp",
        "pin",
        "hash",
        "salt",
        "signature",
        "cookie",
        "authorization",
        "csrf",
        "credential",
        "credentials",
    }
)
# ... and these anywhere in a word (`newpassword`, `accesstoken`, `clientsecret`).
_SECRET_FRAGMENTS: Final = ("password", "passwd", "secret", "token", "apikey", "credential")
# Top-level keys that look like a credential but are not one in these actions: a role's `code` is its slug.
_PUBLIC_KEYS: Final = {"role.": frozenset({"code"})}
_CAMEL: Final = re.compile(r"([a-z0-9])([A-Z])")
_NON_WORD: Final = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=4096)  # a pure function of the key; a tenant's events use a few dozen keys
def _secret_key(key: str) -> bool:
    lowered = _CAMEL.sub(r"\1_\2", key).lower()
    words = {w for w in _NON_WORD.split(lowered) if w}
    # Plurals too: `backup_codes`, `keys`, `hashes`.
    words |= {w[:-1] for w in words if w.endswith("s")} | {w[:-2] for w in words if w.endswith("es")}
    return bool(words & _SECRET_WORDS) or any(fragment in lowered for fragment in _SECRET_FRAGMENTS)


def _redact_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): REDACTED if _secret_key(str(k)) else _redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v) for v in value]
    if isinstance(value, str):
        # Free text (an admin's `reason`) can still carry `password: …`, a bearer token or a JWT.
        return redact_text(value, ())
    return value


def audit_data_redacted(*, action: str, data: Mapping[str, Any] | None) -> dict[str, Any]:
    """`data` as a tenant's auditors may see it: every value under a credential-looking key replaced.

    Key-based, at any depth: a key with a word such as password, token, code,
    secret, key, otp or hash (`new_password`, `accessToken`, `backup_code`,
    `api_key`) is `[REDACTED]` whatever its value; bearer tokens, JWTs and
    `password=…` pairs inside free-text values are cut out too. Ordinary keys
    (`portal`, `role`, `reason`, `scope`, `count`, `method`) come out as
    stored. The one exception is named: `code` in `role.*` events, a role's
    public code.
    """
    if not data:
        return {}
    public = next((keys for prefix, keys in _PUBLIC_KEYS.items() if action.startswith(prefix)), frozenset())
    return {
        str(k): v
        if str(k) in public and isinstance(v, str)
        else (REDACTED if _secret_key(str(k)) else _redact_value(v))
        for k, v in data.items()
    }
