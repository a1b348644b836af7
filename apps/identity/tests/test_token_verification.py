"""Access-token verification (`tokens.KidTokenBackend.decode`, PyJWT underneath) refuses every forgery.

Unit-level (no request): each case is a token our key signed, or one edited after signing, so only the
check named refuses it. The API-level refusals (alg none, HS256, hostile kid, key headers, claims) are in
test_tokens.py and test_token_claims.py, and they run through the same function.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.exceptions import TokenBackendError

from apps.identity.tokens import keyring, token_backend

pytestmark = pytest.mark.django_db


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "sub": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "tenant_id": str(uuid.uuid4()),
        "tenant": "acme",
        "portal": "acme",
        "roles": ["admin"],
        "sid": str(uuid.uuid4()),
        "amr": ["pwd"],
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(claims: dict[str, Any], key: Any = None, **headers: Any) -> str:
    ours = keyring.signing_key()
    return jwt.encode(claims, key or ours.private, algorithm="ES256", headers={"kid": ours.kid, **headers})


def _verify(token: Any) -> dict[str, Any]:
    return token_backend().decode(token)


def test_a_token_we_signed_verifies_and_gives_its_claims():
    claims = _claims()
    assert _verify(_sign(claims)) == claims
    assert token_backend().decode(_sign(claims)) == claims
    assert _verify(_sign(_claims(aud=[settings.JWT_AUDIENCE, "elsewhere"])))["aud"][0] == settings.JWT_AUDIENCE


def test_a_flipped_signature_bit_or_a_stranger_key_is_refused():
    head, body, signature = _sign(_claims()).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[10] ^= 1
    with pytest.raises(TokenBackendError, match="InvalidSignature"):
        _verify(f"{head}.{body}.{_b64(bytes(raw))}")
    with pytest.raises(TokenBackendError, match="InvalidSignature"):
        _verify(_sign(_claims(), key=ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(TokenBackendError, match="InvalidSignature"):
        _verify(f"{head}.{body}.{_b64(bytes(raw[:63]))}")  # a signature of the wrong length


def test_a_payload_edited_after_signing_is_refused():
    head, _body, signature = _sign(_claims()).split(".")
    edited = _b64(json.dumps(_claims(roles=["owner"])).encode())
    with pytest.raises(TokenBackendError, match="InvalidSignature"):
        _verify(f"{head}.{edited}.{signature}")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "é.é.é",
        "!!!!.e30.AAAA",
        "eyJhbGciOiJFUzI1NiJ9=.e30.AAAA",  # padding we never mint
        "eyJhbGciOiJFUzI1NiJ9X.e30.AAAA",  # 4n+1 characters
        "W10.e30.AAAA",  # a header that is no object
        "bm90IGpzb24.e30.AAAA",  # a header that is no JSON
        None,
        7,
    ],
)
def test_malformed_tokens_are_refused(token):
    with pytest.raises(TokenBackendError):
        _verify(token)


def test_wrong_or_missing_kid_and_foreign_alg_are_refused():
    claims = _claims()
    key = keyring.signing_key()
    with pytest.raises(TokenBackendError, match="key id"):
        _verify(jwt.encode(claims, key.private, algorithm="ES256", headers={"kid": "not-ours"}))
    with pytest.raises(TokenBackendError, match="key id"):
        _verify(jwt.encode(claims, key.private, algorithm="ES256"))
    forged = jwt.encode(claims, "a-shared-secret-of-at-least-32-bytes!", algorithm="HS256", headers={"kid": key.kid})
    with pytest.raises(TokenBackendError, match="algorithm"):
        _verify(forged)
    with pytest.raises(TokenBackendError, match="key reference"):
        _verify(_sign(claims, jku="https://evil.test/jwks.json"))


# Times as offsets from the moment the test runs (a collected absolute time would be stale by then).
@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"exp": -1, "iat": -60}, "Expired"),
        ({"iat": 60, "exp": 120}, "Immature"),
        ({"nbf": 60}, "Immature"),
        ({"aud": "another-audience"}, "Audience"),
        ({"aud": ["another-audience"]}, "Audience"),
        ({"aud": 7}, "Audience"),
        ({"iss": "https://evil.test"}, "Issuer"),
        ({"sid": None}, "MissingRequiredClaim"),
        ({"exp": None}, "MissingRequiredClaim"),
        ({"exp": "300"}, "malformed"),
        ({"roles": "admin"}, "malformed"),
        ({"exp": 86400}, "lifetime"),
    ],
)
def test_claims_are_checked_after_the_signature(changes, why):
    now = int(time.time())
    timed = {
        name: now + value if name in ("exp", "iat", "nbf") and isinstance(value, int) else value
        for name, value in changes.items()
    }
    if timed.get("exp") == "300":
        timed["exp"] = str(now + 300)
    with pytest.raises(TokenBackendError, match=why):
        _verify(_sign(_claims(**timed)))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("rbac_seeded")
def test_over_http_a_bad_signature_or_wrong_kid_is_401_with_the_bearer_challenge(login, member, portal):
    access = login(member("admin"), portal)["access"]
    head, body, signature = access.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[0] ^= 0x80
    header = json.loads(base64.urlsafe_b64decode(head + "=="))
    rekeyed = jwt.encode(
        jwt.decode(access, options={"verify_signature": False}),
        keyring.signing_key().private,
        algorithm="ES256",
        headers={**header, "kid": "x" * 43},
    )
    for token in (f"{head}.{body}.{_b64(bytes(raw))}", rekeyed):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.get("/api/v1/identity/auth/me/")
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert client.get("/api/v1/identity/auth/me/").status_code == 200
