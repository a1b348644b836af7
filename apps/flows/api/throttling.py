"""The analytics throttle: the project's scoped throttle, counted per user instead of per client IP.

Tracking is called by signed-in clients, many of them behind one office NAT:
per user is the fair unit. The scope (`analytics`) and its rate live in
`config/settings/drf.py` like every other scope (`ATRIUM_THROTTLE_RATES` overrides).
"""

from __future__ import annotations

from rest_framework.request import Request

from apps.identity.throttling import ScopedAuthThrottle

ANALYTICS = "analytics"


class PerUserThrottle(ScopedAuthThrottle):
    """`view.throttle_scope` requests per authenticated user per window (per IP for an anonymous call)."""

    def get_ident(self, request: Request) -> str:
        user_id = getattr(getattr(request, "auth", None), "user_id", None)
        return f"user:{user_id}" if user_id is not None else super().get_ident(request)
