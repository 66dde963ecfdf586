"""HTML report of a backtest: per scenario a table of tiers and two inline SVG plots (budget
burn-down; burn rate with each tier's threshold). No JavaScript, no external resources."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from sloctl.durations import format_duration

from .run import ScenarioResult

__all__ = ["render_html"]

W, H, PAD = 560, 200, 40
COLOURS = {
    "page_quick": "#d62728",
    "page_slow": "#ff7f0e",
    "ticket_quick": "#1f77b4",
    "ticket_slow": "#2ca02c",
}


def _secs(v: int | None) -> str:
    if v is None:
        return "-"
    return format_duration(v) if v % 60 == 0 and v else f"{v}s"


def _polyline(
    points: Sequence[tuple[int, float]], x0: int, x1: int, y0: float, y1: float, colour: str
) -> str:
    if not points or x1 <= x0 or y1 <= y0:
        return ""

    def xy(t: int, v: float) -> str:
        x = PAD + (t - x0) / (x1 - x0) * (W - 2 * PAD)
        y = H - PAD - (min(max(v, y0), y1) - y0) / (y1 - y0) * (H - 2 * PAD)
        return f"{x:.1f},{y:.1f}"

    pts = " ".join(xy(t, v) for t, v in points if math.isfinite(v))
    return f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{pts}"/>'


def _incidents(r: ScenarioResult) -> str:
    """The scenario's incidents (and intervals without traffic) as shaded bands, drawn first."""
    x1 = r.scenario.duration
    bands = [(i.start, i.end) for i in r.scenario.incidents] + list(r.scenario.quiet)
    out = ""
    for a, b in bands:
        left = PAD + max(0, a) / x1 * (W - 2 * PAD)
        right = PAD + min(x1, b) / x1 * (W - 2 * PAD)
        out += (
            f'<rect class="incident" x="{left:.1f}" y="{PAD}" width="{max(1.0, right - left):.1f}" '
            f'height="{H - 2 * PAD}" fill="#fbd5d5"><title>incident</title></rect>'
        )
    return out


def _frame(title: str, y0: float, y1: float, body: str, label: str, ylabel: str) -> str:
    return (
        f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}">'
        f'<rect x="0" y="0" width="{W}" height="{H}" fill="#ffffff"/>'
        f'<rect x="{PAD}" y="{PAD}" width="{W - 2 * PAD}" height="{H - 2 * PAD}" '
        'fill="#f7f7f7" stroke="#999"/>'
        f'<text x="{PAD}" y="{PAD - 10}" font-size="13" font-family="sans-serif">{html.escape(title)}</text>'
        f'<text x="4" y="{PAD + 4}" font-size="10" font-family="sans-serif">{y1:.3g}</text>'
        f'<text x="4" y="{H - PAD}" font-size="10" font-family="sans-serif">{y0:.3g}</text>'
        f'<text x="{W - PAD}" y="{H - 10}" font-size="10" font-family="sans-serif" text-anchor="end">'
        f"{html.escape(label)}</text>"
        f'<text x="12" y="{H / 2}" font-size="10" font-family="sans-serif" text-anchor="middle" '
        f'transform="rotate(-90 12 {H / 2})">{html.escape(ylabel)}</text>{body}</svg>'
    )


def _plots(r: ScenarioResult) -> str:
    x1 = r.scenario.duration
    budget = r.series.get("budget", [])
    lo = min([0.0, *(v for _t, v in budget)])
    b_body = (
        _incidents(r)
        + _polyline([(0, 0.0), (x1, 0.0)], 0, x1, lo, 1.0, "#999")
        + _polyline(budget, 0, x1, lo, 1.0, "#6a3d9a")
    )
    xlabel = f"time since the scenario start, 0 to {_secs(x1)} (incident shaded)"
    budget_svg = _frame("error budget remaining", lo, 1.0, b_body, xlabel, "share of the budget left")
    tiers = [t for t in r.slo.alerting.enabled_tiers]
    peak = max(
        [
            1.0,
            *(v for k, pts in r.series.items() if k.startswith("burn") for _t, v in pts if math.isfinite(v)),
        ]
    )
    top = min(peak * 1.1, 1 / r.slo.error_budget * 1.05)
    # Log scale: a full outage burns at 1000x, the slow tiers' thresholds sit at 1x to 6x.
    floor = 0.1

    def log(points: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
        return [(t, math.log10(max(v, floor))) for t, v in points if math.isfinite(v)]

    y0, y1 = math.log10(floor), math.log10(top)
    body = _incidents(r)
    for tier in tiers:
        colour = COLOURS.get(tier.name, "#333")
        f = tier.window.burn_factor(r.slo.period)
        body += _polyline(log([(0, f), (x1, f)]), 0, x1, y0, y1, colour).replace(
            'stroke-width="1.5"', 'stroke-width="1" stroke-dasharray="4 3" class="threshold"'
        )
        body += _polyline(log(r.series.get(f"burn_{tier.name}", [])), 0, x1, y0, y1, colour)
    body += _polyline(log(r.series.get("burn", [])), 0, x1, y0, y1, "#555").replace(
        'stroke-width="1.5"', 'stroke-width="0.7"'
    )
    burn_svg = _frame(
        "burn rate (log): 5m in grey, each tier's long window, thresholds dashed",
        floor,
        top,
        body,
        xlabel,
        "burn rate, × budget (log)",
    )
    return budget_svg + burn_svg


def render_html(results: Sequence[ScenarioResult], title: str = "sloctl backtest") -> str:
    """A self-contained HTML page for ``results``."""
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:16px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}.bad{color:#b00}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
    ]
    for r in results:
        s = r.scenario
        heading = f"{r.source_id}: {s.name}" if r.source_id else s.name
        parts.append(f"<section><h2>{html.escape(heading)}</h2><p>{html.escape(s.description)}</p>")
        parts.append(
            f"<p>budget left at the end: {r.budget_left:.4f} (ground truth {r.budget_left_truth:.4f}); "
            f"period error ratio {r.period_ratio:.6g} (truth {r.period_ratio_truth:.6g})</p>"
        )
        parts.append(
            "<table><tr><th>tier</th><th>expected</th><th>designed</th><th>detection</th>"
            "<th>false alerts</th><th>alert duration</th><th>reset</th><th>note</th></tr>"
        )
        for t in r.tiers:
            cls = ' class="bad"' if t.within_design is False or t.false_alerts else ""
            parts.append(
                f"<tr{cls}><td>{t.tier}</td><td>{'yes' if t.expected else ''}</td>"
                f"<td>{_secs(t.designed_seconds)}</td>"
                f"<td>{_secs(t.detection_seconds)}</td><td>{t.false_alerts}</td><td>{_secs(t.alert_seconds)}</td>"
                f"<td>{_secs(t.reset_seconds)}</td><td>{html.escape(t.note)}</td></tr>"
            )
        parts.append("</table>")
        parts.append(_plots(r))
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
