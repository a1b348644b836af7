"""Attacks that cross two flows, reproduced as an attacker would run them against the API.

Each test here reproduces a finding of an attack on the running app that the
one-endpoint-at-a-time tests had missed:

- account pre-hijack: register someone else's address on an open portal, wait
  for them to be invited elsewhere (or onboarded as an owner), sign in as them;
- register-then-login as an existence oracle;
- the lockout turned against the owner (account-wide lock re-armed by a trickle);
- Unicode variants of an address reaching fresh lockout counters.

A sign-in racing a revocation or a role change, and sessions that lose their access:
`test_cross_flow_revocation.py`.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from apps.common.tests.jobs_fixtures import embedded_queues  # noqa: F401 - fixture
from apps.identity.models import AuthSession, Portal, User
from apps.identity.services import lockout
from apps.identity.tests.cross_flow_support import (
    ACCEPT,
    ATTACKER_PASSWORD,
    INVITATIONS,
    LOGIN,
    REGISTER,
    RESET,
    RESET_CONFIRM,
    VICTIM,
    VICTIM_PASSWORD,
    _mail_jobs_run_inline,  # noqa: F401 - autouse fixture
    _no_request_throttle,  # noqa: F401 - autouse fixture
    me,
    sign_in,
)
from apps.identity.tests.factories import PASSWORD, PortalFactory, UserFactory
from apps.identity.tests.hashing_support import COUNTING_HASHER, CountingHasher

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def open_portal(tenant):
    return PortalFactory(tenant=tenant, slug="open-door", name="Open door", signup_policy=Portal.SignupPolicy.OPEN)


@pytest.fixture
def target_portal(other_tenant):
    """Tenant B's default portal, where the victim is invited."""
    return PortalFactory(tenant=other_tenant, slug="globex-test", name="Globex", is_default=True)


def register(email: str, password: str, portal) -> None:
    response = APIClient().post(REGISTER, {"email": email, "password": password, "portal": portal.slug})
    assert response.status_code == 202, response.content


def link_token(email: str, pattern: str) -> str:
    messages = [m for m in mail.outbox if m.to == [email] and re.search(pattern, m.body)]
    assert messages, f"no matching mail to {email}"
    return re.search(pattern, messages[-1].body).group(1)  # type: ignore[union-attr]


