"""The request path cannot lift row-level security (ADR 0008), tried from the web role's own connection.

`unscoped()` turns RLS off by setting `app.bypass_rls`, and any role may set a
setting. What stops an injected statement is that the `operator_bypass` policy
applies only to members of `atrium_rls_bypass`: the operator role that runs
migrations and commands (the test suite's own role) is one; the web and worker
role (`<operator>_web`, made by scripts/db/create-app-role.sh) is not. These
tests log in as that web role — a second psycopg connection, or Django's own
connection switched over to it — and replay what an attacker would.

The test database is created by the test runner, so the grants that
create-app-role.sh gives the web role on the real database (default
privileges) are given by the root conftest's `web_role` fixture, as the table owner.
apps.common imports no identity code: identity's tables are named in SQL and
its data is made with the operator command `create_tenant`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.common import rls
from apps.common.idempotency import idempotency_purge
from apps.common.models import IdempotencyRecord
from apps.common.tenancy import tenant_context, unscoped
from apps.common.tests.roles_support import django_as

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long enough passphrase 42"
RESET = "/api/v1/identity/auth/password/reset/"
REGISTER = "/api/v1/identity/auth/register/"


@dataclass(frozen=True)
class _TenantRef:
    id: Any


@pytest.fixture
def two_tenants(transactional_db: None) -> tuple[Any, Any]:
    """Two tenants made by the operator command, each with an owner membership and an idempotency record."""
    for slug in ("rls-a", "rls-b"):
        call_command("create_tenant", slug=slug, name=slug.upper(), owner_email=f"owner@{slug}.example.test")
    tenants = {row[1]: _TenantRef(row[0]) for row in _rows("SELECT id, slug FROM identity_tenant")}
    for slug, tenant in tenants.items():
        with tenant_context(tenant):
            IdempotencyRecord.objects.create(
                user_id=uuid.uuid4(), endpoint="POST /things/", key=f"key-{slug}", fingerprint="f"
            )
            with connection.cursor() as cursor:  # a custom role: a tenant row of the mixed roles table
                cursor.execute(
                    "INSERT INTO identity_role (id, created_at, updated_at, tenant_id, code, name, permissions) "
                    "VALUES (gen_random_uuid(), now(), now(), %s, %s, 'Custom', '[]')",
                    [tenant.id, f"custom-{slug}"],
                )
    return tenants["rls-a"], tenants["rls-b"]


def _rows(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return list(cursor.fetchall())


def _policed_tables() -> list[str]:
    return [row[0] for row in _rows("SELECT tablename FROM pg_policies WHERE policyname = 'tenant_isolation'")]


def _tenant_rows(cursor: Any, table: str) -> set[str]:
    """The tenant ids of the rows `cursor`'s role sees in `table` (system rows without a tenant left out)."""
    cursor.execute(f'SELECT DISTINCT tenant_id::text FROM "{table}" WHERE tenant_id IS NOT NULL')  # noqa: S608
    return {row[0] for row in cursor.fetchall()}


def _unscoped_statements() -> list[tuple[str, Any]]:
    """Exactly the SQL `unscoped()` sends on entering (recorded from the operator's connection)."""
    with CaptureQueriesContext(connection) as captured, unscoped():
        pass
    entering = [query["sql"] for query in captured.captured_queries if "set_config" in query["sql"]]
    assert entering, "unscoped() sent no set_config"
    # Django records the statement with its parameters interpolated: replayed as sent.
    return [(entering[0], None)]


# --------------------------------------------------------------------------- the injected statement


def test_web_role_replaying_unscoped_sees_no_foreign_row(two_tenants, web_connect):
    a, _ = two_tenants
    statements = _unscoped_statements()
    tables = _policed_tables()
    assert {"identity_membership", "identity_role", "common_idempotencyrecord"} <= set(tables)

    with web_connect() as web, web.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("SELECT current_setting('app.bypass_rls', true)")
        assert cursor.fetchone()[0] == "on"  # the setting took: it just opens nothing for this role
        for table in tables:
            assert _tenant_rows(cursor, table) == set(), table
        # The same with a tenant set: that tenant's rows only, never the other's.
        cursor.execute("SELECT set_config('app.tenant_id', %s, true)", [str(a.id)])
        for table in ("identity_membership", "identity_role", "common_idempotencyrecord"):
            assert _tenant_rows(cursor, table) == {str(a.id)}, table


def test_web_role_with_a_session_wide_bypass_sees_no_tenant_row(two_tenants, web_connect):
    # The backup recipe's PGOPTIONS and a plain SET: no transaction-local trick needed, still nothing.
    with web_connect(options="-c app.bypass_rls=on") as web, web.cursor() as cursor:
        cursor.execute("SET app.bypass_rls = 'on'")
        for table in _policed_tables():
            assert _tenant_rows(cursor, table) == set(), table


