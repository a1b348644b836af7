"""CSV downloads that a spreadsheet opens as text, never as formulas (OWASP "CSV Injection").

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel,
LibreOffice and Google Sheets: a member named `=HYPERLINK("http://evil","x")` would become a
link, or worse, in the admin's spreadsheet. Every text cell that starts so gets a leading `'`
(which the spreadsheet shows as text and does not display), and every cell is quoted, with
quotes inside doubled (RFC 4180), so no value can end its cell or row early.

Numbers, dates and other values the code itself produces are written as they are: only text
can carry someone's input. Every CSV the product offers goes through `csv_response`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

from django.http import HttpResponse

# OWASP's list: the characters a spreadsheet reads as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def neutralise(value: object) -> str:
    """The text of one cell: `''` for None; text that a spreadsheet would run as a formula, prefixed with `'`."""
    if value is None:
        return ""
    if isinstance(value, str):
        return f"'{value}" if value.startswith(FORMULA_STARTS) else value
    return str(value)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The whole document: the header row, then each row, every cell neutralised and quoted, CRLF line ends."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([neutralise(name) for name in header])
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    return out.getvalue()


def safe_filename(name: str) -> str:
    """`name` with only letters, digits, `.`, `_` and `-` (nothing that could break the header), ending `.csv`."""
    stem = _UNSAFE_FILENAME.sub("-", name.removesuffix(".csv")).strip(".-") or "export"
    return f"{stem[:100]}.csv"


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> HttpResponse:
    """A download (`Content-Disposition: attachment`) of the rows as CSV, never cached on the way.

    Built in memory inside the request (and its tenant context), not streamed: a streamed body
    would be read after the view returned, outside the tenant context.
    """
    response = HttpResponse(csv_text(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{safe_filename(filename)}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
