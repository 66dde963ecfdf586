"""The scenarios of an SLO's tests (burns above and below each tier, no traffic, resets, uneven
traffic, low traffic, calendar resets, policy steps) as promtool test documents."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sloctl import naming
from sloctl.durations import DAY, HOUR, format_duration
from sloctl.model import SLO, AlertTier, CompositeSLI
from sloctl.render import promql
from sloctl.render.rules import RuleOptions, render_groups, render_rule_file, sharp_window, tiled_window
from sloctl.render.yamlout import dump_yaml

from ._model import Scenario, _Model, _one, _percentage, _Run, _Segment
from ._params import (
    ABOVE,
    BELOW,
    COMPONENT_LABEL,
    ERRORS_METRIC,
    MAX_SLICES,
    PERIOD_BOUND,
    REQUESTS_METRIC,
    SAMPLES_PER_WINDOW,
    SLICE,
    SLICE_STEPS,
    STEP,
    UNEVEN_EVAL,
    UnprovableSLO,
)
from ._twin import (
    designed_detection,
    promql_names,
    rules_read,
    timeslice_slices_to_fire,
    timeslice_tier_can_fire,
    twin_slos,
)


def _labels_text(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _user_labels(labels: dict[str, str], fixed: dict[str, str]) -> dict[str, str]:
    """``fixed`` first, then the user's labels sorted: promtool compares them as sets, and a
    stable block of the user's labels after the fixed ones lets fleets share rendered tests."""
    out = dict(fixed)
    out.update(sorted((k, v) for k, v in labels.items() if k not in fixed))
    return out


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _alert_labels(slo: SLO, severity: str, tier: str, **extra: str) -> dict[str, str]:
    user = dict(slo.labels)
    user.update(slo.alerting.labels)
    user.update(slo.alerting.severity(severity).labels)  # type: ignore[arg-type]
    fixed = {
        naming.LABEL_SEVERITY: severity,
        naming.LABEL_ID: slo.id,
        naming.LABEL_SERVICE: slo.service,
        naming.LABEL_SLO: slo.name,
        naming.LABEL_TIER: tier,
        **extra,
    }
    return _user_labels(user, fixed)


def _annotations(template: Mapping[str, object], slo: SLO, value: str) -> dict[str, str]:
    first = {k: template[k] for k in ("description", "summary") if k in template}
    rest = sorted((k, v) for k, v in template.items() if k not in first)
    return {k: _expand(str(v), slo, value) for k, v in [*first.items(), *rest]}


def _expand(template: str, slo: SLO, value: str) -> str:
    return (
        template.replace(f"{{{{ $labels.{naming.LABEL_SERVICE} }}}}", slo.service)
        .replace(f"{{{{ $labels.{naming.LABEL_SLO} }}}}", slo.name)
        .replace('{{ printf "%.2f" $value }}', value)
        .replace("{{ $value | humanizePercentage }}", value)
    )


