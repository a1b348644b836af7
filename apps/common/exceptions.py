"""The one family of domain errors; the API turns each into problem+json."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A domain rule said no. Subclasses fix the HTTP status and problem type.

    `errors` is the per-field map of a validation failure; other keyword
    arguments become extension members of the problem body (RFC 9457 §3.2).
    """

    status = 400
    code = "invalid"
    title = "Invalid request"

    def __init__(self, detail: str | None = None, *, errors: dict[str, list[str]] | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.errors = errors
        self.extra = extra
        # Response headers the error carries (e.g. `Retry-After`).
        self.headers: dict[str, str] = {}
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


class TooManyRequests(ApplicationError):
    """Throttled or locked out; `retry_after` (seconds) becomes the `Retry-After` header."""

    status = 429
    code = "throttled"
    title = "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after
        if retry_after is not None:
            self.headers["Retry-After"] = str(max(int(retry_after), 0))


class ServiceUnavailable(ApplicationError):
    status = 503
    code = "service_unavailable"
    title = "Service unavailable"
