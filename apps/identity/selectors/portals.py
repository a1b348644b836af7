"""Reads about portals: the public face of a portal, a tenant's portals."""

from __future__ import annotations

from apps.common.exceptions import NotFound
from apps.identity.models import Portal, Tenant


def portal_get_public(*, slug: str) -> Portal:
    """An active portal of an active tenant by slug, or NotFound (unknown and inactive look alike)."""
    portal = (
        Portal.objects.select_related("tenant")
        .filter(slug=slug, active=True)
        .exclude(tenant__status=Tenant.Status.OFFBOARDED)
        .first()
    )
    if portal is None:
        raise NotFound("No portal with this slug.")
    return portal


def portal_login_methods(*, portal: Portal) -> list[str]:
    """How users sign in to `portal`: the password always; social providers when configured."""
    methods = ["password"]
    methods.extend(str(p) for p in portal.features.get("social_providers", []) if isinstance(p, str))
    return methods
