"""`manage.py seed_rbac [--check]`: the database's catalogue and system roles follow the code."""

from __future__ import annotations

import importlib
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.common.tenancy import tenant_context, unscoped
from apps.identity import rbac
from apps.identity.models import Permission, Role
from apps.identity.services.seeding import rbac_seed

pytestmark = pytest.mark.django_db

# Identity may not import the files app (import-linter layers); like the registry, find it at run time.
files_permissions = importlib.import_module("apps.files.permissions")


@pytest.fixture(autouse=True)
def _fresh_catalogue():
    """Tests monkeypatch the apps' declarations; rediscover before and after (after their undo)."""
    rbac.declared_catalogue.cache_clear()
    yield
    rbac.declared_catalogue.cache_clear()


def _seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_rbac", *args, stdout=out)
    return out.getvalue()


def _system_roles() -> dict[str, Role]:
    with unscoped():
        return {role.code: role for role in Role.all_roles.filter(tenant__isnull=True)}


def _declare(monkeypatch, *, permissions=None, grants=None) -> None:
    """Change what the files app declares, as a code change would."""
    if permissions is not None:
        monkeypatch.setattr(files_permissions, "PERMISSIONS", permissions)
    if grants is not None:
        monkeypatch.setattr(files_permissions, "GRANTS", grants)
    rbac.declared_catalogue.cache_clear()


def test_seed_creates_the_catalogue_and_the_three_system_roles():
    out = _seed()

    catalogue = rbac.declared_catalogue()
    assert dict(Permission.objects.values_list("code", "description")) == dict(catalogue.permissions)
    roles = _system_roles()
    assert {code: role.name for code, role in roles.items()} == {"owner": "Owner", "admin": "Admin", "member": "Member"}
    for code, role in roles.items():
        assert role.permissions == sorted(catalogue.grants[code])
    assert f"permissions: {len(catalogue.permissions)} created, 0 updated, 0 unchanged" in out
    assert "system roles: 3 created, 0 updated, 0 unchanged" in out


def test_second_run_changes_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as first:
        _seed()
    version = rbac.rbac_version()

    with django_capture_on_commit_callbacks(execute=True) as second:
        out = _seed()

    n = len(rbac.declared_catalogue().permissions)
    assert f"permissions: 0 created, 0 updated, {n} unchanged, 0 removed" in out
    assert "system roles: 0 created, 0 updated, 3 unchanged" in out
    assert len(first) == 1
    assert second == [], "a run that changed nothing must not make every process reload"
    assert rbac.rbac_version() == version
    assert not rbac_seed().changed


def test_check_after_seed_passes():
    _seed()
    out = _seed("--check")
    assert "RBAC matches the code." in out


def test_check_on_an_empty_database_exits_1_and_writes_nothing():
    with pytest.raises(CommandError) as excinfo:
        _seed("--check")

    assert excinfo.value.returncode == 1
    assert "RBAC drift" in str(excinfo.value)
    assert not Permission.objects.exists()
    assert not _system_roles()


def test_check_detects_an_added_grant(monkeypatch):
    _seed()
    grants = dict(files_permissions.GRANTS)
    grants["member"] = grants["member"] | {files_permissions.DELETE_FILE}
    _declare(monkeypatch, grants=grants)
    out = io.StringIO()

    with pytest.raises(CommandError) as excinfo:
        call_command("seed_rbac", "--check", stdout=out)

    assert excinfo.value.returncode == 1
    assert "~ role member: +files.delete_file" in out.getvalue()
    assert files_permissions.DELETE_FILE not in _system_roles()["member"].permissions, "--check wrote"


def test_check_detects_a_removed_grant(monkeypatch):
    _seed()
    grants = dict(files_permissions.GRANTS)
    grants["admin"] = grants["admin"] - {files_permissions.DELETE_FILE}
    _declare(monkeypatch, grants=grants)
    out = io.StringIO()

    with pytest.raises(CommandError) as excinfo:
        call_command("seed_rbac", "--check", stdout=out)

    assert excinfo.value.returncode == 1
    assert "~ role admin: -files.delete_file" in out.getvalue()
    assert files_permissions.DELETE_FILE in _system_roles()["admin"].permissions, "--check wrote"


def test_seed_applies_a_changed_grant_and_bumps_the_version(monkeypatch, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # each seed is its own committed transaction
        _seed()
    version = rbac.rbac_version()
    grants = dict(files_permissions.GRANTS)
    grants["member"] = grants["member"] | {files_permissions.DELETE_FILE}
    _declare(monkeypatch, grants=grants)

    with django_capture_on_commit_callbacks(execute=True):
        out = _seed()

    assert "system roles: 0 created, 1 updated, 2 unchanged" in out
    assert files_permissions.DELETE_FILE in _system_roles()["member"].permissions
    assert rbac.rbac_version() != version


def test_a_new_code_is_created_and_a_dropped_code_removed_everywhere(monkeypatch, tenant):
    new_code = "files.share_file"
    _declare(
        monkeypatch,
        permissions={**files_permissions.PERMISSIONS, new_code: "Share files"},
        grants={**files_permissions.GRANTS, "owner": files_permissions.GRANTS["owner"] | {new_code}},
    )
    assert "+ permission files.share_file" in _seed()
    assert new_code in _system_roles()["owner"].permissions
    with tenant_context(tenant):
        custom = Role.objects.create(
            tenant=tenant, code="sharer", name="Sharer", permissions=[new_code, "files.view_file"]
        )

    monkeypatch.undo()
    rbac.declared_catalogue.cache_clear()
    with pytest.raises(CommandError):
        _seed("--check")
    out = _seed()

    assert "- permission files.share_file (no longer declared)" in out
    assert "~ custom role acme-test/sharer: -files.share_file" in out
    assert "custom roles: 1 updated" in out
    assert not Permission.objects.filter(code=new_code).exists()
    assert new_code not in _system_roles()["owner"].permissions
    with tenant_context(tenant):
        custom.refresh_from_db()
    assert custom.permissions == ["files.view_file"]
    _seed("--check")  # and now there is no drift


def test_changed_description_is_updated(monkeypatch):
    _seed()
    _declare(
        monkeypatch,
        permissions={**files_permissions.PERMISSIONS, files_permissions.VIEW_FILE: "Look at files"},
    )

    out = _seed()

    assert "permissions: 0 created, 1 updated" in out
    assert Permission.objects.get(code=files_permissions.VIEW_FILE).description == "Look at files"


def test_a_hand_edited_system_role_is_restored():
    _seed()
    with unscoped():
        Role.all_roles.filter(tenant__isnull=True, code="admin").update(
            name="Boss", permissions=["billing.manage_subscription"]
        )

    report = rbac_seed(dry_run=True)
    assert report.roles.updated == 1
    assert any(line.startswith("~ role admin: name 'Boss' -> 'Admin'") for line in report.changes)

    rbac_seed()
    admin = _system_roles()["admin"]
    assert admin.name == "Admin"
    assert admin.permissions == sorted(rbac.declared_catalogue().grants["admin"])


@pytest.mark.postgres
def test_seed_runs_under_row_level_security(pg_connection):
    """The app's role is not a superuser: system roles are writable only through `unscoped()`."""
    rbac_seed()
    assert not rbac_seed().changed
    assert set(_system_roles()) == {"owner", "admin", "member"}
