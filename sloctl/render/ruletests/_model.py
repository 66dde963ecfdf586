"""An exact discrete model of the generated rules over synthetic counters (both engines' range
semantics), from which every expected value of the tests comes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sloctl import naming
from sloctl.durations import HOUR
from sloctl.model import SLO, AlertTier, CompositeSLI
from sloctl.render import promql, promsim
from sloctl.render.rules import sharp_window, tiled_window

from ._params import SLICE, STEP

# -- synthetic series ----------------------------------------------------------------------------


def _percentage(ratio: float) -> str:
    """Go's ``humanizePercentage``: ``%.4g`` of the value × 100, then ``%``."""
    return f"{ratio * 100:.4g}%"


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
        self.sharp = sharp_window(slo)
        # The test twin's rules are rendered without an interval: tiled wherever the SLO allows.
        self.tiled = tiled_window(slo, None)
        self.bad: list[float | None] = []
        if slo.timeslices is not None:
            bad_above = slo.timeslices.bad_above
            self.bad = [
                None if t <= 0 else float(e / t > bad_above) for e, t in zip(self.e5, self.n5, strict=True)
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
        tiles = self._tiles(i, window) if window == self.sharp and self.tiled else None
        if tiles is not None:
            e, n = tiles
        elif window == self.sharp and not self.tiled:
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

    def _tiles(self, i: int, window: int) -> tuple[float, float] | None:
        """The sharp window's errors and events (``promql.tiled_sum``): the 5m rates each offset
        of ``0, 5m … window - 5m`` finds within the lookback; None when a tile finds none, and
        the rule falls back on the window's sum of recordings. At an evaluation step that
        divides 5m that is one recording per tile; at a coarser one the engine returns what it
        returns (tiles missed, or one recording twice on 2.x), and so does the model."""
        base = naming.BASE_WINDOW
        t = self.times[i]
        picked = [promsim.latest(self.times, t - k * base, self.sem) for k in range(window // base)]
        found = [j for j in picked if j is not None]
        if len(found) < len(picked):
            return None
        return sum(self.e5[j] for j in found), sum(self.n5[j] for j in found)

    def period_ratio(self, i: int) -> float | None:
        cal = self.slo.calendar
        if cal is None:
            return self.ratio(i, self.slo.period)
        # The 5m points the rules count (evaluations on the 5m grid, as here): those of the
        # whole hours H after the period start (H-55m..H), then those after the last hour.
        t = self.times[i]
        start, _end = cal.period_at(t)
        rest = max(t - t % HOUR, start)

        def counted(p: int) -> bool:
            hour = -(-p // HOUR) * HOUR
            return p > rest or (start < hour <= t and hour >= t - cal.max_seconds)

        points = [j for j in self._points(i, cal.max_seconds + HOUR) if counted(self.times[j])]
        if self.slo.timeslices is not None:
            picked = [b for j in points if (b := self.bad[j]) is not None]
            return sum(picked) / len(picked) if picked else None
        events = sum(self.n5[j] for j in points)
        return sum(self.e5[j] for j in points) / events if events > 0 else None

    def period_seconds(self, i: int) -> int:
        if self.slo.calendar is None:
            return self.slo.period
        start, end = self.slo.calendar.period_at(self.times[i])
        return end - start

    def events(self, i: int, window: int) -> float:
        lo, hi = self._span(i, window)
        return (self.pn[hi] - self.pn[lo]) / max(hi - lo, 1) * window

    def no_data(self, i: int, for_seconds: int | None = None) -> bool:
        """No event for ``for_seconds`` (default: the SLO's ``noData.for``)."""
        lo, hi = self._span(i, for_seconds or self.slo.alerting.no_data.for_seconds)
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
        """Any component without an event for the composite's ``noData.for``."""
        return any(m.no_data(i, self.slo.alerting.no_data.for_seconds) for m in self.members.values())


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

    def no_data_alert(self, i: int) -> bool:
        """The no-data ticket: the flag, once the rules have recorded it for ``noData.for`` (the
        first evaluation is at 0)."""
        return self.model.no_data(i) and i * self.eval_step >= self.slo.alerting.no_data.for_seconds

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
            if any(abs(left - s.budget_left_ratio) <= 1e-9 for s in self.slo.policy.steps):
                return False
            if {_percentage(left * (1 + 1e-9)), _percentage(left * (1 - 1e-9))} != texts:
                return False
        return True
