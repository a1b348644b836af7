"""Reading a multipart upload with the size limit enforced as the bytes arrive.

Django's own handlers write whatever arrives (to memory, then a temporary
file) and only then could a view look at the size. `LimitedUploadHandler` is
the only handler the files API parses with: it refuses a request whose
`Content-Length` already says it is too big before reading a byte, and
otherwise counts each chunk and stops the upload with 413 at the first byte
past the limit. What it keeps meanwhile stays in a spooled temporary file (in
memory up to Django's `FILE_UPLOAD_MAX_MEMORY_SIZE`) that it closes on
refusal, so nothing over the limit reaches the disk, let alone the bucket. It
hashes the content (SHA-256) on the way, for the row and the
`Idempotency-Key` fingerprint.

`UploadParser` is DRF's multipart parser with that handler, and with the file
name kept as the client sent it (Django's parser cuts it to its last path
component and drops unprintable characters; the files app shows names as
given and makes its own safe form, `apps.files.names`).
"""

from __future__ import annotations

import hashlib
import tempfile
from typing import IO, Any, Final

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, MultiPartParser

from apps.common.exceptions import ApplicationError
from apps.files.exceptions import FileTooLarge

FIELD: Final = "file"
# Room for the multipart envelope (boundaries, part headers, small fields) over the file's own bytes.
ENVELOPE_BYTES: Final = 64 * 1024


def max_upload_bytes() -> int:
    return int(settings.FILES_MAX_UPLOAD_MB) * 1024 * 1024


def _too_large(limit: int) -> FileTooLarge:
    return FileTooLarge(f"The file is larger than the {limit // (1024 * 1024)} MB limit.", limit_bytes=limit)


class ReceivedFile(UploadedFile):
    """An upload as the handler received it: the name as given, its size and SHA-256 already known."""

    def __init__(
        self, file: IO[bytes], *, given_name: str, content_type: str | None, size: int, sha256: str, charset: str | None
    ) -> None:
        super().__init__(file, name=given_name, content_type=content_type, size=size, charset=charset)
        # UploadedFile.name is cut to a base name; this is the whole name the client sent.
        self.given_name = given_name
        self.sha256 = sha256


class LimitedUploadHandler(FileUploadHandler):
    """Keeps the one `file` part, up to `limit` bytes; 413 at the first byte over it."""

    def __init__(self, request: Any = None, *, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.spool: tempfile.SpooledTemporaryFile[bytes] | None = None
        self.digest = hashlib.sha256()
        self.kept = False

    def handle_raw_input(
        self, input_data: Any, META: Any, content_length: int, boundary: Any, encoding: str | None = None
    ) -> None:
        # Declared too big: refuse before reading anything.
        if content_length > self.limit + ENVELOPE_BYTES:
            raise _too_large(self.limit)
        return None

    def new_file(self, field_name: str, file_name: str, content_type: str, *args: Any, **kwargs: Any) -> None:
        if field_name != FIELD or self.kept:
            self.discard()
            raise ApplicationError(
                f"Send exactly one file, in the multipart field `{FIELD}`.",
                errors={FIELD: [f"Send exactly one file, in the field `{FIELD}`."]},
            )
        super().new_file(field_name, file_name, content_type, *args, **kwargs)
        self.kept = True
        self.spool = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.discard()
            raise _too_large(self.limit)
        assert self.spool is not None
        self.digest.update(raw_data)
        self.spool.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> ReceivedFile | None:
        if self.spool is None:
            return None
        self.spool.seek(0)
        return ReceivedFile(
            self.spool,
            given_name=self.file_name or "",
            content_type=self.content_type,
            size=file_size,
            sha256=self.digest.hexdigest(),
            charset=self.charset,
        )

    def upload_interrupted(self) -> None:
        self.discard()

    def discard(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None


class _NameKeepingParser(DjangoMultiPartParser):
    def sanitize_file_name(self, file_name: str) -> str | None:
        # As given (only an empty name means "no file"); apps.files.names makes the safe form.
        return file_name or None

    IE_sanitize = sanitize_file_name


class UploadParser(MultiPartParser):
    """`multipart/form-data` read through `LimitedUploadHandler` alone."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> DataAndFiles:
        parser_context = parser_context or {}
        request = parser_context["request"]
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        handler = LimitedUploadHandler(request, limit=max_upload_bytes())
        try:
            parser = _NameKeepingParser(
                meta, stream, [handler], parser_context.get("encoding") or settings.DEFAULT_CHARSET
            )
            data, files = parser.parse()
        except MultiPartParserError as exc:
            handler.discard()
            raise ParseError(f"Multipart form parse error - {exc}") from exc
        except BaseException:
            handler.discard()
            raise
        return DataAndFiles(data, files)
