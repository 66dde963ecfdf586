"""Final statistics of a Locust run, read from the runner's own stats (the ``--csv`` files lag
the final numbers), and the evaluation of gates against them. Pure.

Latency gates read the successful requests alone (:attr:`RunStats.succeeded`, recorded
beside Locust's own entries, which count every request's time): a latency SLI measures the
requests that succeeded, and failures are the availability gate's. The reports' latency
figures read them too (:meth:`RunStats.route_summaries` …), so that a page never shows a p95
the gate did not judge; their counts, failures and rates cover every request.

sloctl's statistics of the successful requests keep response times in whole milliseconds
rounded up (:func:`sloctl.loadtest.locustlib.bucket_up`; Locust's own statistics, left with its
buckets, round to 2 significant digits, to the nearest). Percentiles here are nearest-rank
over those buckets, so a gate ``<= T`` at a whole number of milliseconds counts a request as
the latency SLI's ``le`` bucket does.

The aggregates (all requests, per dependency: the gates that name no route, and the reports'
total and groups) leave out the operational routes (:data:`~sloctl.contract.OPERATIONAL_PATHS`,
``/healthz``, ``/readyz``, ``/metrics``), as the platform's SLIs do: a Locust file that polls
them would otherwise flatter the figures with their fast answers. A gate on one of them by its
route judges it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sloctl.contract import OPERATIONAL_PATHS
from sloctl.model import nearest_rank

from .thresholds import LATENCY_STATS, ROUTE_DEPENDENCIES, Threshold

__all__ = [
    "LATENCY_FIELDS",
    "STEP_FAILURE_ALPHA",
    "STEP_MIN_REQUESTS",
    "Breakpoint",
    "GateResult",
    "RouteStats",
    "RunStats",
    "Sample",
    "StepGate",
    "Summary",
    "evaluate",
    "failures_beyond_chance",
    "judge_step",
    "percentile",
    "since",
    "step_minimum",
]

#: a row of a report's tables (:meth:`RouteStats.summary`'s keys, and ``successes``)
Summary = dict[str, float | int | str | None]
#: the keys of a :class:`Summary` that are latencies: over the successful requests in reports
LATENCY_FIELDS = ("avg_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms")


def percentile(response_times: Mapping[int, int], percent: float) -> float:
    """The smallest recorded time such that ``percent`` % of requests took at most that long."""
    total = sum(response_times.values())
    if total == 0:
        return 0.0
    rank = nearest_rank(total, percent)
    seen = 0
    for key in sorted(response_times):
        seen += response_times[key]
        if seen >= rank:
            return float(key)
    return float(max(response_times))


@dataclass(frozen=True)
class RouteStats:
    """One Locust stats entry (name = route template, method), or the aggregate of all."""

    name: str
    method: str
    num_requests: int
    num_failures: int
    total_response_time: float
    max_response_time: float
    response_times: tuple[tuple[int, int], ...]
    start_time: float
    last_request_timestamp: float

    @property
    def failure_ratio(self) -> float:
        return self.num_failures / self.num_requests if self.num_requests else 0.0

    @property
    def avg(self) -> float:
        return self.total_response_time / self.num_requests if self.num_requests else 0.0

    @property
    def duration(self) -> float:
        return max(0.0, self.last_request_timestamp - self.start_time)

    @property
    def rps(self) -> float:
        return self.num_requests / self.duration if self.duration > 0 else 0.0

    def percentile(self, percent: float) -> float:
        return percentile(dict(self.response_times), percent)

    def summary(self) -> dict[str, float | int | str]:
        return {
            "name": self.name,
            "method": self.method,
            "requests": self.num_requests,
            "failures": self.num_failures,
            "failure_ratio": round(self.failure_ratio, 6),
            "rps": round(self.rps, 2),
            "avg_ms": round(self.avg, 2),
            "p50_ms": self.percentile(50),
            "p95_ms": self.percentile(95),
            "p99_ms": self.percentile(99),
            "max_ms": round(self.max_response_time, 2),
        }

    @classmethod
    def from_locust(cls, entry: Mapping[str, object]) -> RouteStats:
        """From one element of Locust's ``serialize_stats()`` (``--json`` has the same shape)."""
        times_raw = entry.get("response_times") or {}
        if not isinstance(times_raw, Mapping):
            raise ValueError("response_times must be a mapping of milliseconds to counts")
        times = tuple(sorted((int(k), int(v)) for k, v in times_raw.items()))

        def num(key: str) -> float:
            value = entry.get(key)
            return float(value) if isinstance(value, int | float) else 0.0

        return cls(
            name=str(entry.get("name", "")),
            method=str(entry.get("method") or ""),
            num_requests=int(num("num_requests")),
            num_failures=int(num("num_failures")),
            total_response_time=num("total_response_time"),
            max_response_time=num("max_response_time"),
            response_times=times,
            start_time=num("start_time"),
            last_request_timestamp=num("last_request_timestamp"),
        )


