"""RFC 9457 problem+json for every API error, including Django's own 404 and 500.

`type` is a stable URI per error kind, `title` its short name, `status` the
HTTP status, `detail` the human explanation; validation errors add
`errors: {field: [messages]}`. No traceback ever leaves the server.

A problem body is JSON whatever the endpoint renders on success (the OpenAPI
view's YAML, say): `ProblemResponse` always renders with the JSON renderer.
Django's own answers on the API (its debug pages, a CSRF refusal, an empty
405) are rewritten by `apps.common.middleware.ApiProblemMiddleware`, using
`problem_for_status` below.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views import defaults
from rest_framework import exceptions as drf_exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from apps.common.exceptions import ApplicationError

logger = logging.getLogger("atrium.errors")
security_logger = logging.getLogger("django.security")

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://atrium.dev/problems/"

_TITLES = {
    400: "Invalid request",
    401: "Not authenticated",
    403: "Permission denied",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}

# Problem code and detail for an error status when nothing more specific is known.
_GENERIC: dict[int, tuple[str, str]] = {
    400: ("bad_request", "The request could not be understood."),
    401: ("not_authenticated", "Authentication is required."),
    403: ("permission_denied", "You do not have permission for this."),
    404: ("not_found", "No resource at this address."),
    405: ("method_not_allowed", "This method is not allowed here; see the Allow header."),
    406: ("not_acceptable", "The API answers in JSON only."),
    413: ("request_too_large", "The request body is larger than the server accepts."),
    415: ("unsupported_media_type", "The API reads JSON bodies only."),
    429: ("throttled", "Too many requests; see Retry-After."),
    500: ("server_error", "An unexpected error occurred; it has been logged."),
    503: ("service_unavailable", "The service is unavailable; try again in a moment."),
}


_MEMBERS = frozenset({"type", "title", "status", "detail", "instance"})


def problem(status: int, *, code: str, detail: str, title: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"{TYPE_BASE}{code}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    # Extension members never overwrite the standard ones (a stray `status=` would lie about the response).
    body.update({k: v for k, v in extra.items() if v is not None and k not in _MEMBERS})
    return body


def problem_for_status(status: int, *, detail: str | None = None) -> dict[str, Any]:
    """A problem body for an error status alone (Django's answers carry no code of ours)."""
    code, generic = _GENERIC.get(status, ("server_error" if status >= 500 else "error", "Request failed."))
    return problem(status, code=code, detail=detail or generic)


class ProblemResponse(Response):
    """A DRF response rendered as problem+json by the JSON renderer, whatever the view negotiated.

    DRF renders an error with the renderer the view chose for success; for the
    schema view that is YAML, so a 405 there was not JSON at all.
    """

    def __init__(self, data: dict[str, Any], *, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(data, status=status, headers=headers, content_type=PROBLEM_CONTENT_TYPE)

    @property
    def rendered_content(self) -> Any:  # bytes, as DRF's (the stubs say str)
        self.accepted_renderer = JSONRenderer()
        self.accepted_media_type = JSONRenderer.media_type
        context: dict[str, Any] = getattr(self, "renderer_context", None) or {}
        self.renderer_context = context
        return super().rendered_content


def _field_name(prefix: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"  # DRF keys a list's failing items by their index
    return f"{prefix}.{key}" if prefix else str(key)


def flatten_errors(data: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error dicts/lists become `{field: [messages]}`: `address.city`, `items[1].sku`."""
    out: dict[str, list[str]] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            name = _field_name(prefix, key)
            for field, messages in flatten_errors(value, name).items():
                out.setdefault(field, []).extend(messages)
    elif isinstance(data, list):
        if all(not isinstance(v, (dict, list)) for v in data):
            out[prefix or "non_field_errors"] = [str(v) for v in data]
        else:
            for index, value in enumerate(data):
                for field, messages in flatten_errors(value, f"{prefix}[{index}]").items():
                    out.setdefault(field, []).extend(messages)
    else:
        out[prefix or "non_field_errors"] = [str(data)]
    return out


# SQLSTATEs of a connection that went away: class 08 (connection exception), and the server shutting down
# (57P01 admin_shutdown, what pg_terminate_backend and a restart send; 57P02 crash; 57P03 cannot connect now).
_LOST_SQLSTATES = ("08", "57P01", "57P02", "57P03")
_NO_SQLSTATE = object()
DATABASE_RETRY_AFTER = "5"
# The documented 503 of the API (docs/api.md): `service_unavailable`, "retry later".
DATABASE_UNAVAILABLE = problem(
    503, code="service_unavailable", detail="The database is unavailable; try again in a moment."
)


def is_connection_lost(exc: BaseException) -> bool:
    """A database error that means the server (or the way to it) is gone, not that the query was wrong.

    Deadlocks, timeouts and constraint errors keep their own handling; a driver error
    without a SQLSTATE is the client's side failing (refused, reset, closed).
    """
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", _NO_SQLSTATE)
    if sqlstate is _NO_SQLSTATE:
        return False  # not a PostgreSQL driver error (SQLite's locked or missing table)
    return sqlstate is None or str(sqlstate).startswith(_LOST_SQLSTATES)


def log_database_unavailable(exc: BaseException) -> None:
    logger.warning("database_unavailable", extra={"error": type(exc.__cause__ or exc).__name__})


def database_unavailable_response() -> JsonResponse:
    """The 503 of a lost database connection, outside DRF (the request's COMMIT under ATOMIC_REQUESTS)."""
    response = JsonResponse(DATABASE_UNAVAILABLE, status=503, content_type=PROBLEM_CONTENT_TYPE)
    response["Retry-After"] = DATABASE_RETRY_AFTER
    return response


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: every error is problem+json; unexpected ones are 500s."""
    if isinstance(exc, ApplicationError):
        # Like DRF's own handler: a refused request must not commit what it wrote before refusing.
        set_rollback()
        body = problem(exc.status, code=exc.code, detail=exc.detail, title=exc.title, errors=exc.errors)
        body.update({k: v for k, v in exc.extra.items() if v is not None and k not in _MEMBERS | {"errors"}})
        return ProblemResponse(body, status=exc.status, headers=exc.headers or None)
    if isinstance(exc, SuspiciousOperation):
        # Django answers these 400 (a body over DATA_UPLOAD_MAX_MEMORY_SIZE: 413 here) outside DRF;
        # inside a DRF view they would otherwise be "unexpected" 500s.
        set_rollback()
        security_logger.warning("suspicious_request: %s", type(exc).__name__)
        status = 413 if isinstance(exc, RequestDataTooBig) else 400
        return ProblemResponse(problem_for_status(status), status=status)
    if is_connection_lost(exc):
        # A database restart or failover, not a bug: the transaction is gone with the connection (nothing
        # of it was written), and the next request opens a new one. Retryable, as the client is told.
        set_rollback()
        log_database_unavailable(exc)
        return ProblemResponse(dict(DATABASE_UNAVAILABLE), status=503, headers={"Retry-After": DATABASE_RETRY_AFTER})
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        # The exception stops here instead of reaching Django, so roll back as Django would have.
        set_rollback()
        logger.error("unhandled_exception", exc_info=exc)
        return ProblemResponse(problem_for_status(500), status=500)

    assert isinstance(exc, drf_exceptions.APIException)
    status = response.status_code
    errors = None
    if isinstance(exc, drf_exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        detail = "The request has invalid fields; see `errors`."
        code = "validation_error"
    else:
        detail = str(exc.detail) if not isinstance(exc.detail, (dict, list)) else "Request failed."
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
    # DRF's response carries the headers its exception asked for (WWW-Authenticate, Retry-After, Allow).
    headers = {name: value for name, value in response.items() if name.lower() != "content-type"}
    return ProblemResponse(problem(status, code=code, detail=detail, errors=errors), status=status, headers=headers)


PROBLEM_PATHS = ("/api/", "/.well-known/")


def is_problem_path(path: str) -> bool:
    """Paths whose every error is problem+json: the API and the well-known documents."""
    return path.startswith(PROBLEM_PATHS)


def _is_api(request: HttpRequest) -> bool:
    return is_problem_path(request.path)


def problem_response(status: int, *, code: str, detail: str) -> JsonResponse:
    return JsonResponse(problem(status, code=code, detail=detail), status=status, content_type=PROBLEM_CONTENT_TYPE)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        status = 413 if isinstance(exception, RequestDataTooBig) else 400
        return problem_response(status, code=_GENERIC[status][0], detail=_GENERIC[status][1])
    return defaults.bad_request(request, exception or Exception())


def _unread_body_left_out(request: HttpRequest) -> None:
    """Django's 403 and 404 pages take a CSRF token (`requires_csrf_token`), which reads a POST's form.

    A body past DATA_UPLOAD_MAX_MEMORY_SIZE, or a broken multipart one, raised there: a POST of 3 MB to
    an unknown path was a 500. The page does not need the body, so one that cannot be read counts as empty.
    """
    try:
        request.POST  # noqa: B018 - parse it once, here, where its failure can be caught
    except (SuspiciousOperation, MultiPartParserError):
        request._mark_post_parse_error()  # type: ignore[attr-defined]  # Django's own "empty form" state


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return problem_response(403, code="permission_denied", detail="You do not have permission for this.")
    _unread_body_left_out(request)
    return defaults.permission_denied(request, exception or DjangoPermissionDenied())


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return problem_response(404, code="not_found", detail="No resource at this address.")
    _unread_body_left_out(request)
    return defaults.page_not_found(request, exception or Http404())


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return problem_response(500, code="server_error", detail="An unexpected error occurred; it has been logged.")
    return defaults.server_error(request)
