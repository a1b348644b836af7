"""A real Redis killed (SIGKILL) and started again under the app (docs/security.md, "Faults: nothing lost").

- Sign-in while Redis is down fails closed: 503 problem+json, no traceback, no
  token, even for a password that would otherwise be admitted; with Redis back
  a sign-in works again.
- A write that promises a job while Redis dies under it commits, keeps its
  outbox row, and once Redis is back the sweep relays it and a real
  `rqworker --burst` runs it exactly once; a request refused while Redis is
  down writes nothing and promises nothing.
- A transaction rolled back after its job was deferred leaves no job.
- After Redis lost its data: a signed-out session still cannot be refreshed
  (the database ends it), and a permission taken away stays away.
"""

from __future__ import annotations

import subprocess
import sys
import time

import django_rq
import pytest

from apps.common import outbox
from apps.common.models import OutboxMessage
from apps.common.tenancy import tenant_context
from apps.common.tests.worker_jobs import worker_env
from apps.identity import revocation
from apps.identity.models import AuditEvent, Invitation, Membership, Role
from apps.identity.rbac import bump_rbac_version
from apps.identity.services import invitations
from apps.identity.tests.factories import PASSWORD, UserFactory
from apps.identity.tests.invitations_support import LIST
from config.env import BASE_DIR

ME = "/api/v1/identity/auth/me/"

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("rbac_seeded"),
]

LOGIN = "/api/v1/identity/auth/login/"
MEMBERS = "/api/v1/identity/members/"
Status = OutboxMessage.Status
INVITEE = "newcomer@example.test"


def sign_in(api, user, portal, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return api.post(LOGIN, {"email": user.email, "password": password, "portal": portal.slug}, REMOTE_ADDR="192.0.2.7")


def assert_clean_503(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 503
    assert "access" not in body
    assert "refresh" not in body
    assert b"Traceback" not in response.content
    assert b"redis" not in response.content.lower()
    assert b"ConnectionError" not in response.content


def run_worker(env: dict[str, str]) -> str:
    """A real `manage.py rqworker --burst` on every queue; its output (the console mail backend prints there)."""
    done = subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), "rqworker", *django_rq_queue_names(), "--burst"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    output = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode == 0, output
    return output


def django_rq_queue_names() -> list[str]:
    from django.conf import settings

    return list(settings.RQ_QUEUES)


def queued_jobs() -> int:
    return sum(django_rq.get_queue(name).count for name in django_rq_queue_names())


def test_sign_in_fails_closed_while_redis_is_down_and_works_once_it_is_back(fault_redis, api, member, portal):
    locked, fresh = member(), member()
    failures = [sign_in(api, locked, portal, "wrong password").status_code for _ in range(5)]
    assert failures == [401] * 5
    assert sign_in(api, locked, portal).status_code == 429  # the right password, refused: locked out

    fault_redis.kill()
    # Neither the locked account (its lock is in the dead Redis) nor a fresh one is let in.
    assert_clean_503(sign_in(api, locked, portal))
    assert_clean_503(sign_in(api, fresh, portal))

    fault_redis.start()
    # Back, empty (no persistence: the lock went with the data), and signing in works at the first try.
    response = sign_in(api, fresh, portal)
    assert response.status_code == 200, response.content
    assert response.json()["access"]


def test_a_job_promised_while_redis_dies_is_relayed_later_and_runs_once(
    fault_redis, admin_api, tenant, child_env, tmp_path, monkeypatch
):
    relay = outbox.outbox_relay

    def redis_dies_at_commit(message: OutboxMessage) -> bool:
        fault_redis.kill()  # after the request's writes committed, before the job reaches Redis
        return relay(message)

    monkeypatch.setattr(outbox, "outbox_relay", redis_dies_at_commit)
    response = admin_api.post(LIST, {"email": INVITEE, "role": "member"}, format="json")
    monkeypatch.setattr(outbox, "outbox_relay", relay)

    assert response.status_code == 201, response.content  # the write is committed: the client may rely on it
    [message] = OutboxMessage.objects.all()
    assert message.status == Status.PENDING  # not dropped: waiting for the sweep

    assert outbox.outbox_sweep(min_age_seconds=0) == 0  # still down: the sweep keeps it too
    fault_redis.start()
    assert outbox.outbox_sweep(min_age_seconds=0) == 1
    assert outbox.outbox_sweep(min_age_seconds=0) == 0  # relayed once, not again
    assert queued_jobs() == 1

    output = run_worker(worker_env(child_env, tmp_path))
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.DONE, 1)
    assert output.count(f"To: {INVITEE}") == 1  # the invitation mail, sent exactly once
    assert queued_jobs() == 0
    # Done is final: neither sweep relays it again (not pending, not a relay whose job was lost).
    assert outbox.outbox_sweep(min_age_seconds=0, stale_after_seconds=0) == 0
    assert queued_jobs() == 0


