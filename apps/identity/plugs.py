"""Questions identity asks that other apps answer.

Identity imports no other domain app. Billing, flows and files plug their
answers in here from their `AppConfig.ready()`: the plan catalogue, seat,
portal and storage limits, the plan's feature codes (API views gate on them
with `required_feature`), and what to do when a tenant is created. The
defaults: one `free` plan, no limits, every feature, no hooks.

Domain events go the other way: a service says what happened
(`domain_event(tenant=..., event="member.added", data={...})`) and every hook
registered with `on_domain_event` (integrations' outbound webhooks) runs
synchronously, in the caller's transaction, so what it writes commits or rolls
back with the change itself. Event data: ids and small facts, never secrets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apps.identity.models import Tenant

# The plan features identity itself gates on: creating and changing custom roles (`services.roles`), and
# creating API keys (`services.api_keys`; keys made on a plan that had it keep working until revoked).
FEATURE_CUSTOM_ROLES = "custom_roles"
FEATURE_API_KEYS = "api_keys"


@dataclass(frozen=True)
class PlanInfo:
    code: str
    name: str


@dataclass
class _Registry:
    plan_catalogue: Callable[[], dict[str, PlanInfo]] = field(
        default=lambda: {"free": PlanInfo(code="free", name="Free")}
    )
    # Whether a plan code names an active plan (a read the catalogue's owner may keep in the process).
    plan_known: Callable[[str], bool] = field(default=lambda code: code == "free")
    seat_limit: Callable[[Tenant], int | None] = field(default=lambda tenant: None)
    portal_limit: Callable[[Tenant], int | None] = field(default=lambda tenant: None)
    storage_limit_bytes: Callable[[Tenant], int | None] = field(default=lambda tenant: None)
    # Bytes the tenant stores now (files answers it); billing's usage roll-up reads it.
    storage_used_bytes: Callable[[Tenant], int] = field(default=lambda tenant: 0)
    # The feature codes the tenant's plan grants; None: every feature (no plan gating).
    plan_features: Callable[[Tenant], frozenset[str] | None] = field(default=lambda tenant: None)
    tenant_created: list[Callable[[Tenant], None]] = field(default_factory=list)
    domain_event: list[Callable[[Tenant, str, dict[str, Any]], None]] = field(default_factory=list)


plugs = _Registry()


def plans() -> dict[str, PlanInfo]:
    return plugs.plan_catalogue()


def plan_known(code: str) -> bool:
    return plugs.plan_known(code)


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


def on_domain_event(hook: Callable[[Tenant, str, dict[str, Any]], None]) -> None:
    """Register a hook told of every domain event, inside the transaction that caused it."""
    if hook not in plugs.domain_event:
        plugs.domain_event.append(hook)


def domain_event(*, tenant: Tenant, event: str, data: dict[str, Any]) -> None:
    """Tell the registered hooks that `event` happened in `tenant` (call it inside the write's transaction)."""
    for hook in list(plugs.domain_event):
        hook(tenant, event, data)
