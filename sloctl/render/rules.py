"""Prometheus recording and alerting rules for SLOs (design and error bound: docs/rules.md).

Pure: ``render_groups`` turns SLOs into rule groups (plain data); ``render_rule_file`` into the
text of a rule file. One group per SLO holds its recordings and its alerts, because alerts that
read recordings from another group were flaky under promtool in our trials; a composite SLO's
group also holds the SLOs it is composed of, for the same reason.

Windows are fast where pages need it and cheap where they are long:

- the SLO's numerator and denominator are recorded once at 5m (``sloctl:sli_errors:rate5m``,
  ``sloctl:sli_events:rate5m``);
- the quick page tier's long window (1h by default) is the sum of the 5m rates recorded 0, 5,
  10 … 55 minutes ago, twelve tiles that cover the hour edge to edge: no ramp, so a full outage
  pages as soon as raw-window rules do, and one series read at twelve instants instead of an
  hour of every raw series (``tiled_window``); where a tile has no recording yet, the hour is
  summed as the other windows are;
- every other window, and the period, is ``sum_over_time(errors) / sum_over_time(events)`` over
  the 5m recordings — Σerrors / Σevents, never an average of short ratios and never a range
  query over the raw series.

Timeslice SLOs record whether the current slice is bad and read every window as the share of
bad slices (a subquery stepping one slice at a time); calendar SLOs record where their period
started and sum only the samples since then (``sloctl.render.calendar``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from textwrap import indent

from sloctl import naming
from sloctl.durations import HOUR, format_duration
from sloctl.model import (
    SLICE_RATIO_TOLERANCE,
    SLO,
    CompositeSLI,
    LatencySLI,
    PolicyStep,
    RawSLI,
    Severity,
    alert_windows,
)
from sloctl.render import calendar as cal
from sloctl.render import promql
from sloctl.render.yamlout import dump_yaml

__all__ = [
    "RuleOptions",
    "composite_members",
    "render_groups",
    "render_rule_file",
    "sharp_window",
    "tiled_window",
]

# Division guard: with no traffic a window's ratio is 0 (no budget burnt), never NaN.
_EPSILON = "1e-12"


@dataclass(frozen=True)
class RuleOptions:
    interval: int | None = None
    """Evaluation interval of the groups in seconds; None uses Prometheus' global one."""
    extra_labels: tuple[tuple[str, str], ...] = ()
    tiles: bool = True
    """False reads the quick page's window from the raw series even where ``tiled_window`` could
    tile it: a game-day rig's choice (docs/gameday.md), whose recordings have a backfilled past
    while its raw counters are as young as the rig, so that a fault pages as on a young service."""


Rule = dict[str, object]
Group = dict[str, object]


def sharp_window(slo: SLO) -> int:
    """The one window besides 5m read without the 5m recordings' ramp: the quick page tier's long
    window, so that the fastest page sees an outage as soon as raw-window rules do. It is tiled
    from the 5m rates where ``tiled_window`` allows, read from the raw series otherwise, unless
    the SLI's queries do not read ``{{.window}}`` (``promql.takes_window``): then it is built
    from the 5m recordings as every other window is (docs/rules.md, "Fast and exact")."""
    return slo.windows.window("page", "quick").long_window


def tiled_window(slo: SLO, interval: int | None) -> bool:
    """Whether the sharp window is the sum of its 5m tiles (``promql.tiled_sum``): the SLI has
    event counts, the window is whole 5m tiles, and the evaluation interval divides 5m, so that
    a recording stands on every tile's edge. ``None`` is Prometheus' global interval, which must
    then divide 5m (its default 1m does; docs/rules.md says so)."""
    base = slo.base_window
    counted = not isinstance(slo.sli, RawSLI) and slo.timeslices is None
    return counted and sharp_window(slo) % base == 0 and (interval is None or base % interval == 0)


def composite_members(slos: Sequence[SLO]) -> dict[tuple[str, str], SLO]:
    """(service, SLO name) of each component → its composite."""
    out: dict[tuple[str, str], SLO] = {}
    for slo in slos:
        if isinstance(slo.sli, CompositeSLI):
            for c in slo.sli.components:
                out[(slo.service, c.slo)] = slo
    return out


def _labels(slo: SLO, options: RuleOptions, **extra: str) -> dict[str, str]:
    out = dict(slo.labels)
    out.update(options.extra_labels)
    out.update({naming.LABEL_ID: slo.id, naming.LABEL_SERVICE: slo.service, naming.LABEL_SLO: slo.name})
    out.update(extra)
    return dict(sorted(out.items()))