def test_web_role_without_tenant_setting_sees_no_tenant_rows_but_system_roles(two_tenants, web_connect):
    with web_connect() as web, web.cursor() as cursor:
        for table in _policed_tables():
            assert _tenant_rows(cursor, table) == set(), table
        cursor.execute("SELECT count(*) FROM identity_role WHERE tenant_id IS NULL")
        assert cursor.fetchone()[0] >= 3  # owner, admin, member: every tenant reads them


def test_web_role_reads_and_writes_its_own_tenant_only(two_tenants, web_connect):
    a, b = two_tenants
    with web_connect() as web:
        with web.transaction(), web.cursor() as cursor:
            cursor.execute("SELECT set_config('app.tenant_id', %s, true)", [str(a.id)])
            assert _tenant_rows(cursor, "identity_membership") == {str(a.id)}
            cursor.execute(
                "INSERT INTO common_idempotencyrecord (id, created_at, updated_at, tenant_id, user_id, endpoint, "
                "key, fingerprint, response_headers) VALUES (gen_random_uuid(), now(), now(), %s, "
                "gen_random_uuid(), 'POST /x/', 'own', 'f', '{}')",
                [a.id],
            )
            assert cursor.rowcount == 1
        for statement in (
            "INSERT INTO common_idempotencyrecord (id, created_at, updated_at, tenant_id, user_id, endpoint, key, "
            "fingerprint, response_headers) VALUES (gen_random_uuid(), now(), now(), %(b)s, gen_random_uuid(), "
            "'POST /x/', 'foreign', 'f', '{}')",
            "UPDATE identity_membership SET tenant_id = %(b)s",
            "INSERT INTO identity_role (id, created_at, updated_at, code, name, permissions) "
            "VALUES (gen_random_uuid(), now(), now(), 'evil', 'Evil', '[]')",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), web.transaction():
                _tenant_cursor_with_bypass(web, a).execute(statement, {"b": b.id})
    with unscoped():
        assert IdempotencyRecord.all_tenants.filter(tenant_id=b.id).count() == 1
        assert not IdempotencyRecord.all_tenants.filter(key="foreign").exists()


def _tenant_cursor_with_bypass(web: psycopg.Connection[Any], tenant: Any) -> psycopg.Cursor[Any]:
    cursor = web.cursor()
    cursor.execute(
        "SELECT set_config('app.tenant_id', %s, true), set_config('app.bypass_rls', 'on', true)", [str(tenant.id)]
    )
    return cursor


def test_web_role_is_no_superuser_no_bypassrls_and_outside_the_bypass_role(web_connect):
    with web_connect() as web, web.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, "
            "pg_has_role(current_user, %(marker)s, 'MEMBER'), pg_has_role(current_user, %(marker)s, 'USAGE') "
            "FROM pg_roles WHERE rolname = current_user",
            {"marker": rls.BYPASS_ROLE},
        )
        assert cursor.fetchone() == (False, False, False, False, False)
    # And the operator role this suite runs as is a member: the policies' bypass is its alone.
    assert _rows("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user") == [(False, False)]
    assert _rows("SELECT pg_has_role(current_user, %s, 'USAGE')", [rls.BYPASS_ROLE]) == [(True,)]


def test_operator_role_inside_unscoped_still_sees_every_tenant(two_tenants):
    a, b = two_tenants
    with unscoped(), connection.cursor() as cursor:
        for table in ("identity_membership", "identity_role", "common_idempotencyrecord"):
            assert _tenant_rows(cursor, table) == {str(a.id), str(b.id)}, table
    with connection.cursor() as cursor:
        assert _tenant_rows(cursor, "identity_membership") == set()  # and the bypass ended with the block


def test_unscoped_on_the_web_role_fails_loudly_instead_of_seeing_nothing(two_tenants, web_role):
    expected = "not a member of 'atrium_rls_bypass'"
    with django_as(web_role), pytest.raises(rls.BypassUnavailable, match=expected), unscoped():
        pass


# --------------------------------------------------------------------------- request-path flows on the web role


def test_password_reset_mail_of_a_never_signed_in_user_links_their_portal_as_the_web_role(two_tenants, web_role):
    """The worker finds the oldest membership's portal without the bypass (the narrow DB function)."""
    mail.outbox.clear()
    with django_as(web_role):
        assert APIClient().post(RESET, {"email": "owner@rls-b.example.test"}, format="json").status_code == 202
    bodies = [m.body for m in mail.outbox if m.to == ["owner@rls-b.example.test"]]
    assert len(bodies) == 1
    assert re.search(r"/portal/rls-b/password/reset/\?uid=[\w-]+&token=[\w-]+", bodies[0])


