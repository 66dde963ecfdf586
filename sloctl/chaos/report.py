"""A game day's report files: the journal, ``report.json`` and ``report.html`` (facts, the
timing profile against the plan's, a timeline and the checks), masked and written atomically,
readable by their owner only (0600)."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sloctl.files import write_text
from sloctl.masking import Masker

from .profiles import profile_table
from .result import GamedayResult

__all__ = ["render_html", "timeline_svg", "write_reports"]


def write_reports(
    result: GamedayResult, journal: Mapping[str, Any] | None, out_dir: Path, masker: Masker
) -> GamedayResult:
    if journal is not None:
        text = json.dumps(masker.data(journal), indent=2, default=str) + "\n"
        write_text(out_dir / "journal.json", text, private=True)
        result.files["journal"] = str(out_dir / "journal.json")
    result.files["json"] = str(out_dir / "report.json")
    result.files["html"] = str(out_dir / "report.html")
    masked = GamedayResult(**masker.data(asdict(result)))  # type: ignore[arg-type]
    write_text(
        out_dir / "report.json", json.dumps(masked.to_json(), indent=2, default=str) + "\n", private=True
    )
    write_text(out_dir / "report.html", render_html(masked), private=True)
    return result


_COLOURS = {"postgres": "#1f77b4", "redis": "#d62728", "mongodb": "#2ca02c"}
_PHASE_COLOURS = {"baseline": "#eef5ee", "inject": "#fbe9e7", "recover": "#e8eaf6"}


def timeline_svg(result: GamedayResult, width: int = 720, height: int = 220) -> str:
    """An inline SVG: phases as bands, the fault and the first page as dashed lines, and per
    dependency the share of failed or rejected requests each second (0 to 100 %)."""
    total = max(result.duration_s, 1.0)
    left, top, plot_w, plot_h = 40, 10, width - 50, height - 40

    def x(seconds: float) -> float:
        return round(left + plot_w * min(max(seconds, 0.0), total) / total, 1)

    def y(ratio: float) -> float:
        return round(top + plot_h * (1 - ratio), 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img"'
        f' aria-label="timeline of {html.escape(result.gameday)}">'
    ]
    for phase, (a, b) in result.phases.items():
        parts.append(
            f'<rect x="{x(a)}" y="{top}" width="{max(0.0, x(b) - x(a))}" height="{plot_h}"'
            f' fill="{_PHASE_COLOURS.get(phase, "#eee")}"><title>{phase}</title></rect>'
            f'<text x="{x(a) + 3}" y="{top + 12}" font-size="10">{phase}</text>'
        )
    marks = {"fault": result.fault_at_s}
    if result.fault_at_s is not None and result.time_to_detect_s is not None:
        marks["page"] = result.fault_at_s + result.time_to_detect_s
    for label, at in marks.items():
        if at is not None:
            parts.append(
                f'<line x1="{x(at)}" y1="{top}" x2="{x(at)}" y2="{y(0)}" stroke="#555"'
                f' stroke-dasharray="4 3"><title>{label} at {at:.1f} s</title></line>'
                f'<text x="{x(at) + 2}" y="{top + 24}" font-size="10">{label}</text>'
            )
    parts.append(
        f'<line x1="{left}" y1="{y(0)}" x2="{left + plot_w}" y2="{y(0)}" stroke="#333"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{y(0)}" stroke="#333"/>'
        f'<text x="2" y="{y(1) + 4}" font-size="10">100%</text>'
        f'<text x="12" y="{y(0)}" font-size="10">0%</text>'
        f'<text x="{left + plot_w - 30}" y="{height - 5}" font-size="10">{total:.0f} s</text>'
    )
    if result.load:
        offset = result.load_offset_s
        for legend, (dep, rows) in enumerate(sorted(result.load.get("timeline", {}).items())):
            points = []
            for second, ok, errors, rejected in rows:
                count = ok + errors + rejected
                ratio = (errors + rejected) / count if count else 0.0
                points.append(f"{x(offset + second + 0.5)},{y(ratio)}")
            colour = _COLOURS.get(dep, "#555")
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(points)}">'
                f"<title>{dep}: failed or rejected share per second</title></polyline>"
                f'<text x="{left + 10 + 90 * legend}" y="{height - 5}" font-size="11"'
                f' fill="{colour}">{dep}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _profile_html(name: str) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(ours)}</td><td>{html.escape(plan)}</td></tr>"
        for k, ours, plan in profile_table(name)
    )
    if not rows:
        return ""
    return (
        f"<h2>Timing profile: {html.escape(name)}</h2>"
        f"<table><tr><th>setting</th><th>this run</th><th>the plan</th></tr>{rows}</table>"
    )


def render_html(result: GamedayResult) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(c['name'])}</td><td>{esc(str(c['status']))}</td>"
        f"<td><code>{esc(json.dumps(c['output'], default=str)[:200])}</code></td></tr>"
        for c in result.checks
    )
    facts = {
        "verdict": result.verdict,
        "status": result.status,
        "time to detect (expected page alert firing after the fault)": (
            f"{result.time_to_detect_s} s" if result.time_to_detect_s is not None else "not detected"
        ),
        "breaker open (after the fault)": f"{result.breaker_open_s} s",
        "time to recover (breaker closed after recovery started)": f"{result.time_to_recover_s} s",
        "time to resolve (the last page resolved after the fault; plan: under 15 min)": (
            f"{result.time_to_resolve_s} s" if result.time_to_resolve_s is not None else "no page to resolve"
        ),
        "pages during the run": "; ".join(f"{a}: {s}" for a, s in result.pages.items()) or "none",
        "error budget consumed": (
            f"{result.budget_consumed_percent} %"
            if result.budget_consumed_percent is not None
            else "not measured"
        ),
        "expected alerts": ", ".join(f"{a}: {result.alerts.get(a, '?')}" for a in result.expected_alerts)
        or "none",
        "stop condition": result.stop_reason or "did not trip",
        "faults left behind": ", ".join(result.faults_left) or "none",
        "duration": f"{result.duration_s} s",
        "timing profile": result.timing_profile or "not stated",
    }
    fact_rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in facts.items())
    reasons = "".join(f"<li>{esc(r)}</li>" for r in result.reasons)
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{esc(result.gameday)}: {esc(result.verdict)}</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "td,th{border-bottom:1px solid #ddd;padding:.2em .5em;text-align:left}</style>"
        f"<h1>{esc(result.experiment)}</h1>"
        f"<p class=verdict><strong>{esc(result.verdict.upper())}</strong></p><ul>{reasons}</ul>"
        f"<table>{fact_rows}</table>{_profile_html(result.timing_profile)}<h2>Timeline</h2>{timeline_svg(result)}"
        f"<h2>Checks</h2><table><tr><th>check</th><th>status</th><th>output</th></tr>{rows}</table>"
        "</html>\n"
    )
