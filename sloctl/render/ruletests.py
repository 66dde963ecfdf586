"""promtool unit tests that prove the generated rules of each SLO behave as designed.

For every SLO this module writes a *test twin* of its rules and a promtool test file. The twin
is rendered by the same renderer from the same SLO (objective, period, windows catalog, tiers,
``for``, low-traffic guard); only its SLI reads two synthetic counters,
``sloctl_test_errors_total`` and ``sloctl_test_requests_total``, because arbitrary user queries
cannot be fed synthetic data in general. Everything the rules compute downstream of the 5m
numerator and denominator — every window, burn rate, alert and budget series — is therefore
exercised by the real Prometheus engine inside promtool.

Expected results come from an exact discrete model of the rules (``_Model``): counters scraped
every 5m, ``rate()`` over exactly two samples, windows as sums of the recorded 5m rates, each
tier evaluated at an interval of about 1/24 of its long window. Assertions are placed only at
evaluation times where no comparison sits on its threshold and no printed value on a rounding
edge, so the tests pin behaviour, not float noise.

Scenarios, per SLO: for each enabled tier a constant burn just above its factor (fires no later
than the designed detection time) and just below it (never fires); zero traffic (no alert,
full budget); a counter reset (no alert, budget as computed); with ``minEvents``, a total
outage too quiet to reach it (no page); uneven traffic with ten times the
requests in one hour of each day (the period error ratio equals the events-weighted truth
within the bound documented in docs/rules.md).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sloctl import naming
from sloctl.durations import format_duration
from sloctl.model import SLO, AlertTier, EventsSLI
from sloctl.render import promql, promsim
from sloctl.render.rules import RuleOptions, render_rule_file
from sloctl.render.yamlout import dump_yaml, yaml_inline, yaml_string

__all__ = ["DetectionBound", "TestFiles", "designed_detection", "render_rule_tests", "twin"]

STEP = 60
"""Scrape interval of the synthetic series. Shorter than the 5m base window so that a ``[5m]``
range holds several samples on both engines (6 on Prometheus 2, 5 on the left-open ranges of
Prometheus 3); ``promsim`` models both exactly."""
SAMPLES_PER_WINDOW = 24
"""Each tier is tested at an evaluation interval of about 1/24 of its long window (5m for 1h,
15m for 6h, 1h for 1d, 3h for 3d): promtool's cost grows with steps × rules, and 24 samples per
window keep the crossing of the threshold within a few evaluations while a 3d tier needs about
100 steps instead of 1,700."""
UNEVEN_EVAL = 900
ERRORS_METRIC = "sloctl_test_errors_total"
REQUESTS_METRIC = "sloctl_test_requests_total"
ABOVE = 1.15
BELOW = 0.85
PERIOD_BOUND = 0.01
"""Relative bound asserted between the period error ratio and the events-weighted truth."""


def _untemplated(annotations: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in annotations if "{{" not in v)


def twin(slo: SLO) -> SLO:
    """The SLO with its SLI replaced by the synthetic test counters. The user's annotations
    that are Go templates are left out of the twin: Prometheus expands them and nothing here
    could predict their text; the alerting logic under test does not depend on them."""
    a = slo.alerting
    alerting = replace(
        a,
        annotations=_untemplated(a.annotations),
        page=replace(a.page, annotations=_untemplated(a.page.annotations)),
        ticket=replace(a.ticket, annotations=_untemplated(a.ticket.annotations)),
    )
    return replace(
        slo,
        alerting=alerting,
        sli=EventsSLI(
            f"sum(rate({ERRORS_METRIC}[{{{{.window}}}}]))", f"sum(rate({REQUESTS_METRIC}[{{{{.window}}}}]))"
        ),
    )


@dataclass(frozen=True)
class DetectionBound:
    tier: str
    seconds: int


def designed_detection(slo: SLO, tier: AlertTier, burn: float, eval_step: int = naming.BASE_WINDOW) -> int:
    """Designed time from the start of a constant burn (``burn`` × budget) to the alert firing,
    for a service whose windows were healthy before.

    The long window's ratio grows linearly and crosses the factor after ``W × factor / burn``,
    where ``W`` is the long window plus one evaluation interval (a range selector holds the
    samples at both ends on Prometheus 2; Prometheus 3's left-open ranges are one interval
    shorter and cross earlier, so this bounds both); the 5m rate ramps in over one base window,
    delaying that by half of it; the crossing is seen at the next evaluation; then ``for``
    rounded up to evaluations.
    """
    factor = tier.window.burn_factor(slo.period)
    if burn <= factor:
        raise ValueError("a burn at or below the factor never fires")
    crossing = (tier.window.long_window + eval_step) * factor / burn
    pending = math.ceil(tier.for_seconds / eval_step) * eval_step
    return math.ceil(crossing + naming.BASE_WINDOW / 2 + eval_step + pending)


# -- synthetic series ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Segment:
    steps: int
    requests: float
    errors: float
    reset: bool = False


def _series(segments: Sequence[_Segment]) -> tuple[list[float], list[float], str, str]:
    """Counter samples (one per step, from t=0) and their promtool notation."""
    req: list[float] = [0]
    err: list[float] = [0]
    req_txt, err_txt = ["0"], ["0"]
    for s in segments:
        r0, e0 = (0, 0) if s.reset else (req[-1], err[-1])
        req.extend(r0 + s.requests * (i + 1) for i in range(s.steps))
        err.extend(e0 + s.errors * (i + 1) for i in range(s.steps))
        req_txt.append(f"{promql.fmt_number(r0 + s.requests)}+{promql.fmt_number(s.requests)}x{s.steps - 1}")
        err_txt.append(f"{promql.fmt_number(e0 + s.errors)}+{promql.fmt_number(s.errors)}x{s.steps - 1}")
    return req, err, " ".join(req_txt), " ".join(err_txt)


# -- the model -----------------------------------------------------------------------------------


class _Model:
    """The generated rules, evaluated exactly on synthetic counters by one engine's range
    semantics (``promsim``): the 5m rates with ``rate()``'s extrapolation, every longer window as
    sums of the recorded 5m rates over the samples its range selector holds."""

    def __init__(
        self, slo: SLO, req: list[float], err: list[float], eval_step: int, sem: promsim.RangeSemantics
    ) -> None:
        self.slo = slo
        self.eval_step = eval_step
        self.sem = sem
        scrapes = [k * STEP for k in range(len(req))]
        n = (len(req) - 1) // (eval_step // STEP) + 1
        self.times = [i * eval_step for i in range(n)]
        base = naming.BASE_WINDOW
        # No rate (fewer than two samples in range) records zero: `or on() vector(0)`.
        self.e5 = [promsim.rate(scrapes, err, t, base, sem) or 0.0 for t in self.times]
        self.n5 = [promsim.rate(scrapes, req, t, base, sem) or 0.0 for t in self.times]
        self.steps = n
        self.pe = [0.0]
        self.pn = [0.0]
        for i in range(n):
            self.pe.append(self.pe[-1] + self.e5[i])
            self.pn.append(self.pn[-1] + self.n5[i])

    def _span(self, i: int, window: int) -> tuple[int, int]:
        return promsim.in_range(self.times, self.times[i], window, self.sem)

    def ratio(self, i: int, window: int) -> float:
        if window == naming.BASE_WINDOW:
            return self.e5[i] / max(self.n5[i], 1e-12)
        lo, hi = self._span(i, window)
        return (self.pe[hi] - self.pe[lo]) / max(self.pn[hi] - self.pn[lo], 1e-12)

    def events(self, i: int, window: int) -> float:
        lo, hi = self._span(i, window)
        return (self.pn[hi] - self.pn[lo]) / (hi - lo) * window

    def active(self, i: int, tier: AlertTier) -> bool:
        w = tier.window
        f = w.burn_factor(self.slo.period)
        b = self.slo.error_budget
        ok = self.ratio(i, w.long_window) / b > f and self.ratio(i, w.short_window) / b > f
        if ok and self.slo.alerting.min_events > 0 and tier.severity == "page":
            ok = self.events(i, w.long_window) >= self.slo.alerting.min_events
        return ok

    def firing(self, tier: AlertTier) -> list[bool]:
        out: list[bool] = []
        since: int | None = None
        for i in range(self.steps):
            if self.active(i, tier):
                since = i if since is None else since
                out.append((i - since) * self.eval_step >= tier.for_seconds)
            else:
                since = None
                out.append(False)
        return out

    def value(self, i: int, tier: AlertTier) -> float:
        """The alert's value: the burn rate over the tier's long window."""
        return self.ratio(i, tier.window.long_window) / self.slo.error_budget

    def on_edge(self, i: int, tier: AlertTier) -> bool:
        """A comparison of the alert sits on its threshold, where float noise decides it."""
        factor = tier.window.burn_factor(self.slo.period)
        for window in (tier.window.long_window, tier.window.short_window):
            burn = self.ratio(i, window) / self.slo.error_budget
            if abs(burn - factor) <= 1e-9 * max(1.0, factor):
                return True
        guard = self.slo.alerting.min_events
        return guard > 0 and abs(self.events(i, tier.window.long_window) - guard) <= 1e-9 * guard


class _Run:
    """A scenario's series and what the rules do on them, on every engine of ``promsim.ENGINES``."""

    def __init__(
        self, slo: SLO, req: list[float], err: list[float], req_txt: str, err_txt: str, eval_step: int
    ) -> None:
        self.slo = slo
        self.req_txt = req_txt
        self.err_txt = err_txt
        self.req = req
        self.err = err
        self.models = [_Model(slo, req, err, eval_step, sem) for sem in promsim.ENGINES]
        self.model = self.models[0]
        self.steps = self.model.steps
        self.fires = {t.name: [m.firing(t) for m in self.models] for t in slo.alerting.enabled_tiers}
        # Where the engines disagree nothing is asserted (``agreed``); elsewhere this is the state.
        self.fire = {name: [any(f) for f in zip(*per, strict=True)] for name, per in self.fires.items()}

    def value(self, i: int, tier: AlertTier) -> float:
        return self.model.value(i, tier)

    def first_firing(self, tier: AlertTier) -> int | None:
        """The first evaluation at which any engine fires."""
        return next((i for i, f in enumerate(self.fire[tier.name]) if f), None)

    def last_first_firing(self, tier: AlertTier) -> int | None:
        """The evaluation by which every engine has fired (None if one never does)."""
        firsts = [next((i for i, f in enumerate(fire) if f), None) for fire in self.fires[tier.name]]
        return None if None in firsts else max(i for i in firsts if i is not None)

    def agreed(self, i: int) -> bool:
        """A safe time to assert: every engine gives the same state and printed value, no
        comparison of any tier sits on its threshold, and no printed value on a rounding edge of
        ``%.2f`` (float summation order could flip either)."""
        for tier in self.slo.alerting.enabled_tiers:
            states = {fire[i] for fire in self.fires[tier.name]}
            if len(states) > 1:
                return False
            # With `for`, the state at i depends on the evaluations during the pending time too.
            pending = math.ceil(tier.for_seconds / self.model.eval_step)
            for m in self.models:
                if any(m.on_edge(j, tier) for j in range(max(0, i - pending), i + 1)):
                    return False
            if self.fire[tier.name][i]:
                values = [m.value(i, tier) for m in self.models]
                if len({f"{v:.2f}" for v in values}) > 1:
                    return False
                if any(abs((v * 100) % 1 - 0.5) < 1e-6 for v in values):
                    return False
        return True


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


