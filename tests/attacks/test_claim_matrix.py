"""Ways an account, a membership or a session comes into being, crossed with the ways it is later claimed.

Not repeated here (already attacked elsewhere): registration before an invitation or
`create_tenant` (apps/identity/tests/test_cross_flow_attacks.py); removal or a role change
racing a sign-in, refresh or switch (test_cross_flow_revocation.py); an invitation posted
from another person's browser or on another tenant's portal (apps/portals/tests/
test_account_invitations.py); social identities of another account (test_social_signin.py,
test_social_link_pages.py); API keys outliving their creator's role (test_api_keys_auth.py).
"""

from __future__ import annotations

import io
import re
import threading

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connections
from rest_framework.test import APIClient

from apps.common.tenancy import tenant_context
from apps.common.tests.jobs_fixtures import embedded_queues  # noqa: F401 - fixture
from apps.identity.models import Membership, Portal, User
from apps.identity.tests.cross_flow_support import (
    ACCEPT,
    ATTACKER_PASSWORD,
    INVITATIONS,
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
from tests.attacks.two_tenants import web_client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("rbac_seeded")]

SWITCH = "/api/v1/identity/auth/switch/"
REFRESH = "/api/v1/identity/auth/refresh/"


@pytest.fixture
def open_portal(tenant, portal):
    """Tenant A's portal, open to self sign-up (the attacker's way to make an account for any address)."""
    Portal.objects.filter(id=portal.id).update(signup_policy=Portal.SignupPolicy.OPEN)
    return Portal.objects.get(id=portal.id)


@pytest.fixture
def portal_b(other_tenant):
    return PortalFactory(tenant=other_tenant, slug="globex-test", name="Globex", is_default=True)


@pytest.fixture
def invite_to_b(portal_b, member, login, django_capture_on_commit_callbacks):
    """`invite_to_b(email, role)` → the raw token mailed for an invitation into tenant B."""
    owner = member("owner", of=portal_b.tenant)
    access = login(owner, portal_b)["access"]

    def invite(email: str, role: str = "admin") -> str:
        with django_capture_on_commit_callbacks(execute=True):
            response = APIClient().post(
                INVITATIONS, {"email": email, "role": role}, format="json", HTTP_AUTHORIZATION=f"Bearer {access}"
            )
        assert response.status_code == 201, response.content
        bodies = [m.body for m in mail.outbox if m.to == [email] and "/invitations/accept/" in m.body]
        return re.search(r"/invitations/accept/\?token=([\w-]+)", bodies[-1]).group(1)  # type: ignore[union-attr]

    return invite


def roles_in(user: User, tenant) -> list[str]:
    with tenant_context(tenant):
        return sorted(Membership.objects.filter(user=user).values_list("role__code", flat=True))


def reset_link(email: str) -> tuple[str, str]:
    mail.outbox.clear()
    assert APIClient().post(RESET, {"email": email}, format="json").status_code == 202
    return re.search(r"/password/reset/\?uid=(\S+)&token=(\S+)", mail.outbox[-1].body).groups()  # type: ignore[union-attr,return-value]


# --------------------------------------------------------------------------- invitation x someone else's sign-in


@pytest.mark.parametrize("invitee", ["new", "existing"])
def test_an_invitation_accepted_with_another_persons_bearer_joins_only_the_invitee(
    invitee, portal, portal_b, member, login, invite_to_b
):
    attacker = member("owner")  # signed in to tenant A, sending their bearer along
    attacker_access = login(attacker, portal)["access"]
    victim = UserFactory(email=VICTIM, email_verified=True) if invitee == "existing" else None
    token = invite_to_b(VICTIM)
    # A new invitee chooses a password; an existing one joins with their own.
    body = {"token": token, "password": VICTIM_PASSWORD if victim is None else PASSWORD}
    response = APIClient().post(ACCEPT, body, format="json", HTTP_AUTHORIZATION=f"Bearer {attacker_access}")
    assert response.status_code == 200, response.content
    assert "access" not in response.json()
    assert "refresh" not in response.json()
    assert roles_in(attacker, portal_b.tenant) == []  # the bearer's owner joined nothing
    assert roles_in(User.objects.get(email=VICTIM), portal_b.tenant) == ["admin"]
    assert me(attacker_access)["email"] == attacker.email  # and their session is still their own
    # The invitee signs in with their own password: an existing account's is untouched.
    password = PASSWORD if victim is not None else VICTIM_PASSWORD
    assert me(sign_in(VICTIM, password, portal_b).json()["access"])["roles"] == ["admin"]


# --------------------------------------------------------------------------- registration x invitation, any order