def _record(name: str, expr: str, labels: dict[str, str]) -> Rule:
    return {"record": name, "expr": expr, "labels": labels}


def _window_labels(slo: SLO, options: RuleOptions, window: int) -> dict[str, str]:
    return _labels(slo, options, **{naming.LABEL_WINDOW: format_duration(window)})


def _calendar_ratio_rules(
    slo: SLO, options: RuleOptions, numerator: str, denominator: str = "", *, counted: bool = False
) -> list[Rule]:
    """The ratio of the calendar period so far: Σ numerator / Σ denominator over the 5m slices
    since the period started (``counted``: the denominator counts the slices with a sample).

    A 5m rate read every 5 minutes counts each event once. Reading a month of 5m slices at
    every evaluation is 8,928 steps (26,784 for a quarter), so the slices are summed per hour
    first (``…:sum1h``, 12 slices), the whole hours since the period start are read at 1h steps,
    and the slices since the last whole hour at 5m steps. ``@ end()`` pins the period start to
    the rule's evaluation time inside the subqueries (docs/rules.md, "Calendar periods")."""
    assert slo.calendar is not None
    sel = promql.slo_selector(slo)
    span = format_duration(slo.calendar.max_seconds)
    agg = "count_over_time" if counted else "sum_over_time"
    den = numerator if counted else denominator

    def after(selector: str, start: str) -> str:
        return f"({selector} and on() (vector(time()) > on() ({start}{sel} @ end())))"

    def total(hour: str, slices: str, slice_agg: str) -> str:
        hours = f"sum(sum_over_time({after(f'{hour}{sel}', naming.PERIOD_START)}[{span}:1h]))"
        recent = f"sum({slice_agg}({after(slices, naming.CALENDAR_PARTIAL_START)}[1h:5m]))"
        at_start = (
            f"sum({slice_agg}(({slices} and on() (vector(time()) == on() "
            f"({naming.PERIOD_START}{sel} @ end())))[{span}:1h]))"
        )
        return (
            f"({hours} or on() vector(0))\n+\n({recent} or on() vector(0))\n-\n"
            f"({at_start} or on() vector(0)) * (time() % 300 > bool 0)"
        )

    # Slices at 5m steps are 5m points p (the 5m before p). With evaluations off the 5m grid
    # the hour picked at H holds the points H-60m..H-5m (on the grid: H-55m..H): the rest
    # starts one point earlier, and the point at the period's start (the 5m before it) is
    # taken out again.
    partial = (
        f"clamp_min(vector(time() - time() % {HOUR}), scalar({naming.PERIOD_START}{sel}))"
        " - 300 * (time() % 300 > bool 0)"
    )
    return [
        _record(naming.CALENDAR_PARTIAL_START, partial, _labels(slo, options)),
        _record(naming.CALENDAR_NUMERATOR, f"sum_over_time({numerator}[3599s:5m])", _labels(slo, options)),
        _record(naming.CALENDAR_DENOMINATOR, f"{agg}({den}[3599s:5m])", _labels(slo, options)),
        _record(
            _period_ratio_name(slo),
            f"(\n{total(naming.CALENDAR_NUMERATOR, numerator, 'sum_over_time')}\n)\n/\n((\n"
            f"{total(naming.CALENDAR_DENOMINATOR, den, agg)}\n) > 0)",
            _period_labels(slo, options),
        ),
    ]


def _calendar_rules(slo: SLO, options: RuleOptions) -> list[Rule]:
    assert slo.calendar is not None
    sel = promql.slo_selector(slo)
    inner = sel[1:-1]
    recorded = f'{naming.CALENDAR_UTC_START}{{{inner}, {naming.LABEL_CANDIDATE}="CANDIDATE"}}'
    rules = [
        _record(naming.CALENDAR_UTC_START, expr, _labels(slo, options, **{naming.LABEL_CANDIDATE: name}))
        for name, expr in cal.candidate_exprs(slo.calendar, recorded)
    ]
    rules.append(
        _record(
            naming.CALENDAR_BOUNDARY,
            cal.boundary_expr(slo.calendar, f"{naming.CALENDAR_UTC_START}{sel}"),
            _labels(slo, options),
        )
    )
    start, end = cal.period_bound_exprs(f"{naming.CALENDAR_BOUNDARY}{sel}")
    rules.append(_record(naming.PERIOD_START, start, _labels(slo, options)))
    rules.append(_record(naming.PERIOD_END, end, _labels(slo, options)))
    return rules


