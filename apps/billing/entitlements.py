"""Billing's answers to identity's plugs: the catalogue, and each tenant's limits and features.

Each answer reads the tenant row it is given (its mirrored plan and status,
loaded fresh by the request or locked by the service asking) and the plan's
catalogue row: a plan change is seen at the next request.
"""

from __future__ import annotations

from apps.billing.selectors import entitlements_for, plan_catalogue, plan_get
from apps.common.exceptions import NotFound
from apps.identity.models import Tenant
from apps.identity.plugs import PlanInfo


def plan_infos() -> dict[str, PlanInfo]:
    return {code: PlanInfo(code=code, name=plan.name) for code, plan in plan_catalogue().items()}


def plan_known(code: str) -> bool:
    """Whether `code` is an active plan (`plan_get`: kept in the process for PLAN_CACHE_SECONDS)."""
    try:
        plan_get(code=code)
    except NotFound:
        return False
    return True


def _limit(tenant: Tenant, name: str) -> int | None:
    value = entitlements_for(tenant).limits.get(name)
    return int(value) if value is not None else None


def seat_limit(tenant: Tenant) -> int | None:
    return _limit(tenant, "seats")


def portal_limit(tenant: Tenant) -> int | None:
    return _limit(tenant, "portals")


def storage_limit_bytes(tenant: Tenant) -> int | None:
    return _limit(tenant, "storage_bytes")


def plan_features(tenant: Tenant) -> frozenset[str]:
    return frozenset(entitlements_for(tenant).features)