@pytest.mark.parametrize("order", ["invite-register-accept", "invite-accept-register"])
def test_a_registration_interleaved_with_an_invitation_hands_the_attacker_nothing(
    order, open_portal, portal_b, invite_to_b
):
    steps = order.split("-")
    token = ""
    for step in steps:
        if step == "invite":
            token = invite_to_b(VICTIM)
        elif step == "register":
            body = {"email": VICTIM, "password": ATTACKER_PASSWORD, "portal": open_portal.slug}
            assert APIClient().post(REGISTER, body).status_code == 202
        else:
            accepted = APIClient().post(ACCEPT, {"token": token, "password": VICTIM_PASSWORD}, format="json")
            assert accepted.status_code == 200, accepted.content
    assert User.objects.filter(email__iexact=VICTIM).count() == 1
    for where in (open_portal, portal_b):
        assert "access" not in sign_in(VICTIM, ATTACKER_PASSWORD, where).json()
    assert me(sign_in(VICTIM, VICTIM_PASSWORD, portal_b).json()["access"])["roles"] == ["admin"]


@pytest.mark.postgres
def test_a_registration_racing_the_acceptance_of_an_invitation_makes_one_account_the_invitee_holds(
    open_portal, portal_b, invite_to_b
):
    token = invite_to_b(VICTIM)
    barrier = threading.Barrier(2)
    results: dict[str, int] = {}

    def run(name: str, path: str, body: dict) -> None:
        try:
            barrier.wait(timeout=10)
            results[name] = APIClient().post(path, body, format="json").status_code
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=("accept", ACCEPT, {"token": token, "password": VICTIM_PASSWORD})),
        threading.Thread(
            target=run,
            args=("register", REGISTER, {"email": VICTIM, "password": ATTACKER_PASSWORD, "portal": open_portal.slug}),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert set(results) == {"accept", "register"}
    assert results["register"] == 202
    assert results["accept"] in (200, 400), results  # 400: it met the fresh, unproved account and needs a retry
    if results["accept"] == 400:
        retried = APIClient().post(ACCEPT, {"token": token, "password": VICTIM_PASSWORD}, format="json")
        assert retried.status_code == 200, retried.content
    assert User.objects.filter(email__iexact=VICTIM).count() == 1
    for where in (open_portal, portal_b):
        assert "access" not in sign_in(VICTIM, ATTACKER_PASSWORD, where).json()
    assert me(sign_in(VICTIM, VICTIM_PASSWORD, portal_b).json()["access"])["roles"] == ["admin"]


# --------------------------------------------------------------------------- a session x another tenant's membership


def test_switching_keeps_no_role_of_the_tenant_switched_from(portal, portal_b, member, login):
    both = member("owner")
    member("member", user=both, of=portal_b.tenant)
    access = login(both, portal)["access"]
    switched = APIClient().post(SWITCH, {"portal": portal_b.slug}, format="json", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert switched.status_code == 200, switched.content
    tokens = switched.json()
    assert me(tokens["access"])["roles"] == ["member"]
    as_b = APIClient()
    as_b.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert as_b.get("/api/v1/identity/tenant/").json()["id"] == str(portal_b.tenant.id)
    assert as_b.post(INVITATIONS, {"email": "x@example.test", "role": "owner"}, format="json").status_code == 403
    refreshed = APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json").json()
    assert me(refreshed["access"])["roles"] == ["member"]
    assert me(access)["roles"] == ["owner"]  # the first session is still tenant A's owner, and only that


def test_a_refresh_token_of_portal_a_never_yields_a_token_of_portal_b(portal, portal_b, member, login):
    both = member("member")
    member("owner", user=both, of=portal_b.tenant)
    tokens = login(both, portal)
    refreshed = APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json").json()
    claims = me(refreshed["access"])
    assert claims["roles"] == ["member"]
    as_a = APIClient()
    as_a.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed['access']}")
    assert as_a.get("/api/v1/identity/tenant/").json()["id"] == str(portal.tenant.id)


# --------------------------------------------------------------------------- password reset x later changes


def test_a_reset_link_dies_when_the_accounts_address_changes(portal, member):
    user = member()
    uid, token = reset_link(user.email)
    User.objects.filter(id=user.id).update(email="moved@example.test")  # an operator's correction
    body = {"uid": uid, "token": token, "new_password": ATTACKER_PASSWORD}
    assert APIClient().post(RESET_CONFIRM, body, format="json").status_code == 400
    assert sign_in("moved@example.test", PASSWORD, portal).status_code == 200


def test_a_reset_link_dies_once_an_invitation_sets_the_accounts_password(open_portal, portal_b, invite_to_b):
    """The attacker pre-registers the address and asks for a reset link of it; the victim's acceptance kills it."""
    assert (
        APIClient()
        .post(REGISTER, {"email": VICTIM, "password": ATTACKER_PASSWORD, "portal": open_portal.slug})
        .status_code
        == 202
    )
    uid, token = reset_link(VICTIM)  # mailed to the victim; say it leaked, or the attacker reads it later
    accepted = APIClient().post(ACCEPT, {"token": invite_to_b(VICTIM), "password": VICTIM_PASSWORD}, format="json")
    assert accepted.status_code == 200
    body = {"uid": uid, "token": token, "new_password": ATTACKER_PASSWORD}
    assert APIClient().post(RESET_CONFIRM, body, format="json").status_code == 400
    assert me(sign_in(VICTIM, VICTIM_PASSWORD, portal_b).json()["access"])["roles"] == ["admin"]


def test_a_reset_in_someone_elses_browser_signs_that_browser_in_as_nobody_new(portal, member):
    attacker, victim = member("owner"), member("member")
    browser = web_client(attacker, portal)
    uid, token = reset_link(victim.email)
    page = f"/portal/{portal.slug}/password/reset/?uid={uid}&token={token}"
    assert browser.get(page).status_code == 200
    done = browser.post(
        page, {"uid": uid, "token": token, "new_password": VICTIM_PASSWORD, "new_password_again": VICTIM_PASSWORD}
    )
    assert done.status_code == 302, done.content[:300]
    assert sign_in(victim.email, VICTIM_PASSWORD, portal).status_code == 200  # the link did its one job
    profile = browser.get(f"/portal/{portal.slug}/profile/")
    assert profile.status_code == 200
    assert attacker.email in profile.content.decode()
    assert victim.email not in profile.content.decode()


# --------------------------------------------------------------------------- create_tenant x an existing sign-in


def test_create_tenant_for_a_signed_in_persons_address_adds_nothing_to_their_live_token(portal, member, login):
    user = member("member")
    User.objects.filter(id=user.id).update(email_verified=True)
    access = login(user, portal)["access"]
    call_command(
        "create_tenant", "--slug", "newco", "--name", "NewCo", "--owner-email", user.email, stdout=io.StringIO()
    )
    # The live token stays tenant A's member: owning NewCo needs a sign-in at NewCo's portal.
    assert me(access)["roles"] == ["member"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert client.get("/api/v1/identity/tenant/").json()["id"] == str(portal.tenant.id)
    assert me(sign_in(user.email, PASSWORD, Portal.objects.get(slug="newco")).json()["access"])["roles"] == ["owner"]


# --------------------------------------------------------------------------- a squatted account the victim verified


def test_a_squatted_account_the_victim_verified_does_not_carry_an_api_accepted_invitation_to_the_attacker(
    open_portal, portal_b, invite_to_b
):
    """Found by this suite: the API once let an existing account join with the mailed token alone."""
    body = {"email": VICTIM, "password": ATTACKER_PASSWORD, "portal": open_portal.slug}
    assert APIClient().post(REGISTER, body).status_code == 202
    mailed = [m.body for m in mail.outbox if m.to == [VICTIM]][-1]
    key = re.search(r"/email/verify/\?key=(\S+)", mailed).group(1)  # type: ignore[union-attr]
    # The victim clicks "confirm" in a mail they did not ask for (the mail says to ignore it).
    assert APIClient().post("/api/v1/identity/auth/email/verify/", {"key": key}, format="json").status_code == 204
    # Later tenant B invites the victim. The mailbox alone no longer joins an existing account:
    token = invite_to_b(VICTIM)
    refused = APIClient().post(ACCEPT, {"token": token}, format="json")
    assert refused.status_code == 400
    assert "password" in refused.json()["errors"]
    assert "access" not in sign_in(VICTIM, ATTACKER_PASSWORD, portal_b).json()
    # The victim, who does not know that password, takes the account back through its mailbox (a reset;
    # its own tests are in test_password_reset.py, so it is set directly here), then joins B with it.
    user = User.objects.by_email(VICTIM).get()
    user.set_password(VICTIM_PASSWORD)
    user.save(update_fields=["password"])
    joined = APIClient().post(ACCEPT, {"token": token, "password": VICTIM_PASSWORD}, format="json")
    assert joined.status_code == 200, joined.content
    assert "access" not in sign_in(VICTIM, ATTACKER_PASSWORD, portal_b).json()
    assert "access" in sign_in(VICTIM, VICTIM_PASSWORD, portal_b).json()
