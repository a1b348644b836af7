"""MFA at sign-in: the challenge, `auth/mfa/verify/`, the wrong-code lock, enrolment, and switch.

Each test tries an attack from docs/security.md, "Login, MFA, recovery" (and trap 5:
a password-only token request must not bypass MFA).
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.common.tenancy import tenant_context
from apps.identity import revocation
from apps.identity.models import AuditEvent, AuthSession, BackupCode, Membership
from apps.identity.services import mfa
from apps.identity.tests.factories import PASSWORD, PortalFactory
from apps.identity.tests.mfa_support import (
    CONFIRM,
    LOGIN,
    ME,
    SETUP,
    STATUS,
    SWITCH,
    VERIFY,
    bearer,
    claims,
    device_of,
    enable_mfa,
    forget_last_step,
    password_login,
    totp_code,
    use_mfa_clock,
    wrong_code,
)

# Token endpoints run outside the request transaction, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mfa_user(member):  # type: ignore[no-untyped-def]
    user = member("admin")
    user.backup_codes = enable_mfa(user)
    forget_last_step(user)  # enrolment spent the current step; a sign-in now needs it again
    return user


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    """The MFA service's clock, frozen; `clock.advance(s)` moves it (no sleeping)."""
    return use_mfa_clock(monkeypatch)


def challenge(api: APIClient, user, portal) -> str:  # type: ignore[no-untyped-def]
    body = password_login(api, user, portal, PASSWORD)
    assert set(body) == {"mfa_required", "mfa_token"}, body
    assert body["mfa_required"] is True
    return body["mfa_token"]


def test_password_alone_gives_an_mfa_user_no_tokens(api, mfa_user, portal):
    body = password_login(api, mfa_user, portal, PASSWORD)
    assert set(body) == {"mfa_required", "mfa_token"}
    assert "access" not in body
    assert "refresh" not in body
    assert not AuthSession.objects.filter(user=mfa_user).exists()
    # The mfa_token is no access token: no bearer endpoint takes it, not even the enrolment ones.
    token = body["mfa_token"]
    assert bearer(token).get(ME).status_code == 401
    assert bearer(token).get(ME)["WWW-Authenticate"].startswith("Bearer")
    assert bearer(token).get(STATUS).status_code == 401
    assert bearer(token).post(SETUP).status_code == 401
    assert bearer(token).post(CONFIRM, {"code": totp_code(mfa_user)}).status_code == 401
    # ... and it still works where it belongs.
    assert api.post(VERIFY, {"mfa_token": token, "code": totp_code(mfa_user)}).status_code == 200


def test_verify_with_totp_gives_tokens_with_amr_pwd_otp(api, mfa_user, portal):
    token = challenge(api, mfa_user, portal)
    response = api.post(VERIFY, {"mfa_token": token, "code": totp_code(mfa_user)})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access", "refresh", "token_type", "expires_in"}
    assert response["Cache-Control"].count("no-store") == 1
    assert claims(body["access"])["amr"] == ["pwd", "otp"]
    me = bearer(body["access"]).get(ME)
    assert me.status_code == 200
    assert me.json()["mfa_enabled"] is True
    # The session keeps amr across refresh.
    refreshed = api.post("/api/v1/identity/auth/refresh/", {"refresh": body["refresh"]})
    assert claims(refreshed.json()["access"])["amr"] == ["pwd", "otp"]
    with tenant_context(portal.tenant):
        assert AuditEvent.objects.filter(action="auth.mfa_verified", actor_id=mfa_user.id).count() == 1


def test_mfa_token_is_single_use(api, mfa_user, portal):
    token = challenge(api, mfa_user, portal)
    assert api.post(VERIFY, {"mfa_token": token, "code": totp_code(mfa_user)}).status_code == 200
    again = api.post(VERIFY, {"mfa_token": token, "code": totp_code(mfa_user, steps_ahead=1)})
    assert again.status_code == 401


