"""A token signed with the server's own key but with odd claims is a 401, never a 500.

Such a token cannot come from Atrium (`services.sessions.access_token_for` mints
every claim in one form), so it was forged with a leaked key or by a bug:
each claim Atrium reads is held to its form (`tokens.ACCESS_CLAIMS`) before
anything reads it. Tokens are minted here with the real signing key, as
`test_tokens.py` forges them, so only the claims differ from a real one.
"""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.identity.tokens import keyring

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]

ME = "/api/v1/identity/auth/me/"
MEMBERS = "/api/v1/identity/members/"
PROBLEM = "application/problem+json"


@pytest.fixture
def claims(member, tenant, portal) -> dict:
    """The claims of a real admin's access token, as Atrium mints them."""
    user = member("admin")
    now = int(time.time())
    return {
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "sub": str(user.id),
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "tenant_id": str(tenant.id),
        "tenant": tenant.slug,
        "portal": portal.slug,
        "roles": ["admin"],
        "sid": str(uuid.uuid4()),
        "amr": ["pwd"],
    }


def _sign(payload: dict) -> str:
    key = keyring.signing_key()
    return jwt.encode(payload, key.private, algorithm="ES256", headers={"kid": key.kid})


def _get(token: str, path: str):
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(path)


def test_the_minted_claims_are_accepted_so_the_refusals_below_mean_something(claims):
    for path in (ME, MEMBERS):
        assert _get(_sign(claims), path).status_code == 200


ODD_CLAIMS = [
    ("exp", lambda c: str(c["exp"])),  # PyJWT reads "1700000000" as a number; the lifetime check did not
    ("iat", lambda c: str(c["iat"])),
    ("exp", lambda c: c["exp"] + 0.5),
    ("exp", lambda c: True),
    ("iat", lambda c: [c["iat"]]),
    ("nbf", lambda c: "yesterday"),
    ("portal", lambda c: 5),
    ("portal", lambda c: ["acme-test"]),
    ("portal", lambda c: "acme test/../x"),
    ("portal", lambda c: ""),
    ("tenant", lambda c: 5),
    ("tenant", lambda c: {"slug": "acme-test"}),
    ("sid", lambda c: "not-a-uuid"),
    ("sid", lambda c: 5),
    ("sid", lambda c: [c["sid"]]),
    ("tenant_id", lambda c: "not-a-uuid"),
    ("tenant_id", lambda c: 5),
    ("tenant_id", lambda c: f"urn:uuid:{c['tenant_id']}"),
    ("sub", lambda c: 5),
    ("roles", lambda c: "admin"),
    ("roles", lambda c: {"admin": True}),
    ("roles", lambda c: [5]),
    ("roles", lambda c: []),
    ("roles", lambda c: ["admin", "owner"]),
    ("roles", lambda c: ["ad min"]),
    ("amr", lambda c: "pwd"),
    ("amr", lambda c: [1]),
    ("amr", lambda c: None),
    ("jti", lambda c: 5),
    ("jti", lambda c: "x" * 500),
]


@pytest.mark.parametrize(("claim", "odd"), ODD_CLAIMS, ids=[f"{claim}-{n}" for n, (claim, _) in enumerate(ODD_CLAIMS)])
@pytest.mark.parametrize("path", [ME, MEMBERS])
def test_a_signed_token_with_an_odd_claim_is_401(claims, claim, odd, path):
    token = _sign({**claims, claim: odd(claims)})
    response = _get(token, path)
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == PROBLEM
    assert response["WWW-Authenticate"].startswith("Bearer")
    body = json.loads(response.content)
    assert body["type"].endswith("/authentication_failed")
    assert "Traceback" not in response.content.decode()


@pytest.mark.parametrize(
    ("claim", "value"),
    [("portal", "no-such-portal"), ("sub", str(uuid.UUID(int=7))), ("tenant_id", str(uuid.UUID(int=7)))],
)
def test_me_with_a_well_formed_claim_naming_nothing_is_401(claims, claim, value):
    assert _get(_sign({**claims, claim: value}), ME).status_code == 401


def test_checking_the_claims_adds_no_query(claims):
    token = _sign(claims)
    _get(token, MEMBERS)  # warm the role map
    with CaptureQueriesContext(connection) as good:
        assert _get(token, MEMBERS).status_code == 200
    with CaptureQueriesContext(connection) as odd:
        assert _get(_sign({**claims, "exp": str(claims["exp"])}), MEMBERS).status_code == 401
    assert len(odd.captured_queries) <= len(good.captured_queries)
    assert not [q for q in odd.captured_queries if "identity_" in q["sql"]]