def test_self_registration_takes_the_member_system_role_as_the_web_role(two_tenants, web_role):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE identity_portal SET signup_policy = 'open' WHERE slug = 'rls-a'")
    mail.outbox.clear()
    with django_as(web_role):
        body = {"email": "newcomer@example.test", "password": PASSWORD, "portal": "rls-a", "name": "New"}
        assert APIClient().post(REGISTER, body, format="json").status_code == 202
    with unscoped():
        memberships = _rows(
            "SELECT t.slug, r.code FROM identity_membership m JOIN identity_user u ON u.id = m.user_id "
            "JOIN identity_role r ON r.id = m.role_id JOIN identity_tenant t ON t.id = m.tenant_id "
            "WHERE u.email = 'newcomer@example.test'"
        )
    assert memberships == [("rls-a", "member")]
    assert any("/portal/rls-a/email/verify/?key=" in m.body for m in mail.outbox if m.to == ["newcomer@example.test"])


def test_a_members_account_event_reaches_each_of_their_tenants_as_the_web_role(two_tenants, web_role):
    """A password reset is audited in every tenant of the user: read through the narrow DB function."""
    call_command("create_tenant", slug="rls-c", name="RLS-C", owner_email="owner@rls-b.example.test")
    mail.outbox.clear()
    with django_as(web_role):
        assert APIClient().post(RESET, {"email": "owner@rls-b.example.test"}, format="json").status_code == 202
        link = re.search(r"/password/reset/\?uid=([\w-]+)&token=([\w-]+)", mail.outbox[-1].body)
        assert link is not None
        body = {"uid": link[1], "token": link[2], "new_password": "a fresh passphrase 4242"}
        assert APIClient().post(RESET + "confirm/", body, format="json").status_code == 204
    with unscoped():
        streams = _rows(
            "SELECT t.slug FROM identity_auditevent e JOIN identity_tenant t ON t.id = e.tenant_id "
            "WHERE e.action = 'auth.password_reset' ORDER BY t.slug"
        )
    assert streams == [("rls-b",), ("rls-c",)]


def test_idempotency_purge_job_works_on_the_web_role(two_tenants, web_role):
    a, b = two_tenants
    with unscoped():
        IdempotencyRecord.all_tenants.update(created_at=timezone.now() - timedelta(days=2))
    for tenant in (a, b):
        with tenant_context(tenant):
            IdempotencyRecord.objects.create(
                user_id=uuid.uuid4(), endpoint="POST /things/", key="fresh", fingerprint="f"
            )
    with django_as(web_role):
        assert idempotency_purge() == 2
    with unscoped():
        assert sorted(IdempotencyRecord.all_tenants.values_list("key", flat=True)) == ["fresh", "fresh"]


# --------------------------------------------------------------------------- the setup the policies rely on


def test_the_membership_function_is_not_executable_by_public():
    # The web role gets EXECUTE from create-app-role.sh; no other role on the cluster does.
    grantees = _rows(
        "SELECT a.grantee FROM pg_proc p, aclexplode(p.proacl) a WHERE p.proname = 'identity_user_memberships'"
    )
    assert grantees, "EXECUTE is still the default (PUBLIC)"
    assert (0,) not in grantees  # 0 is PUBLIC


def test_nothing_owned_by_the_operator_runs_its_policies_for_the_web_role():
    """A view or SECURITY DEFINER function would apply the operator's bypass to the caller's settings."""
    definers = _rows(
        "SELECT p.proname FROM pg_proc p WHERE p.prosecdef AND p.pronamespace = current_schema()::regnamespace"
    )
    assert definers == [("identity_user_memberships",)]  # ADR 0008 lists each one
    views = _rows(
        "SELECT c.relname FROM pg_class c WHERE c.relkind IN ('v', 'm') "
        "AND c.relnamespace = current_schema()::regnamespace "
        "AND NOT coalesce('security_invoker=true' = ANY(c.reloptions), false)"
    )
    assert views == []


def test_policy_migrations_refuse_to_run_without_the_bypass_role(web_role, monkeypatch):
    with connection.schema_editor() as editor:
        rls.require_bypass_role(editor)  # the operator: fine
    monkeypatch.setattr(rls, "BYPASS_ROLE", "atrium_rls_bypass_missing")
    with (
        connection.schema_editor() as editor,
        pytest.raises(RuntimeError, match=r"does not exist: run scripts/db/create-app-role\.sh"),
    ):
        rls.require_bypass_role(editor)
    monkeypatch.undo()
    with django_as(web_role), pytest.raises(RuntimeError, match=re.escape(f"not as '{web_role}'")):
        rls.require_bypass_role(SimpleNamespace(connection=connection))  # type: ignore[arg-type]
