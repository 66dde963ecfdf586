"""promtool unit tests that prove the generated rules of each SLO behave as designed.

For every SLO this module writes a *test twin* of its rules and promtool test files. The twin
is rendered by the same renderer from the same SLO (objective, period or calendar, budgeting,
windows catalog, tiers, ``for``, low-traffic guard, no-data alert, error-budget policy); only its
SLI reads two synthetic counters, ``sloctl_test_errors_total`` and ``sloctl_test_requests_total``
(a composite's components each read theirs, by a ``component`` label), because arbitrary user
queries cannot be fed synthetic data in general. Everything the rules compute downstream of
those counters — every window, burn rate, slice, alert and budget series — is therefore
exercised by the real Prometheus engine inside promtool.

Expected results come from an exact discrete model of the rules (``_Model``), evaluated with
both engines' range semantics (``promsim``: Prometheus 2's closed ranges, Prometheus 3's
left-open ones): counters scraped every minute, ``rate()`` with its extrapolation, recorded
windows as sums of the recorded 5m rates, slices as the 5m error ratio against the target, each
tier evaluated at an interval of about 1/24 of its long window (timeslice SLOs every slice).
Assertions are placed only at evaluation times where both engines agree, no comparison sits on
its threshold and no printed value on a rounding edge, so the tests pin behaviour, not float
noise, and pass on both engines.

Scenarios, per SLO: for each enabled tier a constant burn just above its factor (fires no later
than the designed detection time) and just below it (never fires) — for timeslices a run of bad
slices just long enough and one slice short; zero traffic (no burn alert, the no-data ticket,
an unknown budget); traffic that stops (the no-data ticket at its time); a counter reset;
with ``minEvents``, a total outage too quiet to reach it (no page); uneven traffic with ten
times the requests in one hour of each day (the period error ratio equals the events-weighted
truth within the bound documented in docs/rules.md); a budget draining through the error-budget
policy's steps; for calendar SLOs, the period ratio counting only events since the period began.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from sloctl import naming
from sloctl.calendars import rule_bounds
from sloctl.durations import format_duration
from sloctl.model import SLO, AlertTier, CompositeSLI, EventsSLI
from sloctl.render import promql, promsim
from sloctl.render.rules import RuleOptions, raw_window, render_groups, render_rule_file
from sloctl.render.yamlout import dump_yaml, yaml_inline, yaml_string

__all__ = ["TestFiles", "designed_detection", "render_rule_tests", "twin", "twin_slos"]

STEP = 60
"""Scrape interval of the synthetic series. Shorter than the 5m base window so that a ``[5m]``
range holds several samples on both engines (6 on Prometheus 2, 5 on the left-open ranges of
Prometheus 3); ``promsim`` models both exactly."""
SLICE = naming.BASE_WINDOW
"""Evaluation interval of the timeslice, no-data, policy and calendar scenarios: their
subqueries read one point every 5m, each an evaluation's recording."""
SLICE_STEPS = SLICE // STEP
SAMPLES_PER_WINDOW = 24
"""Each tier is tested at an evaluation interval of about 1/24 of its long window (5m for 1h,
15m for 6h, 1h for 1d, 3h for 3d): promtool's cost grows with steps × rules, and 24 samples per
window keep the crossing of the threshold within a few evaluations while a 3d tier needs about
100 steps instead of 1,700."""
UNEVEN_EVAL = 900
ERRORS_METRIC = "sloctl_test_errors_total"
REQUESTS_METRIC = "sloctl_test_requests_total"
COMPONENT_LABEL = "component"
ABOVE = 1.15
BELOW = 0.85
PERIOD_BOUND = 0.01
"""Relative bound asserted between the period error ratio and the events-weighted truth."""
MAX_SLICES = 2400
"""Longest run of 5m slices in a timeslice scenario: promtool's test engine refuses queries
that load more than 10,000 samples, and a period's subquery reads every slice of the run."""


def _untemplated(annotations: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in annotations if "{{" not in v)