def aggregate(entries: Sequence[RouteStats], name: str = "Aggregated") -> RouteStats:
    merged: dict[int, int] = {}
    for e in entries:
        for k, v in e.response_times:
            merged[k] = merged.get(k, 0) + v
    starts = [e.start_time for e in entries if e.num_requests]
    lasts = [e.last_request_timestamp for e in entries if e.num_requests]
    return RouteStats(
        name=name,
        method="",
        num_requests=sum(e.num_requests for e in entries),
        num_failures=sum(e.num_failures for e in entries),
        total_response_time=sum(e.total_response_time for e in entries),
        max_response_time=max((e.max_response_time for e in entries), default=0.0),
        response_times=tuple(sorted(merged.items())),
        start_time=min(starts, default=0.0),
        last_request_timestamp=max(lasts, default=0.0),
    )


def summary(stats: RouteStats, ok: RouteStats | None) -> Summary:
    """``stats.summary()`` (requests, failures, rate: every request) with ``successes`` and its
    latency figures over ``ok``, the successful requests of the same scope; None where none
    succeeded."""
    latency = ok.summary() if ok is not None and ok.num_requests else {}
    row: Summary = {}
    for key, value in stats.summary().items():
        row[key] = latency.get(key) if key in LATENCY_FIELDS else value
        if key == "requests":
            row["successes"] = stats.num_requests - stats.num_failures
    return row


def _by_dependency(routes: Sequence[RouteStats]) -> dict[str, RouteStats]:
    """``routes`` merged per dependency (``postgres``, ``redis``, …); routes outside the API's
    catalogue form ``other``."""
    names = sorted({ROUTE_DEPENDENCIES.get(r.name, "other") for r in routes})
    return {
        n: aggregate([r for r in routes if ROUTE_DEPENDENCIES.get(r.name, "other") == n], name=n)
        for n in names
    }


def _gated(routes: Sequence[RouteStats]) -> list[RouteStats]:
    """``routes`` but the operational ones (:data:`~sloctl.contract.OPERATIONAL_PATHS`)."""
    return [r for r in routes if r.name not in OPERATIONAL_PATHS]


@dataclass(frozen=True)
class Sample:
    """One point of the time series recorded during the run (per interval, not cumulative):
    percentiles over the interval's successful requests, None when none succeeded."""

    t: float
    users: int
    rps: float
    failures_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class Breakpoint:
    """What a breakpoint search found: the most users (and the highest request rate) that held
    every gate it watches for a whole step, and the step where one broke, if one did.

    >>> Breakpoint(10, 49.8, 2, 15, 70.1, "p(95) <= 200", 250.0, "/v1/projects").describe()
    'held 10 users (49.8 req/s); broke at 15 users (70.1 req/s): p(95) <= 200 (/v1/projects) measured 250'
    >>> Breakpoint(100, 480.0, 20, alpha=0.001).describe()
    'held 100 users (480 req/s) in 20 steps: no gate it watches broke (failure ratios judged at alpha 0.001)'
    """

    #: users of the last step that held (0: the first step broke, or none was measured)
    held_users: int = 0
    #: the highest request rate of the steps that held, per second
    held_rps: float = 0.0
    #: how many steps held
    steps: int = 0
    broke_at_users: int | None = None
    broke_at_rps: float | None = None
    #: the gate that broke (its expression) and the value it measured in that step
    broken_by: str | None = None
    broken_value: float | None = None
    #: the requests that gate covers (:attr:`Threshold.scope`: ``all requests``, a route, a
    #: dependency's routes); None in results written before every gate was watched
    broken_scope: str | None = None
    #: the significance its ``failure_ratio`` gates were judged at (``--breakpoint-alpha``);
    #: None in results written before it was a setting (they used :data:`STEP_FAILURE_ALPHA`)
    alpha: float | None = None

    @property
    def measured(self) -> bool:
        """At least one whole step was measured (held or broke)."""
        return self.steps > 0 or self.broke_at_users is not None

    def broke(self, threshold: Threshold) -> bool:
        """``threshold`` is the gate that broke the search: what the search looked for, not a
        failed gate. The one notion the reports (text, HTML, ``report.json``'s
        ``broke_search``) and ``sloctl serve`` read."""
        if self.broke_at_users is None or threshold.expression != self.broken_by:
            return False
        # results written before every gate was watched name none: the search watched the
        # gates over all requests alone then
        return threshold.scope == (self.broken_scope or "all requests")

    def describe(self) -> str:
        held = f"held {self.held_users} users ({self.held_rps:g} req/s)" if self.steps else "no step held"
        alpha = f" (failure ratios judged at alpha {self.alpha:g})" if self.alpha is not None else ""
        if self.broke_at_users is None:
            if not self.steps:
                return "no whole step was measured: give a --duration of a step (5 s) or more"
            return f"{held} in {self.steps} steps: no gate it watches broke{alpha}"
        measured = f" measured {self.broken_value:g}" if self.broken_value is not None else ""
        scope = f" ({self.broken_scope})" if self.broken_scope else ""
        return (
            f"{held}; broke at {self.broke_at_users} users ({self.broke_at_rps or 0:g} req/s): "
            f"{self.broken_by or 'a gate'}{scope}{measured}{alpha}"
        )


