"""Access tokens: ES256 JWTs from simplejwt, signed by the newest key, verified by `kid`.

Keys are PEM files (EC P-256 private keys) in `JWT_KEYS_DIR`, named so that
sorting puts the newest last (`jwt_keys add` writes `YYYYmmddTHHMMSSZ.pem`). The
newest signs; every key verifies, so rotation adds a file and old files go once
no token they signed can still be alive. The `kid` of a key is its RFC 7638
JWK thumbprint. Public keys are published at `/.well-known/jwks.json`.

Verification refuses what RFC 8725 warns about: any `alg` but ES256 (`none`,
HS256 signed with the public key), unknown `kid`, key-carrying headers
(`jku`, `jwk`, `x5u`, `x5c`), and missing or wrong `exp`/`aud`/`iss`/`iat`/`nbf`.
Then every claim Atrium reads must have the type and form Atrium mints
(`ACCESS_CLAIMS`): a token signed with our key but carrying a string `exp`, a
`sid` that is no UUID or a `roles` that is no list is refused like a forgery
(401), never left to fail later in the code that reads it (500).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError
from rest_framework_simplejwt.tokens import AccessToken

FORBIDDEN_HEADERS = ("jku", "jwk", "x5u", "x5c", "x5t", "crit")
REQUIRED_CLAIMS = ("exp", "iat", "aud", "iss", "sub", "jti", "tenant_id", "portal", "roles", "sid")

# --------------------------------------------------------------------------- the claims' schema

# What the model fields can hold (SlugField: tenant and portal slugs up to 63, role codes up to 50), so a
# row made outside the API's stricter rules still signs in.
_SLUG: Final = re.compile(r"[-a-zA-Z0-9_]{1,63}")
_ROLE_CODE: Final = re.compile(r"[-a-zA-Z0-9_]{1,50}")
_AMR_VALUE: Final = re.compile(r"[a-z0-9_-]{1,32}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 36:
        return False
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def _is_slug(value: Any) -> bool:
    return isinstance(value, str) and _SLUG.fullmatch(value) is not None


def _is_token_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isascii() and value.isprintable()


def _is_one_role(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 1
        and isinstance(value[0], str)
        and _ROLE_CODE.fullmatch(value[0]) is not None
    )


def _is_amr(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) <= 8
        and all(isinstance(v, str) and _AMR_VALUE.fullmatch(v) is not None for v in value)
    )


# Every claim Atrium reads, with the form it mints it in (`services.sessions.access_token_for`).
# `aud` and `iss` are matched exactly by PyJWT; `tenant` and `amr` may be absent.
ACCESS_CLAIMS: Final[Mapping[str, Callable[[Any], bool]]] = {
    "sub": _is_uuid,
    "tenant_id": _is_uuid,
    "sid": _is_uuid,
    "tenant": _is_slug,
    "portal": _is_slug,
    "roles": _is_one_role,
    "amr": _is_amr,
    "jti": _is_token_id,
    "iat": _is_int,
    "exp": _is_int,
    "nbf": _is_int,
}


def invalid_claims(payload: Mapping[str, Any]) -> list[str]:
    """The names of the claims in `payload` that do not have the form Atrium mints them in."""
    return [name for name, valid in ACCESS_CLAIMS.items() if name in payload and not valid(payload[name])]


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey
    source: str

    @cached_property
    def public(self) -> ec.EllipticCurvePublicKey:
        # Derived once per key and process: every verified request needs it.
        return self.private.public_key()

    def jwk(self) -> dict[str, str]:
        numbers = self.public.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
            "kid": self.kid,
            "use": "sig",
            "alg": "ES256",
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(public: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638 JWK thumbprint: SHA-256 over the required members in lexical order."""
    numbers = public.public_numbers()
    members = {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
    }
    return _b64(hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest())


