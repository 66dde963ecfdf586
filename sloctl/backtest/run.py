"""Synthetic backtests: scenarios → counters → real Prometheus → per-tier results."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from sloctl import naming
from sloctl.calendars import period_bounds
from sloctl.durations import DAY, format_duration
from sloctl.model import SLO, AlertTier, Component, CompositeSLI, EventsSLI, LatencySLI
from sloctl.progress import Progress, silent
from sloctl.render.promql import matchers
from sloctl.render.rules import RuleOptions, render_rule_file
from sloctl.render.ruletests import designed_detection
from sloctl.shelf import PrometheusEngine

from .engine import AlertSeries, Replayed, RuleSet, replay, value_at
from .scenarios import Scenario, counts, designed_no_data, slice_truth
from .series import EPOCH, ERRORS, HISTOGRAM, REQUESTS, Feed, labels, openmetrics, samples
from .victoria import VictoriaEngine, replay_victoria

__all__ = [
    "Episode",
    "Item",
    "ScenarioPlan",
    "ScenarioResult",
    "TierResult",
    "evaluate",
    "our_rules",
    "plan_runs",
    "plan_scenarios",
    "prepare",
    "run_many",
    "scenario_slo",
    "tier_result",
]


def _twin_name(s: Scenario, component: str | None, apart: str | None) -> str:
    return "-".join([s.name.replace("_", "-"), *(x for x in (component, apart) if x)])


def scenario_slo(base: SLO, s: Scenario, component: str | None = None, apart: str | None = None) -> SLO:
    """``base`` (objective, period, budgeting, catalog, tiers, guard, policy) with its SLI
    reading the scenario's counters — or its histogram, for a latency SLI; service
    ``backtest``, SLO name = scenario name (and component, and ``apart``: the id of the SLO
    that the twin stands for in a run that replays the scenario for several)."""
    sel = "{" + labels(s, component, apart) + "}"
    name = _twin_name(s, component, apart)
    if isinstance(base.sli, LatencySLI):
        sli: EventsSLI | LatencySLI = LatencySLI(HISTOGRAM, sel, base.sli.threshold_seconds)
    else:
        sli = EventsSLI(
            f"sum(rate({ERRORS}{sel}[{{{{.window}}}}]))", f"sum(rate({REQUESTS}{sel}[{{{{.window}}}}]))"
        )
    return replace(base, service="backtest", name=name, sli=sli, labels=())


def our_rules(slos: Sequence[SLO], interval: int = 60) -> RuleSet:
    return RuleSet("sloctl", render_rule_file(slos, ["backtest"], "backtest", RuleOptions(interval=interval)))


@dataclass(frozen=True)
class Item:
    """One scenario against one SLO: the SLO's backtest twin, the twins of its components
    (a composite) and the counters they read."""

    scenario: Scenario
    slo: SLO
    feeds: tuple[Feed, ...]
    members: tuple[SLO, ...] = ()
    source_id: str = ""
    """Id of the SLO the twin was derived from."""

    @property
    def slos(self) -> tuple[SLO, ...]:
        return (*self.members, self.slo)


def _heaviest(sli: CompositeSLI) -> str:
    return max(sli.components, key=lambda c: (c.weight, c.slo)).slo


def prepare(base: SLO, s: Scenario, service_slos: Sequence[SLO] = (), *, apart: bool = False) -> Item:
    """The twin of ``base`` for ``s``; a composite's components (from ``service_slos``) each get
    their counters, and the scenario's incidents hit the heaviest one. With ``apart``, the
    twins and their counters carry ``base``'s id, so that one replay can hold ``s`` for other
    SLOs too (:func:`plan_runs`)."""
    tag = base.id if apart else None
    if not isinstance(base.sli, CompositeSLI):
        le = base.sli.threshold_seconds if isinstance(base.sli, LatencySLI) else None
        feed = Feed(s, counts(s, base.error_budget), None, le, tag)
        return Item(s, scenario_slo(base, s, apart=tag), (feed,), source_id=base.id)
    by_name = {m.name: m for m in service_slos if m.service == base.service}
    heavy = _heaviest(base.sli)
    members: list[SLO] = []
    feeds: list[Feed] = []
    for c in base.sli.components:
        member = by_name[c.slo]
        sub = s if c.slo == heavy else replace(s, incidents=())
        members.append(scenario_slo(member, s, component=c.slo, apart=tag))
        feeds.append(Feed(sub, counts(sub, member.error_budget), c.slo, slo=tag))
    twin = replace(
        base,
        service="backtest",
        name=_twin_name(s, None, tag),
        labels=(),
        sli=CompositeSLI(
            tuple(Component(m.name, c.weight) for m, c in zip(members, base.sli.components, strict=True))
        ),
    )
    return Item(s, twin, tuple(feeds), tuple(members), base.id)


@dataclass(frozen=True)
class Episode:
    start: int
    """Seconds from the scenario start of the first firing evaluation."""
    end: int
    """Seconds from the scenario start of the last firing evaluation."""


@dataclass(frozen=True)
class TierResult:
    tier: str
    expected: bool
    designed_seconds: int | None
    detection_seconds: int | None
    """From the first incident's start (the first quiet interval's, for ``no_data``) to the
    first firing evaluation."""
    false_alerts: int
    alert_seconds: int
    """Firing time of the detecting episode."""
    reset_seconds: int | None
    """From the end of the incident to the last firing evaluation of the detecting episode."""
    episodes: tuple[Episode, ...]
    note: str = ""
    """Why a tier the scenario is built to fire is expected silent for this SLO (its design)."""

    @property
    def within_design(self) -> bool | None:
        if self.designed_seconds is None:
            return None
        return self.detection_seconds is not None and self.detection_seconds <= self.designed_seconds


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    slo: SLO
    tiers: tuple[TierResult, ...]
    budget_left: float
    budget_left_truth: float
    period_ratio: float
    period_ratio_truth: float
    series: dict[str, list[tuple[int, float]]]
    """Plots: ``budget``, ``burn`` (current 5m burn rate), ``burn_<tier>`` (long-window burn),
    and ``period_ratio``."""
    source_id: str = ""
    """Id of the SLO the scenario SLO was derived from."""
    start: int = EPOCH
    """Unix seconds of the scenario's start."""


