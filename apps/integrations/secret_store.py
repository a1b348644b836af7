"""Webhook signing secrets: made, encrypted at rest, and turned back into signing keys.

A secret is `whsec_` + base64 of 32 random bytes, the form the
`standardwebhooks` library reads. It is shown once (create, rotate) and stored
encrypted with AES-GCM under a key derived from `SECRET_KEY`, bound to its
endpoint's id: a copy of the database alone reveals no secret, and a
ciphertext moved to another row does not decrypt. A secret written under a key
now in `SECRET_KEY_FALLBACKS` still decrypts, so the key can be rotated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

PREFIX = "whsec_"
_VERSION = "v1"
_PURPOSE = b"atrium.integrations.webhook-secret.v1"


class SecretUnreadable(RuntimeError):
    """A stored secret no configured key decrypts (SECRET_KEY changed without a fallback)."""


def secret_generate() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), _PURPOSE, hashlib.sha256).digest()


def secret_encrypt(secret: str, *, endpoint_id: UUID) -> str:
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_key(settings.SECRET_KEY)).encrypt(nonce, secret.encode(), str(endpoint_id).encode())
    return f"{_VERSION}:{base64.b64encode(nonce + sealed).decode('ascii')}"


def secret_decrypt(stored: str, *, endpoint_id: UUID) -> str:
    version, _, body = stored.partition(":")
    if version != _VERSION:
        raise SecretUnreadable(f"Unknown secret format {version!r}.")
    raw = base64.b64decode(body)
    nonce, sealed = raw[:12], raw[12:]
    for secret_key in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]:
        try:
            return AESGCM(_key(secret_key)).decrypt(nonce, sealed, str(endpoint_id).encode()).decode()
        except InvalidTag:
            continue
    raise SecretUnreadable("No configured SECRET_KEY decrypts this webhook secret: rotate the endpoint's secret.")
