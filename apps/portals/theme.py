"""A portal's theme as CSS: its primary colour and a text colour that stays readable on it."""

from __future__ import annotations

import re

from apps.identity.models import DEFAULT_THEME

_HEX = re.compile(r"^#([0-9a-fA-F]{6})$")


def _luminance(hex_color: str) -> float:
    """WCAG relative luminance of `#rrggbb`."""
    channels = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def theme_css(primary: str) -> str:
    """Custom properties for the stylesheet. Only a valid `#rrggbb` reaches the CSS (the service checks too)."""
    color = primary if _HEX.match(primary or "") else DEFAULT_THEME["primary_color"]
    on_primary = "#ffffff" if contrast(color, "#ffffff") >= contrast(color, "#111111") else "#111111"
    # Links and headings use the colour on white only where it is readable (WCAG AA, 4.5:1).
    accent = color if contrast(color, "#ffffff") >= 4.5 else "#1f3a93"
    return f":root {{ --primary: {color}; --on-primary: {on_primary}; --accent: {accent}; }}\n"