def _episodes(firing: Sequence[int], step: int) -> list[Episode]:
    out: list[Episode] = []
    for t in firing:
        if out and t - out[-1].end <= step * 1.5:
            out[-1] = Episode(out[-1].start, t)
        else:
            out.append(Episode(t, t))
    return out


def _burn(item: Item, burn: float) -> float:
    """The SLO's burn (in multiples of its budget) for an incident of ``burn``: for a
    composite, the heaviest component's error ratio diluted by its weight."""
    slo = item.slo
    if not isinstance(slo.sli, CompositeSLI):
        return 1 / slo.error_budget if math.isinf(burn) else burn
    heavy = max(slo.sli.components, key=lambda c: (c.weight, c.slo))
    member = next(m for m in item.members if m.name == heavy.slo)
    ratio = 1.0 if math.isinf(burn) else min(1.0, burn * member.error_budget)
    return ratio * heavy.weight / slo.sli.total_weight / slo.error_budget


def _expectation(item: Item, tier: AlertTier, step: int, start: int) -> tuple[int | None, str]:
    """The tier's designed detection time in this scenario, or ``None`` and why the SLO's own
    design keeps it silent: the incident's burn does not reach the tier's factor, it ends
    before the designed detection, or the low-traffic guard holds the page back."""
    slo, s = item.slo, item.scenario
    inc = s.incidents[0]
    period = None
    if slo.calendar is not None:
        begin, end = period_bounds(slo.calendar.unit, slo.calendar.time_zone, start + inc.start)
        period = end - begin
    burn = _burn(item, inc.burn)
    factor = tier.window.burn_factor(period or slo.period)
    if slo.timeslices is None and burn <= factor:
        return None, f"designed silent: a {burn:.3g}x burn never reaches its {factor:.3g}x factor"
    designed = designed_detection(slo, tier, burn, eval_step=step, period=period)
    if slo.timeslices is not None or s.kind != "occurrences":
        return designed, ""  # the catalogue builds these incidents to fire; no shorter check
    lasts = inc.end - inc.start
    if designed > lasts:
        return None, (
            f"designed silent: it fires after {describe(designed)} of a {burn:.3g}x burn, "
            f"the incident lasts {describe(lasts)}"
        )
    if slo.alerting.min_events > 0 and tier.severity == "page":
        c = item.feeds[0].counts
        at = (c.warmup + inc.start + designed) // c.step
        events = sum(c.requests[max(0, at - tier.window.long_window // c.step) + 1 : at + 1])
        if events < slo.alerting.min_events:
            return None, (
                f"designed silent: {events:.0f} events in its {describe(tier.window.long_window)} window, "
                f"under the guard's minEvents {slo.alerting.min_events:g}"
            )
    return designed, ""


def tier_result(item: Item, tier_name: str, firing: Sequence[int], step: int, start: int) -> TierResult:
    """What the alert of ``tier_name`` did in ``item``'s scenario, given the offsets it fired at
    (``firing``, seconds from ``start``, every ``step``): whether it was expected, its designed
    and actual detection, its false alerts; a no-data ticket whose flat part is shorter than its
    wait is expected silent, the note says why."""
    slo, s = item.slo, item.scenario
    eps = _episodes(firing, step)
    designed = None
    expected = tier_name in s.expect
    note = ""
    if tier_name == "no_data":
        spans = [(a, b, designed_no_data(slo, step)) for a, b in s.quiet]
        if spans and expected:
            designed = designed_no_data(slo, step)
            flat = spans[0][1] - spans[0][0]
            if designed > flat:
                note = (
                    f"designed silent: it fires after {describe(designed)} of flat series "
                    f"(noData.for, 5m, a scrape and an evaluation), the series stay flat {describe(flat)}"
                )
                designed, expected = None, False
    else:
        tier = next(t for t in slo.alerting.enabled_tiers if t.name == tier_name)
        spans = [(inc.start, inc.end, tier.window.long_window) for inc in s.incidents]
        if s.incidents and expected:
            designed, note = _expectation(item, tier, step, start)
            expected = designed is not None
    # An episode is true when it starts during an incident or within the tier's long window
    # after it (the window still holds the incident).
    true_eps = [e for e in eps if any(a <= e.start <= b + extra for a, b, extra in spans)]
    first_span = spans[0] if spans else None
    first = next((e for e in true_eps if first_span and e.start >= first_span[0]), None)
    return TierResult(
        tier=tier_name,
        expected=expected,
        designed_seconds=designed,
        detection_seconds=None if first is None or first_span is None else first.start - first_span[0],
        false_alerts=len(eps) - len(true_eps),
        alert_seconds=0 if first is None else first.end - first.start + step,
        reset_seconds=None
        if first is None or first_span is None or first.end >= s.duration - step
        else max(0, first.end + step - first_span[1]),
        episodes=tuple(eps),
        note=note,
    )


def _points(bt: Replayed, expr: str, start: int) -> list[tuple[int, float]]:
    res = bt.range(expr)
    if not res:
        return []
    values = res[0]["values"]
    assert isinstance(values, list)
    return [(int(float(t)) - start, float(v)) for t, v in values]


def truth(item: Item, start: int, at: int | None = None) -> float:
    """The ground truth of the period ratio at ``at`` seconds into the scenario (its end by
    default), from the raw per-step counts: Σerrors / Σevents over the period — since the
    calendar period's start, and never before the scenario's (recordings of the replay start
    there) for calendar and timeslice SLOs; the share of bad 5m slices for timeslices; the
    weighted mean of the components' for a composite."""
    slo, s = item.slo, item.scenario
    at = s.duration if at is None else at
    c = item.feeds[0].counts
    end_index = (c.warmup + at) // c.step
    first = 0
    if slo.calendar is not None or slo.timeslices is not None:
        first = c.warmup // c.step
    if slo.calendar is not None:
        begin, _end = period_bounds(slo.calendar.unit, slo.calendar.time_zone, start + at)
        first = max(first, (begin - start + c.warmup) // c.step)
    if isinstance(slo.sli, CompositeSLI):
        total = 0.0
        for comp, feed in zip(slo.sli.components, item.feeds, strict=True):
            total += comp.weight * feed.counts.truth_ratio(first, end_index)
        return total / slo.sli.total_weight
    if slo.timeslices is not None:
        share = slice_truth(c, slo.timeslices.allowed_error_ratio, first, end_index)
        return math.nan if share is None else share
    req = sum(c.requests[first + 1 : end_index + 1])
    return c.truth_ratio(first, end_index) if req else math.nan


def _period_ratio_name(slo: SLO) -> str:
    return naming.period_error_ratio(slo.calendar.unit if slo.calendar else None, slo.period)


def evaluate(
    bt: Replayed,
    items: Sequence[Item],
    alerts: Sequence[AlertSeries],
    *,
    start: int = EPOCH,
) -> list[ScenarioResult]:
    """Per-scenario results of our rules in ``bt`` (their series names)."""
    out: list[ScenarioResult] = []
    for item in items:
        s, slo = item.scenario, item.slo
        sel = matchers({naming.LABEL_ID: slo.id})
        end = start + s.duration
        names = [t.name for t in slo.alerting.enabled_tiers]
        if slo.alerting.no_data.enabled:
            names.append("no_data")
        tiers = tuple(
            tier_result(item, name, _firing_offsets(alerts, slo, name, start, end), bt.step, start)
            for name in names
        )
        budget = slo.error_budget
        ratio = value_at(bt, f"max({_period_ratio_name(slo)}{sel})", end)
        # The truth at the evaluation that recorded that value (at most a minute before the end);
        # calendar and timeslice ratios read 5m points, so they end at the last one before it.
        recorded = value_at(bt, f"max(timestamp({_period_ratio_name(slo)}{sel}))", end)
        grid = naming.BASE_WINDOW if slo.calendar or slo.timeslices else s.step
        at = s.duration if math.isnan(recorded) else int(recorded - start) // grid * grid
        true_ratio = truth(item, start, at=at)
        left = value_at(bt, f"max({naming.BUDGET_REMAINING}{sel})", end)
        series = _plots(bt, slo, sel, start, s.duration)
        out.append(
            ScenarioResult(
                s, slo, tiers, left, 1 - true_ratio / budget, ratio, true_ratio, series, item.source_id, start
            )
        )
    return out


def _firing_offsets(alerts: Sequence[AlertSeries], slo: SLO, tier: str, start: int, end: int) -> list[int]:
    """Seconds from ``start`` at which the SLO's ``tier`` alert was firing, up to ``end``."""
    return sorted(
        math.ceil(t - start)
        for a in alerts
        if a.labels.get(naming.LABEL_ID) == slo.id and a.labels.get(naming.LABEL_TIER) == tier
        for t in a.firing
        if t <= end
    )


def _plots(bt: Replayed, slo: SLO, sel: str, start: int, duration: int) -> dict[str, list[tuple[int, float]]]:
    """The series a report plots: budget left, burn rates, the period ratio."""

    def plot(expr: str) -> list[tuple[int, float]]:
        return [p for p in _points(bt, expr, start) if p[0] <= duration]

    series = {
        "budget": plot(f"max({naming.BUDGET_REMAINING}{sel})"),
        "burn": plot(f"max({naming.CURRENT_BURN_RATE}{sel})"),
        "period_ratio": plot(f"max({_period_ratio_name(slo)}{sel})"),
    }
    for tier in slo.alerting.enabled_tiers:
        w = naming.error_ratio(tier.window.long_window)
        series[f"burn_{tier.name}"] = plot(f"max({w}{sel}) / {slo.error_budget}")
    return series


@dataclass(frozen=True)
class ScenarioPlan:
    """What one synthetic replay holds: scenarios that start at one moment, each against its
    SLO twin with its counters, the rule set, and the time range (from the longest warm-up to
    the longest scenario's end)."""

    items: tuple[Item, ...]
    rules: RuleSet
    step: int
    end: int
    warmup_start: int
    start: int = EPOCH

    @property
    def feeds(self) -> list[Feed]:
        return [f for i in self.items for f in i.feeds]


def plan_scenarios(
    base: SLO,
    scenarios: Sequence[Scenario],
    rules: Callable[[Sequence[SLO]], RuleSet] = our_rules,
    service_slos: Sequence[SLO] = (),
) -> list[ScenarioPlan]:
    """One plan per scenario start (most scenarios start at ``EPOCH``; calendar ones at their
    dates), in the order of those starts."""
    return plan_runs([(base, scenarios)], rules, service_slos)


def plan_runs(
    runs: Sequence[tuple[SLO, Sequence[Scenario]]],
    rules: Callable[[Sequence[SLO]], RuleSet] = our_rules,
    service_slos: Sequence[SLO] = (),
) -> list[ScenarioPlan]:
    """:func:`plan_scenarios` for several SLOs, each with its scenarios: the scenarios of every
    SLO that start at one moment share one plan, so one replay (one backfill per rule level,
    one Prometheus per level) serves them all. Of several SLOs, the twins and their counters
    carry their SLO's id (``prepare(apart=True)``), so that a scenario replayed for two of
    them is two sets of series and rules."""
    apart = len(runs) > 1
    chosen = [(base, s) for base, scenarios in runs for s in scenarios]
    plans: list[ScenarioPlan] = []
    for epoch in sorted({s.epoch or EPOCH for _base, s in chosen}):
        these = [(base, s) for base, s in chosen if (s.epoch or EPOCH) == epoch]
        items = tuple(prepare(base, s, service_slos, apart=apart) for base, s in these)
        plans.append(
            ScenarioPlan(
                items,
                rules([slo for i in items for slo in i.slos]),
                step=min(s.step for _base, s in these),
                end=epoch + max(s.duration for _base, s in these),
                warmup_start=epoch - max(s.warmup for _base, s in these),
                start=epoch,
            )
        )
    return plans


def run_many(
    runs: Sequence[tuple[SLO, Sequence[Scenario]]],
    workdir: Path,
    *,
    rules: Callable[[Sequence[SLO]], RuleSet] = our_rules,
    service_slos: Sequence[SLO] = (),
    engine: PrometheusEngine | VictoriaEngine | None = None,
    progress: Progress = silent,
    start_timeout: float | None = None,
) -> list[ScenarioResult]:
    """Backtest each SLO's scenarios against its rules (``rules``; ``service_slos``: the SLOs
    a composite's components are found among), in one throwaway Prometheus (``engine``'s, or
    the default engine's) or in VictoriaMetrics evaluated by vmalert, in one replay per
    scenario start (:func:`plan_runs`): a replay's fixed costs (a Prometheus started per rule
    level, a promtool run per level) are paid once, not once per SLO. Results in the order of
    ``runs``, then of each one's scenarios. ``progress`` hears each replay's steps (``replay``,
    ``replay k/N`` of several starts) and the scenarios evaluated (``evaluate``).
    ``start_timeout``: the most seconds each server start may take to be ready (None: its own)."""
    plans = plan_runs(runs, rules, service_slos)
    results: list[ScenarioResult] = []
    for n, p in enumerate(plans):
        sub = workdir if len(plans) == 1 else workdir / f"start-{n}"
        what = "replay" if len(plans) == 1 else f"replay {n + 1}/{len(plans)}"
        steps = partial(_renamed, progress, what)
        if isinstance(engine, VictoriaEngine):
            with replay_victoria(
                p.rules, list(samples(p.feeds, start=p.start)), sub, start=p.start, end=p.end,
                step=p.step, warmup_start=p.warmup_start, topology=engine.topology, progress=steps,
                start_timeout=start_timeout,
            ) as vm:  # fmt: skip
                results.extend(_evaluate_each(vm, p.items, vm.alerts(), p.start, progress))
            continue
        with replay(
            p.rules,
            openmetrics(p.feeds, start=p.start),
            sub,
            start=p.start,
            end=p.end,
            step=p.step,
            warmup_start=p.warmup_start,
            engine=engine,
            progress=steps,
            start_timeout=start_timeout,
        ) as bt:
            results.extend(_evaluate_each(bt, p.items, bt.alerts(), p.start, progress))
    order = {(base.id, s): k for k, (base, s) in enumerate((b, s) for b, ss in runs for s in ss)}
    return sorted(results, key=lambda r: order[r.source_id, r.scenario])


def _renamed(progress: Progress, what: str, _what: str, done: int, total: int) -> None:
    progress(what, done, total)


def _evaluate_each(
    bt: Replayed, items: Sequence[Item], alerts: Sequence[AlertSeries], start: int, progress: Progress
) -> list[ScenarioResult]:
    """:func:`evaluate` one item at a time, ``progress`` hearing each (``evaluate``)."""
    out: list[ScenarioResult] = []
    for k, item in enumerate(items):
        out.extend(evaluate(bt, [item], alerts, start=start))
        progress("evaluate", k + 1, len(items))
    return out


def run_history(
    slo: SLO,
    url: str,
    start: int,
    end: int,
    workdir: Path,
    *,
    warmup: int = 3 * DAY,
    step: int = 60,
    engine: PrometheusEngine | None = None,
    allow: Sequence[str] = (),
    token: str | None = None,
    start_timeout: float | None = None,
) -> list[ScenarioResult]:
    """Replay ``slo``'s rules over its real history in ``[start, end]`` read from ``url``
    (through the egress guard: loopback plus ``allow``; ``token`` a bearer token), with
    ``warmup`` of history before ``start`` for long windows. ``start_timeout``: the most seconds
    each start of its Prometheus may take to be ready (None: its own)."""
    from .history import history_counts, history_scenario

    start -= (start - EPOCH) % step
    s = history_scenario(slo, start, end - (end - start) % step, warmup)
    c = history_counts(url, slo, start - warmup, start + s.duration, step=step, allow=allow, token=token)
    c = replace(c, warmup=warmup)
    # History gives event counts (the SLI's own 5m rates), so even a latency SLI replays counters.
    twin = scenario_slo(replace(slo, sli=EventsSLI("", "")), s)
    item = Item(s, twin, (Feed(s, c),), source_id=slo.id)
    with replay(
        our_rules([twin]),
        openmetrics(item.feeds, start=start),
        workdir,
        start=start,
        end=start + s.duration,
        step=step,
        warmup_start=start - warmup,
        engine=engine,
        start_timeout=start_timeout,
    ) as bt:
        return evaluate(bt, [item], bt.alerts(), start=start)


def describe(seconds: int | None) -> str:
    """A table's duration: ``6h4m14s``, not ``21854s``; ``-`` for none."""
    return "-" if seconds is None else format_duration(seconds)
