"""Every write of the files app: upload and delete.

**Upload** checks, in order: the actor may upload; the bytes are an allowed
type (415); the tenant's storage quota has room (413 `storage_quota_exceeded`,
asked through `identity.plugs.storage_limit_bytes`, which billing fills; the
size limit itself was enforced while the request was read, see
`apps.files.uploads`). Then it writes the object *first*, and the row and
its audit event after, in one transaction under the tenant's lock, where the
quota is checked again against a total nobody else is changing. If that
transaction fails, the object is deleted again: no row ever points at a
missing object, and a refused upload leaves nothing behind.

**Delete** removes the row and records `file.deleted`; the object's removal is
promised through the outbox in the same transaction, so it runs only once
the deletion has committed, and is retried (outbox sweep, RQ retries) if the
storage is unavailable then.

**Orphans**: an object whose row never committed (the request's own
transaction rolled back after the upload's, a process killed between the
write and the commit) is found by the nightly sweep (`file_orphans_sweep_all`):
an object under a tenant's prefix that no row names, older than an hour (so
an upload still committing is never touched), is deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from apps.common.tenancy import tenant_context
from apps.files.content_types import content_type_require
from apps.files.exceptions import StorageQuotaExceeded
from apps.files.jobs import file_object_delete_job
from apps.files.models import File
from apps.files.names import display_name, safe_name
from apps.files.permissions import DELETE_FILE, UPLOAD_FILE
from apps.files.selectors import file_get, file_storage_used
from apps.files.storage import object_delete_quietly, object_key, object_list, object_write
from apps.files.uploads import ReceivedFile
from apps.identity import plugs
from apps.identity.models import Tenant, User
from apps.identity.plugs import domain_event
from apps.identity.selectors.tenant_walk import tenants_each
from apps.identity.services.audit import audit_record
from apps.identity.services.grants import actor_require
from apps.identity.services.tenants import tenant_lock


def file_quota_require(*, tenant: Tenant, size: int) -> None:
    """413 `storage_quota_exceeded` when `size` more bytes would pass the tenant's storage limit."""
    limit = plugs.storage_limit_bytes(tenant)
    if limit is None:
        return
    used = file_storage_used(tenant=tenant)
    if used + size > limit:
        raise StorageQuotaExceeded(
            f"The organisation's storage quota ({limit} bytes) has {max(limit - used, 0)} bytes left; "
            f"this file needs {size}.",
            limit_bytes=limit,
            used_bytes=used,
        )


def file_upload(*, tenant: Tenant, actor: User, upload: ReceivedFile, ip: str | None = None) -> File:
    """Store an upload and its row; audited `file.uploaded`. 403, 413 (quota), 415 as the module says."""
    actor_require(tenant=tenant, actor=actor, code=UPLOAD_FILE)
    given = upload.given_name
    stream = upload.file
    assert stream is not None
    content_type = content_type_require(stream, name=given, declared=upload.content_type)
    size = int(upload.size or 0)
    file_quota_require(tenant=tenant, size=size)  # cheap early answer, before any byte is stored

    file_id = uuid.uuid4()
    key = object_write(key=object_key(tenant_id=tenant.id, file_id=file_id), content=stream, content_type=content_type)
    try:
        with transaction.atomic():
            tenant_lock(tenant_id=tenant.id)
            file_quota_require(tenant=tenant, size=size)  # again, under the lock: concurrent uploads count
            file: File = File.objects.create(
                id=file_id,
                name=display_name(given),
                safe_name=safe_name(given),
                size=size,
                content_type=content_type,
                sha256=upload.sha256,
                key=key,
                uploaded_by=actor,
            )
            audit_record(
                tenant=tenant,
                actor=actor,
                action="file.uploaded",
                target=file,
                ip=ip,
                data={"name": file.safe_name, "size": size, "content_type": content_type, "sha256": upload.sha256},
            )
            uploaded = {"file_id": str(file.id), "name": file.safe_name, "size": size, "content_type": content_type}
            domain_event(tenant=tenant, event="file.uploaded", data=uploaded)
    except BaseException:
        object_delete_quietly(key=key)
        raise
    return file


@transaction.atomic
def file_delete(*, tenant: Tenant, actor: User, file_id: UUID | str, ip: str | None = None) -> None:
    """Delete a file; its object goes once this commits. 403 without `files.delete_file`; 404 unknown or foreign."""
    actor_require(tenant=tenant, actor=actor, code=DELETE_FILE)
    file = file_get(tenant=tenant, file_id=file_id)
    deleted, _ = File.objects.filter(id=file.id).delete()
    if not deleted:
        return  # deleted by a concurrent request in the meantime: its transaction promised the removal
    file_object_delete_job.defer(key=file.key)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="file.deleted",
        target=file,
        ip=ip,
        data={"name": file.safe_name, "size": file.size},
    )
    deleted_data = {"file_id": str(file.id), "name": file.safe_name, "size": file.size}
    domain_event(tenant=tenant, event="file.deleted", data=deleted_data)


ORPHAN_GRACE = timedelta(hours=1)
_KEY_BATCH = 1000


def file_orphans_sweep(*, tenant: Tenant, now: datetime | None = None) -> int:
    """Delete the tenant's objects that no file row names and that are older than `ORPHAN_GRACE`; how many."""
    cutoff = (now or timezone.now()) - ORPHAN_GRACE
    listed = object_list(prefix=object_key(tenant_id=tenant.id, file_id=""))
    old = [key for key, modified in listed if modified < cutoff]
    swept = 0
    for start in range(0, len(old), _KEY_BATCH):
        batch = old[start : start + _KEY_BATCH]
        known = set(File.objects.filter(tenant_id=tenant.id, key__in=batch).values_list("key", flat=True))
        for key in batch:
            if key not in known:
                object_delete_quietly(key=key)
                swept += 1
    return swept


def file_orphans_sweep_all(*, now: datetime | None = None, tenant_ids: Collection[str] | None = None) -> int:
    """The orphan sweep of every tenant (or of `tenant_ids`), each in its own context. Objects deleted.

    Nightly, one job per batch of tenants (`apps.files.periodic`, `config/cron.py`).
    """
    swept = 0
    for tenant in tenants_each(ids=tenant_ids):
        with tenant_context(tenant):
            swept += file_orphans_sweep(tenant=tenant, now=now)
    return swept
