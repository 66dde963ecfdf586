"""promtool unit tests that prove the generated rules of each SLO behave as designed.

For every SLO this module writes a *test twin* of its rules and a promtool test file. The twin
is rendered by the same renderer from the same SLO (objective, period, windows catalog, tiers,
``for``, low-traffic guard); only its SLI reads two synthetic counters,
``sloctl_test_errors_total`` and ``sloctl_test_requests_total``, because arbitrary user queries
cannot be fed synthetic data in general. Everything the rules compute downstream of the 5m
numerator and denominator — every window, burn rate, alert and budget series — is therefore
exercised by the real Prometheus engine inside promtool.

Expected results come from an exact discrete model of the rules (``_Model``): counters sampled
every step, ``rate()`` over exactly two samples, windows as sums of the recorded 5m rates. The
model is run with both closed (Prometheus 2) and left-open (Prometheus 3) range selection, and
assertions are placed only where the two agree, so the tests pin behaviour, not rounding.

Scenarios, per SLO: for each enabled tier a constant burn just above its factor (fires no later
than the designed detection time) and just below it (never fires); zero traffic (no alert,
full budget); a counter reset (no alert, budget as computed); uneven traffic with ten times the
requests in one hour of each day (the period error ratio equals the events-weighted truth
within the bound documented in docs/rules.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sloctl import naming
from sloctl.durations import format_duration
from sloctl.model import SLO, AlertTier, EventsSLI
from sloctl.render import promql
from sloctl.render.rules import RuleOptions, alert_windows, render_rule_file
from sloctl.render.yamlout import dump_yaml

__all__ = ["DetectionBound", "TestFiles", "designed_detection", "render_rule_tests", "twin"]

STEP = 300
"""Scrape interval of the synthetic series: equal to the 5m base window, so each recorded rate
reads exactly two samples and the model is exact."""
SLOW_EVAL = 1800
"""Evaluation interval of the ticket-tier tests, whose windows span days: promtool's cost grows
with steps × window samples, and a 30m interval keeps a 3d window at 145 samples."""
FAST_TIER_LIMIT = 6 * 3600
ERRORS_METRIC = "sloctl_test_errors_total"
REQUESTS_METRIC = "sloctl_test_requests_total"
ABOVE = 1.15
BELOW = 0.85
PERIOD_BOUND = 0.01
"""Relative bound asserted between the period error ratio and the events-weighted truth."""


def twin(slo: SLO) -> SLO:
    """The SLO with its SLI replaced by the synthetic test counters."""
    return replace(
        slo,
        sli=EventsSLI(
            f"sum(rate({ERRORS_METRIC}[{{{{.window}}}}]))", f"sum(rate({REQUESTS_METRIC}[{{{{.window}}}}]))"
        ),
    )


@dataclass(frozen=True)
class DetectionBound:
    tier: str
    seconds: int


def designed_detection(slo: SLO, tier: AlertTier, burn: float, eval_step: int = STEP) -> int:
    """Designed time from the start of a constant burn (``burn`` × budget) to the alert firing,
    for a service whose windows were healthy before.

    The long window's ratio grows linearly and crosses the factor after ``W × factor / burn``,
    where ``W`` is the long window plus one evaluation interval (a range selector holds the
    samples at both ends); the 5m rate ramps in over one base window, delaying that by half of
    it; the crossing is seen at the next evaluation; then ``for`` rounded up to evaluations.
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
    """The generated rules, evaluated exactly on synthetic counters at ``STEP``."""

    def __init__(self, slo: SLO, req: list[float], err: list[float], closed: bool, eval_step: int) -> None:
        self.slo = slo
        self.closed = closed
        self.eval_step = eval_step
        per = eval_step // STEP
        n = (len(req) - 1) // per + 1

        def rate(c: list[float], i: int) -> float:
            s = i * per
            if s == 0:
                return 0.0  # one sample: no rate, and `or on() vector(0)` records zero
            d = c[s] - c[s - 1] if c[s] >= c[s - 1] else c[s]  # rate() corrects a reset
            return d / naming.BASE_WINDOW

        self.e5 = [rate(err, i) for i in range(n)]
        self.n5 = [rate(req, i) for i in range(n)]
        self.steps = n
        self.pe = [0.0]
        self.pn = [0.0]
        for i in range(n):
            self.pe.append(self.pe[-1] + self.e5[i])
            self.pn.append(self.pn[-1] + self.n5[i])

    def _span(self, i: int, window: int) -> tuple[int, int]:
        k = window // self.eval_step
        lo = i - k if self.closed else i - k + 1
        return max(lo, 0), i

    def ratio(self, i: int, window: int) -> float:
        if window == naming.BASE_WINDOW:
            return self.e5[i] / max(self.n5[i], 1e-12)
        lo, hi = self._span(i, window)
        e = self.pe[hi + 1] - self.pe[lo]
        t = self.pn[hi + 1] - self.pn[lo]
        return e / max(t, 1e-12)

    def events(self, i: int, window: int) -> float:
        lo, hi = self._span(i, window)
        return (self.pn[hi + 1] - self.pn[lo]) / (hi - lo + 1) * window

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


