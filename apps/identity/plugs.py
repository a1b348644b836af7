"""Questions identity asks that other apps answer.

Identity imports no other domain app. Billing, flows and files plug their
answers in here from their `AppConfig.ready()`: the plan catalogue, seat,
portal and storage limits, the plan's feature codes (API views gate on them
with `required_feature`), and what to do when a tenant is created. The
defaults: one `free` plan, no limits, every feature, no hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apps.identity.models import Tenant

# The plan feature identity itself gates on: creating and changing custom roles (`services.roles`).
FEATURE_CUSTOM_ROLES = "custom_roles"


@dataclass(frozen=True)
class PlanInfo:
    code: str
    name: str


@dataclass
class _Registry:
    plan_catalogue: Callable[[], dict[str, PlanInfo]] = field(
        default=lambda: {"free": PlanInfo(code="free", name="Free")}
    )
    seat_limit: Callable[[Tenant], int | None] = field(default=lambda tenant: None)
    portal_limit: Callable[[Tenant], int | None] = field(default=lambda tenant: None)
    storage_limit_bytes: Callable[[Tenant], int | None] = field(default=lambda tenant: None)
    # Bytes the tenant stores now (files answers it); billing's usage roll-up reads it.
    storage_used_bytes: Callable[[Tenant], int] = field(default=lambda tenant: 0)
    # The feature codes the tenant's plan grants; None: every feature (no plan gating).
    plan_features: Callable[[Tenant], frozenset[str] | None] = field(default=lambda tenant: None)
    tenant_created: list[Callable[[Tenant], None]] = field(default_factory=list)


plugs = _Registry()


def plans() -> dict[str, PlanInfo]:
    return plugs.plan_catalogue()


def seat_limit(tenant: Tenant) -> int | None:
    return plugs.seat_limit(tenant)


def portal_limit(tenant: Tenant) -> int | None:
    return plugs.portal_limit(tenant)


def storage_limit_bytes(tenant: Tenant) -> int | None:
    return plugs.storage_limit_bytes(tenant)


def storage_used_bytes(tenant: Tenant) -> int:
    return plugs.storage_used_bytes(tenant)


def has_feature(tenant: Tenant, code: str) -> bool:
    """Whether the tenant's plan grants the feature `code` (read fresh: a plan change shows at once)."""
    features = plugs.plan_features(tenant)
    return features is None or code in features


def on_tenant_created(hook: Callable[[Tenant], None]) -> None:
    """Register a hook run inside the transaction that creates a tenant."""
    if hook not in plugs.tenant_created:
        plugs.tenant_created.append(hook)


def tenant_created(tenant: Tenant) -> None:
    for hook in list(plugs.tenant_created):
        hook(tenant)