def _load_pem(data: bytes, source: str) -> SigningKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{source} is not an unencrypted PEM private key.") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ImproperlyConfigured(f"{source} must be an EC P-256 private key (ES256).")
    return SigningKey(kid=thumbprint(key.public_key()), private=key, source=source)


def generate_key_file(directory: Path) -> Path:
    """Write a new P-256 key as `<UTC timestamp>.pem` (0600); it becomes the signing key."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"{stamp}.pem"
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return path


class KeyRing:
    """The keys of this process, oldest first; reloaded when the directory changes.

    Each use costs one `stat` of the directory: adding, removing or replacing a
    key file (`jwt_keys add`, `prune`, a deploy writing a new file) changes its
    modification time, and only then are the files listed and read again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamp: tuple[Any, ...] | None = None
        self._keys: list[SigningKey] = []

    def _directory(self) -> Path:
        return Path(settings.JWT_KEYS_DIR)

    def _files(self) -> list[Path]:
        directory = self._directory()
        return sorted(directory.glob("*.pem")) if directory.is_dir() else []

    def _stamp_now(self) -> tuple[Any, ...]:
        directory = self._directory()
        try:
            changed = directory.stat().st_mtime_ns
        except FileNotFoundError:
            changed = None
        return (str(directory), changed, settings.JWT_PRIVATE_KEY)

    def keys(self) -> list[SigningKey]:
        stamp = self._stamp_now()
        if stamp != self._stamp:
            with self._lock:
                files = self._files()
                if not files and not settings.JWT_PRIVATE_KEY and settings.JWT_GENERATE_DEV_KEY:
                    generate_key_file(self._directory())
                    files = self._files()
                    stamp = self._stamp_now()
                keys = [_load_pem(f.read_bytes(), str(f)) for f in files]
                if settings.JWT_PRIVATE_KEY:
                    keys.append(_env_key(settings.JWT_PRIVATE_KEY))
                self._keys, self._stamp = keys, stamp
        return self._keys

    def signing_key(self) -> SigningKey:
        keys = self.keys()
        if not keys:
            raise ImproperlyConfigured(
                f"No JWT signing key: put a PEM file in JWT_KEYS_DIR ({settings.JWT_KEYS_DIR}) with "
                "`manage.py jwt_keys add`, or set JWT_PRIVATE_KEY."
            )
        return keys[-1]

    def by_kid(self, kid: str) -> SigningKey | None:
        return next((k for k in self.keys() if k.kid == kid), None)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [k.jwk() for k in reversed(self.keys())]}


def _env_key(value: str) -> SigningKey:
    if value.lstrip().startswith("-----BEGIN"):
        return _load_pem(value.encode(), "JWT_PRIVATE_KEY")
    path = Path(value)
    if not path.is_file():
        raise ImproperlyConfigured("JWT_PRIVATE_KEY must hold a PEM private key or the path of a PEM file.")
    return _load_pem(path.read_bytes(), f"JWT_PRIVATE_KEY ({path})")


keyring = KeyRing()


