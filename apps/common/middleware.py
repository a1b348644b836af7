"""Request-wide middleware: request id + access log, the API's problem+json boundary, the headers Django lacks,
and Django's CommonMiddleware with the load balancer's probes answering any Host."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware, PolicyParts
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponsePermanentRedirect
from django.middleware.common import CommonMiddleware as DjangoCommonMiddleware
from django.template.loader import render_to_string
from django.urls import is_valid_path

from apps.common import request_context
from apps.common.errors import (
    DATABASE_RETRY_AFTER,
    PROBLEM_CONTENT_TYPE,
    database_unavailable_response,
    is_connection_lost,
    is_problem_path,
    log_database_unavailable,
    problem_for_status,
    problem_response,
)

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

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A database connection lost outside DRF's handler (at the request's COMMIT, or on a page): 503, not 500.

        Under ATOMIC_REQUESTS the commit runs after the view returned. A connection killed before
        the COMMIT took the transaction with it; if only the COMMIT's answer was lost, the outcome is
        unknown to the server too, and a retry with the same `Idempotency-Key` is the safe way back.
        """
        if not is_connection_lost(exception):
            return None
        log_database_unavailable(exception)
        if is_problem_path(request.path_info):
            return database_unavailable_response()
        # A page: a plain one that needs no database (the portal's own pages read their portal from it).
        page = HttpResponse(render_to_string("common/unavailable.html"), status=503)
        page["Retry-After"] = DATABASE_RETRY_AFTER
        return page

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


# The load balancer's probes: answered whatever the Host header (see CommonMiddleware).
PROBE_PATHS = frozenset({"/healthz", "/readyz"})


class CommonMiddleware(DjangoCommonMiddleware):
    """Django's `CommonMiddleware`, except on `/healthz` and `/readyz`, which answer whatever the Host says.

    A load balancer's health check (the AWS ALB's) sends the task's IP address as Host, which
    ALLOWED_HOSTS refuses (400) at the first `request.get_host()`: on a GET, the one in Django's
    `CommonMiddleware.process_request` (PREPEND_WWW). The probes reveal nothing and build no absolute
    URL, so for these exact paths that step (with DISALLOWED_USER_AGENTS and PREPEND_WWW) is skipped and
    nothing else reads the host; every other path (`/healthz/`, `/metrics`, the API, every page) still
    meets ALLOWED_HOSTS there. The probes still pass every other layer: headers, metrics, the access log.
    """

    def process_request(self, request: HttpRequest) -> HttpResponsePermanentRedirect | None:
        if request.path_info in PROBE_PATHS:
            return None
        return super().process_request(request)


# --------------------------------------------------------------------------- CSP, built once

_policies: dict[bool, str] = {}


@receiver(setting_changed)
def _forget_policies(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _policies.clear()


def _policy(parts: PolicyParts, *, report_only: bool) -> str:
    """The header for `parts`: built once when it is the settings' own policy, as django-csp would build it."""
    if parts.config is None and parts.update is None and parts.replace is None and parts.nonce is None:
        policy = _policies.get(report_only)
        if policy is None:
            policy = _policies[report_only] = build_policy(report_only=report_only)
        return policy
    return build_policy(**asdict(parts), report_only=report_only)


class ConstantCSPMiddleware(CSPMiddleware):
    """django-csp's middleware, without building the same policy string twice per response.

    django-csp rebuilds both headers (enforced and report-only) from the settings on every
    response. A response whose policy is the settings' own (no nonce used, no `@csp`,
    `@csp_update` or `@csp_replace` on its view) gets the same string every time, so it is built
    once per process, and again when a test overrides the setting. Any other response is built
    exactly as django-csp builds it. The rules of when a header is set are django-csp's own.
    """

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if response.status_code in (500, 404) and settings.DEBUG:
            return response  # django-csp leaves Django's debug pages alone
        for report_only, header, setting, exempt in (
            (False, HEADER, "CONTENT_SECURITY_POLICY", "_csp_exempt"),
            (True, HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY", "_csp_exempt_ro"),
        ):
            policy = _policy(self.get_policy_parts(request, response, report_only), report_only=report_only)
            if not policy or header in response or getattr(response, exempt, False) is not False:
                continue
            prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES", None) or ()
            if not request.path_info.startswith(tuple(prefixes)):
                response[header] = policy
        if getattr(request, "_csp_nonce", None) is None:
            # As django-csp: a nonce asked for after the header is written is an error, not a silent miss.
            request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response