def test_a_totp_code_is_accepted_once(api, mfa_user, portal):
    code = totp_code(mfa_user)
    assert api.post(VERIFY, {"mfa_token": challenge(api, mfa_user, portal), "code": code}).status_code == 200
    replay = api.post(VERIFY, {"mfa_token": challenge(api, mfa_user, portal), "code": code})
    assert replay.status_code == 401
    assert replay["Content-Type"] == "application/problem+json"
    # An older code (the previous step) is refused too once a later one was used.
    older = api.post(
        VERIFY, {"mfa_token": challenge(api, mfa_user, portal), "code": totp_code(mfa_user, steps_ahead=-1)}
    )
    assert older.status_code == 401


def test_a_backup_code_works_once(api, mfa_user, portal):
    code = mfa_user.backup_codes[0]
    # Case and the hyphen do not matter.
    typed = code.lower().replace("-", " ")
    first = api.post(VERIFY, {"mfa_token": challenge(api, mfa_user, portal), "code": typed})
    assert first.status_code == 200, first.content
    assert claims(first.json()["access"])["amr"] == ["pwd", "otp"]
    second = api.post(VERIFY, {"mfa_token": challenge(api, mfa_user, portal), "code": code})
    assert second.status_code == 401
    assert BackupCode.objects.filter(user=mfa_user, used_at__isnull=True).count() == 9


def test_wrong_codes_past_the_limit_lock_even_the_right_code(api, mfa_user, portal, settings):
    settings.MFA_MAX_FAILURES = 5
    token = challenge(api, mfa_user, portal)
    bad = wrong_code(mfa_user)
    statuses = [api.post(VERIFY, {"mfa_token": token, "code": bad}).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 401]
    locked = api.post(VERIFY, {"mfa_token": token, "code": bad})
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0
    # The token that was hammered is burned.
    assert api.post(VERIFY, {"mfa_token": token, "code": totp_code(mfa_user)}).status_code == 401
    # A fresh sign-in with the right password and the right code: still locked.
    fresh = api.post(VERIFY, {"mfa_token": challenge(api, mfa_user, portal), "code": totp_code(mfa_user)})
    assert fresh.status_code == 429
    assert int(fresh["Retry-After"]) > 0
    assert not AuthSession.objects.filter(user=mfa_user).exists()
    # Backup codes are locked as well.
    backup = api.post(VERIFY, {"mfa_token": challenge(api, mfa_user, portal), "code": mfa_user.backup_codes[0]})
    assert backup.status_code == 429
    # Every wrong code was audited, and outlived its refused request.
    with tenant_context(portal.tenant):
        assert AuditEvent.objects.filter(action="auth.mfa_failed", actor_id=mfa_user.id).count() == 5
        assert AuditEvent.objects.filter(action="auth.mfa_locked", actor_id=mfa_user.id).count() == 1


def test_the_lock_passes_and_a_right_code_then_works(api, mfa_user, portal, settings, clock):
    settings.MFA_MAX_FAILURES = 2
    settings.MFA_LOCK_SECONDS = 300
    bad = wrong_code(mfa_user)
    token = challenge(api, mfa_user, portal)
    api.post(VERIFY, {"mfa_token": token, "code": bad})
    assert api.post(VERIFY, {"mfa_token": token, "code": bad}).status_code == 429
    clock.advance(299)
    still = api.post(VERIFY, {"mfa_token": challenge(api, mfa_user, portal), "code": totp_code(mfa_user)})
    assert still.status_code == 429
    assert int(still["Retry-After"]) <= 2
    clock.advance(2)
    ok = api.post(VERIFY, {"mfa_token": challenge(api, mfa_user, portal), "code": totp_code(mfa_user)})
    assert ok.status_code == 200, ok.content


def test_wrong_codes_count_per_user_across_tokens(api, mfa_user, portal, settings):
    settings.MFA_MAX_FAILURES = 3
    bad = wrong_code(mfa_user)
    # A new challenge for each guess does not start the count over.
    results = [
        api.post(VERIFY, {"mfa_token": challenge(api, mfa_user, portal), "code": bad}).status_code for _ in range(3)
    ]
    assert results == [401, 401, 429]