def _period_labels(slo: SLO, options: RuleOptions) -> dict[str, str]:
    unit = slo.calendar.unit if slo.calendar else None
    return _labels(slo, options, **{naming.LABEL_WINDOW: naming.period_window_label(unit, slo.period)})


def _period_ratio_name(slo: SLO) -> str:
    return naming.period_error_ratio(slo.calendar.unit if slo.calendar else None, slo.period)


def _raw_sli_rules(slo: SLO, sli: RawSLI, options: RuleOptions) -> list[Rule]:
    # No event counts: the quick page's window runs the ratio query itself (when it reads
    # {{.window}}: a precomputed ratio would give its value now), the others are time-weighted
    # averages of the 5m ratio (docs/rules.md explains the cost of exactness).
    # An empty query stays empty: no data, not a healthy 0.
    sel = promql.slo_selector(slo)
    base = slo.base_window
    sharp = sharp_window(slo)
    ratio5m = f"{naming.error_ratio(base)}{sel}"
    rules = [
        _record(naming.error_ratio(base), promql.raw_ratio(sli, base), _window_labels(slo, options, base))
    ]
    # `max without (sloctl_window)`: the average keeps the 5m ratio's `sloctl_window="5m"`, which
    # the rule's own window label replaces on Prometheus but vmalert keeps, renamed
    # `exported_sloctl_window`, on the window and on every recording and alert read from it.
    for w in alert_windows(slo):
        if w == base:
            continue
        averaged = f"max without ({naming.LABEL_WINDOW}) (avg_over_time({ratio5m}[{format_duration(w)}]))"
        expr = promql.raw_ratio(sli, w) if w == sharp and promql.takes_window(sli) else averaged
        rules.append(_record(naming.error_ratio(w), expr, _window_labels(slo, options, w)))
    if slo.calendar is not None:
        rules.extend(_calendar_ratio_rules(slo, options, ratio5m, counted=True))
    if slo.alerting.no_data.enabled:
        # `max(… or on() vector(0))`, not `absent_over_time(…) or on() vector(0)`: that one is
        # labelled by the selector while absent and unlabelled otherwise, two series once the rule's
        # labels are applied, which vmalert's replay (one range query per rule) refuses as
        # duplicates. Nor `max(absent_over_time(…)) or …`: MetricsQL keeps the selector's labels
        # through an aggregation of absent_over_time. The outer max has one empty labelset at every
        # step on every engine (docs/compat.md, "MetricsQL and vmalert").
        window = format_duration(slo.alerting.no_data.for_seconds)
        expr = f"max(absent_over_time({ratio5m}[{window}]) or on() vector(0))"
        rules.append(_record(naming.NO_DATA, expr, _labels(slo, options)))
    return rules


def _count_rules(slo: SLO, options: RuleOptions) -> list[Rule]:
    """The 5m error and event rates, and the no-data state read from the events."""
    sel = promql.slo_selector(slo)
    if isinstance(slo.sli, CompositeSLI):
        # Events of a composite: all its components' events (for the low-traffic guard and the
        # dashboards); its error ratios are weighted means, recorded per window.
        members = [_member_selector(slo, c.slo) for c in slo.sli.components]
        rate = naming.events_rate(slo.base_window)
        events = "sum(" + " or ".join(f"{rate}{m}" for m in members) + ")"
        rules = [_record(rate, events, _labels(slo, options))]
        if slo.alerting.no_data.enabled:
            # No data when any component has seen no event for the composite's own `for`
            # (whatever the component's no-data settings: its ratio is unknown all the same).
            window = format_duration(slo.alerting.no_data.for_seconds)
            flags = " or ".join(f"(max_over_time({rate}{m}[{window}]) == bool 0)" for m in members)
            rules.append(_record(naming.NO_DATA, f"max({flags}) or on() vector(0)", _labels(slo, options)))
        return rules
    base = slo.base_window
    rates = _rates(slo, base)
    rules = [
        _record(naming.errors_rate(base), _errors_or_zero(slo, rates), _labels(slo, options)),
        _record(naming.events_rate(base), f"({rates.total}) or on() vector(0)", _labels(slo, options)),
    ]
    events5m = f"{naming.events_rate(base)}{sel}"
    latency = promql.latency_rates(slo.sli, base) if isinstance(slo.sli, LatencySLI) else None
    if latency is not None and _known_rates(slo):
        # A latency SLI's errors are unknown while its threshold is no bucket bound
        # (promql.event_rates): its 5m errors and events where they are known, 0 where they are
        # not, for the period to sum (docs/rules.md, "No data": an unknown sample is skipped,
        # not unknown for the whole period). Read from the histogram as the 5m rates are, not
        # from the recorded errors: see _unknown.
        total, good = latency
        rules += [
            _record(
                naming.errors_known_rate(base), f"({total} - {good}) or on() vector(0)", _labels(slo, options)
            ),
            _record(
                naming.events_known_rate(base),
                f"({total} and on() {good}) or on() vector(0)",
                _labels(slo, options),
            ),
        ]
    if slo.alerting.no_data.enabled:
        # No event for the whole `for` (the series absent or flat zero): judged over the history
        # Prometheus has, so a fresh SLI whose query matches nothing is flagged at once.
        window = format_duration(slo.alerting.no_data.for_seconds)
        silent = f"max_over_time({events5m}[{window}]) == bool 0"
        # A latency SLI whose errors are unknown now, events or not, cannot be judged either:
        # the same state and ticket (its budget is unknown, the policy's whenUnknown applies).
        expr = (
            silent
            if latency is None
            else f"(({silent}) + on() group_left() ({_unknown(*latency)}) > bool 0) or ({silent})"
        )
        rules.append(_record(naming.NO_DATA, expr, _labels(slo, options)))
    return rules


