"""The tenant walls: the ORM's scoped managers everywhere, PostgreSQL row-level security too."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.common.tenancy import TenantContextMissing, TenantMismatch, tenant_context, unscoped
from apps.identity.models import AuditEvent, Invitation, Membership, Role
from apps.identity.tests.factories import TenantFactory, UserFactory, make_membership, system_role

pytestmark = pytest.mark.django_db


def _populate(tenant, *, email: str) -> None:
    """One row of every tenant-scoped identity table for `tenant`."""
    user = UserFactory(email=email)
    make_membership(user=user, tenant=tenant, role="member")
    with tenant_context(tenant):
        Invitation.objects.create(email=f"invitee-{email}", role=system_role("member"), expires_at=timezone.now())
        Role.objects.create(tenant=tenant, code=f"custom-{tenant.slug}", name="Custom", permissions=[])
        AuditEvent.objects.create(seq=1, action="test", prev_hash="", hash="x" * 64)


SCOPED = [Membership, Invitation, AuditEvent]


@pytest.fixture
def two_tenants():
    a = TenantFactory(slug="tenant-a")
    b = TenantFactory(slug="tenant-b")
    _populate(a, email="a@example.test")
    _populate(b, email="b@example.test")
    return a, b


@pytest.mark.parametrize("model", [*SCOPED, Role], ids=lambda m: m.__name__)
def test_scoped_query_without_tenant_context_raises(two_tenants, model):
    manager = model.objects
    with pytest.raises(TenantContextMissing):
        list(manager.all())


@pytest.mark.parametrize("model", SCOPED, ids=lambda m: m.__name__)
def test_tenant_context_sees_only_its_own_rows(two_tenants, model):
    a, b = two_tenants
    with tenant_context(a):
        rows = list(model.objects.all())
        assert rows
        assert {row.tenant_id for row in rows} == {a.id}
        assert not model.objects.filter(tenant=b).exists()


def test_roles_show_system_roles_and_only_own_custom_roles(two_tenants):
    a, _ = two_tenants
    with tenant_context(a):
        codes = set(Role.objects.values_list("code", flat=True))
    assert "member" in codes
    assert "custom-tenant-a" in codes
    assert "custom-tenant-b" not in codes


def test_all_tenants_escape_only_inside_unscoped(two_tenants):
    with pytest.raises(TenantContextMissing):
        Membership.all_tenants.count()
    with unscoped():
        assert Membership.all_tenants.count() == 2


def test_saving_a_row_into_another_tenants_context_is_refused(two_tenants):
    a, b = two_tenants
    with tenant_context(a):
        membership = Membership.objects.first()
    with tenant_context(b), pytest.raises(TenantMismatch):
        membership.save()


def test_new_row_takes_the_current_tenant(two_tenants):
    a, _ = two_tenants
    user = UserFactory()
    with tenant_context(a):
        membership = Membership.objects.create(user=user, role=system_role("member"))
    assert membership.tenant_id == a.id


def test_creating_without_context_raises():
    user = UserFactory()
    with pytest.raises(TenantContextMissing):
        Membership(user=user, role=system_role("member")).save()


def test_tenant_context_is_reset_after_an_error(two_tenants):
    a, _ = two_tenants
    with pytest.raises(ZeroDivisionError), tenant_context(a):
        _ = 1 / 0
    with pytest.raises(TenantContextMissing):
        Membership.objects.count()


# --- PostgreSQL row-level security -------------------------------------------------------------

TENANT_TABLES = ["identity_membership", "identity_invitation", "identity_auditevent", "identity_role"]


def _raw_count(table: str, *, where: str = "") -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}" {where}')  # noqa: S608 - fixed table names
        return int(cursor.fetchone()[0])


@pytest.mark.postgres
def test_app_role_is_not_superuser_and_cannot_bypass_rls():
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)


@pytest.mark.postgres
@pytest.mark.parametrize("table", TENANT_TABLES)
def test_tenant_tables_have_forced_rls(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = %s", [table])
        assert cursor.fetchone() == (True, True)


@pytest.mark.postgres
@pytest.mark.parametrize("table", ["identity_membership", "identity_invitation", "identity_auditevent"])
def test_raw_sql_without_tenant_setting_sees_no_tenant_rows(two_tenants, table):
    assert _raw_count(table) == 0


@pytest.mark.postgres
def test_raw_sql_without_tenant_sees_only_system_roles(two_tenants):
    assert _raw_count("identity_role", where="WHERE tenant_id IS NOT NULL") == 0
    assert _raw_count("identity_role") >= 1


@pytest.mark.postgres
@pytest.mark.parametrize("table", TENANT_TABLES)
def test_raw_sql_in_tenant_context_sees_only_that_tenant(two_tenants, table):
    a, b = two_tenants
    with tenant_context(a), connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}" WHERE tenant_id = %s', [str(b.id)])  # noqa: S608
        assert cursor.fetchone()[0] == 0
        cursor.execute(f'SELECT count(*) FROM "{table}" WHERE tenant_id = %s', [str(a.id)])  # noqa: S608
        assert cursor.fetchone()[0] >= 1


@pytest.mark.postgres
def test_rls_refuses_writing_a_row_for_another_tenant(two_tenants):
    from django.db.utils import ProgrammingError

    a, b = two_tenants
    with tenant_context(a), connection.cursor() as cursor:
        cursor.execute("UPDATE identity_membership SET status = 'suspended' WHERE tenant_id = %s", [str(a.id)])
        assert cursor.rowcount == 1
    with tenant_context(a), pytest.raises(ProgrammingError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE identity_membership SET tenant_id = %s WHERE tenant_id = %s", [str(b.id), str(a.id)])


@pytest.mark.postgres
def test_rls_refuses_writing_a_system_role_from_a_tenant(two_tenants):
    from django.db.utils import ProgrammingError

    a, _ = two_tenants
    with tenant_context(a), pytest.raises(ProgrammingError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO identity_role (id, created_at, updated_at, code, name, permissions) "
            "VALUES (gen_random_uuid(), now(), now(), 'evil', 'Evil', '[]')"
        )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_pooled_connection_serving_a_then_nobody_then_b_leaks_nothing():
    """The setting is transaction-local: it cannot outlive its block on a reused connection."""
    a = TenantFactory(slug="pool-a")
    b = TenantFactory(slug="pool-b")
    _populate(a, email="pool-a@example.test")
    _populate(b, email="pool-b@example.test")
    backend_pid = connection.connection.info.backend_pid

    with tenant_context(a):
        assert _raw_count("identity_membership") == 1
        assert _raw_count("identity_membership", where=f"WHERE tenant_id = '{a.id}'") == 1
    assert _raw_count("identity_membership") == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.tenant_id', true)")
        assert cursor.fetchone()[0] in ("", None)
    with tenant_context(b):
        assert _raw_count("identity_membership", where=f"WHERE tenant_id = '{a.id}'") == 0
        assert _raw_count("identity_membership") == 1
    assert connection.connection.info.backend_pid == backend_pid


@pytest.mark.postgres
def test_nested_contexts_restore_the_outer_tenant_setting(two_tenants):
    a, b = two_tenants
    with tenant_context(a):
        with tenant_context(b):
            assert {m.tenant_id for m in Membership.objects.all()} == {b.id}
            assert _raw_count("identity_membership", where=f"WHERE tenant_id = '{a.id}'") == 0
        assert _raw_count("identity_membership", where=f"WHERE tenant_id = '{a.id}'") == 1
        assert _raw_count("identity_membership", where=f"WHERE tenant_id = '{b.id}'") == 0


@pytest.mark.postgres
def test_unscoped_escape_is_the_only_way_past_the_policy(two_tenants):
    assert _raw_count("identity_membership") == 0
    with unscoped():
        assert _raw_count("identity_membership") == 2
    assert _raw_count("identity_membership") == 0
