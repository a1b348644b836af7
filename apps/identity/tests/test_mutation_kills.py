"""Behaviour that mutation testing (`make mutation`) showed no test pinned down.

Each test names the surviving mutant it kills (docs/testing.md lists them all). They
go through the API or the public service functions, as a user or an operator would,
and assert what that person would notice. Where two rows compete for a query's
`.first()`, ids are chosen so that a query that lost its id filter picks the wrong
row every time rather than half the time.
"""

from __future__ import annotations

import re
from uuid import UUID

import pytest
from django.core import mail
from rest_framework.test import APIClient

from apps.common.tenancy import tenant_context
from apps.common.tests.jobs_fixtures import embedded_queues  # noqa: F401 - fixture
from apps.identity.exceptions import TokenInvalid
from apps.identity.models import AuditEvent, BackupCode, Invitation, PlatformAuditEvent, Portal, User
from apps.identity.services import sessions
from apps.identity.tests.factories import PortalFactory, UserFactory

ME = "/api/v1/identity/auth/me/"
LOGOUT = "/api/v1/identity/auth/logout/"
REFRESH = "/api/v1/identity/auth/refresh/"
SWITCH = "/api/v1/identity/auth/switch/"
INVITATIONS = "/api/v1/identity/invitations/"

# Sorts first among UUIDs (a decoy), and last (the account under test).
FIRST_ID = UUID("00000000-0000-4000-8000-000000000001")
LAST_ID = UUID("ffffffff-ffff-4fff-bfff-ffffffffffff")


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


# --- sign-in, switch, logout (services.signin, services.sessions) -----------------------------


@pytest.mark.django_db(transaction=True)
def test_switching_portal_gives_tokens_of_the_caller_not_of_another_account(login, member, portal, other_tenant):
    """Kills `switch_portal`: `User.objects.filter(id=user_id, ...)` losing its id filter."""
    UserFactory(id=FIRST_ID, email="decoy@example.test")
    caller = member("member", user=UserFactory(id=LAST_ID, email="caller@example.test"))
    member("member", user=caller, of=other_tenant)
    other_portal = PortalFactory(tenant=other_tenant, slug="globex")

    switched = bearer(login(caller, portal)["access"]).post(SWITCH, {"portal": other_portal.slug})

    assert switched.status_code == 200, switched.content
    me = bearer(switched.json()["access"]).get(ME).json()
    assert me["email"] == "caller@example.test"
    assert me["tenant"]["slug"] == other_tenant.slug


@pytest.mark.django_db(transaction=True)
def test_a_deactivated_account_cannot_switch_portal(member, portal, other_tenant):
    """Kills `switch_portal`: the `is_active=True` filter dropped.

    Deactivation revokes the account's access tokens, so through the API the switch
    is refused earlier; the service itself must refuse too (a token that raced the
    deactivation, a caller other than the API view).
    """
    user = member("member")
    member("member", user=user, of=other_tenant)
    other_portal = PortalFactory(tenant=other_tenant, slug="globex")
    User.objects.filter(id=user.id).update(is_active=False)

    with pytest.raises(TokenInvalid):
        sessions.switch_portal(
            user_id=user.id, amr=["pwd"], portal_slug=other_portal.slug, client=sessions.ClientInfo()
        )


@pytest.mark.django_db(transaction=True)
def test_logout_ends_the_presented_access_token_even_when_the_refresh_token_is_unknown(login, member, portal):
    """Kills `logout`: `revocation.revoke_jti(access_jti)` → `revoke_jti(None)` (and the `revoke_jti` mutants).

    The bearer sent to logout is revoked first, so a client whose refresh token is
    already gone (rotated elsewhere, lost) can still end the access token it holds.
    """
    tokens = login(member(), portal)
    client = bearer(tokens["access"])

    response = client.post(LOGOUT, {"refresh": "not-a-refresh-token-of-this-service"})

    assert response.status_code in (400, 401)
    assert client.get(ME).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_logout_is_audited_once_with_who_where_and_why(login, member, portal, tenant):
    """Kills `session_revoke` mutants: the `revoked_at__isnull` guard, the audit's actor, ip, target and data.

    Logging out twice (a retry, a second tab) ends the session once: one
    `auth.logout` event, by the user, from their address, naming the session.
    """
    user = member()
    tokens = login(user, portal)
    client = bearer(tokens["access"])
    assert client.post(LOGOUT, {"refresh": tokens["refresh"]}, REMOTE_ADDR="203.0.113.7").status_code == 204
    assert APIClient().post(LOGOUT, {"refresh": tokens["refresh"]}, REMOTE_ADDR="203.0.113.8").status_code == 204

    with tenant_context(tenant):
        events = list(AuditEvent.objects.filter(action__startswith="auth.").exclude(action="auth.login"))
    assert [(e.action, e.actor_id, e.ip, e.target_type, e.data) for e in events] == [
        ("auth.logout", user.id, "203.0.113.7", "session", {"reason": "logout"})
    ]


