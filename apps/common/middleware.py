"""Request-wide middleware: request id + access log, the API's problem+json boundary, the headers Django lacks."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import is_valid_path

from apps.common import request_context
from apps.common.errors import PROBLEM_CONTENT_TYPE, is_problem_path, problem_for_status, problem_response

access_log = logging.getLogger("atrium.request")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,128}")


class RequestContextMiddleware:
    """Gives each request an id (kept from `X-Request-ID` when well-formed) and logs one line.

    The line carries method, path, status and duration, plus tenant/user/portal
    when later layers bind them. Query strings are not logged: they may carry tokens.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        # fullmatch: `$` alone would also accept a trailing newline (log/header injection).
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_context.reset()
        request_context.bind(request_id=request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            access_log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            return response
        finally:
            request_context.restore(token)


class ApiProblemMiddleware:
    """Under `/api/` and `/.well-known/`, every answer to bad input is problem+json, in debug or not.

    Sits right inside `RequestContextMiddleware`, outside everything else:
    - a body over `DATA_UPLOAD_MAX_MEMORY_SIZE` is 413 before any layer reads it
      (Django's check would raise inside the view: a 500). Multipart bodies are
      left to the endpoint: an upload has its own, larger limit;
    - API paths are exact: a path that only exists with a trailing slash is 404,
      naming the right one. `APPEND_SLASH` would answer 301 (the client then
      re-sends a POST as a GET, without its body) or, in debug, raise on a POST;
    - any other error that reaches here not as problem+json (Django's debug 404
      and 500 pages, a CSRF refusal, a plain `HttpResponseNotAllowed`) is
      rewritten as the problem of its status, keeping its headers (`Allow`, …).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_problem_path(request.path_info):
            return self.get_response(request)
        refused = self._refuse(request)
        response = refused if refused is not None else self.get_response(request)
        if response.status_code >= 400 and not response.streaming and not _is_problem(response):
            _rewrite_as_problem(response)
        return response

    def _refuse(self, request: HttpRequest) -> HttpResponse | None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and _content_length(request) > limit and not _is_multipart(request):
            return problem_response(
                413, code="request_too_large", detail=f"The request body is larger than {limit} bytes."
            )
        path = request.path_info
        urlconf = getattr(request, "urlconf", None)
        if not path.endswith("/") and not is_valid_path(path, urlconf) and is_valid_path(f"{path}/", urlconf):
            return problem_response(
                404,
                code="not_found",
                detail=f"No resource at this address; API paths end with a slash: {request.path}/",
            )
        return None


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0  # not a length: the parsers treat the body as absent, as Django does


def _is_multipart(request: HttpRequest) -> bool:
    return request.META.get("CONTENT_TYPE", "").lower().startswith("multipart/")


def _is_problem(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip() == PROBLEM_CONTENT_TYPE


def _rewrite_as_problem(response: HttpResponse) -> None:
    response.content = json.dumps(problem_for_status(response.status_code)).encode()
    response["Content-Type"] = PROBLEM_CONTENT_TYPE
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))


class SecurityHeadersMiddleware:
    """Headers `SecurityMiddleware` and django-csp do not set: Permissions-Policy, CORP."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        response.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        response.setdefault("X-Content-Type-Options", "nosniff")
        return response
