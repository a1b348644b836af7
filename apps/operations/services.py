"""Export a tenant to an archive, offboard it (export, then erase), and import an archive back.

Operator code: it reads and writes every app's rows through the named escape
`unscoped()`, so it runs from management commands as the operator database
role, never on a request path. The rows come from `ownership.owned_models()`,
the archive format from `archive`.
"""

from __future__ import annotations

import getpass
import logging
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files import File as DjangoFile
from django.db import DatabaseError, IntegrityError, models, transaction
from django.utils import timezone

from apps.common.tenancy import unscoped
from apps.files.storage import file_storage, object_delete_quietly, object_exists, object_list, object_open
from apps.identity.models import Role, Tenant
from apps.identity.services.audit import audit_record
from apps.identity.services.tenants import tenant_lock
from apps.operations.archive import Archive, ArchiveError, ArchiveWriter, open_archive
from apps.operations.models import OffboardingRecord
from apps.operations.ownership import owned_models, referenced_user_ids

logger = logging.getLogger("atrium.operations")

Progress = Callable[[str, int], None]


def _quiet(label: str, rows: int) -> None:
    return None


def progress_line(label: str, count: int) -> str:
    """`model: N rows` (or `files: N objects`), the commands' progress output."""
    return f"{label}: {count} {'objects' if label == 'files' else 'rows'}"


@dataclass(frozen=True)
class ExportResult:
    path: Path
    manifest_sha256: str
    rows: dict[str, int]
    objects: list[str]


@dataclass(frozen=True)
class OffboardResult:
    export: ExportResult
    record: OffboardingRecord
    erased: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportResult:
    tenant: Tenant
    manifest_sha256: str
    rows: dict[str, int]
    users_kept: int
    objects: int


def tenant_by_slug(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise ArchiveError(f"unknown tenant slug: {slug!r}")
    return tenant


def operator_name() -> str:
    """Who runs the command, as the OS knows them (containers without a passwd entry fall back to $USER)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


def tenant_export(*, tenant: Tenant, path: Path, on_progress: Progress = _quiet) -> ExportResult:
    """Write every row of `tenant` (its global rows too) and its stored objects to a new archive at `path`."""
    writer = ArchiveWriter(path)
    user_model = get_user_model()
    rows: dict[str, int] = {}
    try:
        with unscoped():
            owned = owned_models()
            steps: list[tuple[str, models.QuerySet[Any]]] = [
                (str(Tenant._meta.label), Tenant.objects.filter(pk=tenant.pk)),
                (
                    str(user_model._meta.label),
                    user_model._base_manager.filter(pk__in=referenced_user_ids(owned, tenant.pk)).order_by("pk"),
                ),
                *((entry.label, entry.rows(tenant.pk)) for entry in owned),
            ]
            for label, queryset in steps:
                rows[label] = writer.write_rows(label, queryset)
                on_progress(label, rows[label])
            system = Role.all_roles.filter(tenant__isnull=True).values_list("id", "code")
            system_roles = {str(pk): str(code) for pk, code in system}
        keys = sorted(key for key, _ in object_list(prefix=f"tenants/{tenant.pk}/files/"))
        for key in keys:
            writer.write_object(key, object_open(key=key))
        on_progress("files", len(keys))
        manifest = {
            "tenant": {"id": str(tenant.pk), "slug": tenant.slug},
            "created_at": timezone.now().isoformat(),
            "system_roles": system_roles,
        }
        checksum = writer.finish(manifest)
    except BaseException:
        writer.discard()
        raise
    return ExportResult(path=path, manifest_sha256=checksum, rows=rows, objects=keys)


def tenant_offboard(
    *, tenant: Tenant, path: Path, operator: str, on_progress: Progress = _quiet, on_erased: Progress = _quiet
) -> OffboardResult:
    """Export `tenant`, then erase every row it owns and its tenant row in one transaction.

    The tenant row is locked first, so the tenant's writers (every one takes
    `tenant_lock`) wait and the erasure removes exactly the exported rows; any
    difference rolls the erasure back and removes the archive. Stored objects
    are deleted after the commit. Users stay: they are global and may belong to
    other tenants.
    """
    if path.exists() or path.is_symlink():
        raise ArchiveError(f"{path} already exists; choose a new path (an archive is never overwritten)")
    user_label = str(get_user_model()._meta.label)
    with transaction.atomic():
        tenant = tenant_lock(tenant_id=tenant.pk)
        export = tenant_export(tenant=tenant, path=path, on_progress=on_progress)
        try:
            erased = _erase(tenant=tenant, on_erased=on_erased)
            expected = {label: n for label, n in export.rows.items() if n and label != user_label}
            if erased != expected:
                changed = sorted(set(erased.items()) ^ set(expected.items()))
                raise ArchiveError(f"rows changed while exporting ({changed}); nothing erased, run it again")
            record = OffboardingRecord.objects.create(
                former_tenant_id=tenant.pk,
                slug=tenant.slug,
                offboarded_at=timezone.now(),
                operator=operator[:150],
                manifest_sha256=export.manifest_sha256,
                rows_erased=sum(erased.values()),
                objects_erased=len(export.objects),
            )
            audit_record(
                action="tenant.offboarded",
                target=("tenant", str(tenant.pk)),
                data={"slug": tenant.slug, "operator": record.operator, "manifest_sha256": export.manifest_sha256},
            )
        except BaseException:
            _remove_archive(path)
            raise
        keys = list(export.objects)
        transaction.on_commit(lambda: _delete_objects(keys))
    return OffboardResult(export=export, record=record, erased=erased)


def _erase(*, tenant: Tenant, on_erased: Progress) -> dict[str, int]:
    """Delete the tenant's rows, dependants first (reverse of the export order), then the tenant row."""
    erased: Counter[str] = Counter()
    with unscoped():
        for entry in reversed(owned_models()):
            _, counts = entry.rows(tenant.pk).delete()
            erased.update(counts)
            on_erased(entry.label, counts.get(entry.label, 0))
        _, counts = Tenant.objects.filter(pk=tenant.pk).delete()
        erased.update(counts)
        on_erased(str(Tenant._meta.label), counts.get(str(Tenant._meta.label), 0))
    return {label: n for label, n in erased.items() if n}