# --- proof of the mailbox (services.proof) ---------------------------------------------------

REGISTER = "/api/v1/identity/auth/register/"
LOGIN = "/api/v1/identity/auth/login/"
ACCEPT = "/api/v1/identity/invitations/accept/"
VICTIM = "victim@example.test"
VICTIM_PASSWORD = "victim chose this 5678"


@pytest.fixture
def _mail_and_sign_in_unthrottled(settings, embedded_queues):  # noqa: F811 - the imported fixture
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login": None, "register": None}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def _sign_in(email: str, password: str, portal):
    return APIClient().post(LOGIN, {"email": email, "password": password, "portal": portal.slug})


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_mail_and_sign_in_unthrottled")
def test_accepting_an_invitation_voids_every_password_registered_for_the_address(
    tenant, other_tenant, member, login, django_capture_on_commit_callbacks
):
    """Kills `unproved_account_reset` mutants: the pending sign-ups deleted by `user AND email` instead of
    `user OR email` (or by one of them only), the backup codes of someone else kept, and the audit of it.

    Someone registers the victim's address twice (the second sign-up waits with no
    account of its own), and holds backup codes on the squatted account. The victim
    is then invited and accepts: neither registrant's password may answer as a
    pending sign-up any more, and the squatter's codes are gone.
    """
    open_portal = PortalFactory(tenant=tenant, slug="open-door", signup_policy=Portal.SignupPolicy.OPEN)
    target_portal = PortalFactory(tenant=other_tenant, slug="globex-test", is_default=True)
    for password in ("first squatter 1234", "second squatter 5678"):
        response = APIClient().post(REGISTER, {"email": VICTIM, "password": password, "portal": open_portal.slug})
        assert response.status_code == 202, response.content
        # Before the victim proves the address, each registrant gets the new-account answer.
        assert _sign_in(VICTIM, password, open_portal).status_code == 403
    squatted = User.objects.get(email=VICTIM)
    BackupCode.objects.create(user=squatted, code_hash="squatters-code")

    owner = member("owner", of=other_tenant)
    with django_capture_on_commit_callbacks(execute=True):
        invited = bearer(login(owner, target_portal)["access"]).post(
            INVITATIONS, {"email": VICTIM, "role": "member"}, format="json"
        )
    assert invited.status_code == 201, invited.content
    token = re.search(r"/invitations/accept/\?token=([\w-]+)", mail.outbox[-1].body).group(1)  # type: ignore[union-attr]
    accepted = APIClient().post(
        ACCEPT, {"token": token, "password": VICTIM_PASSWORD}, format="json", REMOTE_ADDR="198.51.100.4"
    )
    assert accepted.status_code == 200, accepted.content

    for password in ("first squatter 1234", "second squatter 5678"):
        assert _sign_in(VICTIM, password, open_portal).status_code == 401
    assert _sign_in(VICTIM, VICTIM_PASSWORD, target_portal).status_code == 200
    assert not BackupCode.objects.filter(user=squatted).exists()
    event = PlatformAuditEvent.objects.get(action="auth.unproved_account_reset")
    assert (event.target_type, event.target_id, event.ip) == ("user", str(squatted.id), "198.51.100.4")
    assert event.data == {"via": "invitation", "sessions_ended": 0}


# --- invitations (services.invitations) --------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("rbac_seeded")
def test_revoking_one_invitation_leaves_the_others_open(admin_api, tenant):
    """Kills `invitation_revoke`: the `id=invitation_id` filter dropped (it revoked whichever came first)."""
    for email in ("first@example.test", "second@example.test"):
        assert admin_api.post(INVITATIONS, {"email": email, "role": "member"}, format="json").status_code == 201
    with tenant_context(tenant):
        # Give the two rows ids that sort the other way round from the one revoked.
        first = Invitation.objects.get(email="first@example.test")
        second = Invitation.objects.get(email="second@example.test")
        Invitation.objects.filter(id=first.id).update(id=FIRST_ID)
        Invitation.objects.filter(id=second.id).update(id=LAST_ID)

    assert admin_api.delete(f"{INVITATIONS}{LAST_ID}/").status_code in (200, 204)

    with tenant_context(tenant):
        statuses = dict(Invitation.objects.values_list("email", "status"))
    assert statuses == {"first@example.test": "pending", "second@example.test": "revoked"}


