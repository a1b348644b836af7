"""Lifecycle properties of accounts, sessions and lockout, explored by Hypothesis through the API.

The one-endpoint tests missed what happens where flows meet. These state
machines run random sequences of the flows an account, a session or a
password goes through (register, verify, invite/accept, create_tenant, reset,
login, refresh, logout, revoke, change) and check after every step:

- a password set without proof of the mailbox never gains what a mailbox
  proof granted: whatever the order of sign-ups, invitations, resets and
  `create_tenant`, the passwords a stranger chose for the victim's address
  never sign in anywhere, and the victim's own proved password does;
- a token minted after the last revocation works and one minted before never
  does (the steps run faster than a second apart, so revocations and sign-ins
  share clock seconds all the time);
- every e-mail string that authenticates as a user maps to that user's
  lockout counters (generated Unicode case and compatibility variants).

They run on PostgreSQL in CI (`make test`), on SQLite locally.
"""

from __future__ import annotations

import io
import itertools
import re

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from rest_framework.test import APIClient

from apps.common.tests.jobs_fixtures import embedded_queues  # noqa: F401 - fixture
from apps.identity.models import Portal, User
from apps.identity.tests.factories import PASSWORD, PortalFactory, TenantFactory, UserFactory, make_membership

pytestmark = pytest.mark.django_db(transaction=True)

LOGIN = "/api/v1/identity/auth/login/"
ME = "/api/v1/identity/auth/me/"
REFRESH = "/api/v1/identity/auth/refresh/"
LOGOUT = "/api/v1/identity/auth/logout/"
CHANGE = "/api/v1/identity/auth/password/change/"
REGISTER = "/api/v1/identity/auth/register/"
VERIFY = "/api/v1/identity/auth/email/verify/"
RESET = "/api/v1/identity/auth/password/reset/"
RESET_CONFIRM = "/api/v1/identity/auth/password/reset/confirm/"
INVITATIONS = "/api/v1/identity/invitations/"
ACCEPT = "/api/v1/identity/invitations/accept/"

