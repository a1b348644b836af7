"""Sign-in lockout: each lockout line of docs/security.md, "Login, MFA, recovery", tried through the API.

- wrong passwords past the limit lock the (account, client) pair — 429 with
  Retry-After even with the right password — with delays that grow per pair;
- the attacker's lock does not reach the owner's other clients, and the
  account-wide lock is short and capped;
- many accounts from one client (credential stuffing) lock that client;
- X-Forwarded-For is believed only from configured proxies;
- a cache that cannot be reached fails closed (503, no traceback).
"""

from __future__ import annotations

import socket
from http.cookies import SimpleCookie

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.test import override_settings

from apps.common.exceptions import ServiceUnavailable, TooManyRequests
from apps.identity.models import PlatformAuditEvent
from apps.identity.services import lockout
from apps.identity.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

LOGIN = "/api/v1/identity/auth/login/"
ATTACKER = "198.51.100.66"
OWNER = "203.0.113.10"


@pytest.fixture(autouse=True)
def _no_request_throttle(settings):
    """The per-IP request throttle (test_throttling.py) would answer first; here only the lockout counts."""
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login": None}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


@pytest.fixture
def clock(monkeypatch):
    """Lock lengths are checked against `lockout._now`; tests move it instead of sleeping."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(lockout, "_now", lambda: now[0])
    return now


def attempt(api, email: str, password: str, portal, ip: str = ATTACKER, device: str | None = None, **headers: str):
    """One sign-in from a client that holds no cookie, unless it presents a known-device mark."""
    api.cookies = SimpleCookie({lockout.DEVICE_COOKIE: device} if device else {})
    return api.post(LOGIN, {"email": email, "password": password, "portal": portal.slug}, REMOTE_ADDR=ip, **headers)


def fail(api, email: str, portal, times: int, ip: str = ATTACKER, **headers: str) -> list[int]:
    return [attempt(api, email, "wrong password", portal, ip, **headers).status_code for _ in range(times)]


def retry_after(response) -> int:
    assert response.status_code == 429, response.content
    assert response["Content-Type"] == "application/problem+json"
    return int(response["Retry-After"])


def test_locked_pair_refuses_even_the_right_password(api, member, portal, clock):
    user = member()
    # The fifth failure is still answered 401; it is what imposes the lock.
    assert fail(api, user.email, portal, 5) == [401] * 5
    locked = attempt(api, user.email, PASSWORD, portal)
    assert 1 <= retry_after(locked) <= 60
    body = locked.json()
    assert body["status"] == 429
    assert "access" not in body
    # Once the delay has passed, the right password works again.
    clock[0] += 61
    assert attempt(api, user.email, PASSWORD, portal).status_code == 200


def test_lockout_is_audited_durably_and_logged(api, member, portal, caplog):
    user = member()
    with caplog.at_level("INFO", logger="atrium.audit"):
        fail(api, user.email, portal, 5)
    events = list(PlatformAuditEvent.objects.filter(action="auth.lockout"))
    assert len(events) == 1
    event = events[0]
    assert event.target_type == "user"
    assert event.target_id == str(user.id)
    assert event.ip == ATTACKER
    assert event.data["scope"] == "pair"
    assert event.data["seconds"] == 60
    assert user.email not in str(event.data)
    assert any(r.getMessage() == "auth.lockout" for r in caplog.records)


def test_delay_grows_per_pair_and_is_capped(api, member, portal, clock):
    user = member()
    fail(api, user.email, portal, 5)
    seen = []
    for _ in range(6):
        seen.append(retry_after(attempt(api, user.email, PASSWORD, portal)))
        clock[0] += seen[-1] + 1
        # One more wrong guess after the lock ran out: a longer lock.
        assert fail(api, user.email, portal, 1) == [401]
    seen.append(retry_after(attempt(api, user.email, PASSWORD, portal)))
    assert seen == [60, 120, 240, 480, 900, 900, 900]


def test_attackers_lock_does_not_reach_the_owner_on_another_client(api, member, portal, clock):
    victim = member()
    fail(api, victim.email, portal, 12)  # keep hammering: only 5 count, the rest meet the lock
    assert retry_after(attempt(api, victim.email, PASSWORD, portal, ATTACKER)) > 0
    assert attempt(api, victim.email, PASSWORD, portal, OWNER).status_code == 200


def test_account_wide_lock_is_short_and_capped(api, member, portal, clock):
    victim = member()
    # Four clients, five failures each: 20 from everywhere within the window.
    for n in range(4):
        fail(api, victim.email, portal, 5, ip=f"198.51.100.{n + 1}")
    # Even the owner's own, clean client waits — but at most a minute.
    assert 1 <= retry_after(attempt(api, victim.email, PASSWORD, portal, OWNER)) <= 60
    # Guesses during the lock are refused before they are counted: they cannot lengthen it.
    assert {attempt(api, victim.email, "wrong", portal, "198.51.100.99").status_code for _ in range(10)} == {429}
    clock[0] += 61
    assert attempt(api, victim.email, PASSWORD, portal, OWNER).status_code == 200
    # A trickle of failures (one a minute, from fresh addresses) does not re-arm it within the window:
    # the owner is never refused again.
    for minute in range(12):
        clock[0] += 60
        assert fail(api, victim.email, portal, 1, ip=f"198.51.100.{120 + minute}") == [401]
        assert attempt(api, victim.email, PASSWORD, portal, OWNER).status_code == 200


def test_credential_stuffing_from_one_client_locks_that_client(api, member, portal, clock):
    victim = member()
    # 50 accounts (real and unknown), one guess each: no pair and no account reaches its limit.
    for n in range(49):
        assert attempt(api, f"stuffed{n}@example.test", "password1", portal).status_code == 401
    assert attempt(api, victim.email, "password1", portal).status_code == 401
    # Now that client is locked out of every account, even with a right password...
    assert retry_after(attempt(api, victim.email, PASSWORD, portal)) > 60
    assert retry_after(attempt(api, "other@example.test", "x", portal)) > 60
    # ...while the same account from its owner's client is fine.
    assert attempt(api, victim.email, PASSWORD, portal, OWNER).status_code == 200


def test_case_and_spacing_variants_of_the_email_share_one_counter(api, member, portal, clock):
    user = member()
    variants = [user.email.upper(), f"  {user.email}", user.email.title(), user.email, user.email.swapcase()]
    for email in variants:
        assert attempt(api, email, "wrong", portal).status_code == 401
    assert retry_after(attempt(api, user.email, PASSWORD, portal)) == 60


def test_unknown_email_is_locked_alike_and_the_answers_do_not_differ(api, member, portal, clock):
    user = member()
    fail(api, user.email, portal, 5)
    fail(api, "nobody@example.test", portal, 5)
    known = attempt(api, user.email, "wrong", portal)
    unknown = attempt(api, "nobody@example.test", "wrong", portal)
    assert known.status_code == unknown.status_code == 429
    assert known.json() == unknown.json()
    assert known["Retry-After"] == unknown["Retry-After"]


def test_a_correct_password_starts_the_pairs_count_over(api, member, portal, clock):
    user = member()
    assert fail(api, user.email, portal, 4) == [401] * 4
    assert attempt(api, user.email, PASSWORD, portal).status_code == 200
    assert fail(api, user.email, portal, 4) == [401] * 4
    assert attempt(api, user.email, PASSWORD, portal).status_code == 200


def test_lockout_clear_lifts_pair_and_account_locks(api, member, portal, clock):
    """What a password reset or a correct MFA sign-in calls."""
    user = member()
    for n in range(4):
        fail(api, user.email, portal, 5, ip=f"198.51.100.{n + 1}")
    assert retry_after(attempt(api, user.email, PASSWORD, portal, "198.51.100.1")) > 0
    assert retry_after(attempt(api, user.email, PASSWORD, portal, OWNER)) > 0
    lockout.lockout_clear(email=user.email.upper())
    assert attempt(api, user.email, PASSWORD, portal, "198.51.100.1").status_code == 200
    assert attempt(api, user.email, PASSWORD, portal, OWNER).status_code == 200
    # Counting starts from zero: four failures do not lock the pair again.
    assert fail(api, user.email, portal, 4, ip="198.51.100.2") == [401] * 4
    assert attempt(api, user.email, PASSWORD, portal, "198.51.100.2").status_code == 200


def test_cache_keys_are_namespaced_and_hold_no_email_or_ip(api, member, portal):
    user = member()
    fail(api, user.email, portal, 5)
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        keys = [k.decode() for k in backend._cache.get_client().keys("*auth:lock:*")]
    else:
        keys = [k for k in backend._cache if ":auth:lock:" in k]  # type: ignore[attr-defined]
    assert keys
    local, domain = user.email.split("@")
    for key in keys:
        assert local not in key
        assert domain not in key
        assert ATTACKER not in key


# --- client IP: forwarded headers only from configured proxies --------------------------------------


def test_spoofed_forwarded_for_is_ignored_without_a_trusted_proxy(api, member, portal, settings, clock):
    settings.TRUSTED_PROXIES = []
    user = member()
    # Each guess claims to come from somewhere else; the lock still lands on the real peer.
    for n in range(5):
        attempt(api, user.email, "wrong", portal, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert retry_after(attempt(api, user.email, PASSWORD, portal, HTTP_X_FORWARDED_FOR="192.0.2.200")) > 0
    assert retry_after(attempt(api, user.email, PASSWORD, portal)) > 0
    # And a forged header naming the owner's address does not borrow the owner's clean record.
    assert retry_after(attempt(api, user.email, PASSWORD, portal, HTTP_X_FORWARDED_FOR=OWNER)) > 0
    assert attempt(api, user.email, PASSWORD, portal, OWNER).status_code == 200


def test_behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client(api, member, portal, settings, clock):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    user = member()
    proxy = "10.0.0.5"
    # The client prepends lies; our proxy appends the address it saw (203.0.113.7), after another of ours.
    for n in range(5):
        forwarded = f"192.0.2.{n}, 203.0.113.7, 10.0.0.9"
        attempt(api, user.email, "wrong", portal, proxy, HTTP_X_FORWARDED_FOR=forwarded)
    assert retry_after(attempt(api, user.email, PASSWORD, portal, proxy, HTTP_X_FORWARDED_FOR="203.0.113.7")) > 0
    # Another client behind the same proxy is not the attacker.
    assert attempt(api, user.email, PASSWORD, portal, proxy, HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 200
    # A request from the proxy itself, without the header, is keyed on the proxy: not the attacker's pair.
    assert attempt(api, user.email, PASSWORD, portal, proxy).status_code == 200
    # An untrusted peer's header is ignored even when it names a trusted proxy chain.
    assert (
        attempt(api, user.email, PASSWORD, portal, "203.0.113.7", HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 429
    )


# --- the store is down: fail closed ---------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_down():
    dead = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
        }
    }
    # Changing CACHES resets Django's cache handler: `cache` now points at the dead server.
    with override_settings(CACHES=dead):
        yield


def test_unreachable_store_fails_closed_with_503(api, member, portal, redis_down):
    user = member()
    response = attempt(api, user.email, PASSWORD, portal)
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 503
    assert b"Traceback" not in response.content
    assert b"redis" not in response.content.lower()
    assert "access" not in response.json()
    assert response["Retry-After"] == "5"  # a client knows when to try again


@pytest.mark.parametrize("call", [lockout.login_guard, lockout.login_failed, lockout.login_succeeded])
def test_every_lockout_call_fails_closed(call, redis_down):
    with pytest.raises(ServiceUnavailable):
        call(email="someone@example.test", ip="192.0.2.1", user=None)
    with pytest.raises(ServiceUnavailable):
        lockout.lockout_clear(email="someone@example.test")


def test_guard_raises_too_many_requests_with_retry_after(clock):
    for _ in range(5):
        lockout.login_failed(email="a@example.test", ip="192.0.2.1", user=None)
    with pytest.raises(TooManyRequests) as caught:
        lockout.login_guard(email="a@example.test", ip="192.0.2.1", user=None)
    assert caught.value.headers["Retry-After"] == "60"
    lockout.login_guard(email="a@example.test", ip="192.0.2.2", user=None)  # another client: no lock
    lockout.login_guard(email="b@example.test", ip="192.0.2.1", user=None)  # another account: no lock


def test_missing_peer_address_is_one_client_not_a_free_pass(clock):
    for _ in range(5):
        lockout.login_failed(email="a@example.test", ip=None, user=None)
    with pytest.raises(TooManyRequests):
        lockout.login_guard(email="a@example.test", ip=None, user=None)


def test_an_address_with_no_account_is_locked_alike(clock):
    # Without an account the counters are keyed on the canonical address; with one, on the account.
    real = UserFactory(email="real@example.test")
    for email, user in (("real@example.test", real), ("ghost@example.test", None)):
        for _ in range(5):
            lockout.login_failed(email=email, ip="192.0.2.9", user=user)
        with pytest.raises(TooManyRequests):
            lockout.login_guard(email=email, ip="192.0.2.9", user=user)
