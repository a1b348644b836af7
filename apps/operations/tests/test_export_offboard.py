"""`export_tenant` and `offboard_tenant`: every row of the tenant in the archive, then none in the database."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from apps.common.models import TenantScopedModel
from apps.files.storage import object_exists
from apps.identity.models import Portal, Tenant, User
from apps.operations.archive import open_archive, sha256_of
from apps.operations.models import OffboardingRecord
from apps.operations.tests.support import Seeded, scoped_count, tenant_counts
from tests.test_model_walker import atrium_models

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def manifest_sha(output: str) -> str:
    return next(line.split()[-1] for line in output.splitlines() if line.startswith("manifest sha256:"))


def test_export_holds_every_row_of_the_tenant_model_by_model(seeded: tuple[Seeded, Seeded], tmp_path: Path) -> None:
    acme, _ = seeded
    before = tenant_counts(acme.tenant.pk)
    output = run("export_tenant", acme.tenant.slug, str(tmp_path / "acme"))

    manifest = json.loads((tmp_path / "acme" / "manifest.json").read_text())
    archived = {entry["model"]: entry["rows"] for entry in manifest["models"]}
    # Every tenant-scoped model the model walker knows is in the archive, with the database's count.
    scoped = [m for m in atrium_models() if issubclass(m, TenantScopedModel)]
    assert scoped, "the walker found no tenant-scoped model"
    for model in scoped:
        assert archived[model._meta.label] == scoped_count(model, acme.tenant.pk), model._meta.label
        assert f"{model._meta.label}: {archived[model._meta.label]} rows" in output
    assert {label: archived[label] for label in before} == before
    assert archived["identity.Tenant"] == 1
    assert archived["identity.Portal"] == 1
    assert archived["identity.AuditHead"] == 1
    assert archived["identity.Membership"] == 2
    assert archived["identity.AuditEvent"] > 0
    assert archived["files.File"] == 1
    # Its members' accounts, password hashes included (a restore must let them sign in); nobody else's.
    users = [json.loads(line) for line in (tmp_path / "acme" / manifest["models"][1]["path"]).read_text().splitlines()]
    assert manifest["models"][1]["model"] == "identity.User"
    assert sorted(u["fields"]["email"] for u in users) == ["member@acme-arch.test", "owner@acme-arch.test"]
    assert all(u["fields"]["password"].startswith("md5$") for u in users)
    assert [u["pk"] for u in users] == sorted(u["pk"] for u in users)  # deterministic: pk order
    assert manifest["tenant"] == {"id": str(acme.tenant.pk), "slug": "acme-arch"}
    assert manifest["format"] == "atrium-tenant-archive"
    assert manifest["version"] == 1


def test_export_checksums_verify_and_hold_the_stored_file(seeded: tuple[Seeded, Seeded], tmp_path: Path) -> None:
    acme, _ = seeded
    path = tmp_path / "acme.tar.gz"
    output = run("export_tenant", acme.tenant.slug, str(path))

    assert path.is_file()
    assert path.stat().st_mode & 0o777 == 0o600  # personal data: the operator's eyes only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acme.tar.gz", "media"]  # no staging left behind
    with open_archive(path) as archive:
        archive.verify()
        assert archive.manifest_sha256 == manifest_sha(output)
        [stored] = archive.manifest["objects"]
        assert stored["key"] == acme.file_key
        assert archive.path(stored["path"]).read_bytes() == acme.file_bytes
        for entry in archive.manifest["models"]:
            assert sha256_of(archive.path(entry["path"])) == entry["sha256"]
    assert "files: 1 objects" in output
    assert object_exists(key=acme.file_key)  # an export changes nothing
    assert Tenant.objects.filter(pk=acme.tenant.pk).exists()


def test_offboard_erases_the_tenant_and_leaves_the_other_untouched(
    seeded: tuple[Seeded, Seeded], tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    acme, globex = seeded
    acme_before = tenant_counts(acme.tenant.pk)
    globex_before = tenant_counts(globex.tenant.pk)
    path = tmp_path / "acme.tar.gz"

    with django_capture_on_commit_callbacks(execute=True):
        output = run("offboard_tenant", acme.tenant.slug, "--export", str(path), "--operator", "ops@example.test")

    with open_archive(path) as archive:
        archive.verify()
        archived = {entry["model"]: entry["rows"] for entry in archive.manifest["models"]}
    assert {label: archived[label] for label in acme_before} == acme_before  # count per model before erasure
    after = tenant_counts(acme.tenant.pk)
    assert {label: n for label, n in after.items() if n} == {}
    for model in atrium_models():
        if issubclass(model, TenantScopedModel):
            assert scoped_count(model, acme.tenant.pk) == 0, model._meta.label
    assert not Tenant.objects.filter(pk=acme.tenant.pk).exists()
    assert not Portal.objects.filter(slug="acme-arch").exists()
    assert not object_exists(key=acme.file_key)
    # The other tenant: every count as before, its file still stored.
    assert tenant_counts(globex.tenant.pk) == globex_before
    assert object_exists(key=globex.file_key)
    # People stay: they are global (and may belong elsewhere).
    assert User.objects.filter(pk=acme.owner.pk).exists()

    record = OffboardingRecord.objects.get()
    assert record.former_tenant_id == acme.tenant.pk
    assert record.slug == "acme-arch"
    assert record.operator == "ops@example.test"
    assert record.manifest_sha256 == manifest_sha(output)
    assert record.objects_erased == 1
    assert record.rows_erased == sum(acme_before.values())
    assert "erased identity.AuditEvent:" in output
    call_command("verify_audit_chain", stdout=StringIO())  # the erased stream's head went with it
    connection.check_constraints()  # no row left pointing at an erased one (deferred checks, now)


def test_offboard_refuses_an_existing_path_and_erases_nothing(seeded: tuple[Seeded, Seeded], tmp_path: Path) -> None:
    acme, _ = seeded
    taken = tmp_path / "taken"
    taken.mkdir()
    with pytest.raises(CommandError, match="already exists") as raised:
        run("offboard_tenant", acme.tenant.slug, "--export", str(taken))
    assert raised.value.returncode == 1
    assert Tenant.objects.filter(pk=acme.tenant.pk).exists()
    assert tenant_counts(acme.tenant.pk)["identity.Membership"] == 2
    assert object_exists(key=acme.file_key)
    assert list(taken.iterdir()) == []
    assert not OffboardingRecord.objects.exists()
    with pytest.raises(CommandError, match="already exists"):
        run("export_tenant", acme.tenant.slug, str(taken))


@pytest.mark.parametrize("command", ["export_tenant", "offboard_tenant"])
def test_an_unknown_slug_exits_1(seeded: tuple[Seeded, Seeded], tmp_path: Path, command: str) -> None:
    target = str(tmp_path / "x")
    args = ["nobody", target] if command == "export_tenant" else ["nobody", "--export", target]
    with pytest.raises(CommandError, match="unknown tenant slug: 'nobody'") as raised:
        run(command, *args)
    assert raised.value.returncode == 1
    assert not (tmp_path / "x").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".x")] == []  # no staging left behind


def test_offboard_rolls_back_and_removes_the_archive_when_erasure_fails(
    seeded: tuple[Seeded, Seeded], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme, _ = seeded
    from apps.operations import services

    monkeypatch.setattr(services, "_erase", lambda **_: {"identity.Tenant": 1})  # not what was exported
    path = tmp_path / "acme"
    with pytest.raises(CommandError, match="rows changed while exporting"):
        run("offboard_tenant", acme.tenant.slug, "--export", str(path))
    assert not path.exists()
    assert not OffboardingRecord.objects.exists()
    assert object_exists(key=acme.file_key)