def _traffic(slo: SLO) -> int:
    """Requests per step: enough that the smallest tested error ratio is many whole errors per
    step, and that the low-traffic guard is met in every tested window."""
    tiers = slo.alerting.enabled_tiers or slo.alerting.tiers
    smallest = min((t.window.burn_factor(slo.period) for t in tiers), default=1.0)
    by_ratio = math.ceil(200 / max(BELOW * smallest * slo.error_budget, 1e-9))
    shortest = min((t.window.long_window for t in tiers), default=HOUR)
    by_guard = math.ceil(slo.alerting.min_events * 4 / max(shortest // STEP, 1))
    return max(10_000, by_ratio, by_guard)


_RUNS: dict[object, _Run] = {}
_RUNS_MAX = 4096


class _Builder:
    def __init__(self, slo: SLO, members: Sequence[SLO], eval_step: int) -> None:
        self.slo = slo
        self.members = members
        self.eval_step = eval_step
        self.per = eval_step // STEP
        self.groups: list[dict[str, object]] = []
        self.rendered = {
            (str(r["alert"]), str(r["labels"][naming.LABEL_TIER])): r  # type: ignore[index]
            for r in _twin_rules(slo, members)
            if "alert" in r
        }
        self.sel = promql.slo_selector(slo)

    def _run(self, scenario: Scenario) -> _Run:
        # The model depends on the SLO's numbers only, not on its names: fleets share a few
        # objective/period/tier profiles, so runs are memoised by those numbers.
        slo = self.slo
        key = (
            slo.period,
            slo.objective,
            slo.calendar,
            slo.timeslices,
            slo.sli if isinstance(slo.sli, CompositeSLI) else None,
            slo.alerting.min_events,
            slo.alerting.no_data,
            tuple((t.window, t.for_seconds) for t in slo.alerting.enabled_tiers),
            tuple((m.name, m.objective, m.period, m.windows) for m in self.members),
            scenario,
            self.eval_step,
        )
        run = _RUNS.get(key)
        if run is None:
            if len(_RUNS) >= _RUNS_MAX:
                _RUNS.clear()
            run = _RUNS[key] = _Run(slo, self.members, scenario, self.eval_step)
        return run

    def _time(self, i: int) -> str:
        return format_duration(i * self.eval_step) if i else "0s"

    def _input(self, run: _Run) -> list[dict[str, str]]:
        out = []
        for key, c in run.counters.items():
            sel = f'{{{COMPONENT_LABEL}="{key}"}}' if key is not None else ""
            out.append({"series": f"{REQUESTS_METRIC}{sel}", "values": c.req_txt})
            out.append({"series": f"{ERRORS_METRIC}{sel}", "values": c.err_txt})
        return out

    def _burn_alerts(self, run: _Run, i: int) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for tier in self.slo.alerting.enabled_tiers:
            if not run.fire[tier.name][i]:
                continue
            template = self.rendered[(self.slo.alerting.name, tier.name)]["annotations"]
            assert isinstance(template, dict)
            out.append(
                {
                    "exp_labels": _alert_labels(self.slo, tier.severity, tier.name),
                    "exp_annotations": _annotations(template, self.slo, f"{run.value(i, tier):.2f}"),
                }
            )
        return out

    def _no_data_alerts(self, run: _Run, i: int) -> list[dict[str, object]]:
        nd = self.slo.alerting.no_data
        if not run.no_data_alert(i):
            return []
        template = self.rendered[(self.slo.no_data_alert_name, nd.tier)]["annotations"]
        assert isinstance(template, dict)
        return [
            {
                "exp_labels": _alert_labels(self.slo, nd.severity, nd.tier),
                "exp_annotations": _annotations(template, self.slo, ""),
            }
        ]

    def _policy_alerts(self, run: _Run, i: int) -> list[dict[str, object]]:
        left = run.remaining(i)
        out: list[dict[str, object]] = []
        for step in self.slo.policy.steps:
            if left is None or left > step.budget_left_ratio:
                continue
            template = self.rendered[(self.slo.policy_alert_name, step.tier)]["annotations"]
            assert isinstance(template, dict)
            out.append(
                {
                    "exp_labels": _alert_labels(
                        self.slo, "ticket", step.tier, **{naming.LABEL_POLICY_ACTION: step.action}
                    ),
                    "exp_annotations": _annotations(template, self.slo, _percentage(left)),
                }
            )
        return out

    def _group(
        self,
        name: str,
        run: _Run,
        checks: Mapping[str, Sequence[int]],
        expr_checks: Sequence[dict[str, object]] = (),
    ) -> None:
        """One promtool test: ``checks`` maps ``burn``, ``no_data`` and ``policy`` to the
        evaluations at which that alert's expected state is asserted."""
        group: dict[str, object] = {
            "name": name,
            "interval": format_duration(STEP),
            "input_series": self._input(run),
        }
        tests: list[dict[str, object]] = []
        for kind, times in checks.items():
            if kind == "burn" and self.slo.alerting.enabled_tiers:
                alertname, expected = self.slo.alerting.name, self._burn_alerts
            elif kind == "no_data" and self.slo.alerting.no_data.enabled:
                alertname, expected = self.slo.no_data_alert_name, self._no_data_alerts
            elif kind == "policy" and self.slo.policy.steps:
                alertname, expected = self.slo.policy_alert_name, self._policy_alerts
            else:
                continue
            tests.extend(
                {"eval_time": self._time(i), "alertname": alertname, "exp_alerts": expected(run, i)}
                for i in times
            )
        if tests:
            group["alert_rule_test"] = tests
        if expr_checks:
            group["promql_expr_test"] = list(expr_checks)
        if tests or expr_checks:
            self.groups.append(group)

    def _fixed(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        fixed = {
            naming.LABEL_ID: self.slo.id,
            naming.LABEL_SERVICE: self.slo.service,
            naming.LABEL_SLO: self.slo.name,
        }
        fixed.update(extra or {})
        return _user_labels(dict(self.slo.labels), fixed)

    def _close_to(
        self, metric: str, value: float, i: int, rel: float, extra: dict[str, str] | None = None
    ) -> dict[str, object]:
        """``|metric - value| <= rel × |value|`` as a promtool check that returns 1."""
        tol = promql.fmt_number(max(abs(value) * rel, 1e-12))
        return {
            "expr": f"abs({metric}{self.sel} - {promql.fmt_number(value)}) <= bool {tol}",
            "eval_time": self._time(i),
            "exp_samples": [{"labels": _labels_text(self._fixed(extra)), "value": 1}],
        }

    def _absent(self, metric: str, i: int) -> dict[str, object]:
        return {"expr": f"{metric}{self.sel}", "eval_time": self._time(i), "exp_samples": []}

    def _period_labels(self) -> dict[str, str]:
        unit = self.slo.calendar.unit if self.slo.calendar else None
        return {naming.LABEL_WINDOW: naming.period_window_label(unit, self.slo.period)}

    def _period_ratio_is(self, value: float, i: int) -> dict[str, object]:
        """The period's error ratio is ``value`` (to 1e-9) at evaluation ``i``."""
        unit = self.slo.calendar.unit if self.slo.calendar else None
        metric = naming.period_error_ratio(unit, self.slo.period)
        return self._close_to(metric, value, i, 1e-9, self._period_labels())

    def _healthy(
        self, scenario_for: _Segment | Sequence[_Segment], failing: Sequence[_Segment] = ()
    ) -> Scenario:
        """The same segments for every series; for a composite, ``failing`` (when given) for its
        heaviest component and ``scenario_for`` for the others."""
        base = (scenario_for,) if isinstance(scenario_for, _Segment) else tuple(scenario_for)
        if not isinstance(self.slo.sli, CompositeSLI):
            return _one(failing or base)
        heavy = _heaviest(self.slo.sli)
        return tuple(
            (c.slo, tuple(failing) if failing and c.slo == heavy else base) for c in self.slo.sli.components
        )

    def _firing_checks(self, run: _Run, tier: AlertTier, start: int, bound: float) -> list[int]:
        """Where a burn that starts after evaluation ``start`` is asserted: ``start``, the last
        evaluation before the firing and the first after every engine fired at which the engines
        agree (:meth:`_Run.agreed`); empty when none after the firing is agreed (the caller runs
        it again, nudged). UnprovableSLO when the model fires more than ``bound`` seconds late."""
        first, every = run.first_firing(tier), run.last_first_firing(tier)
        if first is None or every is None or (every - start) * self.eval_step > bound:
            raise UnprovableSLO(f"{self.slo.id} {tier.name}: the model misses the designed detection time")
        late = next((i for i in range(every, run.steps) if run.agreed(i)), None)
        if late is None:
            return []
        early = next((i for i in range(first - 1, start - 1, -1) if run.agreed(i)), None)
        return [start] + [i for i in (early, late) if i is not None]

    # -- scenarios -----------------------------------------------------------------------------

    def burn(self, tier: AlertTier, multiple: float) -> None:
        slo = self.slo
        w = tier.window
        rpm = _traffic(slo)
        scale = _composite_scale(slo)
        # The factor of the period the burn runs in (a calendar period's length varies).
        factor = w.budget_percent / 100 * _first_period(slo) / w.long_window
        ratio = multiple * factor * slo.error_budget * scale
        if ratio >= 1:
            return  # the factor needs more than every request failing in one component
        errors = max(1, round(rpm * ratio)) if multiple > 1 else math.floor(rpm * ratio)
        # A healthy prefix one long window long (whole evaluation intervals), then the burn.
        prefix = (w.long_window // self.eval_step + 2) * self.per
        start = prefix // self.per  # last healthy evaluation; errors start right after it
        # Above the factor, the firing must be asserted at a step where the engines agree and no
        # printed value sits on a rounding edge; an error rate that keeps the value on such an edge
        # for the whole run is nudged by one error per minute (at most twice).
        for nudge in range(min(3, rpm - errors + 1) if multiple > 1 else 1):
            burn = (errors + nudge) / rpm / slo.error_budget / scale
            if multiple > 1:
                bound = designed_detection(
                    slo, tier, burn, self.eval_step, scrape=STEP, period=_first_period(slo)
                )
                burn_steps = (math.ceil(bound / self.eval_step) + 3) * self.per
            else:
                burn_steps = (w.long_window // self.eval_step + 3) * self.per
            healthy = _Segment(prefix + burn_steps, rpm, 0)
            failing = [_Segment(prefix, rpm, 0), _Segment(burn_steps, rpm, errors + nudge)]
            run = self._run(self._healthy(healthy, failing))
            if multiple <= 1:
                break
            checks = self._firing_checks(run, tier, start, bound)
            if checks:
                break
        if multiple > 1:
            if not checks:
                raise UnprovableSLO(f"{slo.id} {tier.name}: no step to assert the firing on every engine")
            name = (
                f"{tier.name} fires within {format_duration(bound)} of a burn {multiple:g} times "
                "its factor, and not before"
            )
        else:
            if any(run.fire[tier.name]):
                raise UnprovableSLO(f"{slo.id} {tier.name}: the model fires below the factor")
            checks = [i for i in (start + (run.steps - start) // 2, run.steps - 1) if run.agreed(i)]
            name = f"{tier.name} never fires at a burn {multiple:g} times its factor"
        self._group(name, run, {"burn": sorted(set(checks))})

    def bad_slices(self, tiers: Sequence[AlertTier], enough: bool) -> None:
        """Timeslices: ``n`` bad slices in a row fire the tiers (no later than designed), and
        ``n - 1`` do not. ``tiers`` need the same ``n`` and ``for`` (``_same_breach``): one run,
        healthy for the longest of their long windows first, proves them all, as each tier's
        windows hold the same slices around the breach as in a run of its own."""
        slo = self.slo
        tier = tiers[0]
        rpm = _traffic(slo)
        n = timeslice_slices_to_fire(slo, tier, _first_period(slo))
        assert slo.timeslices is not None
        if (not enough and n < 2) or not timeslice_tier_can_fire(slo, tier, _first_period(slo)):
            return  # (or) the factor needs more bad slices than the long window holds, as in ``burn``
        bad = math.ceil(rpm * min(1.0, slo.timeslices.allowed_error_ratio * 2 + 0.01))
        prefix = max(t.window.long_window for t in tiers) // SLICE + 2  # slices, and evaluations
        # Enough: a breach that lasts through the tiers' `for`; short: one slice too few.
        count = n + math.ceil(tier.for_seconds / SLICE) if enough else n - 1
        bound = designed_detection(
            slo, tier, 1 / slo.error_budget, SLICE, scrape=STEP, period=_first_period(slo)
        )
        # Good slices after the run: past the designed time, or (one short) just past the run,
        # where its window holds the most bad slices.
        start = prefix
        # As in ``burn``: a breach whose slice ratios keep a printed value on a rounding edge is
        # made one slice longer (at most twice), so that the firing can be asserted.
        checks: list[int] = []
        for _longer in range(3 if enough else 1):
            after = max(3, math.ceil(bound / SLICE) - count + 3) if enough else 3
            segments = [
                _Segment(prefix * SLICE_STEPS, rpm, 0),
                _Segment(count * SLICE_STEPS, rpm, bad),
                _Segment(after * SLICE_STEPS, rpm, 0),
            ]
            run = self._run(_one(segments))
            if not enough:
                break
            each = [self._firing_checks(run, t, start, bound) for t in tiers]
            if all(each):
                checks = [i for c in each for i in c]
                break
            count += 1
        names = " and ".join(t.name for t in tiers)
        if enough:
            if not checks:
                raise UnprovableSLO(f"{slo.id} {names}: no step to assert the firing on every engine")
            verb = "fire" if len(tiers) > 1 else "fires"
            name = f"{names} {verb} on {n} bad slices in a row, within {format_duration(bound)} of a breach"
        else:
            if any(any(run.fire[t.name]) for t in tiers):
                raise UnprovableSLO(f"{slo.id} {names}: the model fires one slice short")
            checks = [i for i in (start + count, start + count + 2, run.steps - 1) if run.agreed(i)]
            name = f"{names} never {'fire' if len(tiers) > 1 else 'fires'} on {count} bad slices in a row"
        self._group(name, run, {"burn": sorted(set(checks))})

    def zero_traffic(self) -> None:
        steps = (HOUR // self.eval_step + 2) * self.per
        run = self._run(self._healthy(_Segment(steps, 0, 0)))
        last = run.steps - 1
        # The ticket waits until the rules have run for `for` (none on a new Prometheus at once):
        # asserted on both sides of its first evaluation, when the run reaches it.
        due = next((i for i in range(run.steps) if run.no_data_alert(i)), None)
        edge = {due - 1, due} if due is not None else set()
        self._group(
            "zero traffic burns no budget, files the no-data ticket once the rules have run for its"
            " time and leaves the budget unknown",
            run,
            {
                "burn": [last // 2, last],
                "no_data": [i for i in sorted({0, *edge, last}) if i >= 0 and run.no_data_agreed(i)],
            },
            [self._absent(naming.BUDGET_REMAINING, last)],
        )

    def traffic_stops(self) -> None:
        """Healthy traffic that stops: the no-data ticket fires ``for`` after the last 5m rate
        with events, not before, and clears when traffic is back."""
        nd = self.slo.alerting.no_data
        if not nd.enabled:
            return
        rpm = _traffic(self.slo)
        hour = HOUR // STEP
        quiet = (nd.for_seconds + naming.BASE_WINDOW) // STEP + 3 * SLICE_STEPS
        run = self._run(
            self._healthy([_Segment(hour, rpm, 0), _Segment(quiet, 0, 0), _Segment(hour, rpm, 0)])
        )
        stop = HOUR // self.eval_step  # the evaluation at which traffic stops
        flags = [run.model.no_data(i) for i in range(run.steps)]
        first = next((i for i in range(stop, run.steps) if flags[i]), None)
        if first is None:
            raise UnprovableSLO(f"{self.slo.id}: the model never flags the missing data")
        back = next(i for i in range(first, run.steps) if not flags[i])
        checks = [i for i in (stop, first - 1, first, back - 1, back) if run.no_data_agreed(i)]
        self._group(
            f"the no-data ticket fires {format_duration(nd.for_seconds)} after traffic stops "
            "and clears when it is back",
            run,
            # Where the engines disagree (the last sample with events on the window's left edge:
            # Prometheus 2 includes it, Prometheus 3 does not) nothing is asserted.
            {"no_data": checks},
        )

    def counter_reset(self) -> None:
        slo = self.slo
        rpm = _traffic(slo)
        tiers = slo.alerting.enabled_tiers or slo.alerting.tiers
        smallest = min((t.window.burn_factor(slo.period) for t in tiers), default=1.0)
        errors = math.floor(rpm * 0.5 * smallest * slo.error_budget)
        half = 12 * self.per
        run = self._run(self._healthy([_Segment(half, rpm, errors), _Segment(half, rpm, errors, reset=True)]))
        if any(any(f) for f in run.fire.values()):
            raise UnprovableSLO(f"{slo.id}: the model fires on a counter reset")
        last = run.steps - 1
        truth = errors / rpm  # the same ratio before and after the reset
        mid = half // self.per
        self._group(
            "a counter reset does not fire and does not distort the budget",
            run,
            {"burn": [mid + 1, mid + 3, last]},
            [self._period_ratio_is(truth, last)],
        )

    def young_rules(self) -> None:
        """A rule file loaded during a total outage: the quick page's window has no tiles yet,
        so it reads the recordings it holds (``(tiles) or (sums)``, docs/rules.md) and records
        the outage's ratio; the page fires before the window of tiles is full wherever a total
        outage can reach its factor."""
        slo = self.slo
        sharp = sharp_window(slo)
        quick = next((t for t in slo.alerting.enabled_tiers if t.window.long_window == sharp), None)
        if quick is None or not tiled_window(slo, None):
            return
        full = sharp // self.eval_step  # the first evaluation at which every tile has a recording
        rpm = _traffic(slo)
        run = self._run(self._healthy(_Segment((full + 2) * self.per, rpm, rpm)))
        first = run.last_first_firing(quick)
        mid = full // 2
        window = {naming.LABEL_WINDOW: format_duration(sharp)}
        recorded = self._close_to(
            naming.error_ratio(sharp), run.model.ratio(mid, sharp) or 0.0, mid, 1e-9, window
        )
        tiles = f"before its {format_duration(sharp)} of tiles is full"
        if run.threshold(mid, quick) * slo.error_budget >= 1:
            # The factor is out of a total outage's reach (an objective of 90 % or below).
            self._group(
                f"a rule file loaded during a total outage records its ratio {tiles}", run, {}, [recorded]
            )
            return
        if first is None or first >= full:
            raise UnprovableSLO(
                f"{slo.id}: the model does not page a young rule file before its tiles are full"
            )
        checks = [i for i in (first - 1, first) if i >= 0 and run.agreed(i)]
        self._group(
            f"a rule file loaded during a total outage pages {tiles}", run, {"burn": checks}, [recorded]
        )

    def low_traffic(self) -> None:
        """A total outage on a service too quiet to reach ``minEvents`` must not page."""
        slo = self.slo
        pages = [t for t in slo.alerting.enabled_tiers if t.severity == "page"]
        if slo.alerting.min_events <= 0 or not pages:
            return
        longest = max(t.window.long_window for t in pages)
        steps = (longest // self.eval_step + 2) * self.per
        # Half the guard's events over the longest page window, every one of them an error (a
        # composite's events are its components' together).
        series = len(slo.sli.components) if isinstance(slo.sli, CompositeSLI) else 1
        per_step = slo.alerting.min_events / 2 / (longest // STEP + 1) / series
        run = self._run(self._healthy(_Segment(steps, per_step, per_step)))
        if any(any(run.fire[t.name]) for t in pages):
            raise UnprovableSLO(f"{slo.id}: the model pages below minEvents")
        checks = [i for i in (run.steps // 2, run.steps - 1) if run.agreed(i)]
        self._group(
            f"a total outage with fewer than {promql.fmt_number(slo.alerting.min_events)} events "
            "in the window does not page",
            run,
            {"burn": checks},
        )

    def uneven_traffic(self) -> None:
        slo = self.slo
        rpm = _traffic(slo)
        hour = HOUR // STEP
        quiet_err = math.floor(rpm * 0.2 * slo.error_budget)
        busy_req, busy_err = rpm * 10, math.floor(rpm * 10 * 3 * slo.error_budget)
        day = [_Segment(hour, busy_req, busy_err), _Segment(23 * hour, rpm, quiet_err)]
        scenario = self._healthy(day)
        if isinstance(slo.sli, CompositeSLI):
            # Components with different error ratios: the composite's is their weighted mean.
            scenario = tuple(
                (c.slo, tuple(_Segment(s.steps, s.requests, s.errors * (k + 1)) for s in day))
                for k, c in enumerate(slo.sli.components)
            )
        run = self._run(scenario)
        last = min(run.steps - 1, slo.period // self.eval_step)
        s = last * self.per
        truths = {key: c.err[s] / c.req[s] for key, c in run.counters.items()}
        if isinstance(slo.sli, CompositeSLI):
            truth = sum(c.weight * truths[c.slo] for c in slo.sli.components) / slo.sli.total_weight
            name = (
                "the composite's period ratio is the weighted mean of its components' events-weighted ratios"
            )
        else:
            truth = truths[None]
            name = "with ten times the traffic in one hour a day the period ratio is events-weighted"
        self._group(
            name,
            run,
            {},
            [
                self._close_to(
                    naming.error_ratio(slo.period), truth, last, PERIOD_BOUND, self._period_labels()
                )
            ],
        )

    def slice_share(self) -> None:
        """Timeslices: the period ratio is the share of bad slices, whatever the traffic in
        them (a busy bad slice weighs as much as a quiet one)."""
        slo = self.slo
        assert slo.timeslices is not None
        rpm = _traffic(slo)
        bad = math.ceil(rpm * min(1.0, slo.timeslices.allowed_error_ratio * 2 + 0.01))
        ok = math.floor(rpm * slo.timeslices.allowed_error_ratio / 2)
        # Per hour: one busy bad slice, one quiet bad slice, ten good ones of varying traffic.
        k = SLICE_STEPS
        hour = [
            _Segment(k, rpm * 10, bad * 10),
            _Segment(5 * k, rpm, ok),
            _Segment(k, rpm // 10, bad // 10 + 1),
            _Segment(5 * k, rpm * 3, ok * 3),
        ]
        run = self._run(_one(hour * 6))
        last = run.steps - 1
        assert isinstance(run.model, _Model)
        picked = [b for j in range(last + 1) if (b := run.model.bad[j]) is not None]
        truth = sum(picked) / len(picked)
        self._group(
            "the period ratio is the share of bad slices, not of bad events",
            run,
            {},
            [self._period_ratio_is(truth, last)],
        )

    def policy(self) -> None:
        """A budget that drains through the policy's steps: its tickets at each step."""
        slo = self.slo
        steps = slo.policy.steps
        if not steps:
            return
        rpm = _traffic(slo)
        hour = HOUR // STEP
        scale = _composite_scale(slo)
        lowest = min(s.budget_left_ratio for s in steps)
        if slo.timeslices is not None:
            # Bad slices after a long healthy run: each spends about a fifth of the budget — at
            # most 2,400 slices, as promtool refuses queries of more than 10,000 samples (the
            # period's subquery reads every slice), so a tiny budget drains in bigger steps.
            healthy = min(math.ceil(5 / slo.error_budget), MAX_SLICES)
            per_slice = 1 / (healthy * slo.error_budget)
            count = math.ceil((1 - lowest) * 1.2 / per_slice) + 1
            bad = math.ceil(rpm * min(1.0, slo.timeslices.allowed_error_ratio * 2 + 0.01))
            k = SLICE_STEPS
            run = self._run(
                _one([_Segment(healthy * k, rpm, 0), _Segment(count * k, rpm, bad), _Segment(2 * k, rpm, 0)])
            )
            checks = [i for i in range(healthy, run.steps) if run.policy_agreed(i)]
        else:
            # Twice the budget's error ratio after two healthy hours: the remaining budget falls
            # as 1 - 2k / (24 + k) per step k, through every step down to the lowest.
            target = 1.2 * max(1.0, 1 - lowest)
            per_step = min(rpm, math.ceil(rpm * 2 * target * slo.error_budget * scale))
            run = self._run(
                self._healthy(
                    _Segment(6 * hour, rpm, 0),
                    [_Segment(2 * hour, rpm, 0), _Segment(4 * hour, rpm, per_step)],
                )
            )
            hours = HOUR // self.eval_step
            checks = [i for i in range(2 * hours, run.steps, max(1, hours // 2)) if run.policy_agreed(i)]
        # Around each step: the last evaluation above it and the first at or below it.
        for step in steps:
            limit = step.budget_left_ratio
            cross = next(
                (i for i in range(run.steps) if (left := run.remaining(i)) is not None and left <= limit),
                None,
            )
            if cross is not None:
                checks += [i for i in (cross - 1, cross) if i >= 0 and run.policy_agreed(i)]
        checks = sorted(set(checks))
        fired = {
            s.action
            for i in checks
            for s in steps
            if (left := run.remaining(i)) is not None and left <= s.budget_left_ratio
        }
        if len(fired) != len(steps):
            raise UnprovableSLO(f"{slo.id}: the policy scenario does not reach every step")
        self._group("a draining budget files the policy's tickets at each step", run, {"policy": checks})

    def calendar_reset(self) -> None:
        """A calendar period counts only the events since it started: errors before the
        boundary are not in the new period's ratio."""
        slo = self.slo
        cal = slo.calendar
        assert cal is not None
        start, end = cal.period_at(0)
        boundary = end if end <= 2 * DAY else start
        rpm = _traffic(slo)
        errors = math.floor(rpm * 0.5 * slo.error_budget)
        if boundary > 0:
            # Errors only before the boundary, none after: the new period is clean.
            before = boundary // STEP
            run = self._run(
                _one([_Segment(before, rpm, errors), _Segment(2 * HOUR // STEP, rpm, errors // 5)])
            )
            last = run.steps - 1
            r = run.model.period_ratio(last)
            assert r is not None
            name = "the calendar period's ratio restarts at the boundary in its time zone"
        else:
            run = self._run(_one([_Segment(4 * HOUR // STEP, rpm, errors)]))
            last = run.steps - 1
            r = run.model.period_ratio(last)
            assert r is not None
            name = "the calendar period's ratio counts every event since the period began"
        self._group(name, run, {}, [self._period_ratio_is(r, last)])

    def document(self, rule_file: str, groups: Sequence[dict[str, object]]) -> dict[str, object]:
        return {
            "rule_files": [rule_file],
            "evaluation_interval": format_duration(self.eval_step),
            "tests": list(groups),
        }


def _same_breach(slo: SLO) -> list[list[AlertTier]]:
    """A timeslice SLO's enabled tiers, those that the same run of bad slices fires together (the
    same number of slices and the same ``for``, as the ticket tiers of the usual catalogs) in
    one list; none for an SLO that counts events."""
    if slo.timeslices is None:
        return []
    period = _first_period(slo)
    by_breach: dict[tuple[int, int, bool], list[AlertTier]] = {}
    for t in slo.alerting.enabled_tiers:
        key = (
            timeslice_slices_to_fire(slo, t, period),
            t.for_seconds,
            timeslice_tier_can_fire(slo, t, period),
        )
        by_breach.setdefault(key, []).append(t)
    return list(by_breach.values())


def _heaviest(sli: CompositeSLI) -> str:
    return max(sli.components, key=lambda c: (c.weight, c.slo)).slo


def _composite_scale(slo: SLO) -> float:
    """For a composite, how much one failing component's error ratio is diluted: the
    composite's ratio is ``w / Σw`` of it; 1 otherwise."""
    if not isinstance(slo.sli, CompositeSLI):
        return 1.0
    heavy = next(c for c in slo.sli.components if c.slo == _heaviest(slo.sli))
    return slo.sli.total_weight / heavy.weight


def _first_period(slo: SLO) -> int:
    """The length of the period a test starts in (t = 0, 1970-01-01 UTC for calendars)."""
    if slo.calendar is None:
        return slo.period
    start, end = slo.calendar.period_at(0)
    return end - start


def _twin_rules(slo: SLO, members: Sequence[SLO]) -> list[dict[str, object]]:
    groups = render_groups(twin_slos(slo, members))
    rules = groups[-1]["rules"]
    assert isinstance(rules, list)
    return rules


@dataclass(frozen=True)
class TestFiles:
    """The twin rule file and the promtool test files of one SLO: ``(relative name, text)``."""

    files: tuple[tuple[str, str], ...]


def tier_eval(slo: SLO, tier: AlertTier) -> int:
    """Evaluation interval of a tier's tests: ~1/24 of its long window, a multiple of 5m;
    every slice for a timeslice SLO (subqueries pick the slices at 5m steps)."""
    if slo.timeslices is not None:
        return SLICE
    return max(SLICE, tier.window.long_window // SAMPLES_PER_WINDOW // SLICE * SLICE)


PARTS = ("burn", "spend")
"""The parts of the twin that tests load instead of the whole (``twin_parts``):
``<service>--<slo>.<part>.rules.yml``."""
TEST_FILES = {("spend", SLICE): "budget", ("spend", UNEVEN_EVAL): "uneven", ("whole", SLICE): "whole"}
"""The test files of the scenarios that are not a tier's, by the twin they load and their
evaluation interval: ``<service>--<slo>.<word>.test.yml``; a tier's tests are in
``<service>--<slo>.<interval>.test.yml`` and load the burn twin."""


def twin_parts(
    slo: SLO, service_slos: Sequence[SLO] = ()
) -> tuple[list[dict[str, object]], dict[str, frozenset[str]]]:
    """The twin's rule groups and, by part, the rules (``rules_read``) that its burn alerts read
    (``burn``) and that the period's ratio, the remaining budget and the policy's tickets read
    (``spend``)."""
    twins = twin_slos(slo, service_slos)
    groups = render_groups(twins)
    unit = slo.calendar.unit if slo.calendar else None
    spend = [
        naming.period_error_ratio(unit, slo.period),
        naming.BUDGET_REMAINING,
        twins[-1].policy_alert_name,
    ]
    return groups, {
        "burn": rules_read(groups, [twins[-1].alerting.name] if slo.alerting.enabled_tiers else []),
        "spend": rules_read(groups, spend),
    }


def _asserted(group: Mapping[str, object]) -> set[str]:
    """The alerts and series a test group asserts on (alert names, and every name in its
    PromQL checks)."""
    alerts = group.get("alert_rule_test", [])
    exprs = group.get("promql_expr_test", [])
    assert isinstance(alerts, list) and isinstance(exprs, list)
    names = {str(a["alertname"]) for a in alerts}
    for e in exprs:
        names.update(promql_names(str(e["expr"])))
    return names


def rule_test_documents(
    slo: SLO,
    version: str,
    source: str | None = None,
    *,
    with_rules: bool = True,
    service_slos: Sequence[SLO] = (),
) -> tuple[tuple[str, str], list[tuple[str, dict[str, object]]]]:
    """The twin rule file ``(name, text)`` and the test documents ``(name, data)`` of ``slo``:
    each test in a file that loads the smallest part of the twin (:func:`twin_parts`) computing
    everything it asserts on, else the whole twin (``TEST_FILES``). promtool evaluates every
    rule it loads at every step; the rules a test does not load compute nothing it asserts on."""
    base = f"{naming.slug(slo.service)}--{naming.slug(slo.name)}"
    rules_name = f"{base}.rules.yml"
    source = source or slo.source.file
    twins = twin_slos(slo, service_slos)
    members = twins[:-1]
    rules_text = (
        render_rule_file(twins, [f"{source} (test twin of {slo.id})"], version, RuleOptions())
        if with_rules
        else ""
    )
    builders: dict[int, _Builder] = {}

    def builder(eval_step: int) -> _Builder:
        if eval_step not in builders:
            builders[eval_step] = _Builder(twins[-1], members, eval_step)
        return builders[eval_step]

    for tier in slo.alerting.enabled_tiers:
        b = builder(tier_eval(slo, tier))
        if slo.timeslices is None:
            b.burn(tier, ABOVE)
            b.burn(tier, BELOW)
    for tiers in _same_breach(slo):
        builder(SLICE).bad_slices(tiers, True)
        builder(SLICE).bad_slices(tiers, False)
    builder(SLICE).zero_traffic()
    builder(SLICE).traffic_stops()
    pages = [t for t in slo.alerting.enabled_tiers if t.severity == "page"]
    if slo.timeslices is not None:
        builder(SLICE).slice_share()
    else:
        builder(SLICE).counter_reset()
        builder(SLICE).young_rules()
        if slo.calendar is None:
            builder(UNEVEN_EVAL).uneven_traffic()
    if pages and slo.alerting.min_events > 0:
        builder(SLICE if slo.timeslices else max(tier_eval(slo, t) for t in pages)).low_traffic()
    if slo.calendar is not None:
        builder(SLICE).calendar_reset()
    builder(SLICE).policy()
    groups, parts = twin_parts(slo, service_slos)
    return (rules_name, rules_text), _documents(base, builders, groups, parts)


def _documents(
    base: str,
    builders: Mapping[int, _Builder],
    groups: list[dict[str, object]],
    parts: Mapping[str, frozenset[str]],
) -> list[tuple[str, dict[str, object]]]:
    """The test documents, by name: each test in the file of the first part of the twin that
    computes everything it asserts on (``PARTS``), else of the whole twin."""
    by_file: dict[str, tuple[_Builder, str, list[dict[str, object]]]] = {}
    for step in sorted(builders):
        b = builders[step]
        for g in b.groups:
            need = rules_read(groups, _asserted(g))
            part = next((p for p in PARTS if need and need <= parts[p]), "whole")
            word = format_duration(step) if part == "burn" else TEST_FILES[(part, step)]
            rules = f"{base}.rules.yml" if part == "whole" else f"{base}.{part}.rules.yml"
            by_file.setdefault(f"{base}.{word}.test.yml", (b, rules, []))[2].append(g)
    return [(name, b.document(rules, tests)) for name, (b, rules, tests) in sorted(by_file.items())]


def _direct_test_texts(
    slo: SLO, version: str, source: str, service_slos: Sequence[SLO] = ()
) -> list[tuple[str, str]]:
    """Test files rendered straight from ``slo``'s documents: ``(name, body without header)``."""
    _, docs = rule_test_documents(slo, version, source, with_rules=False, service_slos=service_slos)
    return [(name, dump_yaml(doc)) for name, doc in docs]
