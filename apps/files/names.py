"""File names: kept as given for display, and a safe form for everything else.

The name a user uploads is shown back to them as they gave it (the JSON
renderer and the templates escape it on output). Anything that reaches a
file system, a header or a download dialog uses `safe_name`: NFC-normalised,
with no path separators, control or format characters (RTL overrides,
zero-width joiners, BOMs), no leading dots, no characters Windows refuses, and
a bounded length that keeps the extension. Object keys never contain a name
at all (`tenants/<tenant>/files/<uuid>`), so no name can steer where bytes go.
"""

from __future__ import annotations

import unicodedata
from typing import Final

DISPLAY_MAX: Final = 255
SAFE_MAX: Final = 150
FALLBACK: Final = "file"
# Characters Windows refuses in names, and both path separators.
_REPLACED: Final = frozenset('/\\<>:"|?*')
# Unicode categories dropped: controls (Cc), format characters such as U+202E RIGHT-TO-LEFT OVERRIDE or
# U+200B ZERO WIDTH SPACE (Cf), line and paragraph separators (Zl, Zp), unassigned and private-use code points.
_DROPPED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def display_name(given: str) -> str:
    """The name as given, bounded, minus what the database cannot hold (NUL; lone surrogates)."""
    text = given.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    return text[:DISPLAY_MAX] or FALLBACK


def safe_name(given: str) -> str:
    """A name safe for storage and `Content-Disposition`; never empty, never a path."""
    text = unicodedata.normalize("NFC", given)
    kept: list[str] = []
    for char in text:
        if char in _REPLACED:
            kept.append("_")
        elif char.isspace():
            kept.append(" ")  # tabs, newlines, odd spaces: one plain space
        elif unicodedata.category(char) in _DROPPED_CATEGORIES:
            continue
        else:
            kept.append(char)
    name = " ".join("".join(kept).split())  # runs of whitespace → one space, none at the ends
    name = name.lstrip(". ").rstrip(". ")  # no hidden files, no `..`, no trailing dot (Windows)
    if not name:
        return FALLBACK
    return _bounded(name)


def _bounded(name: str) -> str:
    if len(name) <= SAFE_MAX:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and stem and 0 < len(extension) <= 16:
        return f"{stem[: SAFE_MAX - len(extension) - 1]}.{extension}"
    return name[:SAFE_MAX]
