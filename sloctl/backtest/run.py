"""Synthetic backtests: scenarios → counters → real Prometheus → per-tier results."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sloctl import naming
from sloctl.durations import format_duration
from sloctl.model import SLO, EventsSLI
from sloctl.render.rules import RuleOptions, render_rule_file
from sloctl.render.ruletests import designed_detection
from sloctl.shelf import PrometheusEngine

from .engine import AlertSeries, Replayed, RuleSet, replay
from .scenarios import Counts, Scenario, counts
from .series import EPOCH, ERRORS, REQUESTS, openmetrics, samples
from .victoria import VictoriaEngine, replay_victoria

__all__ = [
    "EPOCH",
    "ERRORS",
    "REQUESTS",
    "Episode",
    "ScenarioPlan",
    "ScenarioResult",
    "TierResult",
    "evaluate",
    "openmetrics",
    "our_rules",
    "plan_scenarios",
    "run_scenarios",
    "scenario_slo",
]


def scenario_slo(base: SLO, s: Scenario) -> SLO:
    """``base`` (objective, period, catalog, tiers, guard) with its SLI reading the scenario's
    counters; service ``backtest``, SLO name = scenario name."""
    sel = f'{{scenario="{s.name}"}}'
    return replace(
        base,
        service="backtest",
        name=s.name.replace("_", "-"),
        sli=EventsSLI(
            f"sum(rate({ERRORS}{sel}[{{{{.window}}}}]))", f"sum(rate({REQUESTS}{sel}[{{{{.window}}}}]))"
        ),
        labels=(),
    )


def our_rules(slos: Sequence[SLO], interval: int = 60) -> RuleSet:
    return RuleSet("sloctl", render_rule_file(slos, ["backtest"], "backtest", RuleOptions(interval=interval)))


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
    """From the first incident's start to the first firing evaluation."""
    false_alerts: int
    alert_seconds: int
    """Firing time of the detecting episode."""
    reset_seconds: int | None
    """From the end of the incident to the last firing evaluation of the detecting episode."""
    episodes: tuple[Episode, ...]

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
    """Plots: ``budget``, ``burn`` (current 5m burn rate), ``burn_<tier>`` (long-window burn)."""
    source_id: str = ""
    """Id of the SLO the scenario SLO was derived from."""


def _episodes(firing: Sequence[int], step: int) -> list[Episode]:
    out: list[Episode] = []
    for t in firing:
        if out and t - out[-1].end <= step * 1.5:
            out[-1] = Episode(out[-1].start, t)
        else:
            out.append(Episode(t, t))
    return out


def _tier_result(slo: SLO, s: Scenario, tier_name: str, firing: Sequence[int], step: int) -> TierResult:
    tier = next(t for t in slo.alerting.enabled_tiers if t.name == tier_name)
    eps = _episodes(firing, step)
    inc = s.incidents[0] if s.incidents else None
    long_w = tier.window.long_window
    designed = None
    if inc is not None and tier_name in s.expect:
        burn = 1 / slo.error_budget if math.isinf(inc.burn) else inc.burn
        designed = designed_detection(slo, tier, burn, eval_step=step)
    true_eps = [e for e in eps if inc is not None and inc.start <= e.start <= inc.end + long_w]
    first = true_eps[0] if true_eps else None
    return TierResult(
        tier=tier_name,
        expected=tier_name in s.expect,
        designed_seconds=designed,
        detection_seconds=None if first is None or inc is None else first.start - inc.start,
        false_alerts=len(eps) - len(true_eps),
        alert_seconds=0 if first is None else first.end - first.start + step,
        reset_seconds=None
        if first is None or inc is None or first.end >= s.duration - step
        else max(0, first.end + step - inc.end),
        episodes=tuple(eps),
    )


def _points(bt: Replayed, expr: str, start: int) -> list[tuple[int, float]]:
    res = bt.range(expr)
    if not res:
        return []
    values = res[0]["values"]
    assert isinstance(values, list)
    return [(int(float(t)) - start, float(v)) for t, v in values]