# --- revocation: how long a mark lasts, and the tenant-wide mark (revocation) -------------------


@pytest.fixture
def cache_clock(monkeypatch):
    """`cache_clock(seconds)`: the shared cache's clock moves on (expiring its entries); tokens' clocks do not.

    A revocation mark must outlive every access token it concerns, so a token
    ended now is still refused just before its own expiry. Only the embedded
    in-memory cache of the test run can be moved on; on Redis this is a no-op.
    """
    import time as real_time
    from types import SimpleNamespace

    from django.core.cache.backends import base, locmem

    def advance(seconds: float) -> None:
        clock = SimpleNamespace(time=lambda: real_time.time() + seconds)
        # Expiry times are computed in `base` and compared in `locmem`.
        monkeypatch.setattr(base, "time", clock)
        monkeypatch.setattr(locmem, "time", clock)

    return advance


def _end_access(how: str, *, tokens: dict, user, tenant) -> None:
    from apps.identity import revocation

    if how == "logout":  # the refresh token alone: its session is marked
        assert APIClient().post(LOGOUT, {"refresh": tokens["refresh"]}).status_code == 204
    elif how == "logout_bearer_only":  # the bearer is marked even when the refresh token is unknown
        bearer(tokens["access"]).post(LOGOUT, {"refresh": "unknown"})
    elif how == "user":
        revocation.revoke_user_before_now(user.id)
    elif how == "tenant":
        revocation.revoke_tenant_before_now(tenant.id)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["logout", "logout_bearer_only", "user", "tenant"])
def test_an_ended_access_token_stays_refused_until_it_expires(
    how, login, member, portal, tenant, settings, cache_clock
):
    """Kills the mark-lifetime mutants: `_ttl()` `+ 60` → `- 60`, and each `timeout=_ttl()` dropped (cache default).

    Also kills `revoke_tenant_before_now` writing no usable mark (key or value None).
    """
    user = member()
    tokens = login(user, portal)
    _end_access(how, tokens=tokens, user=user, tenant=tenant)
    assert bearer(tokens["access"]).get(ME).status_code == 401

    cache_clock(settings.ACCESS_TOKEN_LIFETIME.total_seconds() - 30)

    assert bearer(tokens["access"]).get(ME).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_session_older_than_a_tenant_wide_revocation_cannot_be_refreshed(api, login, member, portal, tenant):
    """Kills `session_predates_revocation`: the tenant's mark not read (`tenant_key(None)`).

    The tenant-wide mark is what stops a session that raced a suspension (started
    before it, but not among the rows it ended) from minting new tokens.
    """
    from apps.identity import revocation

    tokens = login(member(), portal)
    revocation.revoke_tenant_before_now(tenant.id)

    assert api.post(REFRESH, {"refresh": tokens["refresh"]}).status_code == 401
    # A sign-in after the revocation is not caught by it.
    assert login(member(), portal)["access"]


# --- sign-in lockout (services.lockout) --------------------------------------------------------


def _locked(*, email: str, ip: str, user=None) -> bool:
    from apps.common.exceptions import TooManyRequests
    from apps.identity.services import lockout

    try:
        lockout.login_guard(email=email, ip=ip, user=user)
    except TooManyRequests:
        return True
    return False


def _fail(*, email: str, ip: str, user=None) -> None:
    from apps.identity.services import lockout

    lockout.login_failed(email=email, ip=ip, user=user)


@pytest.mark.django_db
def test_failures_against_one_account_do_not_lock_another(settings):
    """Kills `login_failed`: the account counter keyed on nothing (`_count(None, ...)`, one counter for all)."""
    settings.ATRIUM_LOCKOUT = {"account_threshold": 4, "pair_threshold": 100, "ip_threshold": 100}
    for n in range(3):
        _fail(email="someone@example.test", ip=f"198.51.100.{n}")
    _fail(email="other@example.test", ip="198.51.100.9")

    assert not _locked(email="other@example.test", ip="203.0.113.1")
    assert not _locked(email="someone@example.test", ip="203.0.113.1")
    _fail(email="someone@example.test", ip="198.51.100.3")
    assert _locked(email="someone@example.test", ip="203.0.113.1")


