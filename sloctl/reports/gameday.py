"""The HTML report of a game day (``sloctl gameday run``) on the report kit: verdict, facts,
a timeline chart (phases as bands, the fault and the first page as marks, per dependency the
share of failed or rejected requests each second) and the checks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from markupsafe import Markup

from . import render
from .charts import Band, Line, Mark, line_chart

if TYPE_CHECKING:
    from sloctl.chaos.result import GamedayResult

__all__ = ["NOT_MEASURED_INTERRUPTED", "figure", "render_html", "timeline_svg"]

_COLOURS = {"postgres": "#1f62a8", "redis": "#c0282a", "mongodb": "#2b7a2b"}
_PHASE_COLOURS = {"baseline": "#eef5ee", "inject": "#fbe9e7", "recover": "#e8eaf6"}


def timeline_svg(result: GamedayResult) -> Markup:
    total = max(result.duration_s, 1.0)
    lines: list[Line] = []
    if result.load:
        offset = result.load_offset_s
        for dep, rows in sorted(result.load.get("timeline", {}).items()):
            points = []
            for second, ok, errors, rejected in rows:
                count = ok + errors + rejected
                points.append((offset + second + 0.5, (errors + rejected) / count if count else 0.0))
            lines.append(
                Line(
                    f"{dep}: failed or rejected share per second",
                    points,
                    _COLOURS.get(dep, "#595959"),
                    width=2,
                )
            )
    marks = [Mark(result.fault_at_s, "fault")] if result.fault_at_s is not None else []
    if result.fault_at_s is not None and result.time_to_detect_s is not None:
        marks.append(Mark(result.fault_at_s + result.time_to_detect_s, "page"))
    return line_chart(
        f"timeline of {result.gameday}",
        lines,
        x_range=(0.0, total),
        y_range=(0.0, 1.0),
        unit="failed share",
        bands=[
            Band(a, b, phase, _PHASE_COLOURS.get(phase, "#eeeeee")) for phase, (a, b) in result.phases.items()
        ],
        marks=marks,
        width=720,
    )


#: what the absence of a measured figure of a game day means once a fault was applied; its unit
#: is in its name (``_s`` seconds, ``_percent`` percent)
_ABSENT = {
    "time_to_detect_s": "not detected",
    "breaker_open_s": "not seen",
    "time_to_recover_s": "not seen",
    "time_to_resolve_s": "no page to resolve",
    "resolve_settle_s": "no wait for the pages",
    "budget_consumed_percent": "not measured",
}


#: the time to resolve of a run that Ctrl-C or SIGTERM stopped, or whose wait for its pages it
#: ended, and the budget of a run it stopped
NOT_MEASURED_INTERRUPTED = "not measured: interrupted"


def figure(result: GamedayResult, name: str) -> str:
    """One measured figure of ``result`` (a field named in ``_ABSENT``) with its unit, or what
    its absence means: before a fault was applied (a dry run, an aborted setup) nothing is
    measured, nor is the time to resolve or the budget of an interrupted run."""
    value = getattr(result, name)
    if value is not None:
        return f"{value} {'s' if name.endswith('_s') else '%'}"
    if name in ("time_to_resolve_s", "budget_consumed_percent") and result.interrupted:
        return NOT_MEASURED_INTERRUPTED
    return _ABSENT[name] if result.fault_at_s is not None else "not measured"


def render_html(result: GamedayResult, profile: Sequence[tuple[str, str, str]] = ()) -> str:
    """``profile``: the timing profile's ``(setting, this run, the plan)`` rows."""
    facts = {
        "verdict": result.verdict,
        "status": result.status,
        "time to detect (expected page alert firing after the fault)": figure(result, "time_to_detect_s"),
        "breaker open (after the fault)": figure(result, "breaker_open_s"),
        "time to recover (breaker closed after recovery started)": figure(result, "time_to_recover_s"),
        "time to resolve (the last page resolved after the fault; plan: under 15 min)": figure(
            result, "time_to_resolve_s"
        ),
        "settle (how long after the run the pages had to stay quiet to count as resolved: the"
        " longest timeslice and two rule evaluations, or resolve_settle_seconds)": figure(
            result, "resolve_settle_s"
        ),
        "pages during the run": "; ".join(f"{a}: {s}" for a, s in result.pages.items()) or "none",
        "error budget consumed": figure(result, "budget_consumed_percent"),
        "expected alerts": ", ".join(f"{a}: {result.alerts.get(a, '?')}" for a in result.expected_alerts)
        or "none",
        "stop condition": result.stop_reason or "did not trip",
        "faults left behind": ", ".join(result.faults_left) or "none",
        "undo failures (the fault may still be in place)": "; ".join(result.undo_failures) or "none",
        "duration": f"{result.duration_s} s",
        "timing profile": result.timing_profile or "not stated",
        "rules' short windows": (
            f"÷ {result.fast_reset} (fast reset: pages resolve up to {result.fast_reset}× sooner than"
            " with the generated rules, a timeslice SLO's less: its slices keep a floor; the same"
            " faults trip them; burn rates and budgets as generated)"
            if result.fast_reset > 1
            else "as generated"
        ),
    }
    checks = [
        {
            "name": c["name"],
            "status": str(c["status"]),
            "output_text": json.dumps(c["output"], default=str)[:200],
        }
        for c in result.checks
    ]
    return render(
        "gameday.html.j2",
        title=f"{result.gameday}: {result.verdict}",
        result=result,
        facts=facts,
        checks=checks,
        profile=list(profile),
        timeline=timeline_svg(result),
    )
