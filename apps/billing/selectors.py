"""Billing reads: the plan catalogue, a tenant's entitlements, subscription, usage and invoices.

Entitlements are read from the tenant row's mirror (`plan_code`,
`subscription_status`), which every request loads fresh: a plan change is seen
by the next request, with no cache to invalidate. A canceled subscription
keeps only the `free` plan's entitlements.

A plan's row (its features and limits) is kept in the process for
`PLAN_CACHE_SECONDS` (60): every feature-gated request asks for it, and the
catalogue changes only when an operator edits it (`billing_sync`, the admin of
the table), which then shows within a minute. `plan_cache_clear` empties it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final

from django.db.models import Max, QuerySet, Sum
from django.db.models.functions import TruncDate

from apps.billing.catalogue import DEFAULT_BY_CODE, DEFAULT_PLANS, FREE
from apps.billing.models import Invoice, Plan, Subscription, UsageRecord, UsageTotal
from apps.billing.periods import add_interval, period_bounds
from apps.common.exceptions import NotFound
from apps.common.tenancy import TenantLike
from apps.identity import plugs
from apps.identity.models import Portal, Tenant
from apps.identity.services.seats import seats_used

LIMIT_NAMES = ("seats", "portals", "storage_bytes")


@dataclass(frozen=True)
class PlanView:
    """A plan as the rules read it (a row of the catalogue, or the built-in default)."""

    code: str
    name: str
    price_cents: int
    currency: str
    interval: str
    trial_days: int
    features: tuple[str, ...]
    limits: dict[str, int | None] = field(hash=False)
    metered: dict[str, dict[str, int]] = field(hash=False)

    @classmethod
    def of(cls, row: Plan | dict[str, Any]) -> PlanView:
        values = row if isinstance(row, dict) else {name: getattr(row, name) for name in _PLAN_FIELDS}
        return cls(
            code=str(values["code"]),
            name=str(values["name"]),
            price_cents=int(values["price_cents"]),
            currency=str(values["currency"]),
            interval=str(values["interval"]),
            trial_days=int(values["trial_days"]),
            features=tuple(values.get("features") or ()),
            limits=dict(values.get("limits") or {}),
            metered=dict(values.get("metered") or {}),
        )


_PLAN_FIELDS = ("code", "name", "price_cents", "currency", "interval", "trial_days", "features", "limits", "metered")


def plan_list() -> QuerySet[Plan]:
    """The active plans of the catalogue, cheapest first."""
    return Plan.objects.filter(active=True).order_by("position", "code")


def plan_catalogue() -> dict[str, PlanView]:
    """Every active plan by code; the built-in catalogue when the table is empty (before seeding)."""
    rows = list(plan_list())
    if not rows:
        return {plan["code"]: PlanView.of(plan) for plan in DEFAULT_PLANS}
    return {row.code: PlanView.of(row) for row in rows}


PLAN_CACHE_SECONDS: Final = 60.0
_clock = time.monotonic  # a name of this module, so a test can move this cache's time and nobody else's
_plan_cache: dict[str, tuple[float, PlanView]] = {}
_plan_cache_lock = threading.Lock()


def plan_cache_clear() -> None:
    with _plan_cache_lock:
        _plan_cache.clear()


def plan_get(*, code: str) -> PlanView:
    """One active plan by code (kept in the process for `PLAN_CACHE_SECONDS`); 404 when there is no such plan."""
    now = _clock()
    hit = _plan_cache.get(code)
    if hit is not None and now - hit[0] < PLAN_CACHE_SECONDS:
        return hit[1]
    row = Plan.objects.filter(code=code, active=True).first()
    if row is not None:
        plan = PlanView.of(row)
    elif code in DEFAULT_BY_CODE and not Plan.objects.exists():
        plan = PlanView.of(DEFAULT_BY_CODE[code])
    else:
        raise NotFound(f"No plan {code!r}.")
    with _plan_cache_lock:
        _plan_cache[code] = (now, plan)
    return plan


def effective_plan_code(tenant: Tenant) -> str:
    """The plan whose entitlements apply: the mirrored plan, or `free` once the subscription is canceled."""
    if tenant.subscription_status == Subscription.Status.CANCELED:
        return FREE
    return tenant.plan_code or FREE


_MEMO = "_billing_entitlements"


def entitlements_for(tenant: Tenant) -> PlanView:
    """The plan the tenant's entitlements come from (fresh from its row); the free plan for an unknown code.

    Kept on the tenant object for as long as its plan code is the same: a request asks several times
    (a page's navigation asks once per feature) with the one row it loaded, and pays for one query.
    """
    code = effective_plan_code(tenant)
    memo = getattr(tenant, _MEMO, None)
    if memo is not None and memo[0] == code:
        return memo[1]  # type: ignore[no-any-return]
    try:
        plan = plan_get(code=code)
    except NotFound:
        plan = plan_get(code=FREE)
    setattr(tenant, _MEMO, (code, plan))
    return plan


def subscription_get(*, tenant: TenantLike) -> Subscription | None:
    """The tenant's subscription row, or None for a tenant made before billing ran for it."""
    return Subscription.objects.filter(tenant_id=tenant.id).first()


def usage_totals(*, tenant: TenantLike, period_start: datetime) -> dict[str, int]:
    """The rolled-up totals of one period, by metric."""
    rows = UsageTotal.objects.filter(tenant_id=tenant.id, period_start=period_start).values_list("metric", "total")
    return dict(rows)


def current_period(*, tenant: TenantLike, now: datetime) -> tuple[datetime, datetime]:
    """The subscription's current period, or the calendar month around `now` without one."""
    subscription = subscription_get(tenant=tenant)
    if subscription is not None and subscription.current_period_start <= now < subscription.current_period_end:
        return subscription.current_period_start, subscription.current_period_end
    return period_bounds(now, interval="month")


def previous_period(*, tenant: TenantLike, current_start: datetime) -> tuple[datetime, datetime]:
    """The period before the one starting at `current_start`: the last one the roll-up kept, else the month before.

    Periods are not all a calendar month (a trial, a plan change mid-month), so the
    roll-up's own rows say where the previous one began. One query.
    """
    row = (
        UsageTotal.objects.filter(tenant_id=tenant.id, period_start__lt=current_start)
        .order_by("-period_start")
        .values_list("period_start", "period_end")
        .first()
    )
    if row is not None:
        return row[0], min(row[1], current_start)
    return add_interval(current_start, interval="month", count=-1), current_start


def usage_daily(
    *, tenant: TenantLike, metric: str, since: datetime, until: datetime, peak: bool = False
) -> dict[date, int]:
    """UTC day → the metric's sum over the day's records in [`since`, `until`) (its peak reading with `peak`).

    Read from the records, not the roll-up, so a chart shows today's usage before the next roll-up. One query.
    """
    total = Max("quantity") if peak else Sum("quantity")
    rows = (
        UsageRecord.objects.filter(tenant_id=tenant.id, metric=metric, at__gte=since, at__lt=until)
        .annotate(day=TruncDate("at", tzinfo=UTC))
        .order_by()
        .values_list("day")
        .annotate(total=total)
    )
    return {day: int(value or 0) for day, value in rows}


def invoice_list(*, tenant: TenantLike) -> QuerySet[Invoice]:
    """The tenant's invoices, newest first."""
    return Invoice.objects.filter(tenant_id=tenant.id).order_by("-created_at", "-id")


def usage_gauges(*, tenant: Tenant) -> dict[str, int]:
    """The gauges as they stand now: seats held, active portals, bytes stored."""
    return {
        "seats": seats_used(tenant=tenant),
        "portals": Portal.objects.filter(tenant_id=tenant.id, active=True).count(),
        "storage_bytes": int(plugs.storage_used_bytes(tenant) or 0),
    }


def usage_view(*, tenant: Tenant, now: datetime) -> dict[str, Any]:
    """The current period's totals (as of the last roll-up), gauges raised to their reading now."""
    start, end = current_period(tenant=tenant, now=now)
    totals = usage_totals(tenant=tenant, period_start=start)
    metrics = {"seats": 0, "portals": 0, "storage_bytes": 0, "api_calls": 0} | totals
    for name, value in usage_gauges(tenant=tenant).items():
        metrics[name] = max(int(metrics.get(name) or 0), value)
    return {"period_start": start, "period_end": end, "metrics": metrics}


def entitlements_view(plan: PlanView) -> dict[str, Any]:
    return {"features": list(plan.features), "limits": {name: plan.limits.get(name) for name in LIMIT_NAMES}}


def plan_view(plan: Plan) -> dict[str, Any]:
    view = PlanView.of(plan)
    return {
        "code": view.code,
        "name": view.name,
        "price_cents": view.price_cents,
        "currency": view.currency,
        "interval": view.interval,
        "trial_days": view.trial_days,
        "features": list(view.features),
        "limits": {name: view.limits.get(name) for name in LIMIT_NAMES},
    }


def subscription_view(*, tenant: Tenant, now: datetime) -> dict[str, Any]:
    """The subscription as the API shows it; from the tenant row's mirror for a tenant without one yet."""
    subscription = subscription_get(tenant=tenant)
    entitlements = entitlements_view(entitlements_for(tenant))
    if subscription is None:
        start, end = period_bounds(now, interval="month")
        return {
            "plan": tenant.plan_code,
            "status": tenant.subscription_status,
            "trial_ends_at": None,
            "current_period_start": start,
            "current_period_end": end,
            "provider": Subscription.Provider.OFFLINE,
            "entitlements": entitlements,
        }
    return {
        "plan": subscription.plan_code,
        "status": subscription.status,
        "trial_ends_at": subscription.trial_ends_at,
        "current_period_start": subscription.current_period_start,
        "current_period_end": subscription.current_period_end,
        "provider": subscription.provider,
        "entitlements": entitlements,
    }