@dataclass(frozen=True)
class _Run:
    slo: SLO
    req: list[float]
    err: list[float]
    req_txt: str
    err_txt: str
    eval_step: int

    def model(self, closed: bool = True) -> _Model:
        return _Model(self.slo, self.req, self.err, closed, self.eval_step)

    @property
    def steps(self) -> int:
        return self.model().steps

    def firing(self) -> dict[str, tuple[list[bool], list[bool]]]:
        closed, opened = self.model(True), self.model(False)
        return {t.name: (closed.firing(t), opened.firing(t)) for t in self.slo.alerting.enabled_tiers}


def _agreed(fire: dict[str, tuple[list[bool], list[bool]]], i: int) -> bool:
    return all(c[i] == o[i] for c, o in fire.values())


def _labels_text(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())) + "}"


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _alert_labels(slo: SLO, tier: AlertTier) -> dict[str, str]:
    out = dict(slo.labels)
    out.update(slo.alerting.labels)
    out.update(slo.alerting.severity(tier.severity).labels)
    out.update(
        {
            naming.LABEL_ID: slo.id,
            naming.LABEL_SERVICE: slo.service,
            naming.LABEL_SLO: slo.name,
            naming.LABEL_SEVERITY: tier.severity,
            naming.LABEL_TIER: tier.name,
        }
    )
    return dict(sorted(out.items()))


def _expected_alerts(run: _Run, i: int, rendered: dict[str, dict[str, object]]) -> list[dict[str, object]]:
    model = run.model()
    fire = run.firing()
    out: list[dict[str, object]] = []
    for tier in run.slo.alerting.enabled_tiers:
        if not fire[tier.name][0][i]:
            continue
        value = model.ratio(i, tier.window.long_window) / run.slo.error_budget
        annotations = {
            k: _expand(str(v), run.slo, value) for k, v in dict(rendered[tier.name]["annotations"]).items()
        }  # type: ignore[call-overload]
        out.append({"exp_labels": _alert_labels(run.slo, tier), "exp_annotations": annotations})
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