@pytest.mark.parametrize(
    "token",
    ["nope", "mfa_" + "A" * 43, "mfa_" + "x" * 500, "eyJhbGciOiJFUzI1NiJ9.e30.sig", "mfa_\u00e9\u00e9"],
)
def test_garbage_mfa_token_is_401(api, mfa_user, portal, token):
    response = api.post(VERIFY, {"mfa_token": token, "code": totp_code(mfa_user)})
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    "body",
    [{}, {"mfa_token": "", "code": "123456"}, {"mfa_token": ["x"], "code": {}}, {"mfa_token": "mfa_\x00", "code": "1"}],
)
def test_malformed_verify_body_is_400(api, body):
    assert api.post(VERIFY, body, format="json").status_code == 400


def test_an_access_token_is_not_an_mfa_token(api, login, member, portal, mfa_user):
    access = login(member(), portal)["access"]
    assert api.post(VERIFY, {"mfa_token": access, "code": totp_code(mfa_user)}).status_code == 401


def test_expired_mfa_token_is_401(api, mfa_user, portal, settings, clock):
    settings.MFA_TOKEN_LIFETIME = timedelta(seconds=60)
    token = challenge(api, mfa_user, portal)
    clock.advance(59)
    # Still alive a second before it expires: the answer below is about time, not a broken token.
    assert mfa.mfa_token_get(raw=token, purpose="verify").expires_at > clock.now
    clock.advance(1)
    assert api.post(VERIFY, {"mfa_token": token, "code": totp_code(mfa_user)}).status_code == 401


def test_mfa_token_lives_at_most_ten_minutes(api, mfa_user, portal, settings):
    settings.MFA_TOKEN_LIFETIME = timedelta(hours=1)
    data = mfa.mfa_token_get(raw=challenge(api, mfa_user, portal), purpose="verify")
    assert data.expires_at - data.issued_at <= 600
    assert (data.role, data.portal, data.tenant_id) == ("admin", portal.slug, portal.tenant_id)


def test_revoking_the_user_ends_a_pending_mfa_token(api, mfa_user, portal):
    token = challenge(api, mfa_user, portal)
    revocation.revoke_user_before_now(mfa_user.id)  # what a password reset does
    assert api.post(VERIFY, {"mfa_token": token, "code": totp_code(mfa_user)}).status_code == 401


def test_a_removed_member_cannot_finish_the_challenge(api, mfa_user, portal):
    token = challenge(api, mfa_user, portal)
    with tenant_context(portal.tenant):
        Membership.objects.filter(user=mfa_user).update(status=Membership.Status.SUSPENDED)
    assert api.post(VERIFY, {"mfa_token": token, "code": totp_code(mfa_user)}).status_code == 403
    assert not AuthSession.objects.filter(user=mfa_user).exists()


def test_a_correct_mfa_sign_in_clears_the_password_lockout(api, mfa_user, portal):
    """The real lockout: a pair locked by wrong passwords is lifted by the owner's correct MFA sign-in."""
    locked_client = "198.51.100.9"

    def from_locked_client(password: str) -> int:
        body = {"email": mfa_user.email, "password": password, "portal": portal.slug}
        return APIClient().post(LOGIN, body, REMOTE_ADDR=locked_client).status_code

    assert [from_locked_client("wrong guess") for _ in range(5)] == [401] * 5
    assert from_locked_client(PASSWORD) == 429
    # A wrong code proves nothing: the lock stays.
    api.post(VERIFY, {"mfa_token": challenge(api, mfa_user, portal), "code": wrong_code(mfa_user)})
    assert from_locked_client(PASSWORD) == 429
    # The owner's correct second factor (from their own client) lifts it.
    assert (
        api.post(VERIFY, {"mfa_token": challenge(api, mfa_user, portal), "code": totp_code(mfa_user)}).status_code
        == 200
    )
    assert from_locked_client(PASSWORD) == 200