def _alert_labels(slo: SLO, tier: AlertTier) -> dict[str, str]:
    user = dict(slo.labels)
    user.update(slo.alerting.labels)
    user.update(slo.alerting.severity(tier.severity).labels)
    fixed = {
        naming.LABEL_SEVERITY: tier.severity,
        naming.LABEL_ID: slo.id,
        naming.LABEL_SERVICE: slo.service,
        naming.LABEL_SLO: slo.name,
        naming.LABEL_TIER: tier.name,
    }
    return _user_labels(user, fixed)


def _expected_alerts(
    slo: SLO, run: _Run, i: int, rendered: dict[str, dict[str, object]]
) -> list[dict[str, object]]:
    """The alerts firing at step ``i``: the firing state and values from the (memoised, name-free)
    run, the labels and annotations from ``slo``."""
    out: list[dict[str, object]] = []
    for tier in slo.alerting.enabled_tiers:
        if not run.fire[tier.name][i]:
            continue
        value = run.value(i, tier)
        template = rendered[tier.name]["annotations"]
        assert isinstance(template, dict)
        first = {k: template[k] for k in ("description", "summary") if k in template}
        rest = sorted((k, v) for k, v in template.items() if k not in first)
        annotations = {k: _expand(str(v), slo, value) for k, v in [*first.items(), *rest]}
        out.append({"exp_labels": _alert_labels(slo, tier), "exp_annotations": annotations})
    return out


