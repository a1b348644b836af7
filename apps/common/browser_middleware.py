"""Django's browser middlewares, skipped on the bearer-only API.

Sessions, `request.user` from the session and messages serve the portal
pages, which sign people in with a cookie. The API (`/api/`, `/.well-known/`)
authenticates every request with a bearer token and sets no cookie, so there
these layers only cost time: each class here is Django's own, doing nothing
for an API path and everything it always does elsewhere. Subclasses, so
Django's checks that look for the originals still find them. CSRF stays
Django's own class by name (`check --deploy` looks for that exact entry); API
views are exempt, so it returns at once there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest

from apps.common.errors import is_problem_path


class _BrowserOnly:
    get_response: Callable[[HttpRequest], Any]

    def __call__(self, request: HttpRequest) -> Any:
        if is_problem_path(request.path_info):
            return self.get_response(request)
        return super().__call__(request)  # type: ignore[misc]


class SessionMiddleware(_BrowserOnly, DjangoSessionMiddleware):
    pass


class AuthenticationMiddleware(_BrowserOnly, DjangoAuthenticationMiddleware):
    pass


class MessageMiddleware(_BrowserOnly, DjangoMessageMiddleware):
    pass
