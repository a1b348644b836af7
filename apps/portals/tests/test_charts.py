"""The SVG bar chart: well-formed, accessible, escaped, no inline style, and bars as tall as their values."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from apps.portals.charts import Bar, Series, bar_chart, format_number, nice_step

SVG = "{http://www.w3.org/2000/svg}"
SERIES = [Series("previous", "Previous period"), Series("current", "Current period")]


def chart(bars, **overrides) -> str:
    options = {
        "chart_id": "usage",
        "title": "API calls per day",
        "description": "Previous period: 10 in all. Current period: 30 so far.",
        "bars": bars,
        "series": SERIES,
        "x_label": "Day",
        "y_label": "API calls",
    }
    return bar_chart(**{**options, **overrides})


def parse(markup: str) -> ET.Element:
    """The chart as XML (our own markup, so the standard parser is fine): it must be well-formed."""
    return ET.fromstring(markup)  # noqa: S314


def bars_of(markup: str) -> list[ET.Element]:
    return [rect for rect in parse(markup).iter(f"{SVG}rect") if "chart-bar" in rect.get("class", "")]


def test_the_chart_is_one_accessible_svg_named_by_its_title_and_description():
    markup = chart([Bar("1 Apr", 10, "previous"), Bar("2 Apr", 30, "current")])
    root = parse(markup)  # well-formed XML
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "usage-title usage-desc"
    assert root.find(f"{SVG}title").get("id") == "usage-title"
    assert root.find(f"{SVG}title").text == "API calls per day"
    assert root.find(f"{SVG}desc").get("id") == "usage-desc"
    assert root.find(f"{SVG}desc").text == "Previous period: 10 in all. Current period: 30 so far."
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"Day", "API calls"} <= set(texts)  # axis labels
    assert {"Previous period", "Current period"} <= set(texts)  # the legend


def test_each_bar_has_its_value_its_series_class_and_a_tooltip():
    markup = chart([Bar("1 Apr", 10, "previous", detail="1 Apr 2025: 10 API calls"), Bar("2 Apr", 1234, "current")])
    first, second = bars_of(markup)
    assert first.get("class") == "chart-bar chart-series-previous"
    assert second.get("class") == "chart-bar chart-series-current"
    assert (first.get("data-value"), second.get("data-value")) == ("10", "1234")
    assert first.find(f"{SVG}title").text == "1 Apr 2025: 10 API calls"
    assert second.find(f"{SVG}title").text == "2 Apr: 1,234"


def test_bar_heights_are_proportional_and_share_one_baseline():
    markup = chart([Bar("a", 10, "current"), Bar("b", 20, "current"), Bar("c", 0, "current")])
    ten, twenty, zero = bars_of(markup)
    assert float(twenty.get("height")) == pytest.approx(2 * float(ten.get("height")))
    assert float(zero.get("height")) == 0
    bottoms = {round(float(r.get("y")) + float(r.get("height")), 2) for r in (ten, twenty, zero)}
    assert len(bottoms) == 1
    assert float(ten.get("x")) < float(twenty.get("x")) < float(zero.get("x"))


def test_the_y_axis_reaches_above_the_highest_bar_in_round_steps():
    root = parse(chart([Bar("a", 1234, "current")]))
    axis = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "chart-axis chart-axis-y")
    ticks = [t.text for t in axis.iter(f"{SVG}text") if t.get("class") != "chart-axis-label"]
    assert ticks == ["0", "500", "1,000", "1,500"]


def test_every_label_is_escaped():
    evil = '<script>alert("x")</script> & "quotes"'
    markup = chart(
        [Bar(evil, 1, evil, detail=evil)],
        title=evil,
        description=evil,
        x_label=evil,
        y_label=evil,
        series=[Series(evil, evil)],
        chart_id=evil,
    )
    assert "<script>" not in markup
    assert "&lt;script&gt;" in markup
    root = parse(markup)  # still well-formed
    assert root.find(f"{SVG}title").text == evil
    assert root.get("id") == "script-alert-x-script-quotes"
    assert bars_of(markup)[0].get("class") == "chart-bar chart-series-script-alert-x-script-quotes"


def test_no_inline_style_and_no_script():
    markup = chart([Bar(str(n), n, "current") for n in range(60)])
    assert "style=" not in markup
    assert "<script" not in markup
    assert " on" not in markup.replace(" one", "")  # no event handler attributes


def test_no_bars_is_a_chart_that_says_so():
    root = parse(chart([]))
    assert bars_of(chart([])) == []
    assert "No data" in [t.text for t in root.iter(f"{SVG}text")]


@pytest.mark.parametrize("odd", [-5, math.nan, math.inf, -math.inf])
def test_odd_values_draw_as_zero_and_break_nothing(odd):
    markup = chart([Bar("a", odd, "current"), Bar("b", 4, "current")])
    weird, four = bars_of(markup)
    assert float(weird.get("height")) == 0
    assert float(four.get("height")) > 0
    assert "nan" not in (four.get("height") + four.get("y")).lower()


def test_many_bars_get_a_readable_number_of_x_labels():
    markup = chart([Bar(f"d{n}", n, "current") for n in range(62)], max_x_labels=8)
    root = parse(markup)
    axis = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "chart-axis chart-axis-x")
    labels = [t.text for t in axis.iter(f"{SVG}text") if t.get("class") != "chart-axis-label"]
    assert 1 < len(labels) <= 8
    assert labels[0] == "d0"
    assert len(bars_of(markup)) == 62


@pytest.mark.parametrize(("top", "step"), [(0, 1), (3, 1), (10, 5), (1234, 500), (99_999, 50_000), (0.4, 1), (7, 2)])
def test_nice_steps(top, step):
    assert nice_step(top) == step
    assert nice_step(top) * 4 >= top


def test_format_number():
    assert format_number(1234567) == "1,234,567"
    assert format_number(2.5) == "2.5"
    assert format_number(3.0) == "3"
