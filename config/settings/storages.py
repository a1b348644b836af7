"""File storage: local disk by default, S3 (django-storages) when a bucket is named; the files app's limits."""

from __future__ import annotations

from typing import Any

from botocore.config import Config

from config import env as E

# apps.files: per-file size limit (MB), allowed content types, lifetime of a download link (seconds).
FILES_MAX_UPLOAD_MB = E.FILES_MAX_UPLOAD_MB
FILES_ALLOWED_TYPES = E.FILES_ALLOWED_TYPES
FILES_DOWNLOAD_URL_TTL = E.FILES_DOWNLOAD_URL_TTL


def s3_storage(*, bucket: str, endpoint_url: str | None, region: str, expire: int, **extra: Any) -> dict[str, Any]:
    """The S3 backend's entry of STORAGES (also used by the tests against their own endpoint)."""
    addressing = "path" if endpoint_url else "auto"
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url or None,
            "region_name": region,
            # Never overwrite an object that has the same key; presigned URLs are short.
            "file_overwrite": False,
            "querystring_expire": expire,
            "default_acl": None,
            # The whole client configuration (django-storages then ignores its own `signature_version` and
            # `addressing_style` options): v4 presigned URLs (botocore still presigns v2 on some paths), and an
            # unreachable endpoint fails an upload within seconds (503), not after botocore's long retries.
            "client_config": Config(
                signature_version="s3v4",
                s3={"addressing_style": addressing},
                connect_timeout=3,
                read_timeout=20,
                retries={"max_attempts": 2, "mode": "standard"},
            ),
            **extra,
        },
    }


_default: dict[str, Any]
if E.AWS_STORAGE_BUCKET_NAME:
    _default = s3_storage(
        bucket=E.AWS_STORAGE_BUCKET_NAME,
        endpoint_url=E.AWS_S3_ENDPOINT_URL,
        region=E.AWS_S3_REGION_NAME,
        expire=E.FILES_DOWNLOAD_URL_TTL,
    )
else:
    # Under MEDIA_ROOT (var/media by default). Nothing serves MEDIA_URL: files go out through signed links only.
    _default = {"BACKEND": "django.core.files.storage.FileSystemStorage"}

STORAGES = {
    "default": _default,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
