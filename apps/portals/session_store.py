"""Per-portal sign-ins in the browser's Django session.

One cookie, one Django session, and inside it one entry per portal the browser
has signed in to: the claims of that portal's browser session
(`identity.services.browser_sessions`). A page of portal `p` reads only the
entry for `p`, so signing in to one portal signs nobody in to another, even of
the same tenant. Signing in or out rotates the session key (no fixation).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

_SIGNED_IN = "atrium.portals"
_MFA = "atrium.mfa"


def _entries(request: HttpRequest, key: str) -> dict[str, Any]:
    value = request.session.get(key)
    return value if isinstance(value, dict) else {}


def claims_get(request: HttpRequest, slug: str) -> dict[str, Any] | None:
    claims = _entries(request, _SIGNED_IN).get(slug)
    return claims if isinstance(claims, dict) else None


def claims_keep(request: HttpRequest, slug: str, claims: dict[str, Any], *, rotate: bool) -> None:
    """Store (or replace) the portal's claims; `rotate` at sign-in gives the browser a new session key."""
    if rotate:
        request.session.cycle_key()
    entries = _entries(request, _SIGNED_IN)
    entries[slug] = claims
    request.session[_SIGNED_IN] = entries
    pending = _entries(request, _MFA)
    if pending.pop(slug, None) is not None:
        request.session[_MFA] = pending


def claims_forget(request: HttpRequest, slug: str, *, rotate: bool) -> None:
    entries = _entries(request, _SIGNED_IN)
    if entries.pop(slug, None) is not None:
        request.session[_SIGNED_IN] = entries
    if rotate:
        request.session.cycle_key()


def mfa_pending_get(request: HttpRequest, slug: str) -> dict[str, Any] | None:
    """The sign-in waiting for its second factor on this portal: `{"token", "enrol"}`."""
    pending = _entries(request, _MFA).get(slug)
    return pending if isinstance(pending, dict) and isinstance(pending.get("token"), str) else None


def mfa_pending_keep(request: HttpRequest, slug: str, *, token: str, enrol: bool) -> None:
    pending = _entries(request, _MFA)
    pending[slug] = {"token": token, "enrol": enrol}
    request.session[_MFA] = pending


def mfa_pending_forget(request: HttpRequest, slug: str) -> None:
    pending = _entries(request, _MFA)
    if pending.pop(slug, None) is not None:
        request.session[_MFA] = pending