class KidTokenBackend(TokenBackend):
    """simplejwt's backend, keyed by `kid`, with RFC 8725's checks made explicit."""

    def __init__(self) -> None:
        super().__init__(
            algorithm=settings.JWT_ALGORITHM,
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
        )

    def encode(self, payload: dict[str, Any]) -> str:
        key = keyring.signing_key()
        body = {**payload, "aud": self.audience, "iss": self.issuer}
        return jwt.encode(body, key.private, algorithm=self.algorithm, headers={"kid": key.kid})

    def decode(self, token: Any, verify: bool = True) -> dict[str, Any]:
        if not verify:
            raise TokenBackendError("Atrium never reads an unverified token.")
        seen = verified_tokens.get(token)
        if seen is not None:
            return seen
        key, payload = self._verify(token)
        verified_tokens.put(token, key, payload)
        return dict(payload)

    def _verify(self, token: Any) -> tuple[SigningKey, dict[str, Any]]:
        """Every check of a token this process has not verified yet: the signature, header and claims."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError("Token is malformed") from exc
        if header.get("alg") != self.algorithm:
            raise TokenBackendError("Token algorithm is not accepted")
        if any(name in header for name in FORBIDDEN_HEADERS):
            raise TokenBackendError("Token carries a key reference header")
        kid = header.get("kid")
        key = keyring.by_kid(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenBackendError("Token key id is unknown")
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key.public,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": list(REQUIRED_CLAIMS), "verify_nbf": True, "verify_iat": True},
            )
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError(f"Token is invalid: {type(exc).__name__}") from exc
        # PyJWT checks `exp`/`iat`/`nbf` as numbers it can convert ("1700000000" passes): the schema
        # holds every claim to the form we mint, so no reader of the payload meets a surprise.
        invalid = invalid_claims(payload)
        if invalid:
            raise TokenBackendError(f"Token claims are malformed: {', '.join(invalid)}")
        # We never mint a longer-lived token: one that claims to be is forged (e.g. with a leaked key).
        lifetime = payload["exp"] - payload["iat"]
        if lifetime > settings.ACCESS_TOKEN_LIFETIME.total_seconds():
            raise TokenBackendError("Token lifetime is longer than any token Atrium issues")
        return key, payload


def _now() -> float:
    return time.time()


class VerifiedTokens:
    """Access tokens this process has verified, by their exact text, until they expire.

    A client sends the same access token for up to its whole lifetime; checking its ES256
    signature and claims again on every request costs about a sixth of a small request's CPU.
    An entry is the token's full text (signature included), so only that exact token hits it;
    it answers only while the key that verified it is still in the key ring (a pruned or
    replaced key empties it at the ring's next reload) and before the token's `exp`. Nothing
    that fails a check is kept. Revocation is not decided here: every request still asks
    `revocation.principal_live`. Bounded: past `MAX_ENTRIES`, the oldest entry goes.
    """

    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        self._entries: dict[str, tuple[SigningKey, dict[str, Any]]] = {}

    def get(self, token: Any) -> dict[str, Any] | None:
        entry = self._entries.get(token) if isinstance(token, str) else None
        if entry is None:
            return None
        key, payload = entry
        if _now() >= payload["exp"] or keyring.by_kid(key.kid) is not key:
            self._entries.pop(token, None)
            return None
        return dict(payload)

    def put(self, token: Any, key: SigningKey, payload: dict[str, Any]) -> None:
        if not isinstance(token, str):
            return
        while len(self._entries) >= self.MAX_ENTRIES:
            try:
                del self._entries[next(iter(self._entries))]
            except (KeyError, StopIteration, RuntimeError):  # another thread took it first
                break
        self._entries[token] = (key, dict(payload))

    def clear(self) -> None:
        self._entries.clear()


verified_tokens = VerifiedTokens()


@receiver(setting_changed)
def _forget_verified_tokens(*, setting: str, **kwargs: Any) -> None:
    """Tests change the JWT settings; a token verified under the old ones must be checked again."""
    if setting.startswith("JWT_") or setting == "ACCESS_TOKEN_LIFETIME":
        verified_tokens.clear()


_backend: KidTokenBackend | None = None


def token_backend() -> KidTokenBackend:
    global _backend  # built once per process, after settings are ready
    if _backend is None:
        _backend = KidTokenBackend()
    return _backend


class AtriumAccessToken(AccessToken):
    """An access token with exactly the claims of docs/api.md, "Tokens" (no simplejwt `token_type`)."""

    def __init__(self, token: Any = None, verify: bool = True) -> None:
        super().__init__(token, verify)
        if token is None:
            self.payload.pop("token_type", None)

    def get_token_backend(self) -> KidTokenBackend:
        return token_backend()

    def verify_token_type(self) -> None:
        # Only access tokens are JWTs here: refresh and MFA tokens are opaque, so
        # a token that verifies against our keys and claims is an access token.
        return None