@pytest.mark.django_db
def test_failures_from_one_client_do_not_lock_another_client(settings):
    """Kills `login_failed`: the client-IP counter keyed on nothing (`_count(None, ...)`)."""
    settings.ATRIUM_LOCKOUT = {"ip_threshold": 4, "pair_threshold": 100, "account_threshold": 100}
    for n in range(3):
        _fail(email=f"guess{n}@example.test", ip="198.51.100.66")
    _fail(email="guess9@example.test", ip="203.0.113.10")

    assert not _locked(email="new@example.test", ip="203.0.113.10")
    assert not _locked(email="new@example.test", ip="198.51.100.66")
    _fail(email="guess3@example.test", ip="198.51.100.66")
    assert _locked(email="new@example.test", ip="198.51.100.66")


@pytest.mark.django_db
def test_the_configured_thresholds_are_the_ones_applied(settings):
    """Kills `policy`: `ATRIUM_LOCKOUT` not read (`getattr(None, ...)`, a misspelt name), the defaults applied."""
    settings.ATRIUM_LOCKOUT = {"pair_threshold": 2}
    _fail(email="someone@example.test", ip="198.51.100.66")
    assert not _locked(email="someone@example.test", ip="198.51.100.66")
    _fail(email="someone@example.test", ip="198.51.100.66")
    assert _locked(email="someone@example.test", ip="198.51.100.66")


@pytest.mark.django_db
def test_a_slow_guesser_is_not_forgotten_between_tries(settings, cache_clock):
    """Kills `login_failed`: the pair counter's window not sliding (`sliding=True` → False/None/dropped)."""
    settings.ATRIUM_LOCKOUT = {"pair_threshold": 3, "pair_window_seconds": 600}
    _fail(email="someone@example.test", ip="198.51.100.66")
    cache_clock(500)
    _fail(email="someone@example.test", ip="198.51.100.66")
    cache_clock(1000)  # 1000 s after the first try, 500 s after the latest: within a sliding window
    _fail(email="someone@example.test", ip="198.51.100.66")
    assert _locked(email="someone@example.test", ip="198.51.100.66")


@pytest.mark.django_db
def test_a_reset_keeps_the_old_locks_lifted_for_longer_than_the_cache_default(member, cache_clock):
    """Kills `lockout_clear`: the new generation's 30-day lifetime dropped (the cache default, 5 minutes).

    Once the generation expired, every pair key would be salted as before the
    reset and the 15-minute lock the reset lifted would be back.
    """
    from apps.identity.services import lockout

    user = member()
    for _ in range(9):  # the 9th failure of the pair: a 15-minute lock
        _fail(email=user.email, ip="198.51.100.66", user=user)
    assert _locked(email=user.email, ip="198.51.100.66", user=user)

    lockout.lockout_clear(user=user)
    assert not _locked(email=user.email, ip="198.51.100.66", user=user)
    cache_clock(360)
    assert not _locked(email=user.email, ip="198.51.100.66", user=user)


@pytest.mark.django_db
def test_after_a_reset_new_failures_lock_the_pair_again(member, settings):
    """Kills `login_failed`: failures counted under no generation (`generation=None`, `cache.get(None)`).

    The guard looks the pair up under the generation a reset created; failures
    counted elsewhere would never lock that pair again after a reset.
    """
    from apps.identity.services import lockout

    settings.ATRIUM_LOCKOUT = {"pair_threshold": 3}
    user = member()
    lockout.lockout_clear(user=user)
    for _ in range(3):
        _fail(email=user.email, ip="198.51.100.66", user=user)
    assert _locked(email=user.email, ip="198.51.100.66", user=user)


@pytest.mark.django_db
def test_a_fifteen_minute_pair_lock_outlasts_the_cache_default(member, cache_clock):
    """Kills `login_failed`: the pair lock's `timeout=seconds + 1` dropped (the 5-minute cache default)."""
    user = member()
    for _ in range(9):  # the 9th failure of the pair: a 15-minute lock
        _fail(email=user.email, ip="198.51.100.66", user=user)
    cache_clock(360)
    assert _locked(email=user.email, ip="198.51.100.66", user=user)


@pytest.mark.django_db
def test_the_account_window_is_the_configured_one(settings, cache_clock):
    """Kills `_count`: the counter's first `timeout=window` dropped (the account window shrunk to 5 minutes)."""
    settings.ATRIUM_LOCKOUT = {"account_threshold": 3, "account_window_seconds": 900, "pair_threshold": 100}
    _fail(email="someone@example.test", ip="198.51.100.1")
    cache_clock(400)
    _fail(email="someone@example.test", ip="198.51.100.2")
    _fail(email="someone@example.test", ip="198.51.100.3")
    assert _locked(email="someone@example.test", ip="203.0.113.1")
