"""Where file bytes live, and the short-lived links that hand them out.

The storage is Django's `default` (config/settings/storages.py): the local
file system under the var directory unless a bucket is configured, then S3
through django-storages. Keys are `tenants/<tenant id>/files/<file id>`:
they name no user input, and one tenant's objects share one prefix.

Downloads are links that expire after `FILES_DOWNLOAD_URL_TTL` seconds and
name one file of one tenant:
- S3: a presigned GET (SigV4) that also fixes the response's
  `Content-Disposition` (attachment, the safe name) and `Content-Type`;
- local storage: a link to `files/download/<token>/`, served by the app,
  where the token is the tenant id, the file id and the expiry time signed
  with the secret key (`django.core.signing`, salt of its own). The view
  checks the signature, the time, and that the file still exists.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Final
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core import signing
from django.core.files import File as DjangoFile
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.urls import reverse
from django.utils.http import content_disposition_header

from apps.files.exceptions import InvalidDownloadLink, StorageUnavailable

logger = logging.getLogger("atrium.files")

_SALT: Final = "atrium.files.download"


def file_storage() -> Storage:
    return storages["default"]


def is_local(storage: Storage | None = None) -> bool:
    return isinstance(storage or file_storage(), FileSystemStorage)


def object_key(*, tenant_id: UUID | str, file_id: UUID | str) -> str:
    return f"tenants/{tenant_id}/files/{file_id}"


def object_write(*, key: str, content: IO[bytes], content_type: str) -> str:
    """Store the bytes under `key`; returns the key the storage used (the same: keys are unique)."""
    content.seek(0)
    wrapped = DjangoFile(content, name=key)
    wrapped.content_type = content_type  # type: ignore[attr-defined]  # S3Storage sets ContentType from it
    try:
        saved = file_storage().save(key, wrapped)
    except (BotoCoreError, ClientError, OSError) as exc:
        logger.warning("file_storage_unavailable", extra={"key": key, "error": type(exc).__name__})
        object_delete_quietly(key=key)  # a part may have landed
        refusal = StorageUnavailable("The file storage did not answer; nothing was stored. Try again in a minute.")
        refusal.headers["Retry-After"] = "60"
        raise refusal from exc
    if saved != key:
        # Keys carry a fresh UUID, so a storage renaming one means something is badly off: do not hide it.
        file_storage().delete(saved)
        raise RuntimeError(f"storage stored {key!r} as {saved!r}")
    return saved


def object_delete(*, key: str) -> None:
    """Remove the object (deleting a missing one is no error)."""
    file_storage().delete(key)


def object_delete_quietly(*, key: str) -> None:
    """Clean-up after a failed upload: best effort, logged, never raised over the original error."""
    try:
        object_delete(key=key)
    except Exception:
        logger.exception("file_object_cleanup_failed", extra={"key": key})


def object_list(*, prefix: str) -> list[tuple[str, datetime]]:
    """(key, last modified) of every object directly under `prefix` (a folder, ending in "/")."""
    storage = file_storage()
    if is_local(storage):
        assert isinstance(storage, FileSystemStorage)
        try:
            entries = list(os.scandir(storage.path(prefix)))
        except FileNotFoundError:
            return []
        return [
            (f"{prefix}{entry.name}", datetime.fromtimestamp(entry.stat().st_mtime, tz=UTC))
            for entry in entries
            if entry.is_file()
        ]
    # S3: one listing call per thousand objects, each with its LastModified (no HEAD per object).
    bucket = storage.bucket  # type: ignore[attr-defined]
    return [
        (summary.key, summary.last_modified)
        for summary in bucket.objects.filter(Prefix=prefix)
        if "/" not in summary.key[len(prefix) :]
    ]


def object_exists(*, key: str) -> bool:
    return bool(file_storage().exists(key))


def object_open(*, key: str) -> IO[bytes]:
    return file_storage().open(key, "rb")


def download_ttl() -> int:
    return max(1, int(settings.FILES_DOWNLOAD_URL_TTL))


def download_url(*, tenant_id: UUID | str, file_id: UUID | str, key: str, filename: str, content_type: str) -> str:
    """A link that serves this one file for `FILES_DOWNLOAD_URL_TTL` seconds."""
    storage = file_storage()
    if is_local(storage):
        token = download_token(tenant_id=tenant_id, file_id=file_id)
        return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{reverse('files:file-download', args=[token])}"
    parameters = {
        "ResponseContentDisposition": content_disposition_header(as_attachment=True, filename=filename),
        "ResponseContentType": content_type,
    }
    return str(storage.url(key, parameters=parameters, expire=download_ttl()))  # type: ignore[call-arg]


# --------------------------------------------------------------------------- local signed links


@dataclass(frozen=True)
class DownloadGrant:
    tenant_id: UUID
    file_id: UUID


def download_token(*, tenant_id: UUID | str, file_id: UUID | str, ttl: int | None = None) -> str:
    expires = math.ceil(time.time() + (ttl if ttl is not None else download_ttl()))
    payload: dict[str, Any] = {"t": str(tenant_id), "f": str(file_id), "e": expires}
    return signing.dumps(payload, salt=_SALT, compress=False)


def download_token_verify(token: str) -> DownloadGrant:
    """The tenant and file a token names, or 403 when it is forged, altered or past its time."""
    try:
        payload = signing.loads(token, salt=_SALT)
        grant = DownloadGrant(tenant_id=UUID(str(payload["t"])), file_id=UUID(str(payload["f"])))
        expires = float(payload["e"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise InvalidDownloadLink("This download link is not valid.") from exc
    if time.time() > expires:
        raise InvalidDownloadLink("This download link has expired; fetch the file's details for a new one.")
    return grant
