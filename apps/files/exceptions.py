"""The files app's refusals: each its own problem `type`, so a client can tell them apart."""

from __future__ import annotations

from apps.common.exceptions import ApplicationError, ServiceUnavailable


class FileTooLarge(ApplicationError):
    """The upload is over the per-file size limit (`FILES_MAX_UPLOAD_MB`)."""

    status = 413
    code = "file_too_large"
    title = "File too large"


class StorageQuotaExceeded(ApplicationError):
    """The upload fits the size limit but the tenant's storage quota (its plan) has no room for it."""

    status = 413
    code = "storage_quota_exceeded"
    title = "Storage quota exceeded"


class FileTypeNotAllowed(ApplicationError):
    """The content (judged by its bytes, not its name or header) is not on the allow-list."""

    status = 415
    code = "file_type_not_allowed"
    title = "File type not allowed"


class InvalidDownloadLink(ApplicationError):
    """A download link whose signature does not verify or whose time is up."""

    status = 403
    code = "invalid_download_link"
    title = "Invalid or expired download link"


class StorageUnavailable(ServiceUnavailable):
    """The file storage (the S3 endpoint, the disk) failed while storing: nothing was kept, try again."""

    code = "storage_unavailable"
    title = "File storage unavailable"
