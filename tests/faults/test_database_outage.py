"""The database connection of a real gunicorn killed in the middle of a write (docs/security.md, "Faults").

Server B (`apps.identity.tests.test_two_processes.server_b`: gunicorn, one
worker, persistent connections) is inviting someone when its PostgreSQL
backend is terminated (`pg_terminate_backend`, as a database restart or
failover does). The client gets 503 problem+json with Retry-After, no
traceback; nothing the request wrote remains; and B's next request, on a new
connection, sees exactly its own tenant's rows: the tenant setting is applied
on that connection too (row-level security shows nothing without it).

The same holds when the connection is lost at the request's COMMIT (after the
view answered, under ATOMIC_REQUESTS): `ApiProblemMiddleware.process_exception`
answers 503. Only a lost connection is a 503 (`apps.common.errors.is_connection_lost`):
a deadlock or a timeout is not.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection, transaction

from apps.common.models import OutboxMessage
from apps.common.tenancy import tenant_context
from apps.identity.models import AuditEvent, Invitation
from apps.identity.tests.factories import PASSWORD
from apps.identity.tests.invitations_support import LIST
from apps.identity.tests.test_two_processes import LOGIN, MEMBERS, Server, real_hashers, server_b

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("rbac_seeded"),
]

__all__ = ["real_hashers", "server_b"]  # fixtures, used by name

INVITEE = "mid-restart@example.test"


def _terminate_this_connection() -> None:
    """End this thread's database backend from a second connection, as a restart would."""
    import psycopg

    db = connection.settings_dict
    pid = connection.connection.info.backend_pid
    with psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        password=db["PASSWORD"] or None,
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def _blocked_backend(timeout: float = 20) -> int:
    """The pid of the backend waiting on our lock: server B's connection, in the middle of its write."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND wait_event_type = 'Lock'"
            )
            rows = cursor.fetchall()
            if rows:
                [(pid,)] = rows
                return int(pid)
            time.sleep(0.05)
    raise AssertionError("server B never reached the locked table")


def _sign_in(server: Server, user: Any, portal: Any) -> str:
    status, _, body = server.call("POST", LOGIN, {"email": user.email, "password": PASSWORD, "portal": portal.slug})
    assert status == 200, body
    return str(body["access"])


def test_a_connection_killed_mid_write_is_503_writes_nothing_and_the_next_request_is_scoped(
    server_b, member, portal, tenant, other_tenant
):
    admin = member("admin")
    colleague = member()
    member(of=other_tenant)  # a member of another tenant, who must never show up
    token = _sign_in(server_b, admin, portal)
    answers: list[tuple[int, dict[str, str], Any]] = []

    def invite() -> None:
        answers.append(server_b.call("POST", LIST, {"email": INVITEE, "role": "member"}, token=token))

    request = threading.Thread(target=invite)
    with transaction.atomic():
        with connection.cursor() as cursor:
            # The invitation row is written, then the outbox insert waits here: B is mid-transaction.
            cursor.execute(f"LOCK TABLE {OutboxMessage._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
        request.start()
        victim = _blocked_backend()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [victim])
    request.join(timeout=30)

    [(status, headers, body)] = answers
    assert status == 503, body
    assert headers["Content-Type"] == "application/problem+json"
    assert int(headers["Retry-After"]) > 0
    assert body["status"] == 503
    assert body["type"].endswith("/service_unavailable")
    assert "Traceback" not in str(body)
    assert "terminat" not in str(body).lower()

    # Nothing of the request remains: no invitation, no promised mail, no audit line.
    assert OutboxMessage.objects.count() == 0
    with tenant_context(tenant):
        assert not Invitation.objects.exists()
        assert not AuditEvent.objects.filter(action="invitation.created").exists()

    # B's next request runs on a new connection, with its own tenant applied there.
    status, _, listed = server_b.call("GET", MEMBERS, token=token)
    assert status == 200, listed
    assert sorted(row["user"]["email"] for row in listed["results"]) == sorted([admin.email, colleague.email])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [victim])
        assert cursor.fetchone() == (0,)
    # And the write the client retries now succeeds.
    status, _, created = server_b.call("POST", LIST, {"email": INVITEE, "role": "member"}, token=token)
    assert status == 201, created


def test_a_connection_lost_at_commit_is_503_and_the_write_is_gone(admin_api, member, tenant, monkeypatch):
    """Under ATOMIC_REQUESTS the COMMIT runs after the view answered 201: lost there, the client gets 503."""
    from rest_framework.views import APIView

    colleague = member()
    finalize = APIView.finalize_response

    def killed_before_commit(view, request, response, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = finalize(view, request, response, *args, **kwargs)
        _terminate_this_connection()
        return response

    monkeypatch.setattr(APIView, "finalize_response", killed_before_commit)
    response = admin_api.post(LIST, {"email": INVITEE, "role": "member"}, format="json")
    monkeypatch.setattr(APIView, "finalize_response", finalize)

    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/service_unavailable")
    assert int(response["Retry-After"]) > 0
    assert b"Traceback" not in response.content
    with tenant_context(tenant):
        assert not Invitation.objects.exists()
    assert OutboxMessage.objects.count() == 0
    # The next request opens a new connection and sees its own tenant's members.
    listed = admin_api.get(MEMBERS)
    assert listed.status_code == 200, listed.content
    emails = [row["user"]["email"] for row in listed.json()["results"]]
    assert len(emails) == 2  # the admin and the colleague: this tenant's, all of them
    assert colleague.email in emails


class _DriverError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        (_DriverError("57P01"), True),  # terminated by an administrator (a restart, pg_terminate_backend)
        (_DriverError("57P03"), True),  # the server is starting up
        (_DriverError("08006"), True),  # connection failure
        (_DriverError(None), True),  # refused or reset before the server said anything
        (_DriverError("40P01"), False),  # a deadlock: the query's fault, not the connection's
        (_DriverError("57014"), False),  # a statement timeout
        (ValueError("no such table"), False),  # SQLite: no SQLSTATE at all
    ],
    ids=["admin_shutdown", "starting_up", "connection_failure", "no_answer", "deadlock", "timeout", "sqlite"],
)
def test_only_a_lost_connection_is_a_retryable_503(error, lost):
    from django.db import InterfaceError, OperationalError

    from apps.common.errors import is_connection_lost

    wrapped = OperationalError(str(error))
    wrapped.__cause__ = error
    assert is_connection_lost(wrapped) is lost
    assert is_connection_lost(InterfaceError("connection already closed")) is True


def test_a_portal_page_whose_connection_is_lost_is_a_503_page_not_a_500(portal, client):
    """The browser's side: a plain page that says to try again, with Retry-After, and no traceback."""

    def killed(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        _terminate_this_connection()
        return execute(sql, params, many, context)

    connection.ensure_connection()
    with connection.execute_wrapper(killed):
        response = client.get(f"/portal/{portal.slug}/login/")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert int(response["Retry-After"]) > 0
    assert b"try again" in response.content
    assert b"Traceback" not in response.content
    assert client.get(f"/portal/{portal.slug}/login/").status_code == 200  # a new connection, as before
