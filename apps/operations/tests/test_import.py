"""`import_tenant`: export → offboard → import gives back every row, the files, sign-in and a verifying chain."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from apps.common.tenancy import tenant_context, unscoped
from apps.files.storage import object_exists, object_open
from apps.identity.models import Membership, Portal, Role, Tenant, User
from apps.identity.tests.factories import PASSWORD, UserFactory
from apps.operations.archive import sha256_of
from apps.operations.tests.support import Seeded, tenant_counts, tenant_rows

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def offboard(tenant: Tenant, path: Path, capture: Any) -> str:
    with capture(execute=True):
        output = run("offboard_tenant", tenant.slug, "--export", str(path))
    return next(line.split()[-1] for line in output.splitlines() if line.startswith("manifest sha256:"))


@pytest.mark.parametrize("name", ["acme", "acme.tar.gz"])
def test_round_trip_restores_every_row_the_files_and_the_audit_chain(
    seeded: tuple[Seeded, Seeded], tmp_path: Path, django_capture_on_commit_callbacks: Any, name: str
) -> None:
    acme, globex = seeded
    before = tenant_rows(acme.tenant.pk)
    globex_before = tenant_counts(globex.tenant.pk)
    checksum = offboard(acme.tenant, tmp_path / name, django_capture_on_commit_callbacks)
    assert not object_exists(key=acme.file_key)

    output = run("import_tenant", str(tmp_path / name), "--checksum", checksum)

    assert tenant_rows(acme.tenant.pk) == before  # every field of every row, model by model
    assert tenant_counts(globex.tenant.pk) == globex_before
    assert "identity.AuditEvent:" in output
    assert "2 accounts already here were kept" in output
    with object_open(key=acme.file_key) as fh:
        assert fh.read() == acme.file_bytes
    verified = StringIO()
    call_command("verify_audit_chain", "--tenant", acme.tenant.slug, stdout=verified)
    assert verified.getvalue().startswith("ok: ")
    call_command("verify_audit_chain", stdout=StringIO())  # and every other stream still verifies
    connection.check_constraints()  # every restored row's foreign keys resolve


def test_the_restored_owner_signs_in_again(
    seeded: tuple[Seeded, Seeded], tmp_path: Path, django_capture_on_commit_callbacks: Any, api: Any
) -> None:
    acme, _ = seeded
    offboard(acme.tenant, tmp_path / "acme", django_capture_on_commit_callbacks)
    assert not Portal.objects.filter(slug="acme-arch").exists()  # nothing to sign in to
    run("import_tenant", str(tmp_path / "acme"))
    signed_in = api.post(
        "/api/v1/identity/auth/login/", {"email": acme.owner.email, "password": PASSWORD, "portal": "acme-arch"}
    )
    assert signed_in.status_code == 200, signed_in.content


def test_import_refuses_a_tenant_that_exists(seeded: tuple[Seeded, Seeded], tmp_path: Path) -> None:
    acme, _ = seeded
    run("export_tenant", acme.tenant.slug, str(tmp_path / "acme"))
    with pytest.raises(CommandError, match="exists here") as raised:
        run("import_tenant", str(tmp_path / "acme"))
    assert raised.value.returncode == 1


def test_import_refuses_an_altered_archive_and_writes_nothing(
    seeded: tuple[Seeded, Seeded], tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    acme, _ = seeded
    offboard(acme.tenant, tmp_path / "acme", django_capture_on_commit_callbacks)
    manifest = json.loads((tmp_path / "acme" / "manifest.json").read_text())
    events = next(e for e in manifest["models"] if e["model"] == "identity.AuditEvent")
    rows = tmp_path / "acme" / events["path"]
    rows.write_text(rows.read_text().replace("file.uploaded", "file.removed"))

    with pytest.raises(CommandError, match="checksum mismatch"):
        run("import_tenant", str(tmp_path / "acme"))
    assert not Tenant.objects.filter(pk=acme.tenant.pk).exists()
    assert not object_exists(key=acme.file_key)


def test_import_refuses_a_manifest_checksum_it_was_not_told(
    seeded: tuple[Seeded, Seeded], tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    acme, _ = seeded
    offboard(acme.tenant, tmp_path / "acme", django_capture_on_commit_callbacks)
    with pytest.raises(CommandError, match="expected 00"):
        run("import_tenant", str(tmp_path / "acme"), "--checksum", "0" * 64)
    with pytest.raises(CommandError, match="does not exist"):
        run("import_tenant", str(tmp_path / "nothing-here"))
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not a tarball")
    with pytest.raises(CommandError, match="not a readable archive"):
        run("import_tenant", str(garbage))
    assert not Tenant.objects.filter(pk=acme.tenant.pk).exists()


@pytest.mark.postgres
def test_round_trip_under_row_level_security_keeps_the_append_only_log(
    seeded: tuple[Seeded, Seeded], tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    """PostgreSQL: the analytics trigger lets the operator's offboarding erase the log, and the import restore it."""
    acme, _ = seeded
    before = tenant_counts(acme.tenant.pk)
    assert before["flows.AnalyticsEvent"] == 1
    offboard(acme.tenant, tmp_path / "acme", django_capture_on_commit_callbacks)
    assert tenant_counts(acme.tenant.pk)["flows.AnalyticsEvent"] == 0
    run("import_tenant", str(tmp_path / "acme"))
    assert tenant_counts(acme.tenant.pk) == before


def _reseal(root: Path) -> None:
    """Recompute the archive's checksums after a deliberate edit (what a second database's export would hold)."""
    manifest = json.loads((root / "manifest.json").read_text())
    for entry in [*manifest["models"], *manifest["objects"]]:
        entry["sha256"] = sha256_of(root / entry["path"])
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    (root / "manifest.json").write_bytes(data)
    (root / "manifest.json.sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  manifest.json\n")


def test_import_maps_system_roles_by_code_when_the_ids_differ(
    seeded: tuple[Seeded, Seeded], tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    """Another database seeded its system roles with other ids: memberships follow the role's code."""
    acme, _ = seeded
    owner_role = Role.all_roles.get(tenant__isnull=True, code="owner")
    offboard(acme.tenant, tmp_path / "acme", django_capture_on_commit_callbacks)
    foreign_id = str(uuid.uuid4())
    for path in (tmp_path / "acme").rglob("*"):
        if path.is_file() and path.name != "manifest.json.sha256":
            path.write_text(path.read_text().replace(str(owner_role.pk), foreign_id))
    _reseal(tmp_path / "acme")

    run("import_tenant", str(tmp_path / "acme"))

    with tenant_context(acme.tenant):
        assert Membership.objects.get(user=acme.owner).role_id == owner_role.pk


def test_import_refuses_when_another_account_has_the_address(
    seeded: tuple[Seeded, Seeded], tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    acme, _ = seeded
    offboard(acme.tenant, tmp_path / "acme", django_capture_on_commit_callbacks)
    with unscoped():  # the account's cascade walks tenant tables
        User.objects.filter(pk=acme.member.pk).delete()
    UserFactory(email=acme.member.email)  # someone else signed up with it since

    with pytest.raises(CommandError, match=re.escape("a different account already uses member@acme-arch.test")):
        run("import_tenant", str(tmp_path / "acme"))
    assert not Tenant.objects.filter(pk=acme.tenant.pk).exists()
    assert not object_exists(key=acme.file_key)
