"""Request-wide middleware: request id + access log, and the headers Django lacks."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from apps.common import request_context

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
