"""Refuse to start a production process on development defaults."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from config import env as E


def check_production_settings() -> None:
    if E.DEBUG:
        return
    if E.SECRET_KEY.strip() == E.DEV_SECRET_KEY or len(E.SECRET_KEY.strip()) < 32:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set to a random value of at least 32 characters when "
            'DJANGO_DEBUG is false (generate one with: python -c "import secrets; print(secrets.token_urlsafe(50))").'
        )
    if not [host for host in E.ALLOWED_HOSTS if host.strip()]:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS must list the host names this server answers to when DJANGO_DEBUG is false "
            "(comma-separated, e.g. ALLOWED_HOSTS=portal.example.com)."
        )
    _check_shared_store()


_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _check_shared_store() -> None:
    """Revocation marks, lockouts, throttles and the RBAC version must be seen by every process.

    Without REDIS_URL the cache is a directory of files on this machine
    (`config.cache.SharedFileCache`): the server and the operator's `manage.py`
    commands share it, but a second server does not, and it was not built for a
    fleet's load. Production therefore needs Redis, unless the operator declares
    this the only process serving requests (ATRIUM_SINGLE_PROCESS=true, e.g. one
    sync worker on a small box). The test run (ATRIUM_TESTING) is one process
    per test database, on a memory cache.
    """
    if E.REDIS_URL:
        if not E.REDIS_URL.startswith(_REDIS_SCHEMES):
            raise ImproperlyConfigured(
                "REDIS_URL must be a redis://, rediss:// or unix:// URL (e.g. REDIS_URL=redis://127.0.0.1:6379/0)."
            )
        return
    if E.SINGLE_PROCESS or E.TESTING:
        return
    raise ImproperlyConfigured(
        "REDIS_URL must be set when DJANGO_DEBUG is false: token revocation, lockout, throttles and role changes "
        "live in the cache, and the embedded file cache is not shared between servers "
        "(set REDIS_URL=redis://host:6379/0, or ATRIUM_SINGLE_PROCESS=true if exactly one process serves requests)."
    )
