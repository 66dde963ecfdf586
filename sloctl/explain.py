"""``sloctl explain``: what an SLO promises and how its alerts behave, in numbers.

Pure: SLOs in, rows out; the CLI formats them as a table or JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from sloctl.durations import format_duration
from sloctl.model import SLO
from sloctl.render.ruletests import designed_detection

__all__ = ["SLOExplanation", "TierExplanation", "explain", "format_explanations"]

EVALUATION_INTERVAL = 60
"""Assumed rule evaluation interval (Prometheus' usual global setting) for detection times."""


@dataclass(frozen=True)
class TierExplanation:
    tier: str
    severity: str
    enabled: bool
    long_window: str
    short_window: str
    burn_factor: float
    trips_at_error_ratio: float
    budget_spent_at_threshold_percent: float
    for_: str
    full_outage_detection_seconds: int
    budget_spent_before_full_outage_alert_percent: float


@dataclass(frozen=True)
class SLOExplanation:
    id: str
    service: str
    slo: str
    sli: str
    objective_percent: float
    period: str
    error_budget_ratio: float
    error_budget_minutes: float
    one_error_in_events: float
    error_budget_events: float | None
    min_events: float
    windows_source: str
    tiers: tuple[TierExplanation, ...]


def explain(slos: Sequence[SLO], *, requests_per_second: float | None = None) -> list[SLOExplanation]:
    out: list[SLOExplanation] = []
    for slo in slos:
        budget = slo.error_budget
        tiers: list[TierExplanation] = []
        enabled = {t.name for t in slo.alerting.enabled_tiers}
        for tier in slo.alerting.tiers:
            w = tier.window
            factor = w.burn_factor(slo.period)
            outage = 1 / budget
            detect = designed_detection(slo, tier, outage, EVALUATION_INTERVAL) if outage > factor else 0
            tiers.append(
                TierExplanation(
                    tier=tier.name,
                    severity=tier.severity,
                    enabled=tier.name in enabled,
                    long_window=format_duration(w.long_window),
                    short_window=format_duration(w.short_window),
                    burn_factor=round(factor, 4),
                    trips_at_error_ratio=min(1.0, factor * budget),
                    budget_spent_at_threshold_percent=round(w.budget_percent, 4),
                    for_=format_duration(tier.for_seconds) if tier.for_seconds else "0s",
                    full_outage_detection_seconds=detect,
                    budget_spent_before_full_outage_alert_percent=round(
                        100 * detect / (budget * slo.period), 4
                    ),
                )
            )
        out.append(
            SLOExplanation(
                id=slo.id,
                service=slo.service,
                slo=slo.name,
                sli=slo.sli.kind,
                objective_percent=slo.objective,
                period=format_duration(slo.period),
                error_budget_ratio=budget,
                error_budget_minutes=round(budget * slo.period / 60, 2),
                one_error_in_events=round(1 / budget, 2),
                error_budget_events=(
                    round(budget * requests_per_second * slo.period)
                    if requests_per_second is not None
                    else None
                ),
                min_events=slo.alerting.min_events,
                windows_source=slo.windows.source,
                tiers=tuple(tiers),
            )
        )
    return out


def _human(seconds: float) -> str:
    s = round(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s / 60:.1f}m"
    if s < 172800:
        return f"{s / 3600:.1f}h"
    return f"{s / 86400:.1f}d"


def format_explanations(items: Sequence[SLOExplanation]) -> str:
    """A readable report: one block per SLO and a table of its alert tiers."""
    lines: list[str] = []
    for e in items:
        events = (
            f", {e.error_budget_events:,.0f} events at the given rate"
            if e.error_budget_events is not None
            else ""
        )
        lines.append(f"{e.id}  ({e.sli} SLI)")
        lines.append(
            f"  objective {e.objective_percent:g}% over a rolling {e.period}: error budget "
            f"{e.error_budget_ratio:.4%} = {e.error_budget_minutes:,.1f} min of full outage, "
            f"1 error in {e.one_error_in_events:,.0f} events{events}"
        )
        if e.min_events:
            lines.append(
                f"  pages need at least {e.min_events:g} events in the long window (low-traffic guard)"
            )
        header = ("tier", "windows", "factor", "trips at", "budget", "for", "outage detected", "budget used")
        rows = [header]
        for t in e.tiers:
            state = "" if t.enabled else " (off)"
            rows.append(
                (
                    f"{t.tier}{state}",
                    f"{t.long_window}/{t.short_window}",
                    f"{t.burn_factor:g}x",
                    f"{t.trips_at_error_ratio:.4%}",
                    f"{t.budget_spent_at_threshold_percent:g}%",
                    t.for_,
                    _human(t.full_outage_detection_seconds) if t.full_outage_detection_seconds else "n/a",
                    f"{t.budget_spent_before_full_outage_alert_percent:.3f}%",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for r in rows:
            lines.append("  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
        lines.append("")
    lines.append(
        "trips at: error ratio that fires the tier; budget: share of the period's budget spent in the "
        "long window at that ratio; outage detected: designed time to fire on a total outage "
        f"({EVALUATION_INTERVAL}s rule evaluation); budget used: budget spent by then."
    )
    return "\n".join(lines) + "\n"


def as_dicts(items: Sequence[SLOExplanation]) -> list[dict[str, object]]:
    return [asdict(e) for e in items]