def test_enrolment_for_a_portal_that_requires_mfa(api, member, portal):
    portal.mfa_required = True
    portal.save()
    user = member("member")
    body = password_login(api, user, portal, PASSWORD)
    assert set(body) == {"mfa_setup_required", "mfa_token"}
    assert body["mfa_setup_required"] is True
    token = body["mfa_token"]
    assert not AuthSession.objects.filter(user=user).exists()
    # Not an access token, and not a verify token either.
    assert bearer(token).get(ME).status_code == 401
    assert bearer(token).get(STATUS).status_code == 401
    assert api.post(VERIFY, {"mfa_token": token, "code": "123456"}).status_code == 401

    enrolling = bearer(token)
    setup = enrolling.post(SETUP)
    assert setup.status_code == 200, setup.content
    assert set(setup.json()) == {"secret", "otpauth_uri", "qr_svg"}
    assert enrolling.post(CONFIRM, {"code": wrong_code(user)}).status_code == 400
    confirmed = enrolling.post(CONFIRM, {"code": totp_code(user)})
    assert confirmed.status_code == 200, confirmed.content
    result = confirmed.json()
    assert len(result["backup_codes"]) == 10
    assert (result["token_type"], result["expires_in"]) == ("Bearer", 900)
    assert claims(result["access"])["amr"] == ["pwd", "otp"]
    assert bearer(result["access"]).get(ME).json()["mfa_enabled"] is True
    # The enrolment token is spent.
    assert enrolling.post(SETUP).status_code == 401
    # From now on the password alone gets a challenge, never tokens.
    assert set(password_login(api, user, portal, PASSWORD)) == {"mfa_required", "mfa_token"}


def test_an_enrolment_token_cannot_enrol_a_user_who_already_has_mfa(api, member, portal):
    portal.mfa_required = True
    portal.save()
    user = member("member")
    token = password_login(api, user, portal, PASSWORD)["mfa_token"]
    enable_mfa(user)  # enrolled meanwhile, from another session
    assert bearer(token).post(SETUP).status_code == 409
    assert device_of(user).confirmed


def test_switch_to_a_portal_that_requires_mfa_needs_otp_in_amr(api, member, portal, tenant):
    staff = PortalFactory(tenant=tenant, slug="staff-mfa", mfa_required=True, admitted_roles=["owner", "admin"])
    user = member("admin")
    pwd_only = password_login(api, user, portal, PASSWORD)
    assert claims(pwd_only["access"])["amr"] == ["pwd"]
    refused = bearer(pwd_only["access"]).post(SWITCH, {"portal": staff.slug})
    assert refused.status_code == 403

    enable_mfa(user)
    forget_last_step(user)
    token = challenge(api, user, portal)
    verified = api.post(VERIFY, {"mfa_token": token, "code": totp_code(user)}).json()
    switched = bearer(verified["access"]).post(SWITCH, {"portal": staff.slug})
    assert switched.status_code == 200, switched.content
    assert claims(switched.json()["access"])["amr"] == ["pwd", "otp"]
    assert claims(switched.json()["access"])["portal"] == staff.slug


@pytest.mark.postgres
def test_one_code_sent_twice_at_once_signs_in_once(mfa_user, portal):
    tokens = [challenge(APIClient(), mfa_user, portal) for _ in range(2)]
    code = totp_code(mfa_user)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def attempt(token: str) -> None:
        try:
            barrier.wait()
            results.append(APIClient().post(VERIFY, {"mfa_token": token, "code": code}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 401]


@pytest.mark.redis
def test_the_wrong_code_lock_lives_in_redis_for_every_app_server(api, mfa_user, portal, settings):
    """A second app server shares only Redis: the lock (and the pending mfa_token) must be there."""
    import redis

    settings.MFA_MAX_FAILURES = 2
    token = challenge(api, mfa_user, portal)
    bad = wrong_code(mfa_user)
    api.post(VERIFY, {"mfa_token": token, "code": bad})
    assert api.post(VERIFY, {"mfa_token": token, "code": bad}).status_code == 429
    other_server = redis.Redis.from_url(settings.REDIS_URL)
    assert other_server.keys(f"*auth:mfa:lock:{mfa_user.id}")
    assert other_server.keys("*auth:mfa:token:*") == []  # the hammered token was burned
    challenge(api, mfa_user, portal)
    assert len(other_server.keys("*auth:mfa:token:*")) == 1
