"""An API key's form — `atr_<prefix>_<secret>` — and the one digest that is stored.

The prefix (12 base62 characters) is public: it finds the key, and it is shown in
lists and audit events. The secret is 32 random bytes from `secrets`, written as 43
base62 characters (letters and digits only, so a double click selects the whole key).
Only SHA-256 of the whole key is stored: with 256 random bits there is nothing to
guess, so a slow password hash would buy nothing and cost a hash per request
(docs/adr/0015-api-keys-in-identity.md). The digest is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from typing import Final

SCHEME: Final = "atr_"
PREFIX_LENGTH: Final = 12
SECRET_BYTES: Final = 32
SECRET_LENGTH: Final = 43  # ceil(256 / log2(62))
_ALPHABET: Final = string.digits + string.ascii_letters
KEY_RE: Final = re.compile(
    rf"atr_(?P<prefix>[0-9A-Za-z]{{{PREFIX_LENGTH}}})_(?P<secret>[0-9A-Za-z]{{{SECRET_LENGTH}}})"
)
PREFIX_RE: Final = re.compile(rf"[0-9A-Za-z]{{{PREFIX_LENGTH}}}")


def _base62(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


def new_key() -> tuple[str, str]:
    """A fresh `(prefix, full key)`; the full key leaves the process once, in the create answer."""
    prefix = "".join(secrets.choice(_ALPHABET) for _ in range(PREFIX_LENGTH))
    secret = _base62(int.from_bytes(secrets.token_bytes(SECRET_BYTES), "big"), SECRET_LENGTH)
    return prefix, f"{SCHEME}{prefix}_{secret}"


def key_prefix(raw: str) -> str | None:
    """The prefix of a well-formed key, or None for anything else (no lookup for garbage)."""
    match = KEY_RE.fullmatch(raw)
    return match["prefix"] if match else None


def key_digest(full_key: str) -> str:
    """What is stored: SHA-256 of the whole key, hex."""
    return hashlib.sha256(full_key.encode("ascii")).hexdigest()


def digest_matches(full_key: str, stored: str) -> bool:
    """Whether `full_key` is the key whose digest is `stored`, compared in constant time."""
    return hmac.compare_digest(key_digest(full_key), stored)
