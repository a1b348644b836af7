"""Helpers of the files tests: multipart bodies built by hand, sample contents."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

FILES = "/api/v1/files/"

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64)
GIF = b"GIF89a" + bytes(64)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(64)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
WINDOWS_EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(200)
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(200)
TEXT = "hello, wörld\nsecond line\n".encode()
CSV = b"name,amount\nalice,3\nbob,4\n"


def multipart(
    name: str, content: bytes, *, content_type: str = "application/octet-stream", field: str = "file"
) -> tuple[bytes, str]:
    """A multipart body with the file name exactly as given (Django's test client keeps only its base name).

    The name goes in `filename*` (RFC 2231, percent-encoded), so any character survives the header.
    """
    boundary = f"----atrium{uuid.uuid4().hex}"
    head = (
        f"--{boundary}\r\n"
        f"Content-Disposition: form-data; name=\"{field}\"; filename*=UTF-8''{quote(name, safe='')}\r\n"
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    body = head + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def upload(
    client: Any, name: str, content: bytes, *, content_type: str = "application/octet-stream", **extra: Any
) -> Any:
    body, multipart_type = multipart(name, content, content_type=content_type)
    return client.generic("POST", FILES, body, content_type=multipart_type, **extra)
