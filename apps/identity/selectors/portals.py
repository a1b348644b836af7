"""Reads about portals: the public face of a portal, a tenant's portals, and
`PortalView`, the shape in which the admin API shows one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from django.db.models import QuerySet

from apps.common.exceptions import NotFound
from apps.common.tenancy import TenantLike
from apps.identity import plugs
from apps.identity.models import DEFAULT_THEME, Portal, Tenant
from apps.identity.social_providers import portal_providers

# Keys of `Portal.features` that hold configuration rather than a flag (`portal_login_methods`).
CONFIG_FEATURES: Final = frozenset({"social_providers"})


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
    """How users sign in to `portal`: the password always; the social providers it offers (`social_providers`)."""
    return ["password", *(p.id for p in portal_providers(portal=portal))]


def portal_feature_on(*, portal: Portal, code: str) -> bool:
    """Whether feature `code` is on in `portal`: its tenant's plan grants it and the portal has not switched it off.

    A portal flag only switches a feature off (`features: {code: false}`); it cannot grant what the plan
    does not. Read from the portal row the request loaded, so a plan change or a flag shows at the next request.
    """
    if portal.features.get(code) is False:
        return False
    return plugs.has_feature(portal.tenant, code)


def portal_list(*, tenant: TenantLike) -> QuerySet[Portal]:
    """The tenant's portals, oldest first (the order of the tenant/created index).

    Portals are a global table, so the tenant is named in the query rather than
    taken from a scoped manager.
    """
    return Portal.objects.filter(tenant_id=tenant.id).order_by("created_at", "id")


@dataclass(frozen=True)
class PortalView:
    """A portal as the admin API shows it: theme filled in, only boolean feature flags."""

    slug: str
    name: str
    theme: dict[str, str]
    admitted_roles: list[str]
    signup_policy: str
    mfa_required: bool
    features: dict[str, bool]
    active: bool


def portal_view(portal: Portal) -> PortalView:
    theme = portal.theme if isinstance(portal.theme, dict) else {}
    features = portal.features if isinstance(portal.features, dict) else {}
    return PortalView(
        slug=portal.slug,
        name=portal.name,
        theme={
            "primary_color": str(theme.get("primary_color") or DEFAULT_THEME["primary_color"]),
            "logo_url": str(theme.get("logo_url") or DEFAULT_THEME["logo_url"]),
        },
        admitted_roles=[str(r) for r in (portal.admitted_roles or [])],
        signup_policy=portal.signup_policy,
        mfa_required=portal.mfa_required,
        # Non-boolean entries (e.g. `social_providers`) are configuration, not flags.
        features={str(k): v for k, v in features.items() if isinstance(v, bool) and k not in CONFIG_FEATURES},
        active=portal.active,
    )
