"""Helpers for the files page tests: their URLs, a file stored through the service, a form's multipart body."""

from __future__ import annotations

import hashlib
import io
import uuid
from typing import Any
from urllib.parse import quote

from django.test import Client

from apps.common.tenancy import tenant_context
from apps.files import services
from apps.files.models import File
from apps.files.uploads import ReceivedFile

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(200)
TEXT = "hello, wörld\nsecond line\n".encode()


def files_url(portal: Any) -> str:
    return f"/portal/{portal.slug}/files/"


def upload_url(portal: Any) -> str:
    return f"/portal/{portal.slug}/files/upload/"


def download_url(portal: Any, file_id: Any) -> str:
    return f"/portal/{portal.slug}/files/{file_id}/download/"


def delete_url(portal: Any, file_id: Any) -> str:
    return f"/portal/{portal.slug}/files/{file_id}/delete/"


def stored(tenant: Any, actor: Any, name: str = "report.txt", content: bytes = TEXT) -> File:
    """A file uploaded through `services.file_upload`, as the API and the page store one."""
    upload = ReceivedFile(
        io.BytesIO(content),
        given_name=name,
        content_type="application/octet-stream",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        charset=None,
    )
    with tenant_context(tenant):
        return services.file_upload(tenant=tenant, actor=actor, upload=upload)


def rows(tenant: Any) -> list[File]:
    with tenant_context(tenant):
        return list(File.objects.order_by("created_at"))


def csrf_token(client: Client, portal: Any) -> str:
    client.get(files_url(portal))  # sets the CSRF cookie, as the page does for a browser
    return client.cookies["csrftoken"].value


def form_body(
    name: str, content: bytes, *, token: str | None, content_type: str = "application/octet-stream", field: str = "file"
) -> tuple[bytes, str]:
    """The upload form's multipart body as a browser sends it: the CSRF field first, then the file.

    The name goes in `filename*` (RFC 2231), so any character survives (Django's test client cuts it).
    """
    boundary = f"----atrium{uuid.uuid4().hex}"
    parts = b""
    if token is not None:
        parts += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{token}\r\n'
        ).encode()
    parts += (
        f"--{boundary}\r\n"
        f"Content-Disposition: form-data; name=\"{field}\"; filename*=UTF-8''{quote(name, safe='')}\r\n"
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return parts + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post_upload(
    client: Client,
    portal: Any,
    name: str,
    content: bytes,
    *,
    token: str | None = "",
    content_type: str = "application/octet-stream",
    **extra: Any,
) -> Any:
    """POST the upload form; `token=""` fetches the page's CSRF token first, None sends none."""
    if token == "":
        token = csrf_token(client, portal)
    body, multipart_type = form_body(name, content, token=token, content_type=content_type)
    return client.generic("POST", upload_url(portal), body, content_type=multipart_type, **extra)
