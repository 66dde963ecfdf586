"""The report kit: templates escape whatever a report carries (experiment titles, scenario
names, check outputs come from files), charts are deterministic, label their axes with the
decimals the range needs, and leave out what cannot be drawn."""

from __future__ import annotations

import re

from sloctl.reports import percent, rate, render
from sloctl.reports.charts import Band, Line, Mark, line_chart


def test_templates_escape_text_from_reports() -> None:
    page = render("base.html.j2", title='<script>alert("x")</script>')
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_a_chart_escapes_its_names_and_is_byte_stable() -> None:
    lines = [Line('a<b "c"', ((0, 1.0), (10, 2.0))), Line("nan", ((0, float("nan")),))]
    first = line_chart("t & u", lines, bands=[Band(0, 5, "<inject>")], marks=[Mark(3, "page")])
    assert first == line_chart("t & u", lines, bands=[Band(0, 5, "<inject>")], marks=[Mark(3, "page")])
    assert "t &amp; u" in first and "a&lt;b &#34;c&#34;" in first and "&lt;inject&gt;" in first
    assert first.count("<polyline") == 1  # the all-NaN line is left out
    assert ">page</text>" in first


def test_linear_ticks_show_as_many_decimals_as_their_spacing_needs() -> None:
    svg = line_chart("sli", [Line("a", ((0, 0.999), (1, 1.0)))], y_range=(0.999, 1.0))
    ticks = ["0.99900", "0.99925", "0.99950", "0.99975", "1.00000"]
    assert re.findall(r'text-anchor="end">([0-9.]+)<', svg) == ticks
    half = line_chart("share", [Line("a", ((0, 0.0), (1, 1.0)))], y_range=(0.0, 1.0))
    assert re.findall(r'text-anchor="end">([0-9.]+)<', half) == ["0.00", "0.25", "0.50", "0.75", "1.00"]


def test_log_scale_spans_the_burn_rates() -> None:
    svg = line_chart("burn", [Line("5m", ((0, 0.1), (1, 1000.0)))], y_range=(0.1, 1000.0), log=True)
    assert re.findall(r'text-anchor="end">([0-9.e+]+)<', svg) == ["0.1", "1", "10", "100", "1e+03"]


def test_unknown_numbers_read_unknown() -> None:
    assert percent(float("nan")) == "unknown" and percent(None) == "unknown" and percent(0.25) == "25.0 %"
    assert rate(float("inf")) == "unknown" and rate(14.4) == "14.40x"


def test_a_series_with_one_sample_shows_as_a_dot() -> None:
    """A polyline of one point draws nothing: a Prometheus minutes old, read at a step of hours,
    gave SLO pages whose SLI line was missing."""
    alone = line_chart("sli", [Line("SLI", ((0, float("nan")), (7200, 0.999)))])
    assert alone.count("<circle") == 1 and "<polyline" not in alone
    two = line_chart("sli", [Line("SLI", ((0, 0.998), (7200, 0.999)))])
    assert "<circle" not in two and two.count("<polyline") == 1
