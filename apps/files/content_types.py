"""What an upload is, judged by its bytes: the magic number, or (for text) whether it decodes.

`filetype` reads the leading bytes for a known signature (PNG, JPEG, GIF,
WebP, PDF, executables, archives, ...). Plain text and CSV have no signature:
they count as text when the whole content decodes as UTF-8 and holds no NUL.
Text is reported as `text/csv` when the client called it CSV (by name or
declared type) and `text/plain` otherwise; the content decides *that* it is
text, the label only which kind. The declared type and the name never make
binary content acceptable: an executable named `.png` is an executable.
"""

from __future__ import annotations

import codecs
from typing import IO, Final

import filetype  # type: ignore[import-untyped]  # no stubs, no py.typed
from django.conf import settings

from apps.files.exceptions import FileTypeNotAllowed

# filetype looks at no more than this many leading bytes.
SNIFF_BYTES: Final = 8192
_CHUNK: Final = 64 * 1024
TEXT_PLAIN: Final = "text/plain"
TEXT_CSV: Final = "text/csv"


def allowed_types() -> frozenset[str]:
    return frozenset(t.strip().lower() for t in settings.FILES_ALLOWED_TYPES if t.strip())


def content_type_detect(stream: IO[bytes], *, name: str, declared: str | None) -> str | None:
    """The content's type by its bytes (the stream is rewound), or None when nothing recognises it."""
    stream.seek(0)
    head = stream.read(SNIFF_BYTES)
    stream.seek(0)
    kind = filetype.guess(head) if head else None
    if kind is not None:
        return str(kind.mime)
    if not _is_utf8_text(stream):
        return None
    says_csv = name.lower().endswith(".csv") or (declared or "").split(";")[0].strip().lower() == TEXT_CSV
    return TEXT_CSV if says_csv else TEXT_PLAIN


def content_type_require(stream: IO[bytes], *, name: str, declared: str | None) -> str:
    """The detected type if the allow-list has it; else 415 naming what was found."""
    detected = content_type_detect(stream, name=name, declared=declared)
    allowed = allowed_types()
    if detected is None or detected not in allowed:
        found = detected or "unrecognised binary content"
        raise FileTypeNotAllowed(
            f"This file's content is {found}; allowed: {', '.join(sorted(allowed))}.",
            detected_type=detected,
        )
    return detected


def _is_utf8_text(stream: IO[bytes]) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    try:
        while chunk := stream.read(_CHUNK):
            if b"\x00" in chunk:
                return False
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        stream.seek(0)
    return True
