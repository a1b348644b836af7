"""RBAC: declarations, the versioned role → permissions map, and the checks services make.

The checks at the request (DRF views and viewsets, the template filter): `test_rbac_request_checks.py`.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import textwrap
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction

from apps.common.exceptions import PermissionDenied
from apps.common.tenancy import tenant_context, unscoped
from apps.identity import rbac
from apps.identity.models import Role
from apps.identity.permissions import MANAGE_MEMBER, VIEW_AUDIT, VIEW_MEMBER
from apps.identity.rbac import (
    RBAC_VERSION_KEY,
    bump_rbac_version,
    has_permission,
    rbac_version,
    rbac_version_from,
    require_permission,
    role_map,
    role_permissions,
)
from apps.identity.services.seeding import rbac_seed
from apps.identity.tests.rbac_support import (
    DELETE_FILE,
    VIEW_FILE,
    _fresh_rbac_state,  # noqa: F401 - autouse fixture
)

# Identity may not import billing or flows (import-linter layers): their codes are spelled out
# here, and the one module a test patches is found at run time, as the registry does.
MANAGE_SUBSCRIPTION = "billing.manage_subscription"
VIEW_INVOICE = "billing.view_invoice"
flows_permissions = importlib.import_module("apps.flows.permissions")


# docs/api.md, "System roles and permissions": permission → the system roles granted it, exactly.
API_TABLE: dict[str, set[str]] = {
    "identity.view_member": {"owner", "admin", "member"},
    "identity.view_role": {"owner", "admin", "member"},
    "identity.manage_member": {"owner", "admin"},
    "identity.invite_member": {"owner", "admin"},
    "identity.view_audit": {"owner", "admin"},
    "identity.manage_portal": {"owner", "admin"},
    "identity.manage_role": {"owner", "admin"},
    "billing.view_subscription": {"owner", "admin"},
    "billing.view_usage": {"owner", "admin"},
    "billing.view_invoice": {"owner", "admin"},
    "billing.manage_subscription": {"owner"},
    "files.view_file": {"owner", "admin", "member"},
    "files.upload_file": {"owner", "admin", "member"},
    "files.delete_file": {"owner", "admin"},
    "flows.manage_flow": {"owner", "admin"},
    "integrations.manage_api_key": {"owner", "admin"},
    "integrations.manage_webhook": {"owner", "admin"},
}


def _custom_role(tenant, code: str, permissions: list[str]) -> Role:
    with tenant_context(tenant):
        role = Role.objects.create(tenant=tenant, code=code, name=code.title(), permissions=permissions)
        bump_rbac_version()
    return role


# --------------------------------------------------------------------------- declarations


def test_every_granted_code_is_in_the_catalogue():
    catalogue = rbac.declared_catalogue()
    for role, codes in catalogue.grants.items():
        assert codes <= catalogue.permissions.keys(), role


def test_system_roles_grant_exactly_what_the_api_table_says():
    grants = rbac.declared_catalogue().grants
    for code, roles in API_TABLE.items():
        assert {role for role, codes in grants.items() if code in codes} == roles, code


def test_codes_are_collected_from_every_app():
    sources = set(rbac.declared_catalogue().sources.values())
    assert {"identity", "billing", "flows", "files"} <= sources


def test_a_code_named_after_another_app_is_rejected(monkeypatch):
    monkeypatch.setattr(flows_permissions, "PERMISSIONS", {"billing.manage_flow": "Wrong app"})
    with pytest.raises(ImproperlyConfigured, match=re.escape("billing.manage_flow")):
        rbac.discover_catalogue()


def test_a_grant_to_a_non_system_role_is_rejected(monkeypatch):
    monkeypatch.setattr(flows_permissions, "GRANTS", {"auditor": frozenset({flows_permissions.MANAGE_FLOW})})
    with pytest.raises(ImproperlyConfigured, match="auditor"):
        rbac.discover_catalogue()


def test_a_grant_of_an_undeclared_code_is_rejected(monkeypatch):
    monkeypatch.setattr(flows_permissions, "GRANTS", {"admin": frozenset({"flows.run_flow"})})
    with pytest.raises(ImproperlyConfigured, match=r"flows\.run_flow"):
        rbac.discover_catalogue()


# --------------------------------------------------------------------------- the version


def test_a_missing_version_starts_an_epoch_and_bumps_count_up():
    cache.delete(RBAC_VERSION_KEY)
    first = rbac_version()
    assert rbac_version() == first
    assert rbac_version_from(cache.get(RBAC_VERSION_KEY)) == first
    bump_rbac_version()  # no transaction open: at once
    assert rbac_version() == first + 1


def test_bump_works_when_the_cache_lost_the_version():
    cache.delete(RBAC_VERSION_KEY)
    bump_rbac_version()
    assert isinstance(cache.get(RBAC_VERSION_KEY), int)


@pytest.mark.django_db
def test_bump_in_a_transaction_waits_for_the_commit(django_capture_on_commit_callbacks):
    """Bumping before commit would let another process reload the old rows under the new version."""
    before = rbac_version()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        bump_rbac_version()
        bump_rbac_version()
        assert rbac_version() == before
    assert len(callbacks) == 1, "one bump per transaction"
    assert rbac_version() == before + 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_bump_on_commit_is_logged_not_raised(monkeypatch, caplog):
    """By then the write has committed: a cache hiccup must not turn the response into a 500."""

    def cache_down(*args, **kwargs):
        raise ConnectionError("redis down")

    monkeypatch.setattr(cache, "incr", cache_down)
    with transaction.atomic():
        bump_rbac_version()
    assert "bump_rbac_version_on_commit" in caplog.text


# --------------------------------------------------------------------------- role → permissions


def test_system_role_permissions_come_from_the_seed(seeded, tenant):
    assert role_permissions(tenant_id=tenant.id, role_code="member") == rbac.declared_catalogue().grants["member"]
    assert MANAGE_SUBSCRIPTION in role_permissions(tenant_id=tenant.id, role_code="owner")
    assert MANAGE_SUBSCRIPTION not in role_permissions(tenant_id=tenant.id, role_code="admin")


def test_steady_state_costs_no_query(seeded, tenant, other_tenant, django_assert_num_queries):
    role_permissions(tenant_id=tenant.id, role_code="admin")
    with django_assert_num_queries(0):
        role_permissions(tenant_id=tenant.id, role_code="admin")
        role_permissions(tenant_id=tenant.id, role_code="member")  # loaded with the other system roles
        role_permissions(tenant_id=other_tenant.id, role_code="owner")  # system roles are shared


def _grant_member_delete_file() -> None:
    with unscoped():
        Role.all_roles.filter(tenant__isnull=True, code="member").update(permissions=[VIEW_FILE, DELETE_FILE])


def test_a_bumped_version_makes_the_next_call_reload(seeded, tenant, committed, django_assert_num_queries):
    assert DELETE_FILE not in role_permissions(tenant_id=tenant.id, role_code="member")
    _grant_member_delete_file()

    with django_assert_num_queries(0):  # no bump, no reload: the map is trusted until the version moves
        assert DELETE_FILE not in role_permissions(tenant_id=tenant.id, role_code="member")
    with committed():
        bump_rbac_version()
    with django_assert_num_queries(1):
        assert role_permissions(tenant_id=tenant.id, role_code="member") == {VIEW_FILE, DELETE_FILE}
    with django_assert_num_queries(0):
        role_permissions(tenant_id=tenant.id, role_code="member")


def test_a_version_bumped_elsewhere_makes_the_next_call_reload(seeded, tenant, django_assert_num_queries):
    role_permissions(tenant_id=tenant.id, role_code="member")
    _grant_member_delete_file()
    cache.incr(RBAC_VERSION_KEY)  # what another process's bump does
    with django_assert_num_queries(1):
        assert DELETE_FILE in role_permissions(tenant_id=tenant.id, role_code="member")


def test_the_changing_transaction_sees_its_change_before_commit(seeded, tenant, committed):
    version = rbac_version()
    role_permissions(tenant_id=tenant.id, role_code="member")  # shared map warm
    with committed(), transaction.atomic():
        _grant_member_delete_file()
        bump_rbac_version()
        assert DELETE_FILE in role_permissions(tenant_id=tenant.id, role_code="member")
        assert rbac_version() == version, "not bumped before commit"
    assert rbac_version() == version + 1
    assert DELETE_FILE in role_permissions(tenant_id=tenant.id, role_code="member")


class _Failed(Exception):
    pass


def _change_check_then_fail(tenant) -> None:
    with transaction.atomic():
        _grant_member_delete_file()
        bump_rbac_version()
        assert DELETE_FILE in role_permissions(tenant_id=tenant.id, role_code="member")
        raise _Failed


def test_a_rolled_back_change_leaves_nothing_cached(seeded, tenant, django_assert_num_queries):
    assert DELETE_FILE not in role_permissions(tenant_id=tenant.id, role_code="member")

    with pytest.raises(_Failed):
        _change_check_then_fail(tenant)

    with django_assert_num_queries(0):  # the shared map was never touched by the uncommitted change
        assert DELETE_FILE not in role_permissions(tenant_id=tenant.id, role_code="member")


def test_a_passed_version_skips_the_cache_read(seeded, tenant, monkeypatch, django_assert_num_queries):
    version = rbac_version()
    role_permissions(tenant_id=tenant.id, role_code="admin", version=version)

    def no_cache_read() -> int:
        raise AssertionError("the caller already fetched the version")

    monkeypatch.setattr(role_map, "rbac_version", no_cache_read)  # where role_permissions looks it up
    with django_assert_num_queries(0):
        assert VIEW_AUDIT in role_permissions(tenant_id=tenant.id, role_code="admin", version=version)
    with django_assert_num_queries(1):  # another version than the map's: reload
        role_permissions(tenant_id=tenant.id, role_code="admin", version=version + 1)


def test_custom_roles_are_per_tenant(seeded, tenant, other_tenant, committed, django_assert_num_queries):
    with committed():
        _custom_role(tenant, "auditor", [VIEW_AUDIT])
        _custom_role(other_tenant, "auditor", [VIEW_INVOICE])

    # Looked up from no tenant context: the lookup enters the tenant's own context.
    assert role_permissions(tenant_id=tenant.id, role_code="auditor") == {VIEW_AUDIT}
    assert role_permissions(tenant_id=other_tenant.id, role_code="auditor") == {VIEW_INVOICE}
    with tenant_context(tenant):
        assert role_permissions(tenant_id=tenant.id, role_code="auditor") == {VIEW_AUDIT}
    with django_assert_num_queries(0):
        role_permissions(tenant_id=tenant.id, role_code="auditor")


def test_an_unknown_role_grants_nothing_and_is_remembered(seeded, tenant, django_assert_num_queries):
    assert role_permissions(tenant_id=tenant.id, role_code="ghost") == frozenset()
    with django_assert_num_queries(0):
        assert role_permissions(tenant_id=tenant.id, role_code="ghost") == frozenset()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_change_made_by_another_process_is_seen_at_the_next_call(tenant, tmp_path, child_env):
    """Two processes share the RBAC version through Redis; each keeps its own map."""
    rbac_seed()
    _custom_role(tenant, "auditor", [VIEW_AUDIT])
    assert role_permissions(tenant_id=tenant.id, role_code="auditor") == {VIEW_AUDIT}  # warm this process's map

    script = textwrap.dedent(
        f"""
        import django
        django.setup()
        from apps.common.tenancy import tenant_context
        from apps.identity.models import Role, Tenant
        from apps.identity.rbac import bump_rbac_version
        tenant = Tenant.objects.get(id="{tenant.id}")
        with tenant_context(tenant):
            Role.objects.filter(tenant=tenant, code="auditor").update(permissions=["{VIEW_AUDIT}", "{VIEW_INVOICE}"])
            bump_rbac_version()
        """
    )
    # The other process talks to this test's database (test_<name>) and the same Redis.
    database_url = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"]).geturl()
    env = child_env(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        ALLOWED_HOSTS="testserver",
        ATRIUM_TESTING="true",
        DATABASE_URL=database_url,
        REDIS_URL=settings.REDIS_URL,
    )
    subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, check=True, timeout=60)

    assert role_permissions(tenant_id=tenant.id, role_code="auditor") == {VIEW_AUDIT, VIEW_INVOICE}


# --------------------------------------------------------------------------- service checks


def test_require_permission_raises_for_a_role_without_the_code(seeded, tenant):
    require_permission(tenant=tenant, actor_role="admin", code=MANAGE_MEMBER)
    with pytest.raises(PermissionDenied) as excinfo:
        require_permission(tenant=tenant, actor_role="member", code=MANAGE_MEMBER)
    assert excinfo.value.status == 403
    assert excinfo.value.extra == {"permission": MANAGE_MEMBER}


def test_no_role_has_no_permission(seeded, tenant):
    assert not has_permission(tenant=tenant, actor_role=None, code=VIEW_MEMBER)
    with pytest.raises(PermissionDenied):
        require_permission(tenant=tenant, actor_role="", code=VIEW_MEMBER)


def test_checking_an_undeclared_code_is_a_programming_error(seeded, tenant):
    with pytest.raises(ImproperlyConfigured, match=re.escape("identity.view_membres")):
        has_permission(tenant=tenant, actor_role="owner", code="identity.view_membres")
