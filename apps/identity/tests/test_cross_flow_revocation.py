"""Cross-flow attacks on revocation: a sign-in racing a revocation or a role change, and lost access.

Each test here reproduces a finding of an attack on the running app that the
one-endpoint-at-a-time tests had missed:

- a fresh sign-in in the same second as a revocation refused (a session that raced the
  revocation must still die);
- a sign-in racing a role change keeping the old role;
- a member removed (or a portal closed) still switching or refreshing.

Account pre-hijack, existence oracles, the lockout and Unicode variants: `test_cross_flow_attacks.py`.
"""

from __future__ import annotations

import io
import math
import re
import threading
from datetime import UTC, datetime

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, connections
from rest_framework.test import APIClient

from apps.common.tenancy import tenant_context
from apps.common.tests.jobs_fixtures import embedded_queues  # noqa: F401 - fixture
from apps.identity import revocation
from apps.identity.models import AuthSession, Membership, Portal
from apps.identity.services import members
from apps.identity.tests.cross_flow_support import (
    ME,
    RESET,
    RESET_CONFIRM,
    VICTIM_PASSWORD,
    _mail_jobs_run_inline,  # noqa: F401 - autouse fixture
    _no_request_throttle,  # noqa: F401 - autouse fixture
    me,
    sign_in,
)
from apps.identity.tests.factories import PASSWORD, PortalFactory

pytestmark = pytest.mark.django_db(transaction=True)


# --------------------------------------------------------------------------- revocation, then a fresh sign-in


def _mint_in_the_revocation_second(monkeypatch, mark: float) -> None:
    """Tokens minted from now on carry `iat` of the revocation's own second (the clock's granularity)."""
    frozen = datetime.fromtimestamp(math.floor(mark), tz=UTC)
    monkeypatch.setattr("rest_framework_simplejwt.tokens.aware_utcnow", lambda: frozen)


def test_a_sign_in_right_after_a_password_reset_works(api, portal, member, monkeypatch):
    user = member()
    old = sign_in(user.email, PASSWORD, portal).json()["access"]
    mail.outbox.clear()
    api.post(RESET, {"email": user.email}, format="json")
    uid, token = re.search(r"/password/reset/\?uid=(\S+)&token=(\S+)", mail.outbox[-1].body).groups()  # type: ignore[union-attr]
    body = {"uid": uid, "token": token, "new_password": VICTIM_PASSWORD}
    assert api.post(RESET_CONFIRM, body, format="json").status_code == 204
    _mint_in_the_revocation_second(monkeypatch, cache.get(revocation.user_key(user.id)))
    fresh = sign_in(user.email, VICTIM_PASSWORD, portal).json()["access"]
    assert me(fresh)["email"] == user.email
    assert APIClient().get(ME, HTTP_AUTHORIZATION=f"Bearer {old}").status_code == 401


def test_a_sign_in_right_after_revoke_sessions_works(portal, member, monkeypatch):
    user = member()
    old = sign_in(user.email, PASSWORD, portal).json()["access"]
    call_command("revoke_sessions", "--user", user.email, stdout=io.StringIO())
    _mint_in_the_revocation_second(monkeypatch, cache.get(revocation.user_key(user.id)))
    fresh = sign_in(user.email, PASSWORD, portal).json()["access"]
    assert me(fresh)["email"] == user.email
    assert APIClient().get(ME, HTTP_AUTHORIZATION=f"Bearer {old}").status_code == 401


def test_a_token_of_a_session_that_raced_the_revocation_dies(portal, member, monkeypatch):
    """A session started before the mark but missed by the UPDATE (it raced it) is ended too."""
    user = member()
    started = sign_in(user.email, PASSWORD, portal).json()
    assert me(started["access"])["email"] == user.email
    revocation.revoke_user_before_now(user.id)  # the mark alone, as if the UPDATE had missed this session
    assert APIClient().get(ME, HTTP_AUTHORIZATION=f"Bearer {started['access']}").status_code == 401
    refreshed = APIClient().post("/api/v1/identity/auth/refresh/", {"refresh": started["refresh"]}, format="json")
    assert refreshed.status_code == 401


# --------------------------------------------------------------------------- a sign-in racing a role change


@pytest.mark.postgres
def test_a_sign_in_racing_a_role_change_gets_the_new_role(tenant, portal, member, monkeypatch):
    admin = member("admin")
    owner = member("owner")
    with tenant_context(tenant):
        membership = Membership.objects.get(user=admin)
    changed = threading.Event()
    release = threading.Event()
    original = members.sessions_revoke_for_member

    def hold_after_revoking(**kwargs):
        ended = original(**kwargs)
        changed.set()  # the role is changed and the sessions ended, but nothing is committed yet
        release.wait(timeout=20)
        return ended

    monkeypatch.setattr(members, "sessions_revoke_for_member", hold_after_revoking)

    def change_role() -> None:
        try:
            with tenant_context(tenant):
                members.membership_change_role(tenant=tenant, actor=owner, membership_id=membership.id, role="member")
        finally:
            connections.close_all()

    changer = threading.Thread(target=change_role)
    changer.start()
    assert changed.wait(timeout=20)
    result: dict = {}

    def sign_in_now() -> None:
        try:
            result["response"] = sign_in(admin.email, PASSWORD, portal)
        finally:
            connections.close_all()

    signer = threading.Thread(target=sign_in_now)
    signer.start()
    # Wait until the sign-in is blocked on the membership's row lock (or has finished, before the fix).
    with connection.cursor() as cursor:
        for _ in range(2000):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0] or not signer.is_alive():
                break
            threading.Event().wait(0.01)
    release.set()
    changer.join(timeout=20)
    signer.join(timeout=20)
    response = result["response"]
    assert response.status_code == 200, response.content
    assert me(response.json()["access"])["roles"] == ["member"]


# --------------------------------------------------------------------------- access lost while signed in


def test_switch_after_removal_is_refused(tenant, portal, member):
    """The membership is read again when the session starts: a removed member gets no new session."""
    admin = member("admin")
    owner = member("owner")
    tokens = sign_in(admin.email, PASSWORD, portal).json()
    with tenant_context(tenant):
        membership = Membership.objects.get(user=admin)
    with tenant_context(tenant):
        members.membership_remove(tenant=tenant, actor=owner, membership_id=membership.id)
    other = PortalFactory(tenant=tenant, slug="acme-other")
    response = APIClient().post(
        "/api/v1/identity/auth/switch/",
        {"portal": other.slug},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {tokens['access']}",
    )
    assert response.status_code in (401, 403)


@pytest.mark.parametrize("lose", ["removed", "portal_closed"])
def test_a_refresh_after_access_is_lost_is_401_and_ends_the_session(lose, tenant, portal, member):
    user = member("member")
    tokens = sign_in(user.email, PASSWORD, portal).json()
    if lose == "removed":
        with tenant_context(tenant):
            Membership.objects.filter(user=user).delete()
    else:
        Portal.objects.filter(id=portal.id).update(active=False)
        PortalFactory(tenant=tenant, slug="still-open")  # the tenant keeps another portal
    response = APIClient().post("/api/v1/identity/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 401
    session = AuthSession.objects.get(user=user)
    assert session.revoked_at is not None
    assert session.revoke_reason == "access_lost"