def _errors_or_zero(slo: SLO, rates: promql.EventRates) -> str:
    """An SLI's errors, zero where they have no series.

    `or on() vector(0)`: an error series that never appeared (no 5xx yet) must read as zero
    errors, not as "no data" that would blank every ratio built on it. Not so a latency SLI's
    errors while no bucket has its threshold as bound (promql.event_rates): they are unknown,
    NaN on Prometheus, which `or` keeps, but no sample at all on VictoriaMetrics, whose MetricsQL
    drops NaN from every result, where zero errors would make a perfect SLO of it (docs/compat.md,
    "MetricsQL and vmalert"). Its zero stands only where its count has no rate. Every rule that
    reads the errors takes NaN and absent alike (_window_measured, the slices' `x == x`); what is
    known is read from the histogram itself (_count_rules, _unknown)."""
    if isinstance(slo.sli, LatencySLI):
        return f"({rates.errors}) or on() (vector(0) unless on() ({rates.total}))"
    return f"({rates.errors}) or on() vector(0)"


def _unknown(total: str, good: str) -> str:
    """1 where a latency SLI's errors are unknown now (its count has a rate, its bucket at the
    threshold none), events or not; 0 elsewhere. Read from the histogram, never from the
    recorded errors: VictoriaMetrics answers an instant query on a series that has just stopped
    with its last sample (its look-back), so the errors of the minute before they went unknown
    would read as known for the next evaluation."""
    return f"(({total}) * 0 + 1 unless on() ({good})) or on() vector(0)"


def _window_measured(errors5m: str, events5m: str, window: str) -> str:
    """True where every 5m sample of a latency SLI's window has its errors: as many error
    samples as event samples. On Prometheus an unknown sample is NaN, counted here, and makes the
    window's sum NaN by itself; on VictoriaMetrics it is absent, and the sum would be the errors
    of the measured part over the events of the whole window: a window that is partly unknown
    would read better than it is instead of unknown."""
    return f"count_over_time({errors5m}[{window}]) == count_over_time({events5m}[{window}])"


def _member_selector(slo: SLO, name: str) -> str:
    return (
        f'{{{naming.LABEL_ID}="{slo.service}-{name}", {naming.LABEL_SERVICE}="{slo.service}", '
        f'{naming.LABEL_SLO}="{name}"}}'
    )


def _rates(slo: SLO, window: int) -> promql.EventRates:
    rates = promql.event_rates(slo.sli, window)
    if rates is None:  # raw SLIs take their own path (_raw_sli_rules) and never ask
        raise TypeError(f"{slo.id}: a {slo.sli.kind} SLI has no event counts")
    return rates


def _ratio(num: str, den: str) -> str:
    return f"{num}\n/\nclamp_min({den}, {_EPSILON})"


