"""Text and JSON views of backtest results."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .run import ScenarioResult, describe

__all__ = ["failures", "render_json", "render_table"]


def _num(v: float) -> float | None:
    return v if math.isfinite(v) else None


def render_json(results: Sequence[ScenarioResult]) -> list[dict[str, object]]:
    return [
        {
            "slo": r.source_id,
            "scenario": r.scenario.name,
            "budget_left": _num(r.budget_left),
            "budget_left_truth": _num(r.budget_left_truth),
            "period_error_ratio": _num(r.period_ratio),
            "period_error_ratio_truth": _num(r.period_ratio_truth),
            "tiers": [
                {
                    "tier": t.tier,
                    "expected": t.expected,
                    "designed_seconds": t.designed_seconds,
                    "detection_seconds": t.detection_seconds,
                    "false_alerts": t.false_alerts,
                    "alerts": len(t.episodes),
                    "alert_seconds": t.alert_seconds,
                    "reset_seconds": t.reset_seconds,
                    "note": t.note,
                }
                for t in r.tiers
            ],
        }
        for r in results
    ]


def render_table(results: Sequence[ScenarioResult]) -> str:
    header = (
        "SLO",
        "SCENARIO",
        "TIER",
        "DESIGNED",
        "DETECTED",
        "FALSE",
        "ALERTS",
        "DURATION",
        "RESET",
        "BUDGET/TRUTH",
    )
    rows: list[tuple[str, ...]] = []
    for r in results:
        for t in r.tiers:
            rows.append(
                (
                    r.source_id,
                    r.scenario.name,
                    t.tier + (" *" if t.expected else ""),
                    describe(t.designed_seconds),
                    describe(t.detection_seconds),
                    str(t.false_alerts),
                    str(len(t.episodes)),
                    describe(t.alert_seconds or None),
                    describe(t.reset_seconds),
                    f"{r.budget_left:.4f}/{r.budget_left_truth:.4f}",
                )
            )
    widths = [max(len(c) for c in col) for col in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in (header, *rows)
    ]
    notes = [
        f"{r.source_id} {r.scenario.name} {t.tier}: {t.note}" for r in results for t in r.tiers if t.note
    ]
    return "\n".join([*lines, "* designed to fire in this scenario", *notes]) + "\n"


def failures(results: Sequence[ScenarioResult]) -> list[str]:
    """One sentence per tier that missed its design, naming the SLO, scenario and tier."""
    out: list[str] = []
    for r in results:
        where = f"{r.source_id}, scenario {r.scenario.name}, tier {{}}"
        for t in r.tiers:
            if t.within_design is False:
                if t.detection_seconds is None:
                    what = f"designed to fire within {describe(t.designed_seconds)} but did not fire"
                else:
                    what = (
                        f"fired after {describe(t.detection_seconds)}, later than its designed "
                        f"{describe(t.designed_seconds)}"
                    )
                out.append(f"{where.format(t.tier)}: {what}")
            if t.false_alerts:
                out.append(
                    f"{where.format(t.tier)}: {t.false_alerts} false alert(s): firing outside every incident"
                    " and its window"
                )
    return out
