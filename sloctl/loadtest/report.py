"""Reports of a gated load test: a text table, JSON, and a self-contained HTML page (the report
kit's template and charts) whose plots (latency percentiles and request rate over time) are
inline SVG: no scripts, no CDN, nothing fetched when the file is opened. Pure: strings in,
strings out.

Their latency figures (per route, per dependency, in total and over time) are over the
successful requests, as the latency gates read them; failures are counts and rates
(``failures``, ``failure_ratio``, failures/s). So the page and the verdict agree on one run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from sloctl.reports import render
from sloctl.reports.charts import Line, line_chart

from .results import LATENCY_FIELDS, GateResult, RunStats, Sample, Summary, percentile
from .thresholds import LATENCY_STATS, Skipped

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
    #: stopped by Ctrl-C or SIGTERM: the figures are those of the part that ran, and the run
    #: never passes (it did not offer the load it was asked to)
    interrupted: bool = False

    @property
    def passed(self) -> bool:
        return not self.interrupted and all(g.passed for g in self.gates)

    @property
    def verdict(self) -> str:
        """``PASSED``, ``FAILED`` or ``INTERRUPTED``."""
        if self.interrupted:
            return "INTERRUPTED"
        return "PASSED" if self.passed else "FAILED"


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
    return t.expression + (" ms" if t.stat in LATENCY_STATS else "")


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
    total = report.run.total_summary()
    over = f" over the {total['successes']} successful requests" if total["failures"] else ""
    lines.append("")
    lines.append(
        f"{total['requests']} requests, {total['failures']} failures, {total['rps']:.1f} req/s, "
        f"{_percentiles(total)}{over} (stopped by {report.run.stopped_by})"
    )
    for group in report.run.group_summaries():
        failures = f", {group['failures']} failures" if group["failures"] else ""
        lines.append(f"  {group['name']}: {group['requests']} requests{failures}, {_percentiles(group)}")
    for label, pcts in _side_figures(report.run):
        lines.append(f"{label}: " + ", ".join(f"{k} {v:g} ms" for k, v in pcts.items()))
    if report.run.arrival_lags:
        lines.append(f"arrivals dropped (over {_MAX_IN_FLIGHT} in flight): {report.run.dropped}")
    for s in report.skipped:
        lines.append(f"skipped: {s.slo}: {s.reason}")
    if report.run.breakpoint:
        lines.append("breakpoint: " + ", ".join(f"{k}={v:g}" for k, v in report.run.breakpoint))
    lines.append(
        {
            "PASSED": "PASSED",
            "FAILED": "FAILED: at least one threshold was violated",
            "INTERRUPTED": "INTERRUPTED: the figures are those of the part that ran; no verdict",
        }[report.verdict]
    )
    return "\n".join(lines)


_MAX_IN_FLIGHT = 500  # ConstantRateUser.MAX_IN_FLIGHT (locustlib imports Locust; not here)


def _percentiles(row: Summary) -> str:
    """``p50 6 ms, p95 53 ms, p99 190 ms`` of a summary; ``-`` where no request succeeded."""
    return ", ".join(
        f"{p} {value:g} ms" if isinstance(value, int | float) else f"{p} -"
        for p, value in ((p, row[f"{p}_ms"]) for p in ("p50", "p95", "p99"))
    )


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
        "interrupted": report.interrupted,
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
        "latency_over": report.run.latency_over,
        "total": report.run.total_summary(),
        "routes": report.run.route_summaries(),
        "groups": report.run.group_summaries(),
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
        "ran_seconds": report.run.ran_seconds,
        "run": dict(report.run.extra),
    }


def render_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2, sort_keys=True) + "\n"


def _plots(samples: Sequence[Sample]) -> list[Markup]:
    if not samples:
        return []
    xs = [s.t for s in samples]

    def line(name: str, values: Sequence[float | None]) -> Line:
        # an interval none of whose requests succeeded has no latency: a gap, not 0 ms
        return Line(name, tuple((x, math.nan if v is None else v) for x, v in zip(xs, values, strict=True)))

    latency = line_chart(
        "Latency percentiles per interval (successful requests)",
        [
            line("p50", [s.p50_ms for s in samples]),
            line("p95", [s.p95_ms for s in samples]),
            line("p99", [s.p99_ms for s in samples]),
        ],
        x_range=(0, max(xs) or 1.0),
        unit="ms",
    )
    rate = line_chart(
        "Request rate",
        [
            line("requests/s", [s.rps for s in samples]),
            line("failures/s", [s.failures_per_s for s in samples]),
        ],
        x_range=(0, max(xs) or 1.0),
        unit="req/s",
    )
    return [latency, rate]


def render_html(report: Report) -> str:
    """A self-contained page (report kit: :mod:`sloctl.reports`): thresholds, charts, routes."""
    verdict = report.verdict
    gates = [
        {
            "passed": g.passed,
            "expression": _expr(g),
            "scope": g.threshold.scope,
            "measured": _fmt(g.value, g.threshold.stat) if g.value is not None else g.note,
            "source": g.threshold.source,
        }
        for g in report.gates
    ]
    return render(
        "loadtest.html.j2",
        title=f"sloctl loadtest {report.scenario}: {verdict}",
        report=report,
        verdict=verdict,
        gates=gates,
        breakpoint=", ".join(f"{k} = {v:g}" for k, v in report.run.breakpoint),
        charts=_plots(report.run.samples),
        routes=report.run.route_summaries(),
        groups=report.run.group_summaries(),
        side=[
            f"{label}: " + ", ".join(f"{k} {v:g} ms" for k, v in pcts.items())
            for label, pcts in _side_figures(report.run)
        ],
        total=report.run.total_summary(),
        latency_over=report.run.latency_over,
        latency_fields=LATENCY_FIELDS,
    )