def _occurrence_rules(slo: SLO, options: RuleOptions) -> list[Rule]:
    sel = promql.slo_selector(slo)
    base = slo.base_window
    sharp = sharp_window(slo)
    tiled = options.tiles and tiled_window(slo, options.interval)
    errors5m, events5m = f"{naming.errors_rate(base)}{sel}", f"{naming.events_rate(base)}{sel}"
    rules = [
        _record(naming.error_ratio(base), _ratio(errors5m, events5m), _window_labels(slo, options, base))
    ]
    for w in alert_windows(slo):
        if w == base:
            continue
        wd = format_duration(w)
        summed = f"sum_over_time({errors5m}[{wd}])", f"sum_over_time({events5m}[{wd}])"
        if w == sharp and tiled:
            # Every tile found: the window edge to edge; else (a rule file younger than the
            # window, a missed evaluation) the recordings it holds, summed as the other windows.
            tiles = promql.tiled_sum(errors5m, w, base), promql.tiled_sum(events5m, w, base)
            expr = "\nor\n".join(f"(\n{indent(_ratio(*r), '  ')}\n)" for r in (tiles, summed))
        elif w == sharp and promql.takes_window(slo.sli):
            rates = _rates(slo, w)
            expr = _ratio(f"({_errors_or_zero(slo, rates)})", f"(({rates.total}) or on() vector(0))")
        elif w == slo.period:
            # The period's denominator must have seen events: with none the ratio is unknown,
            # not 0, and the remaining budget with it (docs/rules.md, "No data"). A latency SLI's
            # period sums the samples whose errors are known (_known_rates).
            known = [f"sum_over_time({rate}[{wd}])" for rate in _known_rates(slo)] or summed
            expr = f"{known[0]}\n/\n({known[1]} > 0)"
        else:
            expr = _ratio(*summed)
        if isinstance(slo.sli, LatencySLI) and w != slo.period and (w != sharp or tiled):
            # A window summing 5m samples is unknown while one of them is (_window_measured).
            expr = f"(\n{indent(expr, '  ')}\n)\nand\n(\n  {_window_measured(errors5m, events5m, wd)}\n)"
        rules.append(_record(naming.error_ratio(w), expr, _window_labels(slo, options, w)))
    if slo.calendar is not None:
        rules.extend(_calendar_ratio_rules(slo, options, *(_known_rates(slo) or (errors5m, events5m))))
    return rules


def _known_rates(slo: SLO) -> list[str]:
    """A latency SLI's 5m errors and events where the errors are known (0 where they are not),
    which its period sums; none for other SLIs, whose errors are never unknown, nor for
    timeslices (an unknown slice is left out where it is judged, _timeslice_rules)."""
    if not isinstance(slo.sli, LatencySLI) or slo.timeslices is not None:
        return []
    sel = promql.slo_selector(slo)
    return [
        f"{naming.errors_known_rate(slo.base_window)}{sel}",
        f"{naming.events_known_rate(slo.base_window)}{sel}",
    ]


def _timeslice_rules(slo: SLO, options: RuleOptions) -> list[Rule]:
    assert slo.timeslices is not None
    sel = promql.slo_selector(slo)
    ts = slo.timeslices
    step = format_duration(ts.slice_seconds)
    base = slo.base_window
    if ts.slice_seconds == base:
        errors, events = f"{naming.errors_rate(base)}{sel}", f"{naming.events_rate(base)}{sel}"
    else:
        rates = _rates(slo, ts.slice_seconds)
        errors, events = f"({_errors_or_zero(slo, rates)})", f"({rates.total})"
    if isinstance(slo.sli, LatencySLI):
        # A latency slice whose errors are unknown (no bucket at the threshold: NaN on
        # Prometheus, absent on VictoriaMetrics) is absent, neither good nor bad, never good as
        # `NaN > bool x` (0) would make it. Filtered here, not read from the known rates: one
        # level less for vmalert's staggered groups.
        errors = f"({errors} == {errors})"
    # A slice is bad when its error ratio is above what the target allows, by more than float
    # noise (model.SLICE_RATIO_TOLERANCE: a slice with exactly the target is good on both
    # engines); a slice without events is neither good nor bad (its sample is absent).
    allowed = (
        f"{promql.fmt_number(ts.allowed_error_ratio)} * (1 + {promql.fmt_number(SLICE_RATIO_TOLERANCE)})"
    )
    bad = f"({errors}\n/\n({events} > 0)) > bool {allowed}"
    rules = [_record(naming.TIMESLICE_BAD, bad, _labels(slo, options))]
    bad_sel = f"{naming.TIMESLICE_BAD}{sel}"
    for w in alert_windows(slo):
        # One second short of W: the window holds W / 5m slices on both engines (a range of
        # exactly W would also hold the slice on its left edge on Prometheus 2, not on 3).
        rules.append(
            _record(
                naming.error_ratio(w),
                f"avg_over_time({bad_sel}[{format_duration(w - 1)}:{step}])",
                _window_labels(slo, options, w),
            )
        )
    if slo.calendar is not None:
        rules.extend(_calendar_ratio_rules(slo, options, bad_sel, counted=True))
    return rules


