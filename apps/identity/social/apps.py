"""`allauth.account`, installed for the models `allauth.socialaccount` needs, with its middleware check adapted.

allauth's own config refuses to start unless the literal
`allauth.account.middleware.AccountMiddleware` is in `MIDDLEWARE`. Atrium runs
that middleware through `apps.identity.social.middleware.AccountMiddleware`,
which skips the bearer-only API like the other browser middlewares; the check
here asks for that one instead, so neither can go missing unnoticed.
"""

from __future__ import annotations

from typing import Any

from allauth.account.apps import AccountConfig
from django.conf import settings
from django.core import checks

MIDDLEWARE_PATH = "apps.identity.social.middleware.AccountMiddleware"


def middleware_check(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    if MIDDLEWARE_PATH in settings.MIDDLEWARE:
        return []
    return [checks.Error(f"{MIDDLEWARE_PATH} must be in MIDDLEWARE (social sign-in).", id="identity.E101")]


class AllauthAccountConfig(AccountConfig):
    """allauth's account app (label `account`); its pages are never mounted."""

    def ready(self) -> None:
        from allauth.account import checks as allauth_checks  # noqa: F401 - registers allauth's settings checks

        checks.register(middleware_check)
