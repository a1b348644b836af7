"""File storage: local disk by default, S3 (django-storages) when a bucket is named."""

from __future__ import annotations

from typing import Any

from config import env as E

_default: dict[str, Any]
if E.AWS_STORAGE_BUCKET_NAME:
    _default = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": E.AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": E.AWS_S3_ENDPOINT_URL or None,
            "region_name": E.AWS_S3_REGION_NAME,
            "signature_version": "s3v4",
            "addressing_style": "path" if E.AWS_S3_ENDPOINT_URL else "auto",
            # Never overwrite an object that has the same key; presigned URLs are short.
            "file_overwrite": False,
            "querystring_expire": 300,
            "default_acl": None,
        },
    }
else:
    _default = {"BACKEND": "django.core.files.storage.FileSystemStorage"}

STORAGES = {
    "default": _default,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
