"""HTML report of a backtest: per scenario a table of tiers and two charts (budget burn-down;
burn rate with each tier's threshold), on the report kit (:mod:`sloctl.reports`). No
JavaScript, no external resources."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

from markupsafe import Markup

from sloctl.durations import format_duration
from sloctl.reports import render
from sloctl.reports.charts import OTHER_TIER_COLOUR, TIER_COLOURS, Band, Line, line_chart, threshold

from .run import ScenarioResult

__all__ = ["render_html"]


def _since(x: float) -> str:
    return format_duration(int(x)) if x and int(x) % 60 == 0 else f"{x:.0f}s"


def _bands(r: ScenarioResult) -> list[Band]:
    """The scenario's incidents, and its intervals without traffic, shaded on every chart."""
    incidents = [Band(i.start, i.end, "incident", "#fbd5d5", "incident") for i in r.scenario.incidents]
    return incidents + [Band(a, b, "no traffic", "#e8e8e8", "quiet") for a, b in r.scenario.quiet]


def _plots(r: ScenarioResult) -> list[Markup]:
    x1 = float(r.scenario.duration)
    # Both charts run along the scenario's time axis, with its incidents and quiet spells shaded.
    chart = partial(
        line_chart,
        x_range=(0, x1),
        x_format=_since,
        bands=_bands(r),
        css_class="chart plot",
        x_label=f"time since the scenario start, 0 to {_since(x1)} (incident shaded)",
    )
    budget = r.series.get("budget", [])
    lo = min([0.0, *(v for _t, v in budget)])
    budget_chart = chart(
        "error budget remaining",
        [
            Line("empty", ((0, 0.0), (x1, 0.0)), colour="#595959", legend=False),
            Line("budget remaining", budget, colour="#7b3fa8"),
        ],
        y_range=(lo, 1.0),
        percent=True,
        unit="budget left",
    )
    peak = max(
        [
            1.0,
            *(v for k, pts in r.series.items() if k.startswith("burn") for _t, v in pts if math.isfinite(v)),
        ]
    )
    top = min(peak * 1.1, 1 / r.slo.error_budget * 1.05)
    lines: list[Line] = []
    for tier in r.slo.alerting.enabled_tiers:
        # The tier's long window in its threshold's colour: the pair that trips it.
        colour = TIER_COLOURS.get(tier.name, OTHER_TIER_COLOUR)
        f = tier.window.burn_factor(r.slo.period)
        lines.append(threshold(f"{tier.name} threshold", f, (0, x1), tier.name))
        lines.append(Line(f"{tier.name} long window", r.series.get(f"burn_{tier.name}", []), colour))
    lines.append(Line("5m", r.series.get("burn", []), "#595959", width=0.7))
    # Log scale: a full outage burns at 1000x, the slow tiers' thresholds sit at 1x to 6x.
    burn_chart = chart(
        "burn rate (log): 5m in grey, each tier's long window, thresholds dashed",
        lines,
        y_range=(0.1, top),
        log=True,
        unit="burn rate, × budget (log)",
    )
    return [budget_chart, burn_chart]


def render_html(results: Sequence[ScenarioResult], title: str = "sloctl backtest") -> str:
    """A self-contained HTML page for ``results``."""
    return render("backtest.html.j2", title=title, results=results, charts=[_plots(r) for r in results])