def invite(inviter_access: str, email: str, role: str, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = APIClient().post(
            INVITATIONS, {"email": email, "role": role}, format="json", HTTP_AUTHORIZATION=f"Bearer {inviter_access}"
        )
    assert response.status_code == 201, response.content


# --------------------------------------------------------------------------- account pre-hijack


def test_a_self_registered_account_cannot_sign_in_before_verifying(open_portal):
    register(VICTIM, ATTACKER_PASSWORD, open_portal)
    response = sign_in(VICTIM, ATTACKER_PASSWORD, open_portal)
    assert response.status_code == 403
    assert response.json()["type"].endswith("/email_unverified")
    assert "access" not in response.json()


def test_pre_registered_account_is_not_handed_to_the_invitee(
    open_portal, target_portal, member, login, django_capture_on_commit_callbacks
):
    # The attacker registers the victim's address on tenant A's open portal...
    register(VICTIM, ATTACKER_PASSWORD, open_portal)
    squatted = User.objects.get(email=VICTIM)
    # ...and (say, from before this fix) holds a second factor and a session on it.
    TOTPDevice.objects.create(user=squatted, name="attacker phone", confirmed=True)
    squatted_session = AuthSession.objects.create(
        user=squatted,
        tenant=open_portal.tenant,
        portal=open_portal,
        amr=["pwd"],
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    # Tenant B's owner invites the victim as an admin; the victim accepts with their own password.
    owner = member("owner", of=target_portal.tenant)
    invite(login(owner, target_portal)["access"], VICTIM, "admin", django_capture_on_commit_callbacks)
    token = link_token(VICTIM, r"/invitations/accept/\?token=([\w-]+)")
    accepted = APIClient().post(ACCEPT, {"token": token, "password": VICTIM_PASSWORD}, format="json")
    assert accepted.status_code == 200, accepted.content

    # The attacker's password opens nothing, anywhere; the victim's does, with the invited role.
    assert sign_in(VICTIM, ATTACKER_PASSWORD, target_portal).status_code == 401
    assert sign_in(VICTIM, ATTACKER_PASSWORD, open_portal).status_code == 401
    victim = sign_in(VICTIM, VICTIM_PASSWORD, target_portal)
    assert victim.status_code == 200, victim.content
    assert "access" in victim.json()  # no MFA challenge from the attacker's device
    assert me(victim.json()["access"])["roles"] == ["admin"]
    assert not TOTPDevice.objects.filter(user=squatted).exists()
    squatted_session.refresh_from_db()
    assert squatted_session.revoked_at is not None


def test_accepting_for_an_unverified_account_needs_the_invitees_password(
    open_portal, target_portal, member, login, django_capture_on_commit_callbacks
):
    register(VICTIM, ATTACKER_PASSWORD, open_portal)
    owner = member("owner", of=target_portal.tenant)
    invite(login(owner, target_portal)["access"], VICTIM, "admin", django_capture_on_commit_callbacks)
    token = link_token(VICTIM, r"/invitations/accept/\?token=([\w-]+)")
    refused = APIClient().post(ACCEPT, {"token": token}, format="json")
    assert refused.status_code == 400
    assert "password" in refused.json()["errors"]
    # Nothing was spent: the same link works once a password is chosen.
    assert APIClient().post(ACCEPT, {"token": token, "password": VICTIM_PASSWORD}, format="json").status_code == 200


def test_create_tenant_does_not_hand_a_pre_registered_account_the_new_tenant(open_portal):
    register(VICTIM, ATTACKER_PASSWORD, open_portal)
    mail.outbox.clear()
    out = io.StringIO()
    call_command("create_tenant", "--slug", "victimco", "--name", "Victim Co", "--owner-email", VICTIM, stdout=out)
    new_portal = Portal.objects.get(slug="victimco")
    # The attacker's password does not open the new tenant; the owner is mailed a set-password link instead.
    assert sign_in(VICTIM, ATTACKER_PASSWORD, new_portal).status_code == 401
    assert "mailed" in out.getvalue()
    uid, token = re.search(r"/password/reset/\?uid=(\S+)&token=(\S+)", mail.outbox[-1].body).groups()  # type: ignore[union-attr]
    body = {"uid": uid, "token": token, "new_password": VICTIM_PASSWORD}
    assert APIClient().post(RESET_CONFIRM, body, format="json").status_code == 204
    owner = sign_in(VICTIM, VICTIM_PASSWORD, new_portal)
    assert me(owner.json()["access"])["roles"] == ["owner"]


def test_a_reset_of_a_pre_registered_account_keeps_nothing_of_the_registrant(open_portal):
    register(VICTIM, ATTACKER_PASSWORD, open_portal)
    TOTPDevice.objects.create(user=User.objects.get(email=VICTIM), name="attacker phone", confirmed=True)
    mail.outbox.clear()
    assert APIClient().post(RESET, {"email": VICTIM}, format="json").status_code == 202
    uid, token = re.search(r"/password/reset/\?uid=(\S+)&token=(\S+)", mail.outbox[-1].body).groups()  # type: ignore[union-attr]
    body = {"uid": uid, "token": token, "new_password": VICTIM_PASSWORD}
    assert APIClient().post(RESET_CONFIRM, body, format="json").status_code == 204
    assert sign_in(VICTIM, ATTACKER_PASSWORD, open_portal).status_code == 401
    assert not TOTPDevice.objects.filter(user__email=VICTIM).exists()
    assert "access" in sign_in(VICTIM, VICTIM_PASSWORD, open_portal).json()


def test_create_tenant_refuses_to_change_an_existing_users_password():
    existing = UserFactory(email="boss@example.test", email_verified=True)
    before = existing.password
    with pytest.raises(CommandError, match="not changed"):
        call_command(
            "create_tenant",
            "--slug",
            "newco",
            "--name",
            "NewCo",
            "--owner-email",
            "BOSS@example.test",
            "--owner-password",
            "an operator typed this 99",
            stdout=io.StringIO(),
        )
    existing.refresh_from_db()
    assert existing.password == before
    assert not Portal.objects.filter(slug="newco").exists()


def test_accepting_for_an_unproved_account_marks_the_address_verified(
    open_portal, target_portal, member, login, django_capture_on_commit_callbacks
):
    register(VICTIM, ATTACKER_PASSWORD, open_portal)
    owner = member("owner", of=target_portal.tenant)
    invite(login(owner, target_portal)["access"], VICTIM, "admin", django_capture_on_commit_callbacks)
    token = link_token(VICTIM, r"/invitations/accept/\?token=([\w-]+)")
    assert APIClient().post(ACCEPT, {"token": token, "password": VICTIM_PASSWORD}, format="json").status_code == 200
    victim = sign_in(VICTIM, VICTIM_PASSWORD, target_portal).json()
    assert me(victim["access"])["email_verified"] is True


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--owner-email", "not-an-address"], "valid e-mail"),
        (["--owner-email", "x@example.test", "--owner-password", "password"], "too weak"),
        (["--owner-email", "x@example.test", "--name", "   "], "name"),
        (["--owner-email", "x@example.test", "--name", "n" * 201], "name"),
    ],
)
def test_create_tenant_validates_its_flags_like_the_api(args, field):
    base = {"--slug": "flagco", "--name": "Flag Co"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = [item for pair in base.items() for item in pair]
    with pytest.raises(CommandError, match=field):
        call_command("create_tenant", *argv, stdout=io.StringIO())
    assert not Portal.objects.filter(slug="flagco").exists()


# --------------------------------------------------------------------------- existence oracles


def test_register_then_login_does_not_tell_whether_the_address_had_an_account(open_portal, member):
    known = member("member")
    known.email_verified = True
    known.save()
    register(known.email, ATTACKER_PASSWORD, open_portal)
    register("nobody-yet@example.test", ATTACKER_PASSWORD, open_portal)
    for password in (ATTACKER_PASSWORD, "something else 4321"):
        old = sign_in(known.email, password, open_portal)
        new = sign_in("nobody-yet@example.test", password, open_portal)
        assert old.status_code == new.status_code
        assert old.json()["type"] == new.json()["type"]
        assert old.json()["detail"] == new.json()["detail"]
    # The known account's owner still signs in with their own password.
    assert sign_in(known.email, PASSWORD, open_portal).status_code == 200


def hashes_for(email: str, password: str, portal) -> tuple[int, int]:
    CountingHasher.calls = 0
    status = sign_in(email, password, portal).status_code
    return status, CountingHasher.calls


def test_unknown_email_and_wrong_password_cost_the_same_hashes(settings, open_portal, member):
    settings.PASSWORD_HASHERS = [COUNTING_HASHER]
    known = member("member")
    known.set_password(PASSWORD)
    known.save()
    hashes_for("warm-up@example.test", "x", open_portal)  # the dummy hash is made once per process
    assert hashes_for("nobody@example.test", "wrong", open_portal) == (401, 1)
    assert hashes_for(known.email, "wrong", open_portal) == (401, 1)
    assert hashes_for(known.email, PASSWORD, open_portal) == (200, 1)
    # After someone registers both a known and a new address, both paths cost the same again.
    register(known.email, ATTACKER_PASSWORD, open_portal)
    register("fresh@example.test", ATTACKER_PASSWORD, open_portal)
    assert hashes_for(known.email, ATTACKER_PASSWORD, open_portal) == (403, 2)
    assert hashes_for("fresh@example.test", ATTACKER_PASSWORD, open_portal) == (403, 2)
    assert hashes_for(known.email, "wrong", open_portal) == hashes_for("fresh@example.test", "wrong", open_portal)


# --------------------------------------------------------------------------- lockout against the owner


@pytest.fixture
def clock(monkeypatch):
    now = [1_800_000_000.0]
    monkeypatch.setattr(lockout, "_now", lambda: now[0])
    return now


def test_the_account_lock_cannot_keep_a_known_device_out(portal, member, settings, clock):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    owner = member("owner")
    # The owner signed in before from their laptop: it holds the known-device cookie.
    first = sign_in(owner.email, PASSWORD, portal, ip="10.0.0.2")
    assert first.status_code == 200
    device = first.cookies[lockout.DEVICE_COOKIE].value
    assert first.cookies[lockout.DEVICE_COOKIE]["httponly"]

    def attack(n: int) -> int:
        client = APIClient()
        return client.post(
            LOGIN,
            {"email": owner.email, "password": "guess", "portal": portal.slug},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        ).status_code

    other = member("member")
    other_device = sign_in(other.email, PASSWORD, portal).cookies[lockout.DEVICE_COOKIE].value
    # Behind the trusted proxy, a handful of addresses put the account into the account-wide lock.
    assert {attack(n % 5) for n in range(20)} == {401}
    assert sign_in(owner.email, PASSWORD, portal, ip="10.0.0.2").status_code == 429  # a new client waits
    # A device mark of another account exempts nobody.
    assert sign_in(owner.email, PASSWORD, portal, ip="10.0.0.2", device=other_device).status_code == 429
    # The owner's known device is not refused, now or while the attacker keeps trickling.
    for minute in range(5):
        assert sign_in(owner.email, PASSWORD, portal, ip="10.0.0.2", device=device).status_code == 200
        clock[0] += 60
        assert attack(100 + minute) == 401


VARIANTS = {
    "kelvin@example.test": ["\u212aelvin@example.test", "KELVIN@example.test", "kelvin@EXAMPLE.test"],
    "lass@example.test": ["la\u017f\u017f@example.test", "LA\u017fS@example.test"],
    "admin@example.test": ["adm\u0131n@example.test", "ADM\u0130N@example.test", " admin@example.test "],
}


@pytest.mark.parametrize("canonical", sorted(VARIANTS))
def test_every_variant_that_signs_in_shares_the_accounts_counters(canonical, portal, member, clock):
    user = member(user=UserFactory(email=canonical))
    for variant in VARIANTS[canonical]:
        cache.clear()
        if sign_in(variant, PASSWORD, portal).status_code != 200:
            continue  # this database does not fold the variant into the account: it reaches nothing
        cache.clear()
        for _ in range(5):
            assert sign_in(variant, "wrong", portal).status_code == 401
        # The canonical address from the same client meets the lock the variant earned.
        assert sign_in(user.email, PASSWORD, portal).status_code == 429, variant


def test_registration_folds_compatibility_forms_into_one_account(open_portal, member):
    member(user=UserFactory(email="kelvin@example.test", email_verified=True))
    register("\u212aelvin@example.test", ATTACKER_PASSWORD, open_portal)
    assert User.objects.filter(email__iexact="kelvin@example.test").count() == 1
    assert not User.objects.exclude(email__iexact="kelvin@example.test").filter(email__icontains="elvin").exists()
