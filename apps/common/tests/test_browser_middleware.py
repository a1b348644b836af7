"""The browser middlewares do nothing on the bearer-only API and everything elsewhere."""

from __future__ import annotations

import pytest
from django.http import HttpRequest, HttpResponse

from apps.common.browser_middleware import (
    AuthenticationMiddleware,
    MessageMiddleware,
    SessionMiddleware,
)

API = "/api/v1/identity/auth/me/"
PAGE = "/portal/acme/"


def _what_the_view_sees(rf, path: str) -> tuple[bool, bool, bool]:
    seen: list[tuple[bool, bool, bool]] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append((hasattr(request, "session"), hasattr(request, "user"), hasattr(request, "_messages")))
        return HttpResponse()

    SessionMiddleware(AuthenticationMiddleware(MessageMiddleware(view)))(rf.get(path))
    return seen[0]


@pytest.mark.django_db
def test_the_api_gets_no_session_user_or_messages_and_a_page_gets_all_three(rf):
    assert _what_the_view_sees(rf, API) == (False, False, False)
    assert _what_the_view_sees(rf, "/.well-known/jwks.json") == (False, False, False)
    assert _what_the_view_sees(rf, PAGE) == (True, True, True)


def test_the_settings_use_these_and_django_still_finds_its_own(settings):
    from django.contrib.sessions.middleware import SessionMiddleware as Django
    from django.utils.module_loading import import_string

    classes = [import_string(path) for path in settings.MIDDLEWARE]
    for ours in (SessionMiddleware, AuthenticationMiddleware, MessageMiddleware):
        assert ours in classes
    assert any(issubclass(cls, Django) for cls in classes)