def twin(slo: SLO, component: str | None = None) -> SLO:
    """The SLO with its SLI replaced by the synthetic test counters (labelled ``component`` for
    a composite's members; a composite keeps its own SLI). The user's annotations that are Go
    templates are left out of the twin: Prometheus expands them and nothing here could predict
    their text; the alerting logic under test does not depend on them."""
    a = slo.alerting
    alerting = replace(
        a,
        annotations=_untemplated(a.annotations),
        page=replace(a.page, annotations=_untemplated(a.page.annotations)),
        ticket=replace(a.ticket, annotations=_untemplated(a.ticket.annotations)),
    )
    if isinstance(slo.sli, CompositeSLI):
        return replace(slo, alerting=alerting)
    sel = f'{{{COMPONENT_LABEL}="{component}"}}' if component else ""
    return replace(
        slo,
        alerting=alerting,
        sli=EventsSLI(
            f"sum(rate({ERRORS_METRIC}{sel}[{{{{.window}}}}]))",
            f"sum(rate({REQUESTS_METRIC}{sel}[{{{{.window}}}}]))",
        ),
    )


def twin_slos(slo: SLO, service_slos: Sequence[SLO] = ()) -> list[SLO]:
    """The twin of ``slo`` and, for a composite, the twins of its components first (from
    ``service_slos``), each reading its own counters."""
    if not isinstance(slo.sli, CompositeSLI):
        return [twin(slo)]
    by_name = {s.name: s for s in service_slos if s.service == slo.service}
    members = []
    for c in slo.sli.components:
        if c.slo not in by_name:
            raise ValueError(f"composite SLO {slo.id}: component {c.slo!r} is not among the SLOs")
        members.append(twin(by_name[c.slo], component=c.slo))
    return [*members, twin(slo)]


