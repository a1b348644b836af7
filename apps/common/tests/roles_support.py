"""Running Django's own connection as another database role (as gunicorn or a worker logs in)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections


@contextmanager
def django_as(role: str) -> Iterator[None]:
    """Django's default connection logs in as `role` for the block (as gunicorn or a worker would)."""
    conn = connections[DEFAULT_DB_ALIAS]
    saved = conn.settings_dict["USER"]
    conn.close()
    conn.settings_dict["USER"] = role
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict["USER"] = saved