def _composite_rules(slo: SLO, sli: CompositeSLI, options: RuleOptions) -> list[Rule]:
    total = promql.fmt_number(sli.total_weight)
    windows: list[tuple[str, dict[str, str]]] = [
        (naming.error_ratio(w), _window_labels(slo, options, w)) for w in alert_windows(slo)
    ]
    rules: list[Rule] = []
    for name, labels in windows:
        terms = " + ".join(
            f"{promql.fmt_number(c.weight)} * max({name}{_member_selector(slo, c.slo)})"
            for c in sli.components
        )
        rules.append(_record(name, f"({terms}) / {total}", labels))
    return rules


def _sli_rules(slo: SLO, options: RuleOptions) -> list[Rule]:
    rules: list[Rule] = []
    if slo.calendar is not None:
        rules.extend(_calendar_rules(slo, options))
    if isinstance(slo.sli, RawSLI):
        return rules + _raw_sli_rules(slo, slo.sli, options)
    rules.extend(_count_rules(slo, options))
    if isinstance(slo.sli, CompositeSLI):
        return rules + _composite_rules(slo, slo.sli, options)
    if slo.timeslices is not None:
        return rules + _timeslice_rules(slo, options)
    return rules + _occurrence_rules(slo, options)


def _threshold(slo: SLO, factor: float, budget_percent: float, long_window: int) -> str:
    """The burn-rate factor of a tier: a constant for a rolling period; for a calendar period
    computed from the current period's length (a 31-day month allows more than February)."""
    if slo.calendar is None:
        return promql.fmt_number(factor)
    sel = promql.slo_selector(slo)
    return f"({naming.PERIOD_SECONDS}{sel} * {promql.fmt_number(budget_percent / 100 / long_window)})"


def _meta_rules(slo: SLO, options: RuleOptions) -> list[Rule]:
    sel = promql.slo_selector(slo)
    budget = promql.fmt_number(slo.error_budget)
    period_ratio = f"max without ({naming.LABEL_WINDOW}) ({_period_ratio_name(slo)}{sel})"
    period_seconds = (
        f"{naming.PERIOD_END}{sel} - {naming.PERIOD_START}{sel}" if slo.calendar else f"vector({slo.period})"
    )
    rules: list[Rule] = [
        _record(naming.OBJECTIVE, f"vector({promql.fmt_number(slo.objective_ratio)})", _labels(slo, options)),
        _record(naming.ERROR_BUDGET, f"vector({budget})", _labels(slo, options)),
        _record(naming.PERIOD_SECONDS, period_seconds, _labels(slo, options)),
        _record(
            naming.CURRENT_BURN_RATE,
            f"max without ({naming.LABEL_WINDOW}) ({naming.error_ratio(slo.base_window)}{sel}) / {budget}",
            _labels(slo, options),
        ),
        _record(naming.PERIOD_BURN_RATE, f"{period_ratio} / {budget}", _labels(slo, options)),
        _record(naming.BUDGET_REMAINING, f"1 - {naming.PERIOD_BURN_RATE}{sel}", _labels(slo, options)),
    ]
    thresholds: dict[str, str] = {}
    for tier in slo.alerting.enabled_tiers:
        w = tier.window
        threshold = _threshold(slo, w.burn_factor(slo.period), w.budget_percent, w.long_window)
        thresholds[tier.name] = threshold if slo.calendar else f"vector({threshold})"
    if thresholds:
        union = promql.labelled_union(naming.LABEL_TIER, thresholds)
        rules.append(_record(naming.BURN_RATE_THRESHOLD, union, _labels(slo, options)))
    if slo.policy.steps:
        steps: dict[str, str] = {
            s.action: f"vector({promql.fmt_number(s.budget_left_ratio)})" for s in slo.policy.steps
        }
        union = promql.labelled_union(naming.LABEL_POLICY_ACTION, steps)
        rules.append(_record(naming.POLICY_THRESHOLD, union, _labels(slo, options)))
    info = {
        naming.INFO_OBJECTIVE: promql.fmt_number(slo.objective),
        naming.INFO_PERIOD: slo.calendar.unit if slo.calendar else format_duration(slo.period),
        naming.INFO_SLI: slo.sli.kind,
        naming.INFO_SPEC: slo.spec_version,
        naming.INFO_BUDGETING: slo.budgeting,
        naming.LABEL_POLICY_UNKNOWN: slo.policy.unknown if slo.policy.steps else "proceed",
    }
    if slo.calendar is not None:
        info[naming.INFO_TIME_ZONE] = slo.calendar.time_zone
    if slo.timeslices is not None:
        info[naming.INFO_SLICE] = format_duration(slo.timeslices.slice_seconds)
    rules.append(_record(naming.SLO_INFO, "vector(1)", _labels(slo, options, **info)))
    return rules


