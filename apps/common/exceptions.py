"""The one family of domain errors; the API turns each into problem+json."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A domain rule said no. Subclasses fix the HTTP status and problem type."""

    status = 400
    code = "invalid"
    title = "Invalid request"

    def __init__(self, detail: str | None = None, *, errors: dict[str, list[str]] | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.errors = errors
        self.extra = extra
        super().__init__(self.detail)


class NotFound(ApplicationError):
    status = 404
    code = "not_found"
    title = "Not found"


class PermissionDenied(ApplicationError):
    status = 403
    code = "permission_denied"
    title = "Permission denied"


class Conflict(ApplicationError):
    status = 409
    code = "conflict"
    title = "Conflict"


class ServiceUnavailable(ApplicationError):
    status = 503
    code = "service_unavailable"
    title = "Service unavailable"
