"""Per-request context shared by the logger: request id, tenant, user, portal.

Kept in context variables so log lines written anywhere during a request (or a
job) carry the same fields without passing them around.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

_fields: ContextVar[dict[str, Any] | None] = ContextVar("atrium_log_fields", default=None)


def log_fields() -> dict[str, Any]:
    """The fields every log line of the current request or job carries."""
    return dict(_fields.get() or {})


def bind(**fields: Any) -> None:
    """Add fields (e.g. tenant, user, portal) to the current request's log lines."""
    current = dict(_fields.get() or {})
    current.update({k: v for k, v in fields.items() if v is not None})
    _fields.set(current)


def reset(token: Any = None) -> Any:
    """Start a fresh set of fields; returns a token for `restore`."""
    return _fields.set({})


def restore(token: Any) -> None:
    _fields.reset(token)