def _alert_labels(slo: SLO, severity: Severity, tier: str, **extra: str) -> dict[str, str]:
    labels = dict(slo.alerting.labels)
    labels.update(slo.alerting.severity(severity).labels)
    labels.update({naming.LABEL_SEVERITY: severity, naming.LABEL_TIER: tier, **extra})
    return dict(sorted(labels.items()))


def _alert_annotations(slo: SLO, severity: Severity, summary: str, description: str) -> dict[str, str]:
    annotations = {"summary": summary, "description": description}
    annotations.update(slo.alerting.annotations)
    annotations.update(slo.alerting.severity(severity).annotations)
    if slo.alerting.runbook_url:
        annotations["runbook_url"] = slo.alerting.runbook_url
    return dict(sorted(annotations.items()))


def _who(slo: SLO) -> str:
    return f"{{{{ $labels.{naming.LABEL_SERVICE} }}}} {{{{ $labels.{naming.LABEL_SLO} }}}}"


def _objective_text(slo: SLO) -> str:
    if slo.calendar is not None:
        over = f"this calendar {slo.calendar.unit} ({slo.calendar.time_zone})"
    else:
        over = format_duration(slo.period)
    what = f"of {format_duration(slo.timeslices.slice_seconds)} slices " if slo.timeslices else ""
    return f"objective {promql.fmt_number(slo.objective)}% {what}over {over}"


def _factor_text(value: float) -> str:
    """A burn factor as the alerts' text says it (their summary is the page's title): six
    significant digits, so 10 % of a 2w budget in 6h reads 5.6, not the float product
    5.6000000000000005 (the expression keeps the exact threshold).

    >>> _factor_text(0.1 * 336 / 6), _factor_text(14.4), _factor_text(0.9333333333333335)
    ('5.6', '14.4', '0.933333')
    """
    return promql.fmt_number(float(f"{value:.6g}"))


def _burn_alerts(slo: SLO) -> list[Rule]:
    sel = promql.slo_selector(slo)
    budget = promql.fmt_number(slo.error_budget)
    rules: list[Rule] = []
    for tier in slo.alerting.enabled_tiers:
        w = tier.window
        factor_value = w.burn_factor(slo.period)
        factor = _factor_text(factor_value)
        threshold = _threshold(slo, factor_value, w.budget_percent, w.long_window)
        events = naming.events_rate(slo.base_window)
        long_w, short_w = format_duration(w.long_window), format_duration(w.short_window)

        def burn(window: int, threshold: str = threshold) -> str:
            return (
                f"max without ({naming.LABEL_WINDOW}) ({naming.error_ratio(window)}{sel}) / {budget}"
                f" > {threshold}"
            )

        # The long window comes first so that the alert's value is its burn rate.
        expr = f"(\n  {burn(w.long_window)}\n)\nand\n(\n  {burn(w.short_window)}\n)"
        if slo.alerting.min_events > 0 and tier.severity == "page":
            # Low-traffic guard: a handful of errors on a quiet night must not page.
            expr += (
                f"\nand on ({naming.LABEL_ID})\n(\n  avg_over_time({events}{sel}[{long_w}])"
                f" * {w.long_window} >= {promql.fmt_number(slo.alerting.min_events)}\n)"
            )
        pct = promql.fmt_number(w.budget_percent)
        near = "about " if slo.calendar else ""
        rule: Rule = {"alert": slo.alerting.name, "expr": expr}
        if tier.for_seconds:
            rule["for"] = format_duration(tier.for_seconds)
        rule["labels"] = _alert_labels(slo, tier.severity, tier.name)
        rule["annotations"] = _alert_annotations(
            slo,
            tier.severity,
            f"{_who(slo)}: error budget burning {near}{factor}x too fast ({tier.severity})",
            f"SLO {slo.name} of {slo.service} ({_objective_text(slo)}) is burning its error budget at "
            f'{{{{ printf "%.2f" $value }}}}x over the last {long_w} '
            f"(and above {near}{factor}x over {short_w}). "
            f"At this rate {pct}% of the budget is gone within {long_w}.",
        )
        rules.append(rule)
    return rules


