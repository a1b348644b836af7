"""The lean read path (`lean_actions`, apps.common.statement_tenancy; ADR 0012).

These run with `transaction=True`: outside a test's transaction, as production runs, so the
lean path is the one taken. Inside an atomic block the views keep their own transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from rest_framework.test import APIClient

from apps.common import statement_tenancy
from apps.common.statement_tenancy import tenant_reads
from apps.common.tenancy import tenant_context
from apps.common.tests.roles_support import django_as
from apps.identity.api.base import TenantAPIView, TenantViewSet
from apps.identity.models import AuditEvent, AuthSession
from apps.identity.services import sessions
from apps.identity.tests.test_hot_path import EVENTS, ME, MEMBERS, add_events, bearer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("rbac_seeded")]

PROBLEM = "application/problem+json"


@contextmanager
def wire() -> Iterator[list[str]]:
    """What reaches psycopg: a wrapper installed after the view's own (innermost), so it sees the prefixed SQL."""
    sent: list[str] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        sent.append(sql)
        return execute(sql, params, many, context)

    original = statement_tenancy._TenantPerStatement.__call__

    def innermost(self: Any, execute: Callable[..., Any], *args: Any) -> Any:
        return original(self, lambda *a: record(execute, *a), *args)

    statement_tenancy._TenantPerStatement.__call__ = innermost  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        statement_tenancy._TenantPerStatement.__call__ = original  # type: ignore[method-assign]


def tenant_setting() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.tenant_id', true)")
        return cursor.fetchone()[0]


@pytest.mark.parametrize("path", [ME, EVENTS, MEMBERS], ids=["me", "list", "members"])
def test_a_lean_read_sends_the_tenant_setting_with_each_statement_and_no_transaction(path, portal, member, login):
    client = bearer(login, member("admin"), portal)
    client.get(path)  # warm
    with wire() as sent:
        response = client.get(path)
    assert response.status_code == 200, response.content
    assert sent, "the lean path was not taken"
    assert all(s.startswith("SELECT set_config('app.tenant_id', ") for s in sent), sent
    assert not connection.in_atomic_block
    assert connection.get_autocommit()
    assert tenant_setting() in ("", None)  # died with the statement's own implicit transaction


def test_another_tenants_rows_are_never_read(tenant, other_tenant, portal, member, login, web_role):
    add_events(tenant, 3, start=1000)
    add_events(other_tenant, 5, start=1000)
    outsider = member("admin", of=other_tenant)
    client = bearer(login, member("admin"), portal)
    with tenant_context(tenant):
        mine = {str(i) for i in AuditEvent.objects.values_list("id", flat=True)}
    with django_as(web_role):
        ids = {row["id"] for row in client.get(EVENTS).json()["results"]}
        assert ids
        assert ids <= mine
        emails = {m["user"]["email"] for m in client.get(MEMBERS).json()["results"]}
        assert emails
        assert outsider.email not in emails
        # Row-level security itself, not only the ORM filter: another tenant's rows are not there.
        with tenant_reads(tenant), connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT tenant_id FROM identity_auditevent")
            raw = {row[0] for row in cursor.fetchall()}
            cursor.execute("SELECT DISTINCT tenant_id FROM identity_membership")
            raw |= {row[0] for row in cursor.fetchall()}
        assert raw == {tenant.id}


def test_refusals_are_the_same_problems(portal, member, login):
    response = APIClient().get(EVENTS)
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["status"] == 401
    forged = APIClient(HTTP_AUTHORIZATION="Bearer not.a.token").get(ME)
    assert forged.status_code == 401
    assert forged["WWW-Authenticate"] == 'Bearer realm="api"'
    outsider = bearer(login, member("member"), portal).get(EVENTS)
    assert outsider.status_code == 403
    assert outsider["Content-Type"] == PROBLEM
    assert "identity.view_audit" in outsider.json()["detail"]
    lost = bearer(login, member("admin"), portal).get(EVENTS, {"cursor": "bm90LWEtY3Vyc29y"})
    assert lost.status_code == 404
    assert lost["Content-Type"] == PROBLEM


def test_a_revoked_session_is_refused_at_the_next_request(portal, member, login):
    user = member("admin")
    client = bearer(login, user, portal)
    assert client.get(ME).status_code == 200
    for session in AuthSession.objects.filter(user=user):
        sessions.session_revoke(session=session, reason="test")
    for path in (ME, EVENTS, MEMBERS):
        response = client.get(path)
        assert response.status_code == 401, (path, response.content)
        assert response["Content-Type"] == PROBLEM


def test_inside_a_transaction_the_views_keep_their_own(portal, member, login):
    client = bearer(login, member("admin"), portal)
    with transaction.atomic():
        assert not statement_tenancy.available()
        with wire() as sent:
            assert client.get(EVENTS).status_code == 200
        assert sent == []
        with pytest.raises(TransactionManagementError), tenant_reads(portal.tenant):
            pass


def test_no_executemany_on_the_read_path(tenant):
    with tenant_reads(tenant), connection.cursor() as cursor, pytest.raises(TransactionManagementError):
        cursor.executemany("SELECT %s", [(1,), (2,)])


def test_only_read_actions_may_be_lean():
    with pytest.raises(TypeError, match="lean_actions"):

        class _LeanWrite(TenantViewSet):
            required_permissions = {"create": set()}
            lean_actions = frozenset({"create"})

    with pytest.raises(TypeError, match="lean_actions"):

        class _LeanPost(TenantAPIView):
            required_permissions = {"post": set()}
            lean_actions = frozenset({"post"})