class _Builder:
    def __init__(self, slo: SLO, rule_file: str, eval_step: int) -> None:
        self.slo = slo
        self.rule_file = rule_file
        self.eval_step = eval_step
        self.per = eval_step // STEP
        self.groups: list[dict[str, object]] = []
        self.rendered = {r["labels"][naming.LABEL_TIER]: r  # type: ignore[index]
                         for r in render_rule_file_groups(slo) if "alert" in r}
        self.sel = promql.slo_selector(slo)

    def _run(self, segments: Sequence[_Segment]) -> _Run:
        req, err, rt, et = _series(segments)
        return _Run(self.slo, req, err, rt, et, self.eval_step)

    def _time(self, i: int) -> str:
        return format_duration(i * self.eval_step) if i else "0s"

    def _group(self, name: str, run: _Run, alert_checks: list[float], expr_checks: list[dict[str, object]]) -> None:
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
                {"eval_time": self._time(i), "alertname": self.slo.alerting.name,
                 "exp_alerts": _expected_alerts(run, i, self.rendered)} for i in alert_checks]
        if expr_checks:
            group["promql_expr_test"] = expr_checks
        self.groups.append(group)

    def _close_to(self, metric: str, value: float, i: int, rel: float,
                  extra: dict[str, str] | None = None) -> dict[str, object]:
        """``|metric - value| <= rel × |value|`` as a promtool check that returns 1."""
        labels = dict(self.slo.labels)
        labels.update({naming.LABEL_ID: self.slo.id, naming.LABEL_SERVICE: self.slo.service,
                       naming.LABEL_SLO: self.slo.name})
        labels.update(extra or {})
        tol = promql.fmt_number(max(abs(value) * rel, 1e-12))
        return {"expr": f"abs({metric}{self.sel} - {promql.fmt_number(value)}) <= bool {tol}",
                "eval_time": self._time(i),
                "exp_samples": [{"labels": _labels_text(labels), "value": 1}]}

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
        fire = run.firing()
        mine = fire[tier.name][0]
        start = prefix // self.per  # last healthy evaluation; errors start right after it
        if multiple > 1:
            first = next((i for i, f in enumerate(mine) if f), None)
            if first is None or first * self.eval_step - prefix * STEP > bound:
                raise AssertionError(f"{slo.id} {tier.name}: the model misses the designed detection time")
            late = next(i for i in range(first, run.steps) if _agreed(fire, i))
            early = next((i for i in range(first - 1, start - 1, -1) if _agreed(fire, i)), None)
            checks = [start] + [i for i in (early, late) if i is not None]
            name = (f"{tier.name} fires within {format_duration(bound)} of a burn {multiple:g} times "
                    "its factor, and not before")
        else:
            if any(mine):
                raise AssertionError(f"{slo.id} {tier.name}: the model fires below the factor")
            checks = [i for i in (start + (run.steps - start) // 2, run.steps - 1) if _agreed(fire, i)]
            name = f"{tier.name} never fires at a burn {multiple:g} times its factor"
        self._group(name, run, sorted(set(checks)), [])

    def zero_traffic(self) -> None:
        steps = (6 * 3600 // self.eval_step + 2) * self.per
        run = self._run([_Segment(steps, 0, 0)])
        last = run.steps - 1
        self._group("zero traffic burns no budget and never alerts", run, [last // 2, last], [
            self._close_to(naming.BUDGET_REMAINING, 1.0, last, 0.0),
            self._close_to(naming.CURRENT_BURN_RATE, 0.0, last, 0.0),
        ])

    def counter_reset(self) -> None:
        slo = self.slo
        rpm = _traffic(slo)
        tiers = slo.alerting.enabled_tiers or slo.alerting.tiers
        smallest = min((t.window.burn_factor(slo.period) for t in tiers), default=1.0)
        errors = math.floor(rpm * 0.5 * smallest * slo.error_budget)
        half = 36 * self.per
        run = self._run([_Segment(half, rpm, errors), _Segment(half, rpm, errors, reset=True)])
        if any(any(c) for c, _ in run.firing().values()):
            raise AssertionError(f"{slo.id}: the model fires on a counter reset")
        last = run.steps - 1
        truth = errors / rpm  # the same ratio before and after the reset
        mid = half // self.per
        self._group("a counter reset does not fire and does not distort the budget", run,
                    [mid + 1, mid + 3, last], [
                        self._close_to(naming.error_ratio(slo.period), truth, last, 1e-9,
                                       {naming.LABEL_WINDOW: format_duration(slo.period)}),
                    ])

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
        fire = run.firing()
        if any(any(fire[t.name][0]) for t in pages):
            raise AssertionError(f"{slo.id}: the model pages below minEvents")
        checks = [i for i in (run.steps // 2, run.steps - 1) if _agreed(fire, i)]
        self._group(f"a total outage with fewer than {promql.fmt_number(slo.alerting.min_events)} events "
                    "in the window does not page", run, checks, [])

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
        self._group("with ten times the traffic in one hour a day the period ratio is events-weighted",
                    run, [], [self._close_to(naming.error_ratio(slo.period), truth, last, PERIOD_BOUND,
                                             {naming.LABEL_WINDOW: format_duration(slo.period)})])

    def document(self) -> dict[str, object]:
        return {"rule_files": [self.rule_file], "evaluation_interval": format_duration(self.eval_step),
                "tests": self.groups}


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


def render_rule_tests(slo: SLO, version: str, source: str | None = None) -> TestFiles:
    """The promtool tests (and the twin rules they load) for ``slo``.

    Tiers whose long window is at most 6h, and the budget scenarios, are tested at a 5m
    evaluation interval; slower tiers in a second file at 30m (see ``SLOW_EVAL``)."""
    base = f"{naming.slug(slo.service)}--{naming.slug(slo.name)}"
    rules_name = f"{base}.rules.yml"
    source = source or slo.source.file
    rules_text = render_rule_file([twin(slo)], [f"{source} (test twin of {slo.id})"], version,
                                  RuleOptions())
    fast = _Builder(slo, rules_name, STEP)
    slow = _Builder(slo, rules_name, SLOW_EVAL)
    for tier in slo.alerting.enabled_tiers:
        b = fast if tier.window.long_window <= FAST_TIER_LIMIT else slow
        b.burn(tier, ABOVE)
        b.burn(tier, BELOW)
    fast.zero_traffic()
    fast.counter_reset()
    fast.low_traffic()
    fast.uneven_traffic()
    files = [(rules_name, rules_text)]
    for suffix, builder in (("", fast), (".slow", slow)):
        if not builder.groups:
            continue
        name = f"{base}{suffix}.test.yml"
        header = (f"# Code generated by sloctl {version} from {source}. DO NOT EDIT.\n"
                  f"# promtool unit tests of the rules of SLO {slo.id}; run: promtool test rules {name}\n")
        files.append((name, header + dump_yaml(builder.document())))
    return TestFiles(tuple(files))