def _remove_archive(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _delete_objects(keys: list[str]) -> None:
    for key in keys:
        object_delete_quietly(key=key)
    logger.info("tenant_objects_deleted", extra={"objects": len(keys)})


def tenant_import(*, path: Path, expected_sha256: str | None = None, on_progress: Progress = _quiet) -> ImportResult:
    """Restore an archive into a database where its tenant does not exist; all or nothing."""
    with open_archive(path) as archive:
        archive.verify()
        if expected_sha256 and expected_sha256.lower() != archive.manifest_sha256:
            raise ArchiveError(f"manifest checksum is {archive.manifest_sha256}, expected {expected_sha256}")
        written: list[str] = []
        try:
            with transaction.atomic():
                result = _restore(archive, written=written, on_progress=on_progress)
        except BaseException:
            for key in written:
                object_delete_quietly(key=key)
            raise
    return result


def _restore(archive: Archive, *, written: list[str], on_progress: Progress) -> ImportResult:
    user_model = get_user_model()
    user_label = str(user_model._meta.label)
    with unscoped():
        if Tenant.objects.filter(models.Q(pk=archive.tenant_id) | models.Q(slug=archive.tenant_slug)).exists():
            raise ArchiveError(
                f"tenant {archive.tenant_slug} ({archive.tenant_id}) exists here; import restores only a tenant "
                "the database does not have (offboard it first)"
            )
        roles = _system_role_map(archive)
        rows: dict[str, int] = {}
        kept = 0
        for entry in archive.manifest["models"]:
            label = str(entry["model"])
            count = 0
            for item in archive.rows(entry):
                instance = item.object
                if label == user_label:
                    if user_model._base_manager.filter(pk=instance.pk).exists():
                        kept += 1  # a member who is also in another tenant, or stayed after offboarding
                        continue
                    email = str(getattr(instance, "email", ""))
                    if user_model._base_manager.filter(email__iexact=email).exists():
                        raise ArchiveError(f"a different account already uses {email}; nothing imported")
                for fk in instance._meta.concrete_fields:
                    if isinstance(fk, models.ForeignKey) and fk.related_model is Role:
                        value = getattr(instance, fk.attname)
                        if value is not None and str(value) in roles:
                            setattr(instance, fk.attname, roles[str(value)])
                try:
                    item.save(force_insert=True)
                except (IntegrityError, DatabaseError) as exc:  # the outer transaction rolls back whole
                    raise ArchiveError(f"{label} {instance.pk}: cannot be restored ({exc})") from exc
                count += 1
            rows[label] = count
            on_progress(label, count)
        for entry in archive.manifest["objects"]:
            key = str(entry["key"])
            if object_exists(key=key):
                raise ArchiveError(f"stored object {key} already exists; nothing imported")
            with archive.path(entry["path"]).open("rb") as fh:
                saved = file_storage().save(key, DjangoFile(fh, name=key))
            written.append(saved)
            if saved != key:
                raise ArchiveError(f"storage stored {key} as {saved}; nothing imported")
        on_progress("files", len(written))
        _require_counts(archive)
        tenant = Tenant.objects.get(pk=archive.tenant_id)
    return ImportResult(
        tenant=tenant, manifest_sha256=archive.manifest_sha256, rows=rows, users_kept=kept, objects=len(written)
    )


def _require_counts(archive: Archive) -> None:
    """The database now holds exactly the archived rows of the tenant, model by model (users: global, skipped)."""
    expected = {str(entry["model"]): int(entry["rows"]) for entry in archive.manifest["models"]}
    found = {str(Tenant._meta.label): Tenant.objects.filter(pk=archive.tenant_id).count()}
    found |= {entry.label: entry.rows(archive.tenant_id).count() for entry in owned_models()}
    user_label = str(get_user_model()._meta.label)
    differing = [
        f"{label}: {found.get(label, 0)} rows, archive {rows}"
        for label, rows in expected.items()
        if label != user_label and found.get(label, 0) != rows
    ]
    differing += [f"{label}: {n} rows not in the archive" for label, n in found.items() if n and label not in expected]
    if differing:
        raise ArchiveError("restored rows differ from the archive: " + "; ".join(differing))


def _system_role_map(archive: Archive) -> dict[str, Any]:
    """Archived system role id -> this database's id for the same code (ids differ between databases)."""
    local = dict(Role.all_roles.filter(tenant__isnull=True).values_list("code", "id"))
    mapping: dict[str, Any] = {}
    for old_id, code in dict(archive.manifest.get("system_roles") or {}).items():
        if code not in local:
            raise ArchiveError(f"system role {code!r} is missing here: run `manage.py seed_rbac` first")
        mapping[str(old_id)] = local[code]
    return mapping
