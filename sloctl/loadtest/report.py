"""Reports of a gated load test: a text table, JSON, and a self-contained HTML page whose
plots (latency percentiles and request rate over time) are inline SVG: no scripts, no CDN,
nothing fetched when the file is opened. Pure: strings in, strings out.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass

from .results import GateResult, RunStats, Sample, percentile
from .thresholds import Skipped

__all__ = ["Report", "render_html", "render_json", "render_table"]


@dataclass(frozen=True)
class Report:
    scenario: str
    host: str
    duration: float
    gates: tuple[GateResult, ...]
    skipped: tuple[Skipped, ...]
    run: RunStats
    command: str = ""

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)


def _fmt(value: float | None, stat: str) -> str:
    if value is None:
        return "-"
    if stat == "failure_ratio":
        return f"{value:.4%}"
    if stat == "rps":
        return f"{value:.1f}/s"
    return f"{value:g} ms"


def _expr(g: GateResult) -> str:
    t = g.threshold
    return t.expression + (" ms" if t.stat in ("percentile", "avg", "max") else "")


def render_table(report: Report) -> str:
    rows = [("result", "threshold", "scope", "measured", "source")]
    for g in report.gates:
        t = g.threshold
        rows.append(
            (
                "PASS" if g.passed else "FAIL",
                _expr(g),
                t.scope,
                _fmt(g.value, t.stat) if g.value is not None else g.note,
                t.source,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    total = report.run.total
    lines.append("")
    lines.append(
        f"{total.num_requests} requests, {total.num_failures} failures, {total.rps:.1f} req/s, "
        f"p50 {total.percentile(50):g} ms, p95 {total.percentile(95):g} ms, p99 {total.percentile(99):g} ms "
        f"(stopped by {report.run.stopped_by})"
    )
    for group in report.run.groups:
        lines.append(
            f"  {group.name}: {group.num_requests} requests, p50 {group.percentile(50):g} ms, "
            f"p95 {group.percentile(95):g} ms, p99 {group.percentile(99):g} ms"
        )
    for label, pcts in _side_figures(report.run):
        lines.append(f"{label}: " + ", ".join(f"{k} {v:g} ms" for k, v in pcts.items()))
    if report.run.arrival_lags:
        lines.append(f"arrivals dropped (over {_MAX_IN_FLIGHT} in flight): {report.run.dropped}")
    for s in report.skipped:
        lines.append(f"skipped: {s.slo}: {s.reason}")
    if report.run.breakpoint:
        lines.append("breakpoint: " + ", ".join(f"{k}={v:g}" for k, v in report.run.breakpoint))
    lines.append("PASSED" if report.passed else "FAILED: at least one threshold was violated")
    return "\n".join(lines)


_MAX_IN_FLIGHT = 500  # ConstantRateUser.MAX_IN_FLIGHT (locustlib imports Locust; not here)


def _pcts(times: tuple[tuple[int, int], ...]) -> dict[str, float]:
    d = dict(times)
    return {"p50": percentile(d, 50), "p95": percentile(d, 95), "p99": percentile(d, 99)}


def _side_figures(run: RunStats) -> list[tuple[str, dict[str, float]]]:
    """Server-side latency (Server-Timing) and open-model arrival lag, when measured."""
    out = []
    if run.server_times:
        out.append(("server-side (Server-Timing)", _pcts(run.server_times)))
    if run.arrival_lags:
        out.append(("arrival lag (client-side delay)", _pcts(run.arrival_lags)))
    return out


def to_dict(report: Report) -> dict[str, object]:
    return {
        "scenario": report.scenario,
        "host": report.host,
        "duration_seconds": report.duration,
        "command": report.command,
        "passed": report.passed,
        "thresholds": [
            {
                "expression": g.threshold.expression,
                "stat": g.threshold.stat,
                "percentile": g.threshold.percentile,
                "op": g.threshold.op,
                "limit": g.threshold.limit,
                "route": g.threshold.route,
                "method": g.threshold.method,
                "dependency": g.threshold.dependency,
                "scope": g.threshold.scope,
                "source": g.threshold.source,
                "value": g.value,
                "passed": g.passed,
                "note": g.note,
            }
            for g in report.gates
        ],
        "skipped": [{"slo": s.slo, "reason": s.reason} for s in report.skipped],
        "total": report.run.total.summary(),
        "routes": [r.summary() for r in sorted(report.run.routes, key=lambda r: (r.name, r.method))],
        "groups": [g.summary() for g in report.run.groups],
        "server_side_ms": _pcts(report.run.server_times) if report.run.server_times else None,
        "arrivals": (
            {"lag_ms": _pcts(report.run.arrival_lags), "dropped": report.run.dropped}
            if report.run.arrival_lags
            else None
        ),
        "errors": [{"error": e, "occurrences": n} for e, n in report.run.errors],
        "timeseries": [s.__dict__ for s in report.run.samples],
        "breakpoint": dict(report.run.breakpoint),
        "stopped_by": report.run.stopped_by,
        "run": dict(report.run.extra),
    }


def render_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2, sort_keys=True) + "\n"


_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _svg_plot(
    title: str, unit: str, xs: Sequence[float], series: Sequence[tuple[str, Sequence[float]]]
) -> str:
    """A small line chart. Deterministic output for the same input."""
    w, h, left, bottom, top, right = 640, 220, 56, 30, 24, 12
    if not xs:
        return f"<p>{html.escape(title)}: no samples</p>"
    xmax = max(xs) or 1.0
    ymax = max((max(v) for _, v in series if v), default=1.0) or 1.0
    ymax *= 1.1

    def px(x: float) -> float:
        return left + (w - left - right) * (x / xmax)

    def py(y: float) -> float:
        return h - bottom - (h - bottom - top) * (y / ymax)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
        f'aria-label="{html.escape(title)}" font-family="sans-serif" font-size="11">',
        f'<text x="{left}" y="14" font-size="13">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="#333"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="#333"/>',
    ]
    for i in range(5):
        y = ymax * i / 4
        parts.append(f'<text x="{left - 4}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.3g}</text>')
        parts.append(f'<line x1="{left}" y1="{py(y):.1f}" x2="{w - right}" y2="{py(y):.1f}" stroke="#eee"/>')
    for i in range(5):
        x = xmax * i / 4
        parts.append(f'<text x="{px(x):.1f}" y="{h - bottom + 14}" text-anchor="middle">{x:.0f}s</text>')
    parts.append(f'<text x="4" y="{top - 6}">{html.escape(unit)}</text>')
    for n, (name, values) in enumerate(series):
        color = _COLORS[n % len(_COLORS)]
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, values, strict=False))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{points}"/>')
        parts.append(
            f'<text x="{w - right - 90}" y="{top + 12 * n + 4}" fill="{color}">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _plots(samples: Sequence[Sample]) -> str:
    xs = [s.t for s in samples]
    latency = _svg_plot(
        "Latency percentiles per interval",
        "ms",
        xs,
        [
            ("p50", [s.p50_ms for s in samples]),
            ("p95", [s.p95_ms for s in samples]),
            ("p99", [s.p99_ms for s in samples]),
        ],
    )
    rate = _svg_plot(
        "Request rate",
        "req/s",
        xs,
        [("requests/s", [s.rps for s in samples]), ("failures/s", [s.failures_per_s for s in samples])],
    )
    return latency + "\n" + rate


def render_html(report: Report) -> str:
    e = html.escape
    verdict = "PASSED" if report.passed else "FAILED"
    gate_rows = "".join(
        f"<tr class={'pass' if g.passed else 'fail'}><td>{'PASS' if g.passed else 'FAIL'}</td>"
        f"<td>{e(_expr(g))}</td><td>{e(g.threshold.scope)}</td>"
        f"<td>{e(_fmt(g.value, g.threshold.stat) if g.value is not None else g.note)}</td>"
        f"<td>{e(g.threshold.source)}</td></tr>"
        for g in report.gates
    )
    route_rows = "".join(
        "<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in r.summary().values()) + "</tr>"
        for r in sorted(report.run.routes, key=lambda r: (r.name, r.method))
    )
    group_rows = "".join(
        "<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in g.summary().values()) + "</tr>"
        for g in report.run.groups
    )
    headers = "".join(f"<th>{e(k)}</th>" for k in report.run.total.summary())
    skipped = "".join(f"<li>{e(s.slo)}: {e(s.reason)}</li>" for s in report.skipped)
    bp = ", ".join(f"{k} = {v:g}" for k, v in report.run.breakpoint)
    side = "".join(
        f"<li>{e(label)}: {e(', '.join(f'{k} {v:g} ms' for k, v in pcts.items()))}</li>"
        for label, pcts in _side_figures(report.run)
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>sloctl loadtest {e(report.scenario)}: {verdict}</title>
<style>
body{{font-family:sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}}
tr.pass td:first-child{{color:#2a7d2a;font-weight:bold}} tr.fail td:first-child{{color:#c00;font-weight:bold}}
h1 span.PASSED{{color:#2a7d2a}} h1 span.FAILED{{color:#c00}}
</style></head><body>
<h1>Load test <code>{e(report.scenario)}</code>: <span class="{verdict}">{verdict}</span></h1>
<p>Target {e(report.host)}, {report.duration:g} s, stopped by {e(report.run.stopped_by)}.
<code>{e(report.command)}</code></p>
<h2>Thresholds</h2>
<table><tr><th>result</th><th>threshold</th><th>scope</th><th>measured</th><th>source</th></tr>{gate_rows}</table>
{f"<h2>Not gated</h2><ul>{skipped}</ul>" if skipped else ""}
{f"<h2>Breakpoint</h2><p>{e(bp)}</p>" if bp else ""}
<h2>Over time</h2>
{_plots(report.run.samples)}
{f"<ul>{side}</ul>" if side else ""}
<h2>Per dependency</h2>
<table><tr>{headers}</tr>{group_rows}</table>
<h2>Routes</h2>
<table><tr>{headers}</tr>{route_rows}
<tr>{"".join(f"<td><b>{e(str(v))}</b></td>" for v in report.run.total.summary().values())}</tr></table>
</body></html>
"""
