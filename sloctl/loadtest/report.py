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
from dataclasses import asdict, dataclass

from markupsafe import Markup

from sloctl.contract import OPERATIONAL_PATHS
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
    #: ``--breakpoint-at-least``: the users a breakpoint search must hold, or it fails
    breakpoint_at_least: int | None = None

    @property
    def search_failure(self) -> str | None:
        """Why a breakpoint search fails (too few users held, no step measured); None when it
        passed, or when the run was no search and none was asked for."""
        found, least = self.run.breakpoint, self.breakpoint_at_least
        if found is None:
            return f"--breakpoint-at-least {least}: the scenario ran no breakpoint search" if least else None
        if not found.measured:
            return "the breakpoint search measured no whole step"
        if least is not None and found.held_users < least:
            return f"held {found.held_users} users, fewer than --breakpoint-at-least {least}"
        return None

    @property
    def passed(self) -> bool:
        """Every gate held; for a breakpoint search, the search measured its point (and held
        ``breakpoint_at_least`` users): a gate breaking is what it looks for, not a failure."""
        if self.interrupted or self.search_failure is not None:
            return False
        return self.run.breakpoint is not None or all(g.passed for g in self.gates)

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


#: a gate's status when it broke a breakpoint search (``sloctl serve``: ``broke the search at …``)
_BROKE_SEARCH = "broke the search"


def _status(report: Report, g: GateResult) -> str:
    """``PASS`` or ``FAIL`` (over the whole run), or :data:`_BROKE_SEARCH` for the gate that
    broke a search (:meth:`~.results.Breakpoint.broke`): what the search looked for, not a
    violated gate."""
    found = report.run.breakpoint
    if found is not None and found.broke(g.threshold):
        return _BROKE_SEARCH
    return "PASS" if g.passed else "FAIL"


def _measured(report: Report, g: GateResult) -> str:
    """What a gate measured; in a breakpoint search, labelled: where it broke the search (the
    step's figure, its users and rate), or over the whole run (the step that broke included)."""
    t, found = g.threshold, report.run.breakpoint
    whole = _fmt(g.value, t.stat) if g.value is not None else g.note
    if found is None:
        return whole
    whole = f"{whole} over the whole run" if g.value is not None else whole
    if not found.broke(t):
        return whole
    return (
        f"{_fmt(found.broken_value, t.stat)} in the step of {found.broke_at_users} users"
        f" ({found.broke_at_rps or 0:g} req/s); {whole}"
    )


def render_table(report: Report) -> str:
    rows = [("result", "threshold", "scope", "measured", "source")]
    for g in report.gates:
        t = g.threshold
        rows.append((_status(report, g), _expr(g), t.scope, _measured(report, g), t.source))
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
    if report.run.left_out:
        lines.append(f"  {_left_out(report.run)}")
    for group in report.run.group_summaries():
        failures = f", {group['failures']} failures" if group["failures"] else ""
        lines.append(f"  {group['name']}: {group['requests']} requests{failures}, {_percentiles(group)}")
    for label, pcts in _side_figures(report.run):
        lines.append(f"{label}: " + ", ".join(f"{k} {v:g} ms" for k, v in pcts.items()))
    if report.run.arrival_lags:
        lines.append(f"arrivals dropped (over {_MAX_IN_FLIGHT} in flight): {report.run.dropped}")
    for s in report.skipped:
        lines.append(f"skipped: {s.slo}: {s.reason}")
    if report.run.breakpoint is not None:
        lines.append(f"breakpoint: {report.run.breakpoint.describe()}")
    lines.append(_verdict_line(report))
    return "\n".join(lines)


#: what a breakpoint search's verdict says of its thresholds (they stop the search, not the run)
_SEARCH_GATES = (
    "it stops on its latency and failure thresholds with an upper limit, each judged step by"
    " step; the figures above say what they cover (the whole run, the step that broke included,"
    " or the step that broke the search), and none decides the verdict"
)


def _breakpoint_text(report: Report) -> str:
    """The page's breakpoint section: what the search found, why it failed, what its gates are."""
    found, failure = report.run.breakpoint, report.search_failure
    parts = [found.describe()] if found is not None else []
    parts += [f"FAILED: {failure}"] if failure is not None else []
    parts += [_SEARCH_GATES[0].upper() + _SEARCH_GATES[1:]] if found is not None else []
    return ". ".join(parts) + "." if parts else ""


def _left_out(run: RunStats) -> str:
    """What the aggregates cover: every route but the operational ones, and how many requests
    went to those."""
    return (
        f"the total, the groups and the gates on all requests or a dependency leave out"
        f" {', '.join(OPERATIONAL_PATHS)} ({run.left_out} requests)"
    )


def _verdict_line(report: Report) -> str:
    """The table's last line: the verdict and, when it failed, why."""
    if report.verdict == "INTERRUPTED":
        return "INTERRUPTED: the figures are those of the part that ran; no verdict"
    if report.search_failure is not None:
        return f"FAILED: {report.search_failure}"
    if report.run.breakpoint is not None:
        return f"PASSED: breakpoint search done; {_SEARCH_GATES}"
    return "PASSED" if report.passed else "FAILED: at least one threshold was violated"


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
        "thresholds": [_threshold_dict(report, g) for g in report.gates],
        "skipped": [{"slo": s.slo, "reason": s.reason} for s in report.skipped],
        "latency_over": report.run.latency_over,
        "aggregate_leaves_out": {"routes": list(OPERATIONAL_PATHS), "requests": report.run.left_out},
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
        "breakpoint": _breakpoint_dict(report),
        "stopped_by": report.run.stopped_by,
        "ran_seconds": report.run.ran_seconds,
        "run": dict(report.run.extra),
    }


def _threshold_dict(report: Report, g: GateResult) -> dict[str, object]:
    """One gate of ``report.json``: ``value`` and ``passed`` over the whole run (``over``);
    ``status`` as the table says it; ``broke_search`` where it broke a breakpoint search (the
    step's users, rate and figure; ``passed`` is then null: the search looked for it), null
    otherwise."""
    t, found = g.threshold, report.run.breakpoint
    broke = found is not None and found.broke(t)
    return {
        "expression": t.expression,
        "stat": t.stat,
        "percentile": t.percentile,
        "op": t.op,
        "limit": t.limit,
        "route": t.route,
        "method": t.method,
        "dependency": t.dependency,
        "scope": t.scope,
        "source": t.source,
        "value": g.value,
        "over": "whole run",
        "passed": None if broke else g.passed,
        "status": _status(report, g),
        "broke_search": (
            {"users": found.broke_at_users, "rps": found.broke_at_rps, "value": found.broken_value}
            if found is not None and broke
            else None
        ),
        "note": g.note,
    }


def _breakpoint_dict(report: Report) -> dict[str, object]:
    """The search's findings, ``at_least`` and ``failure`` (null when it passed); empty for a run
    that searched none and was asked none."""
    found = report.run.breakpoint
    if found is None and report.breakpoint_at_least is None:
        return {}
    return {
        **(asdict(found) if found is not None else {}),
        "at_least": report.breakpoint_at_least,
        "failure": report.search_failure,
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
            "status": _status(report, g),
            "expression": _expr(g),
            "scope": g.threshold.scope,
            "measured": _measured(report, g),
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
        breakpoint=_breakpoint_text(report),
        left_out=_left_out(report.run),
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
