"""allauth's `AccountMiddleware`, skipped on the bearer-only API (`/api/`, `/.well-known/`).

It binds the request for allauth's code (`allauth.core.context`) and turns
allauth's `ImmediateHttpResponse` into its response. Only the social sign-in
pages and callbacks need it; the API pays nothing for it, as for the other
browser middlewares (`apps.common.browser_middleware`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from allauth.account.middleware import AccountMiddleware as AllauthAccountMiddleware
from django.http import HttpRequest, HttpResponseBase

from apps.common.errors import is_problem_path


class AccountMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.allauth = AllauthAccountMiddleware(get_response)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if is_problem_path(request.path_info):
            return self.get_response(request)
        response: HttpResponseBase = self.allauth(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        if is_problem_path(request.path_info):
            return None
        return self.allauth.process_exception(request, exception)
