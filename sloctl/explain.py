"""``sloctl explain``: what an SLO promises and how its alerts behave, in numbers.

Pure: SLOs in, rows out; the CLI formats them as a table or JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from sloctl.durations import DAY, HOUR, format_duration
from sloctl.model import SLO, AlertTier, Calendar, CompositeSLI, LatencySLI, RawSLI
from sloctl.render.promql import fmt_number, takes_window
from sloctl.render.rules import sharp_window, tiled_window
from sloctl.render.ruletests import designed_detection, timeslice_slices_to_fire, timeslice_tier_can_fire

__all__ = ["SLOExplanation", "TierExplanation", "explain", "format_explanations"]

EVALUATION_INTERVAL = 60
"""Assumed rule evaluation and scrape interval (Prometheus' usual global setting) for
detection times."""

_CALENDAR_YEARS = range(2025, 2053)
"""Years whose periods give a calendar's shortest and longest one: 28 years, a full cycle of
weekdays and leap years (the zone's offsets at period starts are the same every year, which the
loader checks), fixed so that output does not depend on today."""


@dataclass(frozen=True)
class TierExplanation:
    tier: str
    severity: str
    enabled: bool
    long_window: str
    short_window: str
    long_window_source: str
    """``5m tiles`` (the 5m rates recorded 5 minutes apart, summed edge to edge), ``raw series``
    (read with the SLI's queries), both without the 5m ramp; ``5m recordings`` (summed, with the
    ramp) or ``bad slices``."""
    long_window_fallback: str | None
    """What the long window reads where its source has no data yet: ``5m recordings`` for ``5m
    tiles`` (a tile older than the recordings' history), else ``None``."""
    burn_factor: float
    burn_factor_range: tuple[float, float] | None
    """For a calendar period: the factor in its shortest and longest period."""
    trips_at_error_ratio: float
    trips_at_bad_slices: int | None
    """For timeslices: bad slices in the long window that trip the tier."""
    budget_spent_at_threshold_percent: float
    for_: str
    full_outage_detection_seconds: int
    budget_spent_before_full_outage_alert_percent: float
    cannot_fire: str | None = None
    """Why the tier can never fire (its threshold at or above the most there can be; for a
    calendar period, in its longest period), else ``None``."""
    trips_at_error_ratio_range: tuple[float, float] | None = None
    trips_at_bad_slices_range: tuple[int, int] | None = None
    full_outage_detection_seconds_range: tuple[int, int] | None = None
    budget_spent_before_full_outage_alert_percent_range: tuple[float, float] | None = None
    """For a calendar period: the figures above (given at its nominal length) in its shortest
    and longest period, as ``burn_factor_range``; None where the tier cannot fire."""


@dataclass(frozen=True)
class SLOExplanation:
    id: str
    service: str
    slo: str
    sli: str
    objective_percent: float
    period: str
    budgeting: str
    meaning: str
    """The promise in words: what is counted, over which period, what a good slice is."""
    error_budget_ratio: float
    error_budget_minutes: float
    error_budget_slices: float | None
    one_error_in_events: float | None
    """None for a raw SLI: an error ratio with no events behind it."""
    error_budget_events: float | None
    min_events: float
    no_data: str
    policy: tuple[str, ...]
    windows_source: str
    tiers: tuple[TierExplanation, ...]


def _meaning(slo: SLO) -> str:
    if slo.calendar is not None:
        over = (
            f"each calendar {slo.calendar.unit} in {slo.calendar.time_zone} (the budget resets at local "
            f"midnight {'on Monday' if slo.calendar.unit == 'week' else 'on the 1st'})"
        )
    else:
        over = f"a rolling {format_duration(slo.period)}"
    if isinstance(slo.sli, CompositeSLI):
        parts = ", ".join(f"{c.slo} ×{c.weight:g}" for c in slo.sli.components)
        return (
            f"{fmt_number(slo.objective)}% over {over}, of the weighted mean of its components' error ratios "
            f"({parts}; Σ wᵢ·rᵢ / {slo.sli.total_weight:g})"
        )
    if slo.timeslices is not None:
        size = format_duration(slo.timeslices.slice_seconds)
        target = slo.timeslices.target
        if isinstance(slo.sli, LatencySLI):
            good = (
                f"its p{target:g} latency is at most {slo.sli.threshold_seconds * 1000:g}ms "
                f"({target:g}% of its requests at most that fast)"
            )
        else:
            good = f"at least {target:g}% of its events are good"
        return (
            f"{fmt_number(slo.objective)}% of {size} slices over {over} are good; "
            f"a slice is good when {good}; slices without events do not count"
        )
    if isinstance(slo.sli, RawSLI):
        return (
            f"the error ratio, averaged over {over} by time, stays at or below"
            f" {_percent(slo.error_budget)} (a raw SLI: no events behind it)"
        )
    return f"{fmt_number(slo.objective)}% of events over {over} are good"


def _period_lengths(calendar: Calendar) -> tuple[int, int]:
    """The shortest and longest period of ``calendar``, in seconds, as the rules measure it: from
    local midnight to local midnight, by the zone's UTC offsets at period starts (the model's
    table). A DST change inside a period makes it an hour shorter or longer; a zone without DST
    (UTC, Asia/Kolkata) has weeks of exactly 7 days."""

    months = {"week": 0, "month": 1, "quarter": 3}[calendar.unit]
    lengths: set[int] = set()
    for year in _CALENDAR_YEARS:
        if months:
            starts = [dt.date(year, m, 1) for m in range(1, 13, months)]
        else:
            first = dt.date(year, 1, 1) + dt.timedelta(days=(7 - dt.date(year, 1, 1).weekday()) % 7)
            starts = [first + dt.timedelta(weeks=k) for k in range(52)]
        for start in starts:
            lengths.add(calendar.starts_at(calendar.next_first_day(start)) - calendar.starts_at(start))
    return min(lengths), max(lengths)


@dataclass(frozen=True)
class _Figures:
    """What a tier does in a period of ``period`` seconds: its factor, the error ratio (or bad
    slices) that trips it, the designed detection of a full outage and the budget spent by then;
    ``never`` says why it cannot fire."""

    period: int
    factor: float
    trips_at_error_ratio: float
    trips_at_bad_slices: int | None
    detection: int
    spent_percent: float
    never: str | None


def _figures(slo: SLO, tier: AlertTier, period: int) -> _Figures:
    budget = slo.error_budget
    slices = slo.timeslices.slice_seconds if slo.timeslices else None
    factor = tier.window.burn_factor(period)
    bad = timeslice_slices_to_fire(slo, tier, period) if slices else None
    never = _cannot_fire(slo, tier, factor, period)
    detect = 0 if never else designed_detection(slo, tier, 1 / budget, EVALUATION_INTERVAL, period=period)
    if never:
        spent = 0.0
    elif bad is not None and slices:
        spent = 100 * bad / (budget * period / slices)
    else:
        spent = 100 * detect / (budget * period)
    return _Figures(period, factor, min(1.0, factor * budget), bad, detect, spent, never)


@dataclass(frozen=True)
class _Ranges:
    """The calendar fields of :class:`TierExplanation`: the figures of the shortest and the
    longest period (all but the factor left out where either cannot fire)."""

    factor: tuple[float, float] | None = None
    trips_at: tuple[float, float] | None = None
    bad_slices: tuple[int, int] | None = None
    detection: tuple[int, int] | None = None
    spent: tuple[float, float] | None = None

    @classmethod
    def of(cls, low: _Figures, high: _Figures) -> _Ranges:
        factor = (round(low.factor, 2), round(high.factor, 2))
        if low.never or high.never:
            return cls(factor)
        slices = low.trips_at_bad_slices, high.trips_at_bad_slices
        return cls(
            factor,
            (low.trips_at_error_ratio, high.trips_at_error_ratio),
            None if slices[0] is None or slices[1] is None else (slices[0], slices[1]),
            (low.detection, high.detection),
            (round(low.spent_percent, 4), round(high.spent_percent, 4)),
        )


def _significant(value: float) -> float:
    """Two decimals, or four significant digits below one (a budget of seconds is not zero)."""
    return round(value, 2) if value >= 1 else float(f"{value:.4g}")


def explain(slos: Sequence[SLO], *, requests_per_second: float | None = None) -> list[SLOExplanation]:
    return [_explain_slo(slo, requests_per_second) for slo in slos]


def _explain_slo(slo: SLO, requests_per_second: float | None) -> SLOExplanation:
    budget = slo.error_budget
    slices = slo.timeslices.slice_seconds if slo.timeslices else None
    budget_slices = budget * slo.period / slices if slices else None
    raw = isinstance(slo.sli, RawSLI)
    nd = slo.alerting.no_data
    policy = tuple(
        f"at or below {s.budget_left_percent:g}% of the budget left: {s.action}" for s in slo.policy.steps
    )
    if policy:
        policy += (f"budget unknown (no data): {slo.policy.unknown}",)
    return SLOExplanation(
        id=slo.id,
        service=slo.service,
        slo=slo.name,
        sli=slo.sli.kind,
        objective_percent=slo.objective,
        period=slo.calendar.unit if slo.calendar else format_duration(slo.period),
        budgeting=slo.budgeting,
        meaning=_meaning(slo),
        error_budget_ratio=budget,
        error_budget_minutes=_significant(budget * slo.period / 60),
        error_budget_slices=round(budget_slices, 2) if budget_slices else None,
        one_error_in_events=None if raw else round(1 / budget, 2),
        error_budget_events=(
            round(budget * requests_per_second * slo.period)
            if requests_per_second is not None and not slices and not raw
            else None
        ),
        min_events=slo.alerting.min_events,
        no_data=f"{nd.severity} after {format_duration(nd.for_seconds)} without {'data' if raw else 'events'}"
        if nd.enabled
        else "off",
        policy=policy,
        windows_source=slo.windows.source,
        tiers=tuple(_explain_tier(slo, tier) for tier in slo.alerting.tiers),
    )


def _explain_tier(slo: SLO, tier: AlertTier) -> TierExplanation:
    w = tier.window
    nominal = _figures(slo, tier, slo.period)
    never, ranges = nominal.never, _Ranges()
    if slo.calendar is not None:
        shortest, longest = _period_lengths(slo.calendar)
        low, high = _figures(slo, tier, shortest), _figures(slo, tier, longest)
        ranges = _Ranges.of(low, high)
        if not never and high.never:  # the factor grows with the period: the longest is the bar
            never = f"{high.never}, in its longest period ({format_duration(longest)})"
    # explain assumes 1m evaluations (EVALUATION_INTERVAL), which divide 5m
    tiled = tiled_window(slo, EVALUATION_INTERVAL)
    if slo.timeslices:
        source = "bad slices"
    elif w.long_window == sharp_window(slo) and (tiled or takes_window(slo.sli)):
        source = "5m tiles" if tiled else "raw series"
    else:
        source = "5m recordings"
    fallback = "5m recordings" if source == "5m tiles" else None
    return TierExplanation(
        tier=tier.name,
        severity=tier.severity,
        enabled=tier.name in {t.name for t in slo.alerting.enabled_tiers},
        long_window=format_duration(w.long_window),
        short_window=format_duration(w.short_window),
        long_window_source=source,
        long_window_fallback=fallback,
        burn_factor=round(nominal.factor, 4),
        burn_factor_range=ranges.factor,
        trips_at_error_ratio=nominal.trips_at_error_ratio,
        trips_at_bad_slices=nominal.trips_at_bad_slices,
        budget_spent_at_threshold_percent=round(w.budget_percent, 4),
        for_=format_duration(tier.for_seconds) if tier.for_seconds else "0s",
        full_outage_detection_seconds=nominal.detection,
        budget_spent_before_full_outage_alert_percent=round(nominal.spent_percent, 4),
        cannot_fire=never,
        trips_at_error_ratio_range=ranges.trips_at,
        trips_at_bad_slices_range=ranges.bad_slices,
        full_outage_detection_seconds_range=ranges.detection,
        budget_spent_before_full_outage_alert_percent_range=ranges.spent,
    )


def _cannot_fire(slo: SLO, tier: AlertTier, factor: float, period: int) -> str | None:
    """Why ``tier`` never fires, or ``None``: the alert is a strict ``>``, so a threshold at the
    most there can be (an error ratio of 100 %, every slice of the window bad) never trips."""
    w = tier.window
    if slo.timeslices is not None:
        if timeslice_tier_can_fire(slo, tier, period):
            return None
        held = w.long_window // slo.timeslices.slice_seconds
        return (
            f"cannot fire: it takes {timeslice_slices_to_fire(slo, tier, period)} bad slices in its "
            f"{format_duration(w.long_window)} window, which holds only {held}"
        )
    if 1 / slo.error_budget > factor:  # a full outage burns 1 / budget: above the factor, it fires
        return None
    return (
        f"cannot fire: it trips only above an error ratio of {_percent(factor * slo.error_budget)} "
        f"({factor:g} x the {_percent(slo.error_budget)} budget), and no error ratio exceeds 100%"
    )


def _human(seconds: float) -> str:
    s = round(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s / 60:.1f}m"
    if s < 172800:
        return f"{s / HOUR:.1f}h"
    return f"{s / DAY:.1f}d"


def _percent(ratio: float) -> str:
    """A small ratio as a percentage, four decimals (``0.1000%``) or as many as it takes not to
    read zero (``0.00001%``, the budget of 99.99999)."""
    text = f"{ratio * 100:.4f}"
    return f"{text}%" if float(text) else f"{ratio * 100:.10f}".rstrip("0") + "%"


def _bare_percent(ratio: float) -> str:
    return _percent(ratio).removesuffix("%")


def _span(pair: tuple[float, float], text: Callable[[float], str], unit: str) -> str:
    """``low-high`` and the unit, or one value where both read the same (``1.44x``,
    ``1.344-1.488%``)."""
    low, high = (text(v) for v in sorted(pair))
    return f"{low}{unit}" if low == high else f"{low}-{high}{unit}"


def _outage(minutes: float) -> str:
    return f"{minutes:,.1f} min" if minutes >= 1 else f"{minutes * 60:.3g} s"


def _budget_line(e: SLOExplanation) -> str:
    if e.error_budget_slices is not None:
        return (
            f"  error budget {_percent(e.error_budget_ratio)} of the slices = "
            f"{e.error_budget_slices:,.1f} bad slices ({_outage(e.error_budget_minutes)}) per {e.period}"
        )
    events = (
        f", {e.error_budget_events:,.0f} events at the given rate"
        if e.error_budget_events is not None
        else ""
    )
    outage = _outage(e.error_budget_minutes)
    if e.one_error_in_events is None:
        return f"  error budget {_percent(e.error_budget_ratio)} = {outage} of full outage"
    return (
        f"  error budget {_percent(e.error_budget_ratio)} = {outage} of full outage, "
        f"1 error in {e.one_error_in_events:,.0f} events{events}"
    )


def format_explanations(items: Sequence[SLOExplanation]) -> str:
    """A readable report: one block per SLO and a table of its alert tiers."""
    lines: list[str] = []
    calendar = timeslices = False
    for e in items:
        lines.append(f"{e.id}  ({e.sli} SLI, {e.budgeting})")
        lines.append(f"  promise: {e.meaning}")
        lines.append(_budget_line(e))
        if e.min_events:
            lines.append(
                f"  pages need at least {e.min_events:g} events in the long window (low-traffic guard)"
            )
        lines.append(f"  no data: {e.no_data}")
        for p in e.policy:
            lines.append(f"  policy: {p}")
        table, has_range, has_slices = _tier_table(e)
        calendar, timeslices = calendar or has_range, timeslices or has_slices
        lines.extend(table)
        lines.append("")
    lines.append(
        "trips at: error ratio that fires the tier; budget: share of the period's budget spent in the "
        "long window at that ratio; outage detected: designed time to fire on a total outage "
        f"({EVALUATION_INTERVAL}s scrapes and rule evaluation); budget used: budget spent by then. "
        "A * marks a long window read without the 5m ramp (as fast as raw-window rules): the 5m rates "
        "recorded 5 minutes apart, summed edge to edge (the 5m recordings summed, ramp included, "
        "until the rules have that window's history), or the raw series for a ratio SLI; the "
        "others sum the 5m recordings."
    )
    if timeslices:
        lines.append(
            "Timeslices: a tier trips when its long window holds that many bad slices (its short "
            "window one at least); a total breach is detected after those slices have ended."
        )
    if calendar:
        lines.append(
            "Calendar periods: the budget is the objective's share of the current period's events (or "
            "slices) and resets at the boundary; a tier's factor is its budget share times the "
            "current period's length over its long window, so it is lower in February than in a "
            "31-day month (the range shown: its shortest and longest period in its time zone, "
            "a DST change included where the zone has one); so are the error ratio it trips at, "
            "the outage's detection and the budget used by then (a shorter period has a smaller "
            "budget: its tier trips at a lower ratio and uses a larger share of it)."
        )
    return "\n".join(lines) + "\n"


def _tier_table(e: SLOExplanation) -> tuple[list[str], bool, bool]:
    """The tier table's lines, and whether it shows a factor range (calendar) or bad slices."""
    calendar = timeslices = False
    header = ("tier", "windows", "factor", "trips at", "budget", "for", "outage detected", "budget used")
    rows = [header]
    for t in e.tiers:
        state = "" if t.enabled else " (off)"
        factor = _span(t.burn_factor_range or (t.burn_factor, t.burn_factor), lambda v: f"{v:g}", "x")
        calendar = calendar or t.burn_factor_range is not None
        trips = _span(t.trips_at_error_ratio_range or (t.trips_at_error_ratio,) * 2, _bare_percent, "%")
        if t.trips_at_bad_slices is not None:
            low, high = t.trips_at_bad_slices_range or (t.trips_at_bad_slices,) * 2
            trips = f"{_span((low, high), str, '')} bad slice{'s' if high > 1 else ''}"
            timeslices = True
        if t.cannot_fire:
            trips = "never"
        detected = t.full_outage_detection_seconds_range or (t.full_outage_detection_seconds,) * 2
        used = t.budget_spent_before_full_outage_alert_percent_range
        raw = "*" if t.long_window_source in ("5m tiles", "raw series") else ""
        rows.append(
            (
                f"{t.tier}{state}",
                f"{t.long_window}{raw}/{t.short_window}",
                factor,
                trips,
                f"{t.budget_spent_at_threshold_percent:g}%",
                t.for_,
                "n/a" if t.cannot_fire or not detected[0] else _span(detected, _human, ""),
                _span(
                    used or (t.budget_spent_before_full_outage_alert_percent,) * 2, lambda v: f"{v:.3f}", "%"
                ),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    lines.extend(f"  {t.tier}: {t.cannot_fire}" for t in e.tiers if t.cannot_fire)
    return lines, calendar, timeslices


def as_dicts(items: Sequence[SLOExplanation]) -> list[dict[str, object]]:
    return [asdict(e) for e in items]
