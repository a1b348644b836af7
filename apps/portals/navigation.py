"""The portal's navigation: only what the signed-in member may open.

Each entry names a page by its URL; whether it shows is decided by the
permission and the feature *that page declares* (`PortalPage.permission`,
`PortalPage.feature`), read from the page class behind the URL, so the link and
the server-side check cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.http import HttpRequest
from django.urls import resolve, reverse

from apps.identity.models import Portal
from apps.identity.rbac.request_checks import request_permissions
from apps.identity.selectors.portals import portal_feature_on

# A page any signed-in member of the portal may open (the dashboard, their own security settings).
SIGNED_IN = "signed-in"

# (label, URL name) in the order they appear.
ENTRIES: tuple[tuple[str, str], ...] = (
    ("Dashboard", "dashboard"),
    # -- onboarding --
    ("Onboarding", "onboarding"),
    ("Members", "members"),
    ("Invitations", "invitations"),
    # -- roles --
    ("Roles", "roles"),
    # -- files --
    ("Files", "files"),
    # -- billing --
    ("Billing", "billing"),
    ("API keys", "api-keys"),
    ("Webhooks", "webhooks"),
    # -- settings --
    ("Settings", "settings"),
    ("Security", "security"),
    ("Profile", "profile"),
)


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    current: bool


@cache
def page_requirements(name: str) -> tuple[str, str]:
    """(permission, feature) the page behind URL `name` declares (resolved once per process)."""
    match = resolve(reverse(f"portals:{name}", kwargs={"slug": "x"}))
    view_class = getattr(match.func, "view_class", None)
    return str(getattr(view_class, "permission", "")), str(getattr(view_class, "feature", ""))


def page_permission(name: str) -> str:
    return page_requirements(name)[0]


def navigation(request: HttpRequest, portal: Portal) -> list[NavItem]:
    held = request_permissions(request)
    items = []
    for label, name in ENTRIES:
        needed, feature = page_requirements(name)
        if feature and not portal_feature_on(portal=portal, code=feature):
            continue
        if needed == SIGNED_IN or needed in held:
            url = reverse(f"portals:{name}", kwargs={"slug": portal.slug})
            items.append(NavItem(label=label, url=url, current=request.path == url))
    return items
