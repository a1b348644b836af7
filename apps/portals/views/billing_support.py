"""What the billing page shows, assembled from billing's selectors: entitlements, usage, its chart, invoices.

No query of its own: every read is a selector of `apps.billing.selectors` (the
API's), so the page and the API cannot disagree. The invoices list pages with
an opaque cursor over the (created_at, id) order of `invoice_list`, so a page
costs the same at any depth.
"""

from __future__ import annotations

import binascii
import math
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from django.db.models import Q, QuerySet

from apps.billing.models import Invoice
from apps.billing.selectors import PlanView, previous_period, usage_daily, usage_totals, usage_view
from apps.common.exceptions import NotFound
from apps.identity.models import Tenant
from apps.portals.charts import Bar, Series, bar_chart, format_number

INVOICE_PAGE_SIZE = 20
# Days of each period the chart draws at most (a yearly plan would otherwise give hundreds of bars):
# the last ones of the previous period, the first ones of the current.
CHART_MAX_DAYS = 62
METRIC_NAMES = {"api_calls": "API calls", "seats": "Seats", "portals": "Portals", "storage_bytes": "Storage"}
CHARTED = "api_calls"


def money(cents: int, currency: str) -> str:
    """4900, "usd" → "49.00 USD"."""
    return f"{cents / 100:,.2f} {currency.upper()}"


def plan_price(plan: PlanView) -> str:
    """4900 a month → "49.00 USD a month"; a free plan → "no charge"."""
    return "no charge" if not plan.price_cents else f"{money(plan.price_cents, plan.currency)} a {plan.interval}"


def plan_label(plan: PlanView) -> str:
    """How a plan reads in a list: its name, price and interval, and its trial."""
    trial = f", {plan.trial_days}-day trial" if plan.trial_days and plan.price_cents else ""
    return f"{plan.name} ({plan_price(plan)}{trial})"


def days_left(until: datetime | None, now: datetime) -> int | None:
    """Whole days until `until`, a part day counting as one (0 once past); None without a date."""
    if until is None:
        return None
    return max(0, math.ceil((until - now).total_seconds() / 86400))


# --------------------------------------------------------------------------- entitlements and usage


@dataclass(frozen=True)
class LimitRow:
    metric: str
    name: str
    limit: int | None
    used: int | None

    @property
    def over(self) -> bool:
        return self.limit is not None and self.used is not None and self.used > self.limit


def limit_rows(limits: dict[str, int | None], metrics: dict[str, int] | None) -> list[LimitRow]:
    """The plan's limits (None: unlimited) beside what is used now (None when the viewer may not see usage)."""
    return [
        LimitRow(
            metric=name,
            name=METRIC_NAMES[name],
            limit=limits.get(name),
            used=None if metrics is None else int(metrics.get(name) or 0),
        )
        for name in ("seats", "portals", "storage_bytes")
    ]


@dataclass(frozen=True)
class UsageRow:
    metric: str
    name: str
    previous: int
    current: int


@dataclass(frozen=True)
class Usage:
    period_start: datetime
    period_end: datetime
    previous_start: datetime
    previous_end: datetime
    metrics: dict[str, int]
    rows: list[UsageRow]
    chart: str


def _days(start: datetime, end: datetime) -> list[date]:
    """The UTC days [start, end) touches (a period may begin and end mid-day)."""
    first, stop = start.date(), (end - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((stop - first).days + 1)] if end > start else []


def _day(day: date) -> str:
    return f"{day.day} {day:%b}"


def _date(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def _span(start: datetime, end: datetime) -> str:
    return f"{_date(start.date())} to {_date((end - timedelta(microseconds=1)).date())}"


def _bar(day: date, value: int, series: str) -> Bar:
    return Bar(label=_day(day), value=value, series=series, detail=f"{_date(day)}: {value:,} API calls")


def usage_of(*, tenant: Tenant, now: datetime) -> Usage:
    """The current and previous periods' totals, and the chart of API calls per day over both."""
    view = usage_view(tenant=tenant, now=now)
    start, end = view["period_start"], view["period_end"]
    prev_start, prev_end = previous_period(tenant=tenant, current_start=start)
    previous = usage_totals(tenant=tenant, period_start=prev_start)
    # Each period counted within its own bounds: the day they meet has a bar in each.
    prev_since = max(prev_start, prev_end - timedelta(days=CHART_MAX_DAYS))
    until = min(end, start + timedelta(days=CHART_MAX_DAYS))
    prev_daily = usage_daily(tenant=tenant, metric=CHARTED, since=prev_since, until=prev_end)
    daily = usage_daily(tenant=tenant, metric=CHARTED, since=start, until=until)
    prev_days, days = _days(prev_since, prev_end), _days(start, until)
    # Records are fresher than the hourly roll-up: the period's calls so far are at least what they add up to.
    metrics = dict(view["metrics"])
    metrics[CHARTED] = max(int(metrics.get(CHARTED) or 0), sum(daily.values()))
    previous[CHARTED] = max(int(previous.get(CHARTED) or 0), sum(prev_daily.values()))
    rows = [
        UsageRow(metric=m, name=name, previous=int(previous.get(m) or 0), current=int(metrics.get(m) or 0))
        for m, name in METRIC_NAMES.items()
    ]
    bars = [_bar(d, prev_daily.get(d, 0), "previous") for d in prev_days]
    bars += [_bar(d, daily.get(d, 0), "current") for d in days]
    description = (
        f"API calls per day. Previous period, {_span(prev_start, prev_end)}: "
        f"{format_number(previous[CHARTED])} in all. Current period, {_span(start, end)}: "
        f"{format_number(metrics[CHARTED])} so far."
    )
    chart = bar_chart(
        chart_id="usage-chart",
        title="API calls per day, previous and current period",
        description=description,
        bars=bars,
        series=[Series("previous", "Previous period"), Series("current", "Current period")],
        x_label="Day (UTC)",
        y_label="API calls",
    )
    return Usage(
        period_start=start,
        period_end=end,
        previous_start=prev_start,
        previous_end=prev_end,
        metrics=metrics,
        rows=rows,
        chart=chart,
    )


# --------------------------------------------------------------------------- invoices, by cursor

_SEPARATOR = "|"
MAX_CURSOR_LENGTH = 200


@dataclass(frozen=True)
class CursorPage:
    rows: list[Any]
    next_cursor: str
    is_first: bool


def cursor_encode(invoice: Invoice) -> str:
    raw = f"{invoice.created_at.isoformat()}{_SEPARATOR}{invoice.id}".encode()
    return urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(raw: str) -> tuple[datetime, UUID]:
    """The (created_at, id) position a cursor of `cursor_encode` names; the 404 page for anything else."""
    try:
        if len(raw) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        text = urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        when, _, ident = text.partition(_SEPARATOR)
        moment = datetime.fromisoformat(when)
        if moment.utcoffset() != timedelta(0):
            raise ValueError("not UTC: no cursor of ours")
        return moment, UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise NotFound("That page of invoices does not exist: start from the newest.") from exc


def invoice_page(queryset: QuerySet[Invoice], cursor: str, size: int = INVOICE_PAGE_SIZE) -> CursorPage:
    """One page of invoices, newest first, after `cursor` (the first page without one); one query."""
    if cursor:
        moment, ident = cursor_decode(cursor)
        queryset = queryset.filter(Q(created_at__lt=moment) | Q(created_at=moment, id__lt=ident))
    rows = list(queryset[: size + 1])
    following = cursor_encode(rows[size - 1]) if len(rows) > size else ""
    return CursorPage(rows=rows[:size], next_cursor=following, is_first=not cursor)