def evaluate(
    bt: Replayed,
    items: Sequence[tuple[Scenario, SLO, Counts]],
    alerts: Sequence[AlertSeries],
    *,
    start: int = EPOCH,
    source_id: str = "",
) -> list[ScenarioResult]:
    """Per-scenario results of our rules in ``bt`` (their series names)."""
    out: list[ScenarioResult] = []
    for s, slo, c in items:
        sel = f'{{{naming.LABEL_ID}="{slo.id}"}}'
        end = start + s.duration
        tiers: list[TierResult] = []
        for tier in slo.alerting.enabled_tiers:
            firing = sorted(
                math.ceil(t - start)
                for a in alerts
                if a.labels.get(naming.LABEL_ID) == slo.id and a.labels.get(naming.LABEL_TIER) == tier.name
                for t in a.firing
                if t <= end
            )
            tiers.append(_tier_result(slo, s, tier.name, firing, bt.step))
        budget = slo.error_budget
        truth = c.truth_ratio()
        ratio = _value_at(bt, f"max({naming.error_ratio(slo.period)}{sel})", end)
        left = _value_at(bt, f"max({naming.BUDGET_REMAINING}{sel})", end)
        series = {
            "budget": [
                p for p in _points(bt, f"max({naming.BUDGET_REMAINING}{sel})", start) if p[0] <= s.duration
            ],
            "burn": [
                p for p in _points(bt, f"max({naming.CURRENT_BURN_RATE}{sel})", start) if p[0] <= s.duration
            ],
        }
        for tier in slo.alerting.enabled_tiers:
            w = naming.error_ratio(tier.window.long_window)
            series[f"burn_{tier.name}"] = [
                p for p in _points(bt, f"max({w}{sel}) / {budget}", start) if p[0] <= s.duration
            ]
        out.append(
            ScenarioResult(s, slo, tuple(tiers), left, 1 - truth / budget, ratio, truth, series, source_id)
        )
    return out


def _value_at(bt: Replayed, expr: str, t: int) -> float:
    res = bt.query(expr, t)
    if not res:
        return math.nan
    value = res[0]["value"]
    assert isinstance(value, list)
    return float(value[1])


@dataclass(frozen=True)
class ScenarioPlan:
    """What a synthetic backtest replays: each scenario with its SLO twin and counts, the
    rule set, and the time range (from the longest warm-up to the longest scenario's end)."""

    items: tuple[tuple[Scenario, SLO, Counts], ...]
    rules: RuleSet
    step: int
    end: int
    warmup_start: int
    start: int = EPOCH

    @property
    def counters(self) -> list[tuple[Scenario, Counts]]:
        return [(s, c) for s, _slo, c in self.items]


def plan_scenarios(
    base: SLO, scenarios: Sequence[Scenario], rules: Callable[[Sequence[SLO]], RuleSet] = our_rules
) -> ScenarioPlan:
    items = tuple((s, scenario_slo(base, s), counts(s, base.error_budget)) for s in scenarios)
    return ScenarioPlan(
        items,
        rules([slo for _s, slo, _c in items]),
        step=min(s.step for s in scenarios),
        end=EPOCH + max(s.duration for s in scenarios),
        warmup_start=EPOCH - max(s.warmup for s in scenarios),
    )


def run_scenarios(
    base: SLO,
    scenarios: Sequence[Scenario],
    workdir: Path,
    *,
    rules: Callable[[Sequence[SLO]], RuleSet] = our_rules,
    engine: PrometheusEngine | VictoriaEngine | None = None,
) -> list[ScenarioResult]:
    """Backtest ``scenarios`` against the rules of ``base`` in one throwaway Prometheus
    (``engine``'s, or the default engine's), or in VictoriaMetrics evaluated by vmalert."""
    p = plan_scenarios(base, scenarios, rules)
    if isinstance(engine, VictoriaEngine):
        series = list(samples(p.counters))
        with replay_victoria(
            p.rules, series, workdir, start=p.start, end=p.end, step=p.step, warmup_start=p.warmup_start,
            topology=engine.topology,
        ) as vm:  # fmt: skip
            return evaluate(vm, p.items, vm.alerts(), source_id=base.id)
    text = openmetrics(p.counters)
    with replay(
        p.rules,
        text,
        workdir,
        start=p.start,
        end=p.end,
        step=p.step,
        warmup_start=p.warmup_start,
        engine=engine,
    ) as bt:
        return evaluate(bt, p.items, bt.alerts(), source_id=base.id)


def run_history(
    slo: SLO,
    url: str,
    start: int,
    end: int,
    workdir: Path,
    *,
    warmup: int = 3 * 86400,
    step: int = 60,
    engine: PrometheusEngine | None = None,
    allow: Sequence[str] = (),
) -> list[ScenarioResult]:
    """Replay ``slo``'s rules over its real history in ``[start, end]`` read from ``url``
    (through the egress guard: loopback plus ``allow``), with ``warmup`` of history before
    ``start`` for long windows."""
    from .history import history_counts, history_scenario

    start -= (start - EPOCH) % step
    s = history_scenario(slo, start, end - (end - start) % step, warmup)
    c = history_counts(url, slo, start - warmup, start + s.duration, step=step, allow=allow)
    c = replace(c, warmup=warmup)
    twin = scenario_slo(slo, s)
    text = openmetrics([(s, c)], start=start)
    with replay(
        our_rules([twin]),
        text,
        workdir,
        start=start,
        end=start + s.duration,
        step=step,
        warmup_start=start - warmup,
        engine=engine,
    ) as bt:
        return evaluate(bt, [(s, twin, c)], bt.alerts(), start=start, source_id=slo.id)


def describe(seconds: int | None) -> str:
    return "-" if seconds is None else format_duration(seconds) if seconds % 60 == 0 else f"{seconds}s"