#: What else the no-data ticket of a latency SLI means (its flag: errors NaN now).
_UNMEASURABLE = (
    " (or, events or not, its errors cannot be read now: no histogram bucket at its threshold; "
    "fix the SLO's threshold or the histogram's buckets)"
)


def _no_data_alert(slo: SLO) -> list[Rule]:
    nd = slo.alerting.no_data
    if not nd.enabled:
        return []
    sel = promql.slo_selector(slo)
    window = format_duration(nd.for_seconds)
    # The flag is judged over the history Prometheus has; the ticket waits until the rules have
    # recorded it for `for` (its sample `for` ago exists), so that a new Prometheus, with no
    # history yet, files no ticket per SLO in its first minute. The state (status, dashboards)
    # is the flag itself, at once.
    return [
        {
            "alert": slo.no_data_alert_name,
            "expr": f"{naming.NO_DATA}{sel} == 1 and {naming.NO_DATA}{sel} offset {window}",
            "labels": _alert_labels(slo, nd.severity, nd.tier),
            "annotations": _alert_annotations(
                slo,
                nd.severity,
                f"{_who(slo)}: no data for {window}",
                f"SLO {slo.name} of {slo.service} has seen no event for {window}: its SLI's series are "
                f"absent or flat zero{_UNMEASURABLE if isinstance(slo.sli, LatencySLI) else ''}. Its "
                "budget cannot be judged; check the service and the SLI's queries.",
            ),
        }
    ]


def _policy_alert(slo: SLO, step: PolicyStep) -> Rule:
    sel = promql.slo_selector(slo)
    what = {
        "notify": "the owning team is asked to prioritise reliability work",
        "freeze": "releases are frozen (sloctl gate refuses them) until the budget recovers",
    }[step.action]
    left = promql.fmt_number(step.budget_left_percent)
    return {
        "alert": slo.policy_alert_name,
        "expr": f"{naming.BUDGET_REMAINING}{sel} <= {promql.fmt_number(step.budget_left_ratio)}",
        "labels": _alert_labels(slo, "ticket", step.tier, **{naming.LABEL_POLICY_ACTION: step.action}),
        "annotations": _alert_annotations(
            slo,
            "ticket",
            f"{_who(slo)}: error-budget policy says {step.action}",
            f"SLO {slo.name} of {slo.service} has {{{{ $value | humanizePercentage }}}} of its error "
            f"budget left, at or below {left}%: by its error-budget policy {what}.",
        ),
    }


def _alert_rules(slo: SLO) -> list[Rule]:
    return [*_burn_alerts(slo), *_no_data_alert(slo), *(_policy_alert(slo, s) for s in slo.policy.steps)]


def _slo_rules(slo: SLO, options: RuleOptions) -> list[Rule]:
    return [*_sli_rules(slo, options), *_meta_rules(slo, options), *_alert_rules(slo)]


def render_groups(slos: Sequence[SLO], options: RuleOptions = RuleOptions()) -> list[Group]:
    """One group per SLO: its SLI recordings, metadata recordings, then its alerts. A composite
    SLO's group holds its components' rules first (they must be among ``slos``)."""
    by_key = {(s.service, s.name): s for s in slos}
    members = composite_members(slos)
    groups: list[Group] = []
    for slo in slos:
        if (slo.service, slo.name) in members:
            continue
        rules: list[Rule] = []
        if isinstance(slo.sli, CompositeSLI):
            for c in slo.sli.components:
                member = by_key.get((slo.service, c.slo))
                if member is None:
                    raise ValueError(f"composite SLO {slo.id}: component {c.slo!r} is not among the SLOs")
                rules.extend(_slo_rules(member, options))
        rules.extend(_slo_rules(slo, options))
        group: Group = {"name": naming.rule_group(slo.service, slo.name)}
        if options.interval:
            group["interval"] = format_duration(options.interval)
        group["rules"] = rules
        groups.append(group)
    return groups


def header(sources: Sequence[str], version: str) -> str:
    return (
        f"# Code generated by sloctl {version} from {', '.join(sources)}. DO NOT EDIT.\n"
        "# Regenerate with: sloctl generate\n"
    )


def render_rule_file(
    slos: Sequence[SLO], sources: Sequence[str], version: str, options: RuleOptions = RuleOptions()
) -> str:
    """The text of a Prometheus rule file for ``slos``."""
    return header(sources, version) + dump_yaml({"groups": render_groups(slos, options)})
