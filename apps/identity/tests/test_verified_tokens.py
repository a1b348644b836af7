"""A verified access token is not verified again on every request, and the shortcut lets nothing through.

`apps.identity.tokens.VerifiedTokens`: only the exact text of a token that passed every check, only
until its `exp`, only while its key is in the ring; revocation is still asked on every request.
"""

from __future__ import annotations

import pytest

from apps.identity import tokens
from apps.identity.tokens import KidTokenBackend, VerifiedTokens, verified_tokens

pytestmark = pytest.mark.django_db

ME = "/api/v1/identity/auth/me/"


@pytest.fixture
def checks(monkeypatch):
    """How many full verifications (signature, header, claims) ran."""
    counted: list[str] = []
    verify = KidTokenBackend._verify

    def counting(self, token):  # type: ignore[no-untyped-def]
        counted.append(token)
        return verify(self, token)

    monkeypatch.setattr(KidTokenBackend, "_verify", counting)
    return counted


def test_a_token_is_verified_once_then_answered_from_memory(api, login, member, portal, checks):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login(member(), portal)['access']}")
    assert [api.get(ME).status_code for _ in range(3)] == [200, 200, 200]
    assert len(checks) == 1


def test_an_edited_token_is_verified_in_full_and_refused(api, login, member, portal, checks):
    access = login(member(), portal)["access"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api.get(ME).status_code == 200
    header, payload, signature = access.split(".")
    # The signature's first character carries six bits of it: another letter there is always another signature
    # (an edit at the end may only touch the padding bits base64 ignores, or leave it as it was).
    edited = ("B" if signature[0] == "A" else "A") + signature[1:]
    for forged in (f"{header}.{payload}.{edited}", f"{header}.{payload}.", access + "x"):
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
        assert api.get(ME).status_code == 401
    assert len(checks) == 4


def test_a_remembered_token_past_its_exp_is_refused(api, login, member, portal, monkeypatch, checks):
    access = login(member(), portal)["access"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api.get(ME).status_code == 200
    exp = tokens.token_backend().decode(access)["exp"]
    monkeypatch.setattr(tokens, "_now", lambda: exp + 1)
    assert verified_tokens.get(access) is None  # gone from memory, so the full check runs (and refuses)
    assert len(checks) == 1


def test_a_remembered_token_is_still_revoked_at_the_next_request(api, login, member, portal):
    issued = login(member(), portal)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {issued['access']}")
    assert api.get(ME).status_code == 200
    assert api.post("/api/v1/identity/auth/logout/", {"refresh": issued["refresh"]}).status_code == 204
    assert api.get(ME).status_code == 401


def test_a_token_whose_key_left_the_ring_is_not_answered_from_memory(login, member, portal, monkeypatch):
    access = login(member(), portal)["access"]
    tokens.token_backend().decode(access)
    assert verified_tokens.get(access) is not None
    monkeypatch.setattr(tokens.keyring, "by_kid", lambda kid: None)
    assert verified_tokens.get(access) is None


def test_memory_is_bounded_and_drops_the_oldest(monkeypatch):
    monkeypatch.setattr(VerifiedTokens, "MAX_ENTRIES", 3)
    memory = VerifiedTokens()
    key = tokens.keyring.signing_key()
    far = {"exp": 2**40}
    for n in range(5):
        memory.put(f"token-{n}", key, far)
    assert [memory.get(f"token-{n}") is not None for n in range(5)] == [False, False, True, True, True]
    memory.put(b"bytes are never kept", key, far)  # type: ignore[arg-type]
    assert memory.get(b"bytes are never kept") is None