@dataclass(frozen=True)
class RunStats:
    routes: tuple[RouteStats, ...]
    samples: tuple[Sample, ...] = ()
    errors: tuple[tuple[str, int], ...] = ()
    #: what a breakpoint search found; None when the run searched none
    breakpoint: Breakpoint | None = None
    stopped_by: str = "duration"
    extra: tuple[tuple[str, str], ...] = field(default=())
    #: the API's own time per answer (``Server-Timing``), ms → count; empty when not measured
    server_times: tuple[tuple[int, int], ...] = ()
    #: open model: how late each arrival left its slot, ms → count; and arrivals dropped
    arrival_lags: tuple[tuple[int, int], ...] = ()
    dropped: int = 0
    #: how long the load ran (None in results written before it was recorded): shorter than
    #: the duration asked when max requests, a breakpoint or an interrupt stopped it
    ran_seconds: float | None = None
    #: the successful requests alone, per route (Locust's entries count failures' times too):
    #: what latency gates judge. None for results written without them (all requests then).
    succeeded: tuple[RouteStats, ...] | None = None

    @property
    def total(self) -> RouteStats:
        """The requests an all-requests gate judges: every route but the operational ones."""
        return aggregate(_gated(self.routes))

    @property
    def left_out(self) -> int:
        """How many requests went to the operational routes, which the aggregates leave out."""
        return sum(r.num_requests for r in self.routes if r.name in OPERATIONAL_PATHS)

    @property
    def groups(self) -> tuple[RouteStats, ...]:
        """The routes merged per dependency (``postgres``, ``redis``, …), the scopes the
        per-dependency SLOs judge; routes outside the API's catalogue form ``other``."""
        return tuple(_by_dependency(_gated(self.routes)).values())

    @property
    def latency_over(self) -> str:
        """What the reports' latency figures cover: the successful requests, or every request
        for results written without them apart."""
        return "every request" if self.succeeded is None else "successful requests"

    def _ok(self) -> tuple[RouteStats, ...]:
        return self.routes if self.succeeded is None else self.succeeded

    def total_summary(self) -> Summary:
        """The run's :func:`summary`: latencies over its successful requests, as the gates."""
        return summary(self.total, aggregate(_gated(self._ok())))

    def route_summaries(self) -> list[Summary]:
        """Each route's :func:`summary`, by route and method."""
        ok = {(r.name, r.method): r for r in self._ok()}
        routes = sorted(self.routes, key=lambda r: (r.name, r.method))
        return [summary(r, ok.get((r.name, r.method))) for r in routes]

    def group_summaries(self) -> list[Summary]:
        """Each dependency's :func:`summary` (:attr:`groups`)."""
        ok = _by_dependency(_gated(self._ok()))
        return [summary(g, ok.get(g.name)) for g in self.groups]

    def select(
        self, route: str | None, method: str | None, dependency: str | None = None, *, succeeded: bool = False
    ) -> RouteStats | None:
        """The requests a gate covers: one route, the routes of one dependency, or all but the
        operational routes; narrowed to one method when given; the successful ones alone with
        ``succeeded`` (all of them when the run did not record those apart). None when no
        request matched."""
        routes = self.succeeded if succeeded and self.succeeded is not None else self.routes
        chosen = [
            r
            for r in (routes if route is not None else _gated(routes))
            if (route is None or r.name == route)
            and (route is not None or dependency is None or ROUTE_DEPENDENCIES.get(r.name) == dependency)
            and (method is None or r.method == method)
        ]
        if not chosen:
            return None
        return aggregate(chosen, name=route or dependency or "Aggregated")


