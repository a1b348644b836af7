"""Root test configuration: service markers, and fixtures shared by every app."""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.db import connection

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _postgres_available() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def _redis_available() -> bool:
    return bool(settings.REDIS_URL)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests that need PostgreSQL or Redis say so when skipped; CI refuses to skip them."""
    needs = {
        "postgres": (_postgres_available, "needs PostgreSQL: set DATABASE_URL=postgres://..."),
        "redis": (_redis_available, "needs Redis: set REDIS_URL=redis://..."),
    }
    for marker, (available, reason) in needs.items():
        if item.get_closest_marker(marker) and not available():
            if IN_CI:
                pytest.fail(f"CI must not skip this test: {reason}", pytrace=False)
            pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: pytest.FixtureRequest) -> None:
    """Argon2 is deliberately slow; tests that count hashes use the real setting explicitly."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def pg_connection() -> object:
    if not _postgres_available():
        pytest.skip("needs PostgreSQL")
    return connection
