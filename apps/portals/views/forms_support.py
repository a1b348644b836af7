"""Helpers several signed-in pages share: an id from the URL, and a service's refusal shown on the form.

Kept apart from any one page so the pages (members, security, profile) do not import each other.
"""

from __future__ import annotations

from uuid import UUID

from django import forms

from apps.common.exceptions import ApplicationError, NotFound


def parse_id(raw: str, *, what: str) -> UUID:
    """The UUID in a URL, or the 404 page: a malformed id names nothing, as a foreign one does."""
    try:
        return UUID(str(raw))
    except ValueError as exc:
        raise NotFound(f"No such {what}.") from exc


def add_service_errors(form: forms.Form, exc: ApplicationError) -> None:
    """The service's refusal next to the field it names (`errors`), else above the form."""
    placed = False
    for field, problems in (exc.errors or {}).items():
        if field in form.fields:
            for problem in problems:
                form.add_error(field, problem)
            placed = True
    if not placed:
        form.add_error(None, exc.detail)
