"""The files API's shapes (docs/api.md, "Files"). Rows are rendered from plain values, no per-row pass."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rest_framework import serializers

from apps.files.models import File


class FileUploadInputSerializer(serializers.Serializer):
    """Documents the multipart body; the view reads the file the upload handler kept."""

    file = serializers.FileField(
        help_text="The file. Its name is kept as given; its type is judged by its content, not the name or header."
    )


class FileOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField(help_text="The name as uploaded (escape it when you display it).")
    size = serializers.IntegerField(help_text="Bytes.")
    content_type = serializers.CharField(help_text="What the content is, detected from its bytes.")
    sha256 = serializers.CharField(help_text="SHA-256 of the content, hex.")
    uploaded_by = serializers.UUIDField(allow_null=True, help_text="The uploader's user id; null once removed.")
    created_at = serializers.DateTimeField()


class FileDetailOutputSerializer(FileOutputSerializer):
    download_url = serializers.URLField(
        help_text="A short-lived signed link to the content (served as an attachment); fetch the detail again for "
        "a new one once it expires."
    )
    download_expires_at = serializers.DateTimeField(help_text="When `download_url` stops working.")


def file_row(file: File) -> dict[str, Any]:
    return {
        "id": file.id,
        "name": file.name,
        "size": file.size,
        "content_type": file.content_type,
        "sha256": file.sha256,
        "uploaded_by": file.uploaded_by_id,
        "created_at": file.created_at,
    }


def file_detail(file: File, *, download_url: str, expires_at: datetime) -> dict[str, Any]:
    return {**file_row(file), "download_url": download_url, "download_expires_at": expires_at}