@dataclass(frozen=True)
class GateResult:
    threshold: Threshold
    value: float | None
    passed: bool
    note: str = ""


def _measure(t: Threshold, stats: RouteStats) -> float:
    if t.stat == "percentile":
        return stats.percentile(t.percentile or 0)
    if t.stat == "avg":
        return stats.avg
    if t.stat == "max":
        return stats.max_response_time
    if t.stat == "failure_ratio":
        return stats.failure_ratio
    return stats.rps


def evaluate(thresholds: Iterable[Threshold], run: RunStats) -> tuple[GateResult, ...]:
    """Every gate against the final stats. A gate on a route that got no requests fails: a
    load test that never exercised what the SLO protects proves nothing."""
    out: list[GateResult] = []
    for t in thresholds:
        stats = run.select(t.route, t.method, t.dependency)
        if stats is None or stats.num_requests == 0:
            out.append(GateResult(t, None, False, f"no requests to {t.scope}"))
            continue
        if t.stat in LATENCY_STATS:
            # A latency SLI counts successful requests: a failure's time (how fast a connection
            # failed, or a 503's) is the availability gate's business, not the API's latency.
            if stats.num_failures >= stats.num_requests:
                out.append(GateResult(t, None, False, "not measured: no request succeeded"))
                continue
            ok = run.select(t.route, t.method, t.dependency, succeeded=True)
            if run.succeeded is not None and ok is not None and ok.num_requests:
                note = f"over the {ok.num_requests} successful requests of {stats.num_requests}"
                value = _measure(t, ok)
                out.append(GateResult(t, value, t.holds(value), note if stats.num_failures else ""))
                continue
        value = _measure(t, stats)
        out.append(GateResult(t, value, t.holds(value)))
    return tuple(out)


#: The fewest requests a breakpoint step must have in a gate's scope (its successful requests,
#: for a latency gate) for the step to judge that gate: below 20, one request is more than 5 %
#: of the step's figure (a lone failure is a failure_ratio of 5 % or more; one slow answer
#: moves an average by a twentieth of its time), noise a search must not stop on. A route that
#: few requests reach in a step (provisioning, backups) is judged in the steps that reach it
#: often enough, and over the whole run in the report.
STEP_MIN_REQUESTS = 20

#: How unlikely a step's failures must be, for a service failing at exactly a ``failure_ratio``
#: gate's limit, before the step breaks that gate: a step of 20 requests with one failure
#: measures 5 %, which a service failing 0.1 % of its requests shows in 2 % of such steps, so
#: an SLO's ``failure_ratio <= 0.001`` would otherwise stop a search on its first failure. At
#: one in a thousand, a search of 20 steps and 10 gates stops on chance alone in about one run of
#: five for a service that fails at exactly its limit, and not measurably for one under it.
STEP_FAILURE_ALPHA = 0.001


def failures_beyond_chance(failures: int, requests: int, limit: float) -> float:
    """The chance of at least ``failures`` failed requests of ``requests`` when each fails with
    probability ``limit``: the binomial upper tail, summed from ``failures`` up (the terms fall
    from there, since a step is only asked about when its ratio is above the limit).

    >>> round(failures_beyond_chance(1, 20, 0.001), 4)  # one failure of 20: 5 %, and often
    0.0198
    >>> failures_beyond_chance(2, 20, 0.001) < STEP_FAILURE_ALPHA  # two: beyond chance
    True
    >>> failures_beyond_chance(1, 20, 0.0), failures_beyond_chance(0, 20, 0.5)
    (0.0, 1.0)
    """
    if failures <= 0 or limit >= 1:
        return 1.0
    if limit <= 0:
        return 0.0
    log_p, log_q = math.log(limit), math.log1p(-limit)
    term = math.exp(
        math.lgamma(requests + 1)
        - math.lgamma(failures + 1)
        - math.lgamma(requests - failures + 1)
        + failures * log_p
        + (requests - failures) * log_q
    )
    total = 0.0
    for k in range(failures, requests + 1):  # bounded by the step's requests
        total += term
        if term <= total * 1e-12:
            break
        term *= (requests - k) / (k + 1) * limit / (1 - limit)
    return min(1.0, total)


