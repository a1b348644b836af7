"""Access tokens: verifiable by any JWT library from the JWKS, and every forgery refused (RFC 8725)."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.identity.tokens import keyring

pytestmark = pytest.mark.django_db(transaction=True)

ME = "/api/v1/identity/auth/me/"
PROBE = "/probe/"
CLAIMS = {"iss", "aud", "sub", "iat", "exp", "jti", "tenant_id", "tenant", "portal", "roles", "sid", "amr"}


@pytest.fixture
def signed_in(login, member, portal):
    user = member("admin")
    return user, login(user, portal)


def _claims(access: str) -> dict:
    return jwt.decode(access, options={"verify_signature": False})


def _status(access: str, path: str = ME) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get(path).status_code


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict, payload: dict, signature: bytes = b"") -> str:
    return ".".join([_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()), _b64(signature)])


def _sign(payload: dict, **headers) -> str:
    key = keyring.signing_key()
    return jwt.encode(payload, key.private, algorithm="ES256", headers={"kid": key.kid, **headers})


def test_token_verifies_with_pyjwt_against_the_jwks_alone(client, signed_in, settings):
    _, tokens = signed_in
    jwks = client.get("/.well-known/jwks.json").json()
    header = jwt.get_unverified_header(tokens["access"])
    assert header["alg"] == "ES256"
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    assert "d" not in jwk  # public only
    payload = jwt.decode(
        tokens["access"],
        jwt.PyJWK(jwk).key,
        algorithms=["ES256"],
        audience="atrium",
        issuer=settings.JWT_ISSUER,
        options={"require": ["exp", "iat", "aud", "iss"]},
    )
    assert set(payload) == CLAIMS
    assert payload["aud"] == "atrium"
    assert payload["exp"] - payload["iat"] <= 15 * 60
    assert len(payload["roles"]) == 1
    assert payload["amr"] == ["pwd"]


def test_jwks_publishes_current_and_previous_keys(client, tmp_path, settings):
    from apps.identity.tokens import generate_key_file

    settings.JWT_KEYS_DIR = str(tmp_path)
    generate_key_file(tmp_path)
    old = keyring.signing_key().kid
    generate_key_file(tmp_path)
    new = keyring.signing_key().kid
    kids = [k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]]
    assert old != new
    assert set(kids) == {old, new}


def test_token_signed_by_previous_key_still_verifies_after_rotation(login, member, portal, tmp_path, settings):
    from apps.identity.tokens import generate_key_file

    settings.JWT_KEYS_DIR = str(tmp_path)
    generate_key_file(tmp_path)
    tokens = login(member(), portal)
    generate_key_file(tmp_path)
    assert jwt.get_unverified_header(tokens["access"])["kid"] != keyring.signing_key().kid
    assert _status(tokens["access"]) == 200


def test_token_edited_to_another_tenant_is_refused(signed_in, other_tenant):
    _, tokens = signed_in
    header, _payload, signature = tokens["access"].split(".")
    claims = _claims(tokens["access"])
    claims["tenant_id"] = str(other_tenant.id)
    claims["tenant"] = other_tenant.slug
    edited = ".".join([header, _b64(json.dumps(claims).encode()), signature])
    assert _status(edited) == 401


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_unsigned_token_is_refused(signed_in, alg):
    _, tokens = signed_in
    claims = _claims(tokens["access"])
    assert _status(_forge({"alg": alg, "typ": "JWT"}, claims)) == 401
    assert _status(_forge({"alg": alg, "kid": keyring.signing_key().kid}, claims)) == 401


def test_hs256_signed_with_the_public_key_is_refused(signed_in):
    _, tokens = signed_in
    claims = _claims(tokens["access"])
    key = keyring.signing_key()
    public_pem = key.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    import hashlib
    import hmac

    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert _status(f"{signing_input}.{_b64(signature)}") == 401


@pytest.mark.parametrize("kid", ["unknown", "../../../../etc/passwd", "' OR 1=1 --", "", None, 7, ["x"]])
def test_unknown_or_hostile_kid_is_refused(signed_in, kid):
    """Signed with our real key, so only the kid handling can refuse it."""
    _, tokens = signed_in
    key = keyring.signing_key()
    header = {"alg": "ES256", "typ": "JWT"} if kid is None else {"alg": "ES256", "typ": "JWT", "kid": kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims(tokens['access'])).encode())}"
    signature = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256).sign(signing_input.encode(), key.private)
    assert _status(f"{signing_input}.{_b64(signature)}") == 401


def test_token_signed_by_a_stranger_key_with_our_kid_is_refused(signed_in):
    _, tokens = signed_in
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(
        _claims(tokens["access"]), stranger, algorithm="ES256", headers={"kid": keyring.signing_key().kid}
    )
    assert _status(forged) == 401


@pytest.mark.parametrize(
    "header",
    [
        {"jku": "https://evil.example/jwks.json"},
        {"x5u": "https://evil.example/cert.pem"},
        {"jwk": {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}},
    ],
    ids=["jku", "x5u", "jwk"],
)
def test_key_reference_headers_are_refused(signed_in, header):
    _, tokens = signed_in
    assert _status(_sign(_claims(tokens["access"]), **header)) == 401


@pytest.mark.parametrize("claim", ["exp", "aud", "iss", "iat", "sub", "jti", "sid", "tenant_id", "roles"])
def test_missing_claim_is_refused(signed_in, claim):
    _, tokens = signed_in
    claims = _claims(tokens["access"])
    del claims[claim]
    assert _status(_sign(claims)) == 401


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("aud", "someone-else"),
        ("iss", "https://evil.example"),
        ("exp", int(time.time()) - 5),
        ("nbf", int(time.time()) + 600),
        ("roles", ["owner", "admin"]),
        ("roles", "owner"),
        ("sub", "not-a-uuid"),
    ],
)
def test_wrong_claim_is_refused(signed_in, claim, value):
    _, tokens = signed_in
    claims = _claims(tokens["access"])
    claims[claim] = value
    assert _status(_sign(claims)) == 401


def test_a_valid_resigned_token_works_so_the_refusals_above_mean_something(signed_in):
    _, tokens = signed_in
    assert _status(_sign(_claims(tokens["access"]))) == 200


def test_refresh_token_used_as_bearer_is_refused(signed_in):
    _, tokens = signed_in
    assert _status(tokens["refresh"]) == 401


def test_access_token_sent_to_refresh_is_refused(api, signed_in):
    _, tokens = signed_in
    assert api.post("/api/v1/identity/auth/refresh/", {"refresh": tokens["access"]}).status_code == 401


def test_garbage_bearers_are_401_not_500(api):
    for value in ["Bearer", "Bearer a b", "Bearer \u00e9t\u00e9", "Bearer " + "A" * 5000, "Bearer e30.e30.e30"]:
        api.credentials(HTTP_AUTHORIZATION=value)
        response = api.get(ME)
        assert response.status_code == 401, value
        assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.urls("apps.identity.tests.urls_probe")
def test_authentication_and_permission_check_make_no_query_beyond_the_tenant_setting(signed_in):
    _, tokens = signed_in
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    client.get(PROBE)  # warm the role map, as any earlier request would have
    with CaptureQueriesContext(connection) as queries:
        response = client.get(PROBE)
    assert response.status_code == 200
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")  # the request's transaction, not queries
    sql = [q["sql"] for q in queries.captured_queries if not q["sql"].upper().startswith(control)]
    if connection.vendor == "postgresql":
        # Setting the tenant, as the first statement of the handler's transaction: it ends with that
        # transaction, so nothing clears it.
        assert len(sql) == 1
        assert all(q.startswith("SELECT set_config('app.tenant_id'") for q in sql)
    else:
        assert sql == []


@pytest.mark.urls("apps.identity.tests.urls_probe")
def test_probe_denies_a_role_without_the_permission(login, member, portal):
    from apps.common.tenancy import tenant_context
    from apps.identity.models import Role

    user = member("member")
    with tenant_context(portal.tenant):
        Role.objects.create(tenant=portal.tenant, code="nobody", name="Nobody", permissions=[])
        from apps.identity.models import Membership

        Membership.objects.filter(user=user).update(role=Role.objects.get(code="nobody"))
    portal.admitted_roles = [*portal.admitted_roles, "nobody"]
    portal.save()
    assert _status(login(user, portal)["access"], PROBE) == 403


def test_every_token_has_a_unique_jti_and_a_session(login, member, portal):
    user = member()
    first, second = login(user, portal), login(user, portal)
    a, b = _claims(first["access"]), _claims(second["access"])
    assert a["jti"] != b["jti"]
    assert a["sid"] != b["sid"]
    uuid.UUID(a["sid"])


def test_a_token_claiming_a_longer_life_than_we_issue_is_refused(signed_in):
    """With a leaked key an attacker could mint month-long tokens; we never issue them."""
    _, tokens = signed_in
    claims = _claims(tokens["access"])
    claims["exp"] = claims["iat"] + 30 * 24 * 3600
    assert _status(_sign(claims)) == 401


def test_cache_down_during_authentication_is_503_not_500(signed_in, settings):
    from django.core.cache import caches

    from apps.common.tests.jobs_fixtures import closed_port

    _, tokens = signed_in
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1},
        }
    }
    caches._settings = None  # type: ignore[attr-defined]
    try:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
        response = client.get(ME)
        assert response.status_code == 503
        assert response["Content-Type"] == "application/problem+json"
        assert "Traceback" not in response.content.decode()
    finally:
        caches._settings = None  # type: ignore[attr-defined]
