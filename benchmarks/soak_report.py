"""`make soak`'s verdict and its pictures: RSS per worker over time, growth after warm-up, the SVG.

Pure functions of the samples (no processes, no database), so the verdict is tested on its own
(tests/test_soak_smoke.py) and the soak run only collects numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

COLOURS = ("#1c7ed6", "#e8590c", "#2f9e44", "#ae3ec9", "#f08c00", "#0c8599", "#c2255c", "#5c940d")


@dataclass(frozen=True)
class Sample:
    """One look at the workers: seconds since the load began, and each worker's RSS in MB."""

    t: float
    rss: dict[int, float]


def worker_rss(samples: list[Sample], warmup_s: float) -> list[dict[str, Any]]:
    """Per worker (in the order first seen): first RSS after warm-up, last, max, and growth in %."""
    pids: list[int] = []
    for sample in samples:
        pids += [pid for pid in sample.rss if pid not in pids]
    rows = []
    for pid in pids:
        seen = [(s.t, s.rss[pid]) for s in samples if pid in s.rss]
        settled = [mb for t, mb in seen if t >= warmup_s] or [seen[-1][1]]
        first, last = settled[0], settled[-1]
        rows.append(
            {
                "pid": pid,
                "first_mb": first,
                "last_mb": last,
                "max_mb": max(mb for _, mb in seen),
                "growth_pct": round((last - first) * 100 / first, 1) if first else None,
                "samples": len(seen),
            }
        )
    return rows


def replaced_workers(samples: list[Sample]) -> int:
    """Workers that vanished before the end (crashed or killed and replaced by gunicorn)."""
    if not samples:
        return 0
    last = set(samples[-1].rss)
    return len({pid for s in samples for pid in s.rss} - last)


def verdict(
    *, requests: int, errors: int, workers: list[dict[str, Any]], replaced: int, max_growth_pct: float
) -> list[str]:
    """Why the soak failed; empty when it passed."""
    failures = []
    if requests <= 0:
        failures.append("no request was answered")
    if errors:
        failures.append(f"{errors} requests failed (a status other than the flow's, or a socket error)")
    if replaced:
        failures.append(f"{replaced} gunicorn workers died during the soak")
    for w in workers:
        if w["growth_pct"] is not None and w["growth_pct"] > max_growth_pct:
            failures.append(
                f"worker {w['pid']}: RSS grew {w['growth_pct']}% after warm-up "
                f"({w['first_mb']} -> {w['last_mb']} MB), over the {max_growth_pct:g}% allowed"
            )
    return failures


def _step(span: float, count: int) -> float:
    """A round step that cuts `span` into about `count` parts."""
    raw = span / count
    return float(next((s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000, 2000, 5000) if s >= raw), 10000))


def _ticks(top: float, count: int = 5, low: float = 0.0) -> list[float]:
    """Round values from `low` (a multiple of the step) up to `top`, about `count` of them."""
    step = _step(top - low, count)
    return [low + step * i for i in range(int((top - low) // step) + 1)]


def svg(samples: list[Sample], *, warmup_s: float, max_growth_pct: float, title: str) -> str:
    """RSS (MB) of each worker over the soak: one line per worker, the warm-up shaded, the allowed ceiling dashed."""
    width, height, left, right, top, bottom = 760, 380, 64, 150, 58, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    workers = worker_rss(samples, warmup_s)
    end = max([s.t for s in samples] + [1.0])
    values = [mb for s in samples for mb in s.rss.values()]
    ceiling = [w["first_mb"] * (1 + max_growth_pct / 100) for w in workers]
    high = max(values + ceiling + [1.0]) * 1.03
    # The axis starts near the lowest sample, so a growth of a few % shows; its labels say where.
    bottom_mb = min(values) * 0.85 if values else 0.0
    step = _step(high - bottom_mb, 5)
    low = max(0.0, (bottom_mb // step) * step)

    def x(t: float) -> float:
        return round(left + t * plot_w / end, 1)

    def y(mb: float) -> float:
        return round(top + plot_h - (mb - low) * plot_h / (high - low), 1)

    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{left}" y="22" font-size="15" font-weight="bold">RSS of each gunicorn worker under load (MB)</text>',
        f'<text x="{left}" y="42" fill="#555">{escape(title)}; shaded = warm-up, dashed = allowed growth</text>',
    ]
    if warmup_s > 0:
        shade = min(warmup_s, end)
        out.append(
            f'<rect x="{left}" y="{top}" width="{x(shade) - left}" height="{plot_h}" fill="#f1f3f5"/>'
            f'<text x="{left + 4}" y="{top + 14}" fill="#868e96">warm-up</text>'
        )
    for mb in _ticks(high, low=low):
        out.append(f'<line x1="{left}" y1="{y(mb)}" x2="{left + plot_w}" y2="{y(mb)}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{left - 6}" y="{y(mb) + 4}" text-anchor="end" fill="#555">{mb:g}</text>')
    for t in _ticks(end, 6):
        out.append(f'<line x1="{x(t)}" y1="{top}" x2="{x(t)}" y2="{top + plot_h}" stroke="#f1f1f1"/>')
        out.append(f'<text x="{x(t)}" y="{top + plot_h + 18}" text-anchor="middle" fill="#555">{t:g}</text>')
    out.append(
        f'<text x="{left + plot_w / 2}" y="{height - 10}" text-anchor="middle" fill="#555">seconds under load</text>'
    )
    for i, w in enumerate(workers):
        colour = COLOURS[i % len(COLOURS)]
        points = " ".join(f"{x(s.t)},{y(s.rss[w['pid']])}" for s in samples if w["pid"] in s.rss)
        label = f"worker {i + 1}"
        out.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2">'
            f"<title>{label} (pid {w['pid']}): {w['first_mb']} -> {w['last_mb']} MB, max {w['max_mb']} MB</title>"
            "</polyline>"
        )
        limit = y(w["first_mb"] * (1 + max_growth_pct / 100))
        out.append(
            f'<line x1="{x(min(warmup_s, end))}" y1="{limit}" x2="{left + plot_w}" y2="{limit}" stroke="{colour}" '
            'stroke-dasharray="5,4" stroke-width="1"/>'
        )
        growth = "n/a" if w["growth_pct"] is None else f"{w['growth_pct']:+g}%"
        ly = top + 16 + i * 20
        out.append(f'<rect x="{left + plot_w + 14}" y="{ly - 10}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{left + plot_w + 32}" y="{ly}">{label} {growth}</text>')
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#222"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#222"/>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
