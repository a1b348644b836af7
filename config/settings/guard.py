"""Refuse to start a production process on development defaults."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from config import env as E


def check_production_settings() -> None:
    if E.DEBUG:
        return
    if not E.SECRET_KEY or E.SECRET_KEY == E.DEV_SECRET_KEY or len(E.SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set to a random value of at least 32 characters when "
            'DJANGO_DEBUG is false (generate one with: python -c "import secrets; print(secrets.token_urlsafe(50))").'
        )
    if not E.ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS must list the host names this server answers to when DJANGO_DEBUG is false "
            "(comma-separated, e.g. ALLOWED_HOSTS=portal.example.com)."
        )
