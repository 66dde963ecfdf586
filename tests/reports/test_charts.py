"""The charts read true: a line breaks where samples are missing, a ratio axis speaks in percent
as the page's text does, a time axis says it is UTC, the legend sits outside the plot, and an
alert tier's threshold never shares a colour with a window's line. Checked on the SVG itself
(the charts are pure renderers)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from sloctl.reports.charts import PALETTE, TIER_COLOURS, Line, clock, line_chart, threshold

SVG = "{http://www.w3.org/2000/svg}"
STEP = 60.0


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _plot_box(root: ET.Element) -> tuple[float, float, float, float]:
    """left, top, right, bottom of the plot area: from the y axis line and the x axis line."""
    axes = [ln for ln in root.iter(f"{SVG}line") if ln.get("stroke") == "#333"]
    x_axis = next(ln for ln in axes if ln.get("y1") == ln.get("y2"))
    y_axis = next(ln for ln in axes if ln.get("x1") == ln.get("x2"))
    return (
        float(y_axis.get("x1", 0)),
        float(y_axis.get("y1", 0)),
        float(x_axis.get("x2", 0)),
        float(y_axis.get("y2", 0)),
    )


def test_a_line_breaks_where_samples_are_missing_and_joins_across_a_late_one() -> None:
    """A 2-hour hole in 6 hours at a 60 s step was one straight 190 px segment."""
    before = [(t * STEP, 0.999) for t in range(120)]  # two hours
    after = [(t * STEP, 0.998) for t in range(240, 360)]  # from the fourth hour on
    svg = line_chart("sli", [Line("SLI", before + after)], x_format=clock)
    runs = [p.get("points", "").split() for p in _parse(svg).iter(f"{SVG}polyline")]
    assert [len(r) for r in runs] == [120, 120]
    late = [(0.0, 1.0), (STEP, 1.0), (2.4 * STEP, 1.0), (3.4 * STEP, 1.0)]  # 1.4 steps: late, not missing
    assert line_chart("sli", [Line("SLI", late)]).count("<polyline") == 1
    hole = [(0.0, 1.0), (STEP, 1.0), (2 * STEP, float("nan")), (3 * STEP, 1.0), (4 * STEP, 1.0)]
    assert line_chart("sli", [Line("SLI", hole)]).count("<polyline") == 2
    alone = [(0.0, 1.0), (STEP, 1.0), (9 * STEP, 1.0)]  # a lone sample after the hole is a dot
    svg = line_chart("sli", [Line("SLI", alone)])
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 1


def test_a_ratio_axis_is_labelled_in_percent_like_the_text_beside_it() -> None:
    budget = [(0.0, 1.0), (STEP, -54.193)]
    svg = line_chart("budget", [Line("budget remaining", budget)], y_range=(-61.0, 1.0), percent=True)
    ticks = re.findall(r'text-anchor="end">([^<]+ %)<', svg)
    assert ticks[0] == "-6100 %" and ticks[-1] == "100 %", ticks
    assert all(t.endswith(" %") for t in ticks)
    fine = line_chart("sli", [Line("a", ((0, 0.999), (1, 1.0)))], y_range=(0.999, 1.0), percent=True)
    assert re.findall(r'text-anchor="end">([^<]+ %)<', fine) == [
        "99.900 %", "99.925 %", "99.950 %", "99.975 %", "100.000 %"
    ]  # fmt: skip


def test_a_time_axis_says_it_is_utc() -> None:
    svg = line_chart("burn", [Line("5m", ((1_764_918_480.0, 1.0), (1_764_922_080.0, 2.0)))], x_format=clock)
    texts = [t.text or "" for t in _parse(svg).iter(f"{SVG}text")]
    assert "12-05 07:08" in texts and any("UTC" in t for t in texts), texts


def test_the_legend_sits_outside_the_plot_area() -> None:
    lines = [
        Line(f"{w} window", ((0.0, 1.0), (STEP, 20.0))) for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
    ]
    lines += [threshold(f"{t} threshold", 14.4, (0.0, STEP), t) for t in TIER_COLOURS]
    root = _parse(line_chart("burn", lines, log=True))
    left, top, right, bottom = _plot_box(root)
    names = {ln.name for ln in lines}
    entries = [t for t in root.iter(f"{SVG}text") if t.text in names]
    assert {t.text for t in entries} == names
    height = float(root.get("height", 0))
    for t in entries:
        baseline = float(t.get("y", 0))
        # 11 px text: from its baseline up by its ascent (at most 11 px) and down by 3 px.
        assert baseline - 11 > bottom + 16 or baseline + 3 < top, (t.text, baseline, top, bottom)
        assert baseline + 3 <= height
        assert left <= float(t.get("x", 0)) < right


def test_a_threshold_never_shares_a_colour_with_a_window() -> None:
    assert set(TIER_COLOURS.values()).isdisjoint(PALETTE)
    windows = [Line(f"{n} window", ((0.0, 1.0), (STEP, 2.0))) for n in range(len(PALETTE) + 2)]
    thresholds = [threshold(f"{t} threshold", 6.0, (0.0, STEP), t) for t in TIER_COLOURS]
    root = _parse(line_chart("burn", windows + thresholds, log=True))
    drawn = list(root.iter(f"{SVG}polyline"))
    window_colours = {p.get("stroke") for p in drawn if p.get("class") != "threshold"}
    threshold_colours = {p.get("stroke") for p in drawn if p.get("class") == "threshold"}
    assert len(threshold_colours) == len(TIER_COLOURS) and not window_colours & threshold_colours
    assert all(p.get("stroke-dasharray") for p in drawn if p.get("class") == "threshold")