def step_minimum(threshold: Threshold) -> int:
    """The requests a breakpoint step needs in ``threshold``'s scope to judge it:
    :data:`STEP_MIN_REQUESTS`, and for ``p(N)`` enough that its nearest rank is not the step's
    slowest request (below ``100 / (100 - N)`` requests it is: a p(99) over 99 requests is
    their maximum, however fast the other 98 were).

    >>> from sloctl.loadtest.thresholds import parse_threshold
    >>> [step_minimum(parse_threshold(t)) for t in ("p(99)<300", "p(99.9)<300", "p(95)<300", "avg<50")]
    [100, 1000, 20, 20]
    """
    pct = threshold.percentile
    if threshold.stat == "percentile" and pct is not None and pct < 100:
        # rounded first: 100 / (100 - 99.9) is 1000.0000000000001 in floating point
        return max(STEP_MIN_REQUESTS, math.ceil(round(100 / (100 - pct), 6)))
    return STEP_MIN_REQUESTS


def since(
    after: Sequence[RouteStats], before: Sequence[RouteStats], began: float, ended: float
) -> tuple[RouteStats, ...]:
    """What each route of ``after`` did since ``before`` (two snapshots of the same cumulative
    statistics), from ``began`` to ``ended`` (seconds): counts, time and buckets subtracted.
    The maximum is the slowest bucket of the difference (the whole millisecond at or above the
    slowest response, as the buckets keep it): the cumulative maximum says nothing of a step.

    >>> a = RouteStats("/x", "GET", 3, 1, 30.0, 20.0, ((5, 2), (20, 1)), 0.0, 9.0)
    >>> b = RouteStats("/x", "GET", 1, 0, 5.0, 5.0, ((5, 1),), 0.0, 4.0)
    >>> step = since([a], [b], 5.0, 10.0)[0]
    >>> step.num_requests, step.num_failures, step.avg, step.max_response_time, step.rps
    (2, 1, 12.5, 20.0, 0.4)
    """
    old = {(r.name, r.method): r for r in before}
    out: list[RouteStats] = []
    for r in after:
        b = old.get((r.name, r.method))
        prior = dict(b.response_times) if b is not None else {}
        times = tuple((k, v - prior.get(k, 0)) for k, v in r.response_times if v > prior.get(k, 0))
        n = r.num_requests - (b.num_requests if b is not None else 0)
        if n <= 0:
            continue
        out.append(
            RouteStats(
                name=r.name,
                method=r.method,
                num_requests=n,
                num_failures=r.num_failures - (b.num_failures if b is not None else 0),
                total_response_time=r.total_response_time - (b.total_response_time if b is not None else 0.0),
                max_response_time=float(max((k for k, _ in times), default=0)),
                response_times=times,
                start_time=began,
                last_request_timestamp=ended,
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class StepGate:
    """One gate in one breakpoint step: what it measured (None: not judged, ``note`` says why)
    over how many requests, and whether it held."""

    threshold: Threshold
    value: float | None
    requests: int
    held: bool = True
    note: str = ""

    @property
    def broke(self) -> bool:
        return self.value is not None and not self.held


def judge_step(
    gates: Iterable[Threshold], step: RunStats, alpha: float = STEP_FAILURE_ALPHA
) -> tuple[StepGate, ...]:
    """Every gate over one breakpoint step (``step``: the step's requests, :func:`since`), as
    :func:`evaluate` judges the whole run: the same selection, latency over the successful
    requests. A gate with fewer requests in its scope than :func:`step_minimum` is not judged
    (it holds): too few to tell a slower route from one slow answer. A ``failure_ratio`` above
    its limit breaks the step only if so many failures are less likely than ``alpha`` at the limit
    (:data:`STEP_FAILURE_ALPHA`, ``--breakpoint-alpha``): one failure of 20 requests is not a
    service failing 5 %."""
    out: list[StepGate] = []
    for t in gates:
        counted = step.select(t.route, t.method, t.dependency, succeeded=t.stat in LATENCY_STATS)
        n = counted.num_requests if counted is not None else 0
        least = step_minimum(t)
        if n < least:
            out.append(
                StepGate(t, None, n, note=f"{n} requests to {t.scope}, fewer than {least}: not judged")
            )
            continue
        result = evaluate((t,), step)[0]
        held, note = result.passed or result.value is None, result.note
        if not held and t.stat == "failure_ratio" and counted is not None:
            chance = failures_beyond_chance(counted.num_failures, n, t.limit)
            if chance >= alpha:
                held = True
                failed = counted.num_failures
                note = (
                    f"{failed} failure{'s' if failed > 1 else ''} of {n} requests: above {t.limit:g}, but a"
                    f" service failing at {t.limit:g} shows as many in {chance:.2%} of such steps"
                )
        out.append(StepGate(t, result.value, n, held=held, note=note))
    return tuple(out)
