"""The portal's navigation: only what the signed-in member may open.

Each entry names a page by its URL; whether it shows is decided by the
permission *that page declares* (`PortalPage.permission`), read from the page
class behind the URL, so the link and the server-side check cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.http import HttpRequest
from django.urls import resolve, reverse

from apps.identity.models import Portal
from apps.identity.rbac.request_checks import request_permissions

# A page any signed-in member of the portal may open (the dashboard, their own security settings).
SIGNED_IN = "signed-in"

# (label, URL name) in the order they appear. Part 2 of the portal adds onboarding, billing and files.
ENTRIES: tuple[tuple[str, str], ...] = (
    ("Dashboard", "dashboard"),
    ("Members", "members"),
    ("Invitations", "invitations"),
    ("Security", "security"),
    ("Profile", "profile"),
)


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    current: bool


@cache
def page_permission(name: str) -> str:
    """The permission the page behind URL `name` declares (resolved once per process)."""
    match = resolve(reverse(f"portals:{name}", kwargs={"slug": "x"}))
    view_class = getattr(match.func, "view_class", None)
    return str(getattr(view_class, "permission", ""))


def navigation(request: HttpRequest, portal: Portal) -> list[NavItem]:
    held = request_permissions(request)
    items = []
    for label, name in ENTRIES:
        needed = page_permission(name)
        if needed == SIGNED_IN or needed in held:
            url = reverse(f"portals:{name}", kwargs={"slug": portal.slug})
            items.append(NavItem(label=label, url=url, current=request.path == url))
    return items