def test_a_write_refused_while_redis_is_down_leaves_no_row_and_no_job(fault_redis, admin_api, tenant):
    fault_redis.kill()
    response = admin_api.post(LIST, {"email": INVITEE, "role": "member"}, format="json")
    assert_clean_503(response)  # told, not silently dropped
    fault_redis.start()
    assert OutboxMessage.objects.count() == 0
    with tenant_context(tenant):
        assert not Invitation.objects.exists()
    assert queued_jobs() == 0


def test_a_rollback_after_the_job_was_deferred_leaves_no_job(fault_redis, admin_api, tenant, monkeypatch):
    from apps.common.exceptions import Conflict

    def refuse(**kwargs: object) -> None:
        raise Conflict("refused after the job was deferred")

    monkeypatch.setattr(invitations, "audit_record", refuse)  # invitation_create defers the mail, then audits
    response = admin_api.post(LIST, {"email": INVITEE, "role": "member"}, format="json")

    assert response.status_code == 409, response.content
    assert OutboxMessage.objects.count() == 0
    with tenant_context(tenant):
        assert not Invitation.objects.exists()
        assert not AuditEvent.objects.filter(action="invitation.created").exists()
    assert queued_jobs() == 0


def test_a_signed_out_session_cannot_be_refreshed_after_redis_lost_its_data(fault_redis, api, login, member, portal):
    """The refresh token's session is ended in the database, so a Redis restart (data lost) does not revive it.

    (Its access token is judged by the same row: see the next test.)
    """
    tokens = login(member(), portal)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert api.post("/api/v1/identity/auth/logout/", {"refresh": tokens["refresh"]}).status_code == 204

    fault_redis.kill()
    fault_redis.start()

    api.credentials()
    refreshed = api.post("/api/v1/identity/auth/refresh/", {"refresh": tokens["refresh"]})
    assert refreshed.status_code == 401, refreshed.content
    assert "access" not in refreshed.json()


def test_a_signed_out_access_token_stays_refused_after_redis_lost_its_data(
    fault_redis, api, login, member, portal, monkeypatch, django_assert_num_queries
):
    """The marks went with the data; the store's new epoch sends older tokens to their session's row."""
    signed_out, still_in = login(member(), portal), login(member(), portal)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {signed_out['access']}")
    assert api.post("/api/v1/identity/auth/logout/", {"refresh": signed_out["refresh"]}).status_code == 204
    assert api.get(ME).status_code == 401

    fault_redis.kill()
    fault_redis.start()
    later = time.time() + 2  # the restart is noticed in a later second than the tokens were minted in
    monkeypatch.setattr(revocation, "_now", lambda: later)

    assert api.get(ME).status_code == 401, "a signed-out token came back to life with the restart"
    with django_assert_num_queries(0):  # the row's verdict is a mark again: no second query
        assert api.get(ME).status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {still_in['access']}")
    assert api.get(ME).status_code == 200  # a live session is not signed out by the loss


def test_a_permission_taken_away_stays_away_after_redis_lost_its_data(fault_redis, api, login, portal, tenant):
    """The RBAC version lives in Redis; a restart (data lost) starts a new epoch, never the old role map."""
    with tenant_context(tenant):
        role = Role.objects.create(tenant=tenant, code="auditor", name="Auditor", permissions=["identity.view_member"])
        bump_rbac_version()
        user = UserFactory()
        Membership.objects.create(user=user, tenant=tenant, role=role)
    portal.admitted_roles = [*portal.admitted_roles, "auditor"]
    portal.save()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login(user, portal)['access']}")
    assert api.get(MEMBERS).status_code == 200
    with tenant_context(tenant):
        Role.objects.filter(id=role.id).update(permissions=[])
    bump_rbac_version()
    assert api.get(MEMBERS).status_code == 403

    fault_redis.kill()
    fault_redis.start()
    assert api.get(MEMBERS).status_code == 403  # the map is read again from the database, not revived
    with tenant_context(tenant):
        Role.objects.filter(id=role.id).update(permissions=["identity.view_member"])
    bump_rbac_version()
    assert api.get(MEMBERS).status_code == 200  # and a change made after the restart reaches it
