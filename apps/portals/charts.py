"""Server-rendered SVG charts: accessible inline markup, no script and no inline style.

Pure Python (no Django, no database): a page hands over numbers and labels and
puts the returned markup in its template with `|safe`, which is sound because
every label and value is escaped here. The chart is one `<svg role="img">`
named by its `<title>` and `<desc>` (what a screen reader announces: give the
totals in `description`); each bar carries a `<title>` with its exact value
(a tooltip when hovered). Colours come from classes styled in portal.css
(`chart-*`), sizes and anchors from SVG presentation attributes, so the CSP's
`style-src 'self'` holds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

_NOT_A_NAME = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class Series:
    """One kind of bar: `key` becomes the class `chart-series-<key>`, `label` the legend's text."""

    key: str
    label: str


@dataclass(frozen=True)
class Bar:
    """One bar: its x-axis `label`, its `value`, the `series` key it belongs to, and its tooltip (`detail`)."""

    label: str
    value: float
    series: str
    detail: str = ""


def format_number(value: float) -> str:
    """1234 → "1,234"; 2.5 → "2.5": what axis ticks and default tooltips show."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _name(raw: str) -> str:
    """A safe piece of an id or class name: lower case letters, digits and '-'."""
    return _NOT_A_NAME.sub("-", raw.lower()).strip("-") or "x"


def _clean(value: float) -> float:
    """What a bar can draw: NaN, infinities and negatives are drawn as 0 (the tooltip keeps the given value)."""
    return float(value) if isinstance(value, int | float) and math.isfinite(value) and value > 0 else 0.0


def nice_step(top: float, ticks: int = 4) -> float:
    """A round tick step (1, 2 or 5 times a power of ten, at least 1) so that `ticks` steps reach `top`."""
    raw = max(top / max(ticks, 1), 1.0)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return float(factor * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _t(value: float) -> str:
    """A coordinate: at most two decimals, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    bars: Sequence[Bar],
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    width: int = 640,
    height: int = 260,
    max_x_labels: int = 8,
    number: Callable[[float], str] = format_number,
) -> str:
    """An accessible SVG bar chart as markup (every text escaped); bars in the given order, left to right."""
    ident = _name(chart_id)
    left, right, top, bottom = 64, 12, 32, 48
    plot_w, plot_h = max(width - left - right, 1), max(height - top - bottom, 1)
    highest = max((_clean(bar.value) for bar in bars), default=0.0)
    step = nice_step(highest)
    axis_top = step * max(math.ceil(highest / step), 1)
    base_y = top + plot_h

    def y_of(value: float) -> float:
        return base_y - plot_h * (value / axis_top)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{ident}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{ident}-title {ident}-desc">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
        '<g class="chart-legend">',
    ]
    x = float(left)
    for item in series:
        out.append(f'<rect class="chart-series-{_name(item.key)}" x="{_t(x)}" y="8" width="12" height="12"/>')
        out.append(f'<text x="{_t(x + 18)}" y="18">{escape(item.label)}</text>')
        x += 18 + 8 * len(item.label) + 24
    out.append("</g>")

    out.append('<g class="chart-grid">')
    tick = 0.0
    while tick <= axis_top + 1e-9:
        line_y = _t(y_of(tick))
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{line_y}" y2="{line_y}"/>')
        tick += step
    out.append("</g>")

    out.append('<g class="chart-axis chart-axis-y">')
    tick = 0.0
    while tick <= axis_top + 1e-9:
        out.append(f'<text x="{left - 6}" y="{_t(y_of(tick) + 4)}" text-anchor="end">{escape(number(tick))}</text>')
        tick += step
    middle = top + plot_h / 2
    out.append(
        f'<text class="chart-axis-label" x="14" y="{_t(middle)}" text-anchor="middle" '
        f'transform="rotate(-90 14 {_t(middle)})">{escape(y_label)}</text>'
    )
    out.append("</g>")

    out.append('<g class="chart-bars">')
    slot = plot_w / max(len(bars), 1)
    bar_w = max(slot * 0.8, 1.0)
    for index, bar in enumerate(bars):
        value = _clean(bar.value)
        y = y_of(value)
        detail = bar.detail or f"{bar.label}: {number(bar.value) if math.isfinite(bar.value) else bar.value}"
        x = left + index * slot + (slot - bar_w) / 2
        box = f'x="{_t(x)}" y="{_t(y)}" width="{_t(bar_w)}" height="{_t(base_y - y)}"'
        out.append(
            f'<rect class="chart-bar chart-series-{_name(bar.series)}" {box} data-value="{escape(str(bar.value))}">'
            f"<title>{escape(detail)}</title></rect>"
        )
    out.append("</g>")

    out.append('<g class="chart-axis chart-axis-x">')
    out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{_t(base_y)}" y2="{_t(base_y)}"/>')
    every = max(math.ceil(len(bars) / max(max_x_labels, 1)), 1)
    for index, bar in enumerate(bars):
        if index % every == 0:
            centre = left + index * slot + slot / 2
            out.append(f'<text x="{_t(centre)}" y="{_t(base_y + 16)}" text-anchor="middle">{escape(bar.label)}</text>')
    if not bars:
        out.append(f'<text x="{_t(left + plot_w / 2)}" y="{_t(top + plot_h / 2)}" text-anchor="middle">No data</text>')
    out.append(
        f'<text class="chart-axis-label" x="{_t(left + plot_w / 2)}" y="{height - 6}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    out.append("</g></svg>")
    return "".join(out)