ATTACKER_PASSWORDS = ("attacker pass one 111", "attacker pass two 222")
VICTIM_PASSWORDS = ("victim secret one 333", "victim secret two 444", "victim secret six 666")
RUNS = itertools.count()
MACHINE_SETTINGS = settings(
    max_examples=12,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def _flows_run_as_deployed(embedded_queues, settings):  # noqa: F811 - the imported fixture
    """Mail jobs run after commit; request throttles are off (the lockout is what is under test)."""
    rates = dict.fromkeys(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def sign_in(email: str, password: str, portal: Portal, ip: str) -> APIClient:
    return APIClient().post(LOGIN, {"email": email, "password": password, "portal": portal.slug}, REMOTE_ADDR=ip)


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def last_link(email: str, pattern: str) -> re.Match[str] | None:
    for message in reversed(mail.outbox):
        if message.to == [email]:
            match = re.search(pattern, message.body)
            if match:
                return match
    return None


# --------------------------------------------------------------------------- proof of the mailbox


class MailboxProof(RuleBasedStateMachine):
    """A stranger and the mailbox's owner race for one address across two tenants and the operator.

    The model: `account` is none / unverified / verified; `made_by_victim` says
    whether the victim's own sign-up made the account (only then does the
    victim follow its verification link — a link for a sign-up they never made
    is the one mail people are told to ignore); `victim_password` is what the
    owner last set through a proof; `member_portals` are where the account belongs.
    """

    def __init__(self) -> None:
        super().__init__()
        cache.clear()
        mail.outbox.clear()
        run = next(RUNS)
        self.victim = f"victim{run}@example.test"
        self.open_portal = PortalFactory(
            tenant=TenantFactory(slug=f"open-t{run}"), slug=f"open-{run}", signup_policy=Portal.SignupPolicy.OPEN
        )
        invited_tenant = TenantFactory(slug=f"inv-t{run}")
        self.invite_portal = PortalFactory(tenant=invited_tenant, slug=f"inv-{run}", is_default=True)
        inviter = UserFactory(email_verified=True)
        make_membership(user=inviter, tenant=invited_tenant, role="owner")
        self.inviter_access = sign_in(inviter.email, PASSWORD, self.invite_portal, "192.0.2.1").json()["access"]
        self.run = run
        self.portals: list[Portal] = [self.open_portal, self.invite_portal]
        self.account = "none"
        self.made_by_victim = False
        self.victim_pending: str | None = None
        self.victim_password: str | None = None
        self.attacker_passwords: set[str] = set()
        self.member_portals: set[str] = set()
        self.invited = False
        self.created = 0

    def _register(self, password: str) -> bool:
        """True when the sign-up made the account."""
        made = self.account == "none"
        response = APIClient().post(
            REGISTER, {"email": self.victim, "password": password, "portal": self.open_portal.slug}
        )
        assert response.status_code == 202, response.content
        if made:
            self.account = "unverified"
            self.member_portals.add(self.open_portal.slug)
        return made

    @rule(password=st.sampled_from(ATTACKER_PASSWORDS))
    def stranger_registers_the_address(self, password: str) -> None:
        self.attacker_passwords.add(password)
        if self._register(password):
            self.made_by_victim = False

    @rule(password=st.sampled_from(VICTIM_PASSWORDS))
    def owner_registers(self, password: str) -> None:
        if self._register(password):
            self.made_by_victim = True
            self.victim_pending = password

    @precondition(lambda self: self.account == "unverified" and self.made_by_victim and self.victim_pending)
    @rule()
    def owner_follows_the_verification_link(self) -> None:
        key = last_link(self.victim, r"/email/verify/\?key=(\S+)")
        assert key is not None
        assert APIClient().post(VERIFY, {"key": key.group(1)}, format="json").status_code == 204
        self.account, self.victim_password = "verified", self.victim_pending

    @precondition(lambda self: not self.invited)
    @rule(password=st.sampled_from(VICTIM_PASSWORDS))
    def owner_is_invited_and_accepts(self, password: str) -> None:
        created = bearer(self.inviter_access).post(INVITATIONS, {"email": self.victim, "role": "admin"}, format="json")
        assert created.status_code == 201, created.content
        self.invited = True
        token = last_link(self.victim, r"/invitations/accept/\?token=([\w-]+)")
        assert token is not None
        accepted = APIClient().post(ACCEPT, {"token": token.group(1), "password": password}, format="json")
        assert accepted.status_code == 200, accepted.content
        if self.account != "verified":  # a new or unproved account takes the invitee's password
            self.victim_password = password
        self.account = "verified"
        self.made_by_victim = True
        self.member_portals.add(self.invite_portal.slug)

    @precondition(lambda self: self.account != "none")
    @rule(password=st.sampled_from(VICTIM_PASSWORDS))
    def owner_resets_the_password(self, password: str) -> None:
        mail.outbox.clear()
        assert APIClient().post(RESET, {"email": self.victim}, format="json").status_code == 202
        link = last_link(self.victim, r"/password/reset/\?uid=(\S+)&token=(\S+)")
        assert link is not None
        body = {"uid": link.group(1), "token": link.group(2), "new_password": password}
        assert APIClient().post(RESET_CONFIRM, body, format="json").status_code == 204
        self.account, self.victim_password, self.made_by_victim = "verified", password, True

    @precondition(lambda self: self.created < 2)
    @rule()
    def operator_creates_a_tenant_for_the_address(self) -> None:
        self.created += 1
        slug = f"made-{self.run}-{self.created}"
        call_command(
            "create_tenant", "--slug", slug, "--name", "Made", "--owner-email", self.victim, stdout=io.StringIO()
        )
        self.portals.append(Portal.objects.get(slug=slug))
        self.member_portals.add(slug)
        if self.account != "verified":  # an unproved account is stripped; the owner gets a set-password mail
            self.account, self.victim_pending, self.victim_password = "unverified", None, None
            self.made_by_victim = False

    @invariant()
    def the_strangers_passwords_open_nothing(self) -> None:
        for password in self.attacker_passwords:
            for portal in self.portals:
                response = sign_in(self.victim, password, portal, "198.51.100.7")
                assert response.status_code != 200, (password, portal.slug, response.content)

    @invariant()
    def the_owners_proved_password_opens_their_portals(self) -> None:
        if self.account != "verified" or self.victim_password is None:
            return
        for portal in self.portals:
            if portal.slug in self.member_portals:
                response = sign_in(self.victim, self.victim_password, portal, "203.0.113.5")
                assert response.status_code == 200, (portal.slug, response.content)


def test_a_password_set_without_proof_never_gains_what_a_proof_granted(settings):
    settings.ATRIUM_LOCKOUT = {"pair_threshold": 10**6, "account_threshold": 10**6, "ip_threshold": 10**6}
    run_state_machine_as_test(MailboxProof, settings=MACHINE_SETTINGS)


# --------------------------------------------------------------------------- revocation order


class Revocations(RuleBasedStateMachine):
    """Sign-ins, refreshes and every kind of ending, in any order, many within one clock second."""

    def __init__(self) -> None:
        super().__init__()
        cache.clear()
        mail.outbox.clear()
        run = next(RUNS)
        self.portal = PortalFactory(tenant=TenantFactory(slug=f"rev-t{run}"), slug=f"rev-{run}")
        self.user = UserFactory(email_verified=True)
        make_membership(user=self.user, tenant=self.portal.tenant, role="member")
        self.password = PASSWORD
        # Each token: access, its session's refresh (latest), session key, whether it must still work.
        self.tokens: list[dict[str, object]] = []
        self.sessions = itertools.count()

    @initialize()
    def first_sign_in(self) -> None:
        self.sign_in()

    @rule()
    def sign_in(self) -> None:
        response = sign_in(self.user.email, self.password, self.portal, "192.0.2.50")
        assert response.status_code == 200, response.content
        body = response.json()
        self.tokens.append(
            {"access": body["access"], "refresh": body["refresh"], "session": next(self.sessions), "live": True}
        )

    def _of_session(self, session: object) -> list[dict[str, object]]:
        return [t for t in self.tokens if t["session"] == session]

    @precondition(lambda self: self.tokens)
    @rule(data=st.data())
    def refresh(self, data: st.DataObject) -> None:
        token = data.draw(st.sampled_from(self.tokens))
        latest = self._of_session(token["session"])[-1]
        response = APIClient().post(REFRESH, {"refresh": latest["refresh"]}, format="json")
        if not latest["live"]:
            assert response.status_code == 401
            return
        assert response.status_code == 200, response.content
        body = response.json()
        for older in self._of_session(token["session"]):
            older["refresh"] = None
        self.tokens.append(
            {"access": body["access"], "refresh": body["refresh"], "session": token["session"], "live": True}
        )

    @precondition(lambda self: any(t["live"] for t in self.tokens))
    @rule(data=st.data())
    def sign_out(self, data: st.DataObject) -> None:
        token = data.draw(st.sampled_from([t for t in self.tokens if t["live"]]))
        latest = self._of_session(token["session"])[-1]
        assert APIClient().post(LOGOUT, {"refresh": latest["refresh"]}, format="json").status_code == 204
        for ended in self._of_session(token["session"]):
            ended["live"] = False

    def _end_everything(self) -> None:
        for token in self.tokens:
            token["live"] = False

    @rule()
    def operator_revokes_the_user(self) -> None:
        call_command("revoke_sessions", "--user", self.user.email, stdout=io.StringIO())
        self._end_everything()

    @rule(password=st.sampled_from(VICTIM_PASSWORDS))
    def password_reset(self, password: str) -> None:
        mail.outbox.clear()
        APIClient().post(RESET, {"email": self.user.email}, format="json")
        link = last_link(self.user.email, r"/password/reset/\?uid=(\S+)&token=(\S+)")
        assert link is not None
        body = {"uid": link.group(1), "token": link.group(2), "new_password": password}
        assert APIClient().post(RESET_CONFIRM, body, format="json").status_code == 204
        self.password = password
        self._end_everything()

    @precondition(lambda self: any(t["live"] for t in self.tokens))
    @rule(data=st.data(), password=st.sampled_from(VICTIM_PASSWORDS))
    def password_change(self, data: st.DataObject, password: str) -> None:
        if password == self.password:
            return
        token = data.draw(st.sampled_from([t for t in self.tokens if t["live"]]))
        response = bearer(str(token["access"])).post(
            CHANGE, {"current_password": self.password, "new_password": password}, format="json"
        )
        assert response.status_code == 204, response.content
        self.password = password
        for other in self.tokens:
            if other["session"] != token["session"]:
                other["live"] = False

    @invariant()
    def tokens_after_the_last_revocation_work_and_older_ones_never(self) -> None:
        for token in self.tokens[-8:]:
            status = bearer(str(token["access"])).get(ME).status_code
            assert status == (200 if token["live"] else 401), token


def test_a_token_after_the_last_revocation_works_and_one_before_never(settings):
    settings.ATRIUM_LOCKOUT = {"pair_threshold": 10**6, "account_threshold": 10**6, "ip_threshold": 10**6}
    run_state_machine_as_test(Revocations, settings=MACHINE_SETTINGS)


# --------------------------------------------------------------------------- lockout counters of variants

# Characters that some case mapping or compatibility form folds into an ASCII letter of the address.
_FOLDS = {
    "a": ["a", "A"],
    "d": ["d", "D"],
    "i": ["i", "I", "\u0131", "\u0130"],
    "k": ["k", "K", "\u212a"],
    "m": ["m", "M"],
    "n": ["n", "N"],
    "s": ["s", "S", "\u017f"],
    "e": ["e", "E"],
    "l": ["l", "L"],
}
BASE = "skadmin"


@st.composite
def variants(draw: st.DrawFn) -> str:
    local = "".join(draw(st.sampled_from(_FOLDS.get(ch, [ch]))) for ch in BASE)
    domain = draw(st.sampled_from(["example.test", "EXAMPLE.test", "Example.Test"]))
    pad = draw(st.sampled_from(["", " ", "\t"]))
    return f"{pad}{local}@{domain}{pad}"


@given(variant=variants())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_variant_that_authenticates_shares_the_accounts_lockout(variant, portal, member):
    user = User.objects.filter(email=f"{BASE}@example.test").first() or member(
        user=UserFactory(email=f"{BASE}@example.test", email_verified=True)
    )
    cache.clear()
    if sign_in(variant, PASSWORD, portal, "192.0.2.77").status_code != 200:
        # This variant names no account here (the database does not fold it): it reaches nothing at all.
        assert sign_in(variant, "wrong", portal, "192.0.2.77").status_code == 401
        return
    cache.clear()
    for _ in range(5):
        assert sign_in(variant, "wrong password", portal, "192.0.2.77").status_code == 401
    assert sign_in(user.email, PASSWORD, portal, "192.0.2.77").status_code == 429, repr(variant)