def designed_detection(
    slo: SLO,
    tier: AlertTier,
    burn: float,
    eval_step: int = SLICE,
    *,
    scrape: int | None = None,
    period: int | None = None,
) -> int:
    """Designed time from the start of a constant burn (``burn`` × budget) to the alert firing,
    for a service whose windows were healthy before; ``scrape`` defaults to ``eval_step`` and
    ``period`` (the current period's length, for a calendar SLO) to ``slo.period``.

    - A long window read from the raw series (``raw_window``, the quick page's) crosses the factor
      after ``W × factor / burn``; the errors show in the next scrape and the crossing in the
      next evaluation.
    - A long window summed from the 5m recordings crosses after ``(W + i) × factor / burn``
      (a range selector holds the samples at both ends); the 5m rate ramps in over one base
      window, delaying that by half of it; then the next evaluation.
    - A timeslice SLO (every request slow or failing from the start) fires once its long
      window holds more than ``factor × budget`` of its slices bad: the ``n``-th bad slice ends
      at most ``n`` slices after the start (the slice the breach starts in is already bad), is
      scraped and seen at the next evaluation.

    ``for`` is added, rounded up to evaluations.
    """
    factor = tier.window.budget_percent / 100 * (period or slo.period) / tier.window.long_window
    pending = math.ceil(tier.for_seconds / eval_step) * eval_step
    long_w = tier.window.long_window
    if slo.timeslices is not None:
        size = slo.timeslices.slice_seconds
        n = math.floor(factor * slo.error_budget * (long_w // size)) + 1
        return n * size + (scrape or eval_step) + eval_step + pending
    if burn <= factor:
        raise ValueError("a burn at or below the factor never fires")
    if long_w == raw_window(slo):
        crossing = long_w * factor / burn + (scrape or eval_step)
    else:
        crossing = (long_w + eval_step) * factor / burn + naming.BASE_WINDOW / 2
    return math.ceil(crossing + eval_step + pending)


def timeslice_slices_to_fire(slo: SLO, tier: AlertTier, period: int | None = None) -> int:
    """Bad slices in a row after which the tier's long window holds more than ``factor ×
    budget`` of bad slices (the window holds ``W / slice`` slices)."""
    assert slo.timeslices is not None
    factor = tier.window.budget_percent / 100 * (period or slo.period) / tier.window.long_window
    return math.floor(factor * slo.error_budget * (tier.window.long_window // SLICE)) + 1


# -- synthetic series ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Segment:
    steps: int
    requests: float
    errors: float
    reset: bool = False


@dataclass(frozen=True)
class _Counters:
    req: tuple[float, ...]
    err: tuple[float, ...]
    req_txt: str
    err_txt: str


def _series(segments: Sequence[_Segment]) -> _Counters:
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
    return _Counters(tuple(req), tuple(err), " ".join(req_txt), " ".join(err_txt))


Scenario = tuple[tuple[str | None, tuple[_Segment, ...]], ...]
"""Segments per component (``None`` for an SLO with one SLI)."""


def _one(segments: Sequence[_Segment]) -> Scenario:
    return ((None, tuple(segments)),)


# -- the model -----------------------------------------------------------------------------------


class _Model:
    """The generated rules of one SLO (occurrences or timeslices, rolling or calendar),
    evaluated exactly on synthetic counters at ``eval_step`` by one engine's range semantics
    (``promsim``). Subqueries (timeslice windows, the calendar period) pick one recorded
    evaluation per 5m point, so the scenarios that read them evaluate every 5m."""

    def __init__(self, slo: SLO, counters: _Counters, eval_step: int, sem: promsim.RangeSemantics) -> None:
        self.slo = slo
        self.c = counters
        self.eval_step = eval_step
        self.sem = sem
        self.scrapes = [k * STEP for k in range(len(counters.req))]
        self.steps = (len(counters.req) - 1) // (eval_step // STEP) + 1
        self.times = [i * eval_step for i in range(self.steps)]
        base = naming.BASE_WINDOW
        # No rate (fewer than two samples in range) records zero: `or on() vector(0)`.
        self.e5 = [promsim.rate(self.scrapes, counters.err, t, base, sem) or 0.0 for t in self.times]
        self.n5 = [promsim.rate(self.scrapes, counters.req, t, base, sem) or 0.0 for t in self.times]
        self.pe = [0.0]
        self.pn = [0.0]
        for i in range(self.steps):
            self.pe.append(self.pe[-1] + self.e5[i])
            self.pn.append(self.pn[-1] + self.n5[i])
        self.raw = raw_window(slo)
        self.bad: list[float | None] = []
        if slo.timeslices is not None:
            allowed = slo.timeslices.allowed_error_ratio
            self.bad = [
                None if t <= 0 else float(e / t > allowed) for e, t in zip(self.e5, self.n5, strict=True)
            ]

    def _span(self, i: int, window: int) -> tuple[int, int]:
        """Evaluations ``lo:hi`` a ``[window]`` range over a recording holds at evaluation ``i``."""
        return promsim.in_range(self.times, self.times[i], window, self.sem)

    def _points(self, i: int, window: int) -> range:
        """Evaluations a ``[window:5m]`` subquery picks at evaluation ``i`` (at a 5m
        evaluation interval each point is an evaluation's own recording)."""
        if self.eval_step != SLICE:
            raise ValueError("subqueries over slices are modelled at a 5m evaluation interval")
        lo, hi = self._span(i, window)
        return range(lo, hi)

    def _slices(self, i: int, window: int) -> range:
        """The slices of a timeslice window: its subquery's range is one second short of it."""
        return self._points(i, window - 1)

    def ratio(self, i: int, window: int) -> float | None:
        if self.slo.timeslices is not None:
            picked = [b for j in self._slices(i, window) if (b := self.bad[j]) is not None]
            return sum(picked) / len(picked) if picked else None
        if window == naming.BASE_WINDOW:
            return self.e5[i] / max(self.n5[i], 1e-12)
        rolling_period = window == self.slo.period and self.slo.calendar is None
        if window == self.raw:
            t = self.times[i]
            e = promsim.rate(self.scrapes, self.c.err, t, window, self.sem) or 0.0
            n = promsim.rate(self.scrapes, self.c.req, t, window, self.sem) or 0.0
        else:
            lo, hi = self._span(i, window)
            e = self.pe[hi] - self.pe[lo]
            n = self.pn[hi] - self.pn[lo]
        # The period's ratio is unknown without events; every other window reads 0 then.
        if rolling_period:
            return e / n if n > 0 else None
        return e / max(n, 1e-12)

    def period_ratio(self, i: int) -> float | None:
        cal = self.slo.calendar
        if cal is None:
            return self.ratio(i, self.slo.period)
        # The 5m points the rules count (evaluations on the 5m grid, as here): those of the
        # whole hours H after the period start (H-55m..H), then those after the last hour.
        t = self.times[i]
        start, _end = rule_bounds(cal, t)
        rest = max(t - t % 3600, start)

        def counted(p: int) -> bool:
            hour = -(-p // 3600) * 3600
            return p > rest or (start < hour <= t and hour >= t - cal.max_seconds)

        points = [j for j in self._points(i, cal.max_seconds + 3600) if counted(self.times[j])]
        if self.slo.timeslices is not None:
            picked = [b for j in points if (b := self.bad[j]) is not None]
            return sum(picked) / len(picked) if picked else None
        events = sum(self.n5[j] for j in points)
        return sum(self.e5[j] for j in points) / events if events > 0 else None

    def period_seconds(self, i: int) -> int:
        if self.slo.calendar is None:
            return self.slo.period
        start, end = rule_bounds(self.slo.calendar, self.times[i])
        return end - start

    def events(self, i: int, window: int) -> float:
        lo, hi = self._span(i, window)
        return (self.pn[hi] - self.pn[lo]) / max(hi - lo, 1) * window

    def no_data(self, i: int) -> bool:
        lo, hi = self._span(i, self.slo.alerting.no_data.for_seconds)
        return max(self.n5[lo:hi], default=0.0) == 0


class _Composite:
    """A composite's rules: the weighted mean of its components' window ratios."""

    def __init__(self, slo: SLO, members: Mapping[str, _Model]) -> None:
        assert isinstance(slo.sli, CompositeSLI)
        self.slo = slo
        self.sli = slo.sli
        self.members = members
        first = next(iter(members.values()))
        self.eval_step = first.eval_step
        self.steps = first.steps

    def ratio(self, i: int, window: int) -> float | None:
        total = 0.0
        for c in self.sli.components:
            r = self.members[c.slo].ratio(i, window)
            if r is None:
                return None
            total += c.weight * r
        return total / self.sli.total_weight

    def period_ratio(self, i: int) -> float | None:
        return self.ratio(i, self.slo.period)

    def period_seconds(self, i: int) -> int:
        return self.slo.period

    def events(self, i: int, window: int) -> float:
        return sum(m.events(i, window) for m in self.members.values())

    def no_data(self, i: int) -> bool:
        return any(m.no_data(i) for m in self.members.values())


_AnyModel = _Model | _Composite


class _Run:
    """A scenario's series and what the rules do on them, on every engine of ``promsim.ENGINES``."""

    def __init__(self, slo: SLO, members: Sequence[SLO], scenario: Scenario, eval_step: int) -> None:
        self.slo = slo
        self.scenario = scenario
        self.counters = {key: _series(segments) for key, segments in scenario}
        self.models: list[_AnyModel] = []
        for sem in promsim.ENGINES:
            if isinstance(slo.sli, CompositeSLI):
                by_name = {m.name: m for m in members}
                self.models.append(
                    _Composite(
                        slo,
                        {
                            k: _Model(by_name[k], c, eval_step, sem)
                            for k, c in self.counters.items()
                            if k is not None
                        },
                    )
                )
            else:
                self.models.append(_Model(slo, self.counters[None], eval_step, sem))
        self.model = self.models[0]
        self.eval_step = eval_step
        self.steps = self.model.steps
        self.fires = {t.name: [self._firing(m, t) for m in self.models] for t in slo.alerting.enabled_tiers}
        # Where the engines disagree nothing is asserted (``agreed``); elsewhere this is the state.
        self.fire = {name: [any(f) for f in zip(*per, strict=True)] for name, per in self.fires.items()}

    def first_firing(self, tier: AlertTier) -> int | None:
        """The first evaluation at which any engine fires."""
        return next((i for i, f in enumerate(self.fire[tier.name]) if f), None)

    def last_first_firing(self, tier: AlertTier) -> int | None:
        """The evaluation by which every engine has fired (None if one never does)."""
        firsts = [next((i for i, f in enumerate(fire) if f), None) for fire in self.fires[tier.name]]
        return None if None in firsts else max(i for i in firsts if i is not None)

    def threshold(self, i: int, tier: AlertTier) -> float:
        w = tier.window
        return w.budget_percent / 100 * self.model.period_seconds(i) / w.long_window

    def _active(self, m: _AnyModel, i: int, tier: AlertTier) -> bool:
        w = tier.window
        b = self.slo.error_budget
        f = self.threshold(i, tier)
        ratios = [m.ratio(i, w.long_window), m.ratio(i, w.short_window)]
        ok = all(r is not None and r / b > f for r in ratios)
        if ok and self.slo.alerting.min_events > 0 and tier.severity == "page":
            ok = m.events(i, w.long_window) >= self.slo.alerting.min_events
        return ok

    def _firing(self, m: _AnyModel, tier: AlertTier) -> list[bool]:
        out: list[bool] = []
        since: int | None = None
        for i in range(m.steps):
            if self._active(m, i, tier):
                since = i if since is None else since
                out.append((i - since) * self.eval_step >= tier.for_seconds)
            else:
                since = None
                out.append(False)
        return out

    def _value(self, m: _AnyModel, i: int, tier: AlertTier) -> float:
        r = m.ratio(i, tier.window.long_window)
        assert r is not None
        return r / self.slo.error_budget

    def value(self, i: int, tier: AlertTier) -> float:
        """The alert's value: the burn rate over the tier's long window."""
        return self._value(self.model, i, tier)

    def remaining(self, i: int) -> float | None:
        r = self.model.period_ratio(i)
        return None if r is None else 1 - r / self.slo.error_budget

    def _on_edge(self, m: _AnyModel, i: int, tier: AlertTier) -> bool:
        """A comparison of the alert sits on its threshold, where float noise decides it."""
        factor = self.threshold(i, tier)
        for window in (tier.window.long_window, tier.window.short_window):
            r = m.ratio(i, window)
            if r is not None and abs(r / self.slo.error_budget - factor) <= 1e-9 * max(1.0, factor):
                return True
        guard = self.slo.alerting.min_events
        return guard > 0 and abs(m.events(i, tier.window.long_window) - guard) <= 1e-9 * guard

    def agreed(self, i: int) -> bool:
        """A safe time to assert the burn alerts: every engine gives the same state and printed
        value, no comparison of any tier sits on its threshold, and no printed value on a
        rounding edge of ``%.2f`` (float summation order could flip either)."""
        for tier in self.slo.alerting.enabled_tiers:
            if len({fire[i] for fire in self.fires[tier.name]}) > 1:
                return False
            # With `for`, the state at i depends on the evaluations during the pending time too.
            pending = math.ceil(tier.for_seconds / self.eval_step)
            for m in self.models:
                if any(self._on_edge(m, j, tier) for j in range(max(0, i - pending), i + 1)):
                    return False
            if self.fire[tier.name][i]:
                values = [self._value(m, i, tier) for m in self.models]
                if len({f"{v:.2f}" for v in values}) > 1:
                    return False
                if any(abs((v * 100) % 1 - 0.5) < 1e-6 for v in values):
                    return False
        return True

    def no_data_agreed(self, i: int) -> bool:
        return len({m.no_data(i) for m in self.models}) == 1

    def policy_agreed(self, i: int) -> bool:
        lefts = [m.period_ratio(i) for m in self.models]
        if any(r is None for r in lefts):
            return all(r is None for r in lefts)
        values = [1 - r / self.slo.error_budget for r in lefts if r is not None]
        texts = {_percentage(v) for v in values}
        if len(texts) > 1:
            return False
        for left in values:
            if any(abs(left - s.budget_left_percent / 100) <= 1e-9 for s in self.slo.policy.steps):
                return False
            if {_percentage(left * (1 + 1e-9)), _percentage(left * (1 - 1e-9))} != texts:
                return False
        return True


def _percentage(ratio: float) -> str:
    """Go's ``humanizePercentage``: ``%.4g`` of the value × 100, then ``%``."""
    return f"{ratio * 100:.4g}%"


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
    shortest = min((t.window.long_window for t in tiers), default=3600)
    by_guard = math.ceil(slo.alerting.min_events * 4 / max(shortest // STEP, 1))
    return max(10_000, by_ratio, by_guard)


_RUNS: dict[object, _Run] = {}
_RUNS_MAX = 4096


class _Builder:
    def __init__(self, slo: SLO, members: Sequence[SLO], rule_file: str, eval_step: int) -> None:
        self.slo = slo
        self.members = members
        self.rule_file = rule_file
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
        if not run.model.no_data(i):
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
            if left is None or left > step.budget_left_percent / 100:
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

    def _period_metric(self) -> str:
        unit = self.slo.calendar.unit if self.slo.calendar else None
        return naming.period_error_ratio(unit, self.slo.period)

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
            first, every = run.first_firing(tier), run.last_first_firing(tier)
            if first is None or every is None or every * self.eval_step - prefix * STEP > bound:
                raise AssertionError(f"{slo.id} {tier.name}: the model misses the designed detection time")
            late = next((i for i in range(every, run.steps) if run.agreed(i)), None)
            if late is not None:
                break
        if multiple > 1:
            if late is None or first is None:
                raise AssertionError(f"{slo.id} {tier.name}: no step to assert the firing on every engine")
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
        self._group(name, run, {"burn": sorted(set(checks))})

    def bad_slices(self, tier: AlertTier, enough: bool) -> None:
        """Timeslices: ``n`` bad slices in a row fire the tier (no later than designed), and
        ``n - 1`` do not."""
        slo = self.slo
        w = tier.window
        rpm = _traffic(slo)
        n = timeslice_slices_to_fire(slo, tier, _first_period(slo))
        assert slo.timeslices is not None
        if (not enough and n < 2) or n > w.long_window // slo.timeslices.slice_seconds:
            return  # (or) the factor needs more bad slices than the long window holds, as in ``burn``
        bad = math.ceil(rpm * min(1.0, slo.timeslices.allowed_error_ratio * 2 + 0.01))
        prefix = w.long_window // SLICE + 2  # slices, and evaluations
        # Enough: a breach that lasts through the tier's `for`; short: one slice too few.
        count = n + math.ceil(tier.for_seconds / SLICE) if enough else n - 1
        bound = designed_detection(
            slo, tier, 1 / slo.error_budget, SLICE, scrape=STEP, period=_first_period(slo)
        )
        # Good slices after the run: past the designed time, or (one short) just past the run,
        # where its window holds the most bad slices.
        start = prefix
        # As in ``burn``: a breach whose slice ratios keep a printed value on a rounding edge is
        # made one slice longer (at most twice), so that the firing can be asserted.
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
            first, every = run.first_firing(tier), run.last_first_firing(tier)
            if first is None or every is None or (every - start) * SLICE > bound:
                raise AssertionError(f"{slo.id} {tier.name}: the model misses the designed detection time")
            late = next((i for i in range(every, run.steps) if run.agreed(i)), None)
            if late is not None:
                break
            count += 1
        if enough:
            if late is None or first is None:
                raise AssertionError(f"{slo.id} {tier.name}: no step to assert the firing on every engine")
            early = next((i for i in range(first - 1, start - 1, -1) if run.agreed(i)), None)
            checks = [start] + [i for i in (early, late) if i is not None]
            name = (
                f"{tier.name} fires on {n} bad slices in a row, within {format_duration(bound)} of a breach"
            )
        else:
            if any(run.fire[tier.name]):
                raise AssertionError(f"{slo.id} {tier.name}: the model fires one slice short")
            checks = [i for i in (start + count, start + count + 2, run.steps - 1) if run.agreed(i)]
            name = f"{tier.name} never fires on {count} bad slices in a row"
        self._group(name, run, {"burn": sorted(set(checks))})

    def zero_traffic(self) -> None:
        steps = (3600 // self.eval_step + 2) * self.per
        run = self._run(self._healthy(_Segment(steps, 0, 0)))
        last = run.steps - 1
        self._group(
            "zero traffic burns no budget, files the no-data ticket and leaves the budget unknown",
            run,
            {
                "burn": [last // 2, last],
                "no_data": [i for i in (0, last // 2, last) if run.no_data_agreed(i)],
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
        hour = 3600 // STEP
        quiet = (nd.for_seconds + naming.BASE_WINDOW) // STEP + 3 * SLICE_STEPS
        run = self._run(
            self._healthy([_Segment(hour, rpm, 0), _Segment(quiet, 0, 0), _Segment(hour, rpm, 0)])
        )
        stop = 3600 // self.eval_step  # the evaluation at which traffic stops
        flags = [run.model.no_data(i) for i in range(run.steps)]
        first = next((i for i in range(stop, run.steps) if flags[i]), None)
        if first is None:
            raise AssertionError(f"{self.slo.id}: the model never flags the missing data")
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
            raise AssertionError(f"{slo.id}: the model fires on a counter reset")
        last = run.steps - 1
        truth = errors / rpm  # the same ratio before and after the reset
        mid = half // self.per
        self._group(
            "a counter reset does not fire and does not distort the budget",
            run,
            {"burn": [mid + 1, mid + 3, last]},
            [self._close_to(self._period_metric(), truth, last, 1e-9, self._period_labels())],
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
            raise AssertionError(f"{slo.id}: the model pages below minEvents")
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
        hour = 3600 // STEP
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
            [self._close_to(self._period_metric(), truth, last, 1e-9, self._period_labels())],
        )

    def policy(self) -> None:
        """A budget that drains through the policy's steps: its tickets at each step."""
        slo = self.slo
        steps = slo.policy.steps
        if not steps:
            return
        rpm = _traffic(slo)
        hour = 3600 // STEP
        scale = _composite_scale(slo)
        lowest = min(s.budget_left_percent for s in steps) / 100
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
            hours = 3600 // self.eval_step
            checks = [i for i in range(2 * hours, run.steps, max(1, hours // 2)) if run.policy_agreed(i)]
        # Around each step: the last evaluation above it and the first at or below it.
        for step in steps:
            limit = step.budget_left_percent / 100
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
            if (left := run.remaining(i)) is not None and left <= s.budget_left_percent / 100
        }
        if len(fired) != len(steps):
            raise AssertionError(f"{slo.id}: the policy scenario does not reach every step")
        self._group("a draining budget files the policy's tickets at each step", run, {"policy": checks})

    def calendar_reset(self) -> None:
        """A calendar period counts only the events since it started: errors before the
        boundary are not in the new period's ratio."""
        slo = self.slo
        cal = slo.calendar
        assert cal is not None
        start, end = rule_bounds(cal, 0)
        boundary = end if end <= 2 * 86400 else start
        rpm = _traffic(slo)
        errors = math.floor(rpm * 0.5 * slo.error_budget)
        if boundary > 0:
            # Errors only before the boundary, none after: the new period is clean.
            before = boundary // STEP
            run = self._run(
                _one([_Segment(before, rpm, errors), _Segment(2 * 3600 // STEP, rpm, errors // 5)])
            )
            last = run.steps - 1
            r = run.model.period_ratio(last)
            assert r is not None
            name = "the calendar period's ratio restarts at the boundary in its time zone"
        else:
            run = self._run(_one([_Segment(4 * 3600 // STEP, rpm, errors)]))
            last = run.steps - 1
            r = run.model.period_ratio(last)
            assert r is not None
            name = "the calendar period's ratio counts every event since the period began"
        self._group(
            name, run, {}, [self._close_to(self._period_metric(), r, last, 1e-9, self._period_labels())]
        )

    def document(self) -> dict[str, object]:
        return {
            "rule_files": [self.rule_file],
            "evaluation_interval": format_duration(self.eval_step),
            "tests": self.groups,
        }


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
    start, end = rule_bounds(slo.calendar, 0)
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


def rule_test_documents(
    slo: SLO,
    version: str,
    source: str | None = None,
    *,
    with_rules: bool = True,
    service_slos: Sequence[SLO] = (),
) -> tuple[tuple[str, str], list[tuple[str, dict[str, object]]]]:
    """The twin rule file ``(name, text)`` and the test documents ``(name, data)`` of ``slo``."""
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
            builders[eval_step] = _Builder(twins[-1], members, rules_name, eval_step)
        return builders[eval_step]

    for tier in slo.alerting.enabled_tiers:
        b = builder(tier_eval(slo, tier))
        if slo.timeslices is not None:
            b.bad_slices(tier, True)
            b.bad_slices(tier, False)
        else:
            b.burn(tier, ABOVE)
            b.burn(tier, BELOW)
    builder(SLICE).zero_traffic()
    builder(SLICE).traffic_stops()
    pages = [t for t in slo.alerting.enabled_tiers if t.severity == "page"]
    if slo.timeslices is not None:
        builder(SLICE).slice_share()
    else:
        builder(SLICE).counter_reset()
        if slo.calendar is None:
            builder(UNEVEN_EVAL).uneven_traffic()
    if pages and slo.alerting.min_events > 0:
        builder(SLICE if slo.timeslices else max(tier_eval(slo, t) for t in pages)).low_traffic()
    if slo.calendar is not None:
        builder(SLICE).calendar_reset()
    builder(SLICE).policy()
    docs = [
        (f"{base}.{format_duration(step)}.test.yml", builders[step].document())
        for step in sorted(builders)
        if builders[step].groups
    ]
    return (rules_name, rules_text), docs


def _direct_test_texts(
    slo: SLO, version: str, source: str, service_slos: Sequence[SLO] = ()
) -> list[tuple[str, str]]:
    """Test files rendered straight from ``slo``'s documents: ``(name, body without header)``."""
    _, docs = rule_test_documents(slo, version, source, with_rules=False, service_slos=service_slos)
    return [(name, dump_yaml(doc)) for name, doc in docs]


# -- shared rendering per alerting profile --------------------------------------------------------
#
# The tests of two SLOs with the same numbers (objective, period, catalog, tiers, `for`, guard,
# no-data and policy settings) differ only in names, labels and annotations. Fleets repeat a few
# such profiles, so the text is rendered once per profile for a placeholder SLO and then given
# each SLO's names and label blocks. Placeholders are plain words that cannot occur otherwise;
# SLOs whose names or labels would be written differently in place (quoting), and timeslice,
# calendar and composite SLOs, take the direct path. A test checks that both paths give the same
# bytes.

_SVC, _NAME, _ALERT = "zzsloctlsvctkn", "zzsloctlslotkn", "ZzsloctlAlertTkn"
_NO_DATA, _POLICY = "ZzsloctlNodataTkn", "ZzsloctlPolicyTkn"
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
        policy=replace(slo.policy, name=_POLICY),
        alerting=replace(
            a,
            name=_ALERT,
            labels=(),
            annotations=(),
            runbook_url=None,
            no_data=replace(a.no_data, name=_NO_DATA),
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
    if slo.timeslices is not None or slo.calendar is not None or isinstance(slo.sli, CompositeSLI):
        return False
    return _plain(slo)


def _plain(slo: SLO) -> bool:
    t = twin(slo)
    a = t.alerting
    names = (
        slo.service,
        slo.name,
        slo.id,
        a.name,
        slo.no_data_alert_name,
        slo.policy_alert_name,
        naming.slug(slo.service),
        naming.slug(slo.name),
    )
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
        naming.LABEL_POLICY_ACTION,
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
        .replace(_NO_DATA, slo.no_data_alert_name)
        .replace(_POLICY, slo.policy_alert_name)
        .replace(_ALERT, a.name)
        .replace(_SVC, slo.service)
        .replace(_NAME, slo.name)
    )


def render_rule_tests(
    slo: SLO, version: str, source: str | None = None, *, service_slos: Sequence[SLO] = ()
) -> TestFiles:
    """The promtool tests (and the twin rules they load) for ``slo``: one test file per
    evaluation interval used (see ``tier_eval``), named ``<service>--<slo>.<interval>.test.yml``.
    A composite needs its service's SLOs (``service_slos``) for its components."""
    source = source or slo.source.file
    base = f"{naming.slug(slo.service)}--{naming.slug(slo.name)}"
    rules_name = f"{base}.rules.yml"
    rules_text = render_rule_file(
        twin_slos(slo, service_slos), [f"{source} (test twin of {slo.id})"], version, RuleOptions()
    )
    if _shareable(slo):
        profile_base = f"{_SVC}--{_NAME}"
        bodies = [
            (name.replace(profile_base, base), _materialise(slo, text))
            for name, text in _profile_texts(_profile(slo), version)
        ]
    else:
        bodies = _direct_test_texts(slo, version, source, service_slos)
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