def _expand(template: str, slo: SLO, value: float) -> str:
    return (
        template.replace(f"{{{{ $labels.{naming.LABEL_SERVICE} }}}}", slo.service)
        .replace(f"{{{{ $labels.{naming.LABEL_SLO} }}}}", slo.name)
        .replace('{{ printf "%.2f" $value }}', f"{value:.2f}")
    )


def _traffic(slo: SLO) -> int:
    """Requests per step: enough that the smallest tested error ratio is many whole errors per
    step, and that the low-traffic guard is met in every tested window."""
    tiers = slo.alerting.enabled_tiers or slo.alerting.tiers
    smallest = min((t.window.burn_factor(slo.period) for t in tiers), default=1.0)
    by_ratio = math.ceil(200 / max(BELOW * smallest * slo.error_budget, 1e-9))
    shortest = min((t.window.long_window for t in tiers), default=3600)
    by_guard = math.ceil(slo.alerting.min_events * 4 / max(shortest // STEP, 1))
    return max(10_000, by_ratio, by_guard)


_RUNS: dict[object, _Run] = {}
_RUNS_MAX = 4096


class _Builder:
    def __init__(self, slo: SLO, rule_file: str, eval_step: int) -> None:
        self.slo = slo
        self.rule_file = rule_file
        self.eval_step = eval_step
        self.per = eval_step // STEP
        self.groups: list[dict[str, object]] = []
        self.rendered = {
            r["labels"][naming.LABEL_TIER]: r  # type: ignore[index]
            for r in render_rule_file_groups(slo)
            if "alert" in r
        }
        self.sel = promql.slo_selector(slo)

    def _run(self, segments: Sequence[_Segment]) -> _Run:
        # The model depends on the SLO's numbers only, not on its names: fleets share a few
        # objective/period/tier profiles, so runs are memoised by those numbers.
        slo = self.slo
        key = (
            slo.period,
            slo.objective,
            slo.alerting.min_events,
            tuple((t.window, t.for_seconds) for t in slo.alerting.enabled_tiers),
            tuple(segments),
            self.eval_step,
        )
        run = _RUNS.get(key)
        if run is None:
            if len(_RUNS) >= _RUNS_MAX:
                _RUNS.clear()
            req, err, rt, et = _series(segments)
            run = _RUNS[key] = _Run(slo, req, err, rt, et, self.eval_step)
        return run

    def _time(self, i: int) -> str:
        return format_duration(i * self.eval_step) if i else "0s"

    def _group(
        self, name: str, run: _Run, alert_checks: Sequence[int], expr_checks: list[dict[str, object]]
    ) -> None:
        group: dict[str, object] = {
            "name": name,
            "interval": format_duration(STEP),
            "input_series": [
                {"series": REQUESTS_METRIC, "values": run.req_txt},
                {"series": ERRORS_METRIC, "values": run.err_txt},
            ],
        }
        if alert_checks and self.slo.alerting.enabled_tiers:
            group["alert_rule_test"] = [
                {
                    "eval_time": self._time(i),
                    "alertname": self.slo.alerting.name,
                    "exp_alerts": _expected_alerts(self.slo, run, i, self.rendered),
                }
                for i in alert_checks
            ]
        if expr_checks:
            group["promql_expr_test"] = expr_checks
        self.groups.append(group)

    def _close_to(
        self, metric: str, value: float, i: int, rel: float, extra: dict[str, str] | None = None
    ) -> dict[str, object]:
        """``|metric - value| <= rel × |value|`` as a promtool check that returns 1."""
        fixed = {
            naming.LABEL_ID: self.slo.id,
            naming.LABEL_SERVICE: self.slo.service,
            naming.LABEL_SLO: self.slo.name,
        }
        fixed.update(extra or {})
        labels = _user_labels(dict(self.slo.labels), fixed)
        tol = promql.fmt_number(max(abs(value) * rel, 1e-12))
        return {
            "expr": f"abs({metric}{self.sel} - {promql.fmt_number(value)}) <= bool {tol}",
            "eval_time": self._time(i),
            "exp_samples": [{"labels": _labels_text(labels), "value": 1}],
        }

    # -- scenarios -----------------------------------------------------------------------------

    def burn(self, tier: AlertTier, multiple: float) -> None:
        slo = self.slo
        w = tier.window
        rpm = _traffic(slo)
        ratio = multiple * w.burn_factor(slo.period) * slo.error_budget
        errors = max(1, round(rpm * ratio)) if multiple > 1 else math.floor(rpm * ratio)
        burn = errors / rpm / slo.error_budget
        # A healthy prefix one long window long (whole evaluation intervals), then the burn.
        prefix = (w.long_window // self.eval_step + 2) * self.per
        if multiple > 1:
            bound = designed_detection(slo, tier, burn, self.eval_step)
            burn_steps = (math.ceil(bound / self.eval_step) + 3) * self.per
        else:
            burn_steps = (w.long_window // self.eval_step + 3) * self.per
        run = self._run([_Segment(prefix, rpm, 0), _Segment(burn_steps, rpm, errors)])
        start = prefix // self.per  # last healthy evaluation; errors start right after it
        if multiple > 1:
            first, every = run.first_firing(tier), run.last_first_firing(tier)
            if first is None or every is None or every * self.eval_step - prefix * STEP > bound:
                raise AssertionError(f"{slo.id} {tier.name}: the model misses the designed detection time")
            late = next(i for i in range(every, run.steps) if run.agreed(i))
            early = next((i for i in range(first - 1, start - 1, -1) if run.agreed(i)), None)
            checks = [start] + [i for i in (early, late) if i is not None]
            name = (
                f"{tier.name} fires within {format_duration(bound)} of a burn {multiple:g} times "
                "its factor, and not before"
            )
        else:
            if any(run.fire[tier.name]):
                raise AssertionError(f"{slo.id} {tier.name}: the model fires below the factor")
            checks = [i for i in (start + (run.steps - start) // 2, run.steps - 1) if run.agreed(i)]
            name = f"{tier.name} never fires at a burn {multiple:g} times its factor"
        self._group(name, run, sorted(set(checks)), [])

    def zero_traffic(self) -> None:
        steps = (3600 // self.eval_step + 2) * self.per
        run = self._run([_Segment(steps, 0, 0)])
        last = run.steps - 1
        self._group(
            "zero traffic burns no budget and never alerts",
            run,
            [last // 2, last],
            [
                self._close_to(naming.BUDGET_REMAINING, 1.0, last, 0.0),
                self._close_to(naming.CURRENT_BURN_RATE, 0.0, last, 0.0),
            ],
        )

    def counter_reset(self) -> None:
        slo = self.slo
        rpm = _traffic(slo)
        tiers = slo.alerting.enabled_tiers or slo.alerting.tiers
        smallest = min((t.window.burn_factor(slo.period) for t in tiers), default=1.0)
        errors = math.floor(rpm * 0.5 * smallest * slo.error_budget)
        half = 12 * self.per
        run = self._run([_Segment(half, rpm, errors), _Segment(half, rpm, errors, reset=True)])
        if any(any(f) for f in run.fire.values()):
            raise AssertionError(f"{slo.id}: the model fires on a counter reset")
        last = run.steps - 1
        truth = errors / rpm  # the same ratio before and after the reset
        if any(abs(m.ratio(last, slo.period) - truth) > 1e-9 * truth for m in run.models):
            raise AssertionError(f"{slo.id}: the model's period ratio is distorted by the reset")
        mid = half // self.per
        self._group(
            "a counter reset does not fire and does not distort the budget",
            run,
            [mid + 1, mid + 3, last],
            [
                self._close_to(
                    naming.error_ratio(slo.period),
                    truth,
                    last,
                    1e-9,
                    {naming.LABEL_WINDOW: format_duration(slo.period)},
                ),
            ],
        )

    def low_traffic(self) -> None:
        """A total outage on a service too quiet to reach ``minEvents`` must not page."""
        slo = self.slo
        pages = [t for t in slo.alerting.enabled_tiers if t.severity == "page"]
        if slo.alerting.min_events <= 0 or not pages:
            return
        longest = max(t.window.long_window for t in pages)
        steps = (longest // self.eval_step + 2) * self.per
        # Half the guard's events over the longest page window, every one of them an error.
        per_step = slo.alerting.min_events / 2 / (longest // STEP + 1)
        run = self._run([_Segment(steps, per_step, per_step)])
        if any(any(run.fire[t.name]) for t in pages):
            raise AssertionError(f"{slo.id}: the model pages below minEvents")
        checks = [i for i in (run.steps // 2, run.steps - 1) if run.agreed(i)]
        self._group(
            f"a total outage with fewer than {promql.fmt_number(slo.alerting.min_events)} events "
            "in the window does not page",
            run,
            checks,
            [],
        )

    def uneven_traffic(self) -> None:
        slo = self.slo
        rpm = _traffic(slo)
        hour = 3600 // STEP
        days = 1
        quiet_err = math.floor(rpm * 0.2 * slo.error_budget)
        busy_req, busy_err = rpm * 10, math.floor(rpm * 10 * 3 * slo.error_budget)
        segments: list[_Segment] = []
        for _ in range(days):
            segments.append(_Segment(hour, busy_req, busy_err))
            segments.append(_Segment(23 * hour, rpm, quiet_err))
        run = self._run(segments)
        last = min(run.steps - 1, slo.period // self.eval_step)
        s = last * self.per
        truth = run.err[s] / run.req[s]
        if any(abs(m.ratio(last, slo.period) - truth) > PERIOD_BOUND * truth for m in run.models):
            raise AssertionError(f"{slo.id}: the model's period ratio is off the events-weighted truth")
        self._group(
            "with ten times the traffic in one hour a day the period ratio is events-weighted",
            run,
            [],
            [
                self._close_to(
                    naming.error_ratio(slo.period),
                    truth,
                    last,
                    PERIOD_BOUND,
                    {naming.LABEL_WINDOW: format_duration(slo.period)},
                )
            ],
        )

    def document(self) -> dict[str, object]:
        return {
            "rule_files": [self.rule_file],
            "evaluation_interval": format_duration(self.eval_step),
            "tests": self.groups,
        }


def render_rule_file_groups(slo: SLO) -> list[dict[str, object]]:
    from sloctl.render.rules import render_groups

    group = render_groups([twin(slo)])[0]
    rules = group["rules"]
    assert isinstance(rules, list)
    return rules


@dataclass(frozen=True)
class TestFiles:
    """The twin rule file and the promtool test files of one SLO: ``(relative name, text)``."""

    files: tuple[tuple[str, str], ...]


def tier_eval(tier: AlertTier) -> int:
    """Evaluation interval of a tier's tests: ~1/24 of its long window, a multiple of 5m."""
    base = naming.BASE_WINDOW
    return max(base, tier.window.long_window // SAMPLES_PER_WINDOW // base * base)


def rule_test_documents(
    slo: SLO, version: str, source: str | None = None, *, with_rules: bool = True
) -> tuple[tuple[str, str], list[tuple[str, dict[str, object]]]]:
    """The twin rule file ``(name, text)`` and the test documents ``(name, data)`` of ``slo``."""
    base = f"{naming.slug(slo.service)}--{naming.slug(slo.name)}"
    rules_name = f"{base}.rules.yml"
    source = source or slo.source.file
    rules_text = (
        render_rule_file([twin(slo)], [f"{source} (test twin of {slo.id})"], version, RuleOptions())
        if with_rules
        else ""
    )
    builders: dict[int, _Builder] = {}

    def builder(eval_step: int) -> _Builder:
        if eval_step not in builders:
            builders[eval_step] = _Builder(slo, rules_name, eval_step)
        return builders[eval_step]

    for tier in slo.alerting.enabled_tiers:
        b = builder(tier_eval(tier))
        b.burn(tier, ABOVE)
        b.burn(tier, BELOW)
    builder(naming.BASE_WINDOW).zero_traffic()
    builder(naming.BASE_WINDOW).counter_reset()
    pages = [t for t in slo.alerting.enabled_tiers if t.severity == "page"]
    if pages and slo.alerting.min_events > 0:
        builder(max(tier_eval(t) for t in pages)).low_traffic()
    builder(UNEVEN_EVAL).uneven_traffic()
    docs = [
        (f"{base}.{format_duration(step)}.test.yml", builders[step].document()) for step in sorted(builders)
    ]
    return (rules_name, rules_text), docs


def _direct_test_texts(slo: SLO, version: str, source: str) -> list[tuple[str, str]]:
    """Test files rendered straight from ``slo``'s documents: ``(name, body without header)``."""
    _, docs = rule_test_documents(slo, version, source, with_rules=False)
    return [(name, dump_yaml(doc)) for name, doc in docs]


# -- shared rendering per alerting profile --------------------------------------------------------
#
# The tests of two SLOs with the same numbers (objective, period, catalog, tiers, `for`, guard)
# differ only in names, labels and annotations. Fleets repeat a few such profiles, so the text
# is rendered once per profile for a placeholder SLO and then given each SLO's names and label
# blocks. Placeholders are plain words that cannot occur otherwise; SLOs whose names or labels
# would be written differently in place (quoting) take the direct path. A test checks that both
# paths give the same bytes.

_SVC, _NAME, _ALERT = "zzsloctlsvctkn", "zzsloctlslotkn", "ZzsloctlAlertTkn"
_SENTINEL = "zzsentinel"
_SLO_LABELS = f"{_SENTINEL}slolabels"
_SEV_LABELS = f"{_SENTINEL}severitylabels"
_SEV_ANNOTATIONS = f"{_SENTINEL}annotations"
_PLAIN_VALUE = re.compile(r"^[^'\"\\\x00-\x1f\x7f]*$")


def _profile(slo: SLO) -> SLO:
    a = slo.alerting
    return replace(
        slo,
        service=_SVC,
        name=_NAME,
        description="",
        labels=((_SLO_LABELS, "x"),),
        sli=EventsSLI("", ""),
        document_name="",
        document_namespace="",
        spec_version="",
        alerting=replace(
            a,
            name=_ALERT,
            labels=(),
            annotations=(),
            runbook_url=None,
            page=replace(a.page, labels=((_SEV_LABELS, "page"),), annotations=((_SEV_ANNOTATIONS, "page"),)),
            ticket=replace(
                a.ticket, labels=((_SEV_LABELS, "ticket"),), annotations=((_SEV_ANNOTATIONS, "ticket"),)
            ),
        ),
    )


@functools.lru_cache(maxsize=512)
def _profile_texts(profile: SLO, version: str) -> tuple[tuple[str, str], ...]:
    return tuple(_direct_test_texts(profile, version, "<profile>"))


def _shareable(slo: SLO) -> bool:
    t = twin(slo)
    a = t.alerting
    names = (slo.service, slo.name, slo.id, a.name, naming.slug(slo.service), naming.slug(slo.name))
    if any(yaml_string(n) != n for n in names):
        return False
    annotations = [*a.annotations, *a.page.annotations, *a.ticket.annotations]
    if any(k in ("summary", "description") for k, _ in annotations):
        return False
    labels = [*slo.labels, *a.labels, *a.page.labels, *a.ticket.labels]
    return all(_PLAIN_VALUE.match(v) and v.isprintable() for _, v in labels)


def _block(items: dict[str, str], indent: str) -> str:
    return "".join(
        f"{indent}{yaml_string(k)}: {yaml_inline(v, indent + '  ')}\n" for k, v in sorted(items.items())
    )


def _materialise(slo: SLO, text: str) -> str:
    t = twin(slo)
    a = t.alerting
    fixed = {
        naming.LABEL_SEVERITY,
        naming.LABEL_ID,
        naming.LABEL_SERVICE,
        naming.LABEL_SLO,
        naming.LABEL_TIER,
    }
    severity_labels = {}
    severity_annotations = {}
    for sev in ("page", "ticket"):
        merged = dict(slo.labels)
        merged.update(a.labels)
        merged.update(a.severity(sev).labels)
        severity_labels[sev] = {k: v for k, v in merged.items() if k not in fixed}
        notes = dict(a.annotations)
        notes.update(a.severity(sev).annotations)
        if a.runbook_url:
            notes["runbook_url"] = a.runbook_url
        severity_annotations[sev] = notes
    slo_labels = "".join(f', {k}="{_escape(v)}"' for k, v in sorted(slo.labels))
    text = text.replace(f', {_SLO_LABELS}="x"', slo_labels)
    # Every remaining sentinel is a mapping line "<indent><sentinel>: <value>"; str.split keeps
    # this a single C-speed pass over text that can run to hundreds of kilobytes.
    chunks = text.split(_SENTINEL)
    out = [chunks[0]]
    for chunk in chunks[1:]:
        prev = out[-1]
        indent = prev[len(prev.rstrip(" ")) :]
        out[-1] = prev[: len(prev) - len(indent)]
        line, _, rest = chunk.partition("\n")
        what, _, value = line.partition(": ")
        if what == "severitylabels":
            out.append(_block(severity_labels[value], indent))
        elif what == "annotations":
            out.append(_block(severity_annotations[value], indent))
        out.append(rest)
    text = "".join(out)
    base = f"{naming.slug(slo.service)}--{naming.slug(slo.name)}"
    return (
        text.replace(f"{_SVC}--{_NAME}", base)
        .replace(_ALERT, a.name)
        .replace(_SVC, slo.service)
        .replace(_NAME, slo.name)
    )


def render_rule_tests(slo: SLO, version: str, source: str | None = None) -> TestFiles:
    """The promtool tests (and the twin rules they load) for ``slo``: one test file per
    evaluation interval used (see ``tier_eval``), named ``<service>--<slo>.<interval>.test.yml``."""
    source = source or slo.source.file
    base = f"{naming.slug(slo.service)}--{naming.slug(slo.name)}"
    rules_name = f"{base}.rules.yml"
    rules_text = render_rule_file([twin(slo)], [f"{source} (test twin of {slo.id})"], version, RuleOptions())
    if _shareable(slo):
        profile_base = f"{_SVC}--{_NAME}"
        bodies = [
            (name.replace(profile_base, base), _materialise(slo, text))
            for name, text in _profile_texts(_profile(slo), version)
        ]
    else:
        bodies = _direct_test_texts(slo, version, source)
    files = [(rules_name, rules_text)]
    for name, body in bodies:
        interval = name.rsplit(".", 3)[-3]
        header = (
            f"# Code generated by sloctl {version} from {source}. DO NOT EDIT.\n"
            f"# promtool unit tests of the rules of SLO {slo.id} at a {interval} "
            f"evaluation interval; run: promtool test rules {name}\n"
        )
        files.append((name, header + body))
    return TestFiles(tuple(files))
