"""Billing periods: calendar months (or years) in UTC, as the offline provider and usage count them."""

from __future__ import annotations

from datetime import UTC, datetime


def add_interval(moment: datetime, *, interval: str, count: int = 1) -> datetime:
    """`moment` moved by whole months (or years), the day clamped to the target month's length."""
    months = count * (12 if interval == "year" else 1)
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    next_month = datetime(year + (month // 12), month % 12 + 1, 1, tzinfo=moment.tzinfo)
    last_day = (next_month - datetime(year, month, 1, tzinfo=moment.tzinfo)).days
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def period_bounds(now: datetime, *, interval: str = "month") -> tuple[datetime, datetime]:
    """The calendar month (or year) holding `now`, in UTC: [start, end)."""
    now = now.astimezone(UTC)
    start = datetime(now.year, 1 if interval == "year" else now.month, 1, tzinfo=UTC)
    return start, add_interval(start, interval=interval)
