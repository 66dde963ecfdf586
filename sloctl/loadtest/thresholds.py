"""Load-test gates: derived from SLOs, or written k6-style on the command line.

Pure: no Locust, no files. A gate reads the final statistics of a run (:mod:`.results`).

From an SLO:

- a **latency** SLI (histogram, threshold, objective) becomes ``p(objective) <= threshold``:
  "objective % of requests at or under the threshold" is exactly what the SLI counts as good
  (``le`` buckets are inclusive);
- an **availability** SLI over ``platform_http_requests_total`` (events, ratio or raw) becomes
  ``failure_ratio <= 1 - objective``; failures are what the SLI counts as errors (5xx and no
  answer), so a 429 is not one;
- an SLI over ``platform_operations_total`` becomes the same gate on the route that runs the
  operation (``provision_database`` → ``POST /v1/projects``, ``backup`` → its backups route).

Gates are per route when the SLO's selector names one (``route="/v1/projects"``, with
``method`` if given), per dependency when it names a ``dependency`` (the routes backed by that
database, from docs/metrics.md), otherwise over all requests. Probe SLIs and other metrics cannot be
measured by a load test; they are listed as skipped, with the reason.

>>> parse_threshold("p(95)<200").describe()
'p(95) < 200 ms (all requests)'
>>> parse_threshold("GET /v1/projects:failure_ratio<=0.001").describe()
'failure_ratio <= 0.001 (GET /v1/projects)'
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sloctl import contract
from sloctl.model import SLO, CompositeSLI, EventsSLI, LatencySLI, ProbeSLI, RatioSLI, RawSLI

__all__ = [
    "OPERATION_ROUTES",
    "Op",
    "Skipped",
    "Stat",
    "Threshold",
    "ThresholdError",
    "parse_threshold",
    "thresholds_from_slos",
    "unknown_route",
]

Op = Literal["<", "<=", ">", ">="]
Stat = Literal["percentile", "avg", "max", "failure_ratio", "rps"]
#: the stats that read response times (milliseconds)
LATENCY_STATS: tuple[Stat, ...] = ("percentile", "avg", "max")

REQUESTS_METRIC = contract.API_REQUESTS.name
OPERATIONS_METRIC = contract.API_OPERATIONS.name
#: platform_operations_total{operation=...} -> (method, route) that performs it
OPERATION_ROUTES = contract.OPERATION_ROUTES
#: route template -> dependency (the contract's route table, which the testbed serves)
ROUTE_DEPENDENCIES = contract.ROUTE_DEPENDENCY
_UNITS = {"percentile": "ms", "avg": "ms", "max": "ms", "failure_ratio": "", "rps": "/s"}


class ThresholdError(ValueError):
    """A threshold expression that cannot be parsed; the message says what is expected."""


@dataclass(frozen=True)
class Threshold:
    """``stat op limit`` over the requests of one route (or all). Latencies in milliseconds."""

    stat: Stat
    op: Op
    limit: float
    percentile: float | None = None
    route: str | None = None
    method: str | None = None
    source: str = "command line"
    #: the routes backed by this dependency (when ``route`` is None)
    dependency: str | None = None

    @property
    def expression(self) -> str:
        name = f"p({self.percentile or 0:g})" if self.stat == "percentile" else self.stat
        return f"{name} {self.op} {self.limit:g}"

    @property
    def scope(self) -> str:
        if self.route is None:
            base = f"{self.dependency} routes" if self.dependency else "all requests"
            return f"{self.method} {base}" if self.method else base
        return f"{self.method} {self.route}" if self.method else self.route

    def describe(self) -> str:
        unit = _UNITS[self.stat]
        return f"{self.expression}{' ' + unit if unit == 'ms' else unit} ({self.scope})"

    def holds(self, value: float) -> bool:
        return {
            "<": value < self.limit,
            "<=": value <= self.limit,
            ">": value > self.limit,
            ">=": value >= self.limit,
        }[self.op]


@dataclass(frozen=True)
class Skipped:
    """An SLO that yields no gate, and why."""

    slo: str
    reason: str


_EXPR = re.compile(
    r"""^\s*(?:(?P<method>[A-Z]+)\s+)?(?:(?P<route>/\S*?)\s*:\s*)?
    (?P<stat>p\(\s*(?P<pct>\d+(?:\.\d+)?)\s*\)|avg|max|failure_ratio|http_req_failed|rps)
    \s*(?P<op><=|>=|<|>)\s*(?P<limit>\d+(?:\.\d+)?)\s*(?P<unit>ms|s)?\s*$""",
    re.VERBOSE,
)


def parse_threshold(text: str) -> Threshold:
    """Parse ``[METHOD ][ROUTE:]STAT OP NUMBER``, k6's style.

    STAT is ``p(N)``, ``avg`` or ``max`` (milliseconds; ``s`` suffix allowed), ``failure_ratio``
    (``http_req_failed`` is accepted as k6's name for it) or ``rps``.
    """
    m = _EXPR.match(text)
    if not m:
        raise ThresholdError(
            f"cannot parse threshold {text!r}; expected e.g. 'p(95)<200', 'avg<=50ms', "
            "'failure_ratio<0.001', 'rps>100' or 'GET /v1/projects:p(99)<500'"
        )
    raw = m.group("stat")
    stat: Stat
    percentile = None
    if raw.startswith("p("):
        stat, percentile = "percentile", float(m.group("pct"))
        if not 0 < percentile <= 100:
            raise ThresholdError(f"percentile must be in (0, 100], not {percentile:g} in {text!r}")
    elif raw == "http_req_failed":
        stat = "failure_ratio"
    else:
        stat = raw  # type: ignore[assignment]
    limit = float(m.group("limit"))
    unit = m.group("unit")
    if unit and stat not in ("percentile", "avg", "max"):
        raise ThresholdError(f"{raw} takes no unit (in {text!r})")
    if unit == "s":
        limit *= 1000
    if stat == "failure_ratio" and limit > 1:
        raise ThresholdError(f"failure_ratio is a ratio between 0 and 1, not {limit:g} (in {text!r})")
    op: Op = m.group("op")  # type: ignore[assignment]
    return Threshold(stat, op, limit, percentile, m.group("route"), m.group("method"))


_ROUTE = re.compile(r'\broute\s*=\s*"([^"]*)"')
_METHOD = re.compile(r'\bmethod\s*=\s*"([^"]*)"')
_DEPENDENCY = re.compile(r'\bdependency\s*=\s*"([^"]*)"')
_OPERATION = re.compile(r'\boperation\s*=\s*"([^"]*)"')


def _availability_queries(slo: SLO) -> list[str]:
    sli = slo.sli
    if isinstance(sli, EventsSLI):
        return [sli.total_query, sli.error_query]
    if isinstance(sli, RatioSLI):
        return [sli.total_query, sli.good_query]
    if isinstance(sli, RawSLI):
        return [sli.error_ratio_query]
    return []


def _from_slo(slo: SLO) -> Threshold | Skipped:
    source = f"SLO {slo.id}"
    sli = slo.sli
    if isinstance(sli, LatencySLI):
        if not sli.histogram.startswith(contract.API_DURATION.name):
            return Skipped(slo.id, f"latency of {sli.histogram} is not measured by HTTP load")
        matchers = dict(sli.matchers)
        # A timeslice SLO promises its percentile in each slice (p95 < 200 ms in 99.5 % of 5m
        # slices): a load test of a few minutes is a handful of slices, each held to that p95.
        percentile = slo.timeslices.target if slo.timeslices is not None else slo.objective
        return Threshold(
            "percentile",
            "<=",
            round(sli.threshold_seconds * 1000, 6),
            percentile=percentile,
            route=matchers.get("route"),
            method=matchers.get("method"),
            source=source,
            dependency=matchers.get("dependency"),
        )
    if isinstance(sli, ProbeSLI):
        return Skipped(slo.id, "probe SLIs measure the collector's probes, not load")
    if isinstance(sli, CompositeSLI):
        return Skipped(slo.id, "a composite is gated through its components' gates")
    queries = _availability_queries(slo)
    text = " ".join(queries)
    budget = round(slo.error_budget, 10)
    if REQUESTS_METRIC in text:
        route = next((m.group(1) for q in queries if (m := _ROUTE.search(q))), None)
        method = next((m.group(1) for q in queries if (m := _METHOD.search(q))), None)
        dependency = next((m.group(1) for q in queries if (m := _DEPENDENCY.search(q))), None)
        return Threshold(
            "failure_ratio", "<=", budget, route=route, method=method, source=source, dependency=dependency
        )
    if OPERATIONS_METRIC in text:
        operation = next((m.group(1) for q in queries if (m := _OPERATION.search(q))), None)
        if operation not in OPERATION_ROUTES:
            return Skipped(slo.id, f"operation {operation!r} is not run by any route")
        method, route = OPERATION_ROUTES[operation]
        return Threshold("failure_ratio", "<=", budget, route=route, method=method, source=source)
    return Skipped(slo.id, "its queries read no platform_http_* or platform_operations_* series")


def thresholds_from_slos(slos: Iterable[SLO]) -> tuple[tuple[Threshold, ...], tuple[Skipped, ...]]:
    """Gates for every SLO a load test can measure, and the SLOs it cannot."""
    gates: list[Threshold] = []
    skipped: list[Skipped] = []
    for slo in slos:
        result = _from_slo(slo)
        if isinstance(result, Threshold):
            gates.append(result)
        else:
            skipped.append(result)
    return tuple(gates), tuple(skipped)


def unknown_route(threshold: Threshold) -> str | None:
    """Why ``threshold`` names a route (and method) the platform API does not serve, with the
    nearest one it does; None when it serves it, or when the gate names no route. Against the
    bundled scenarios (which request the API's routes alone) such a gate could only fail, after
    the whole run.

    >>> unknown_route(parse_threshold("/v1/project:p(99)<300"))
    'no request to /v1/project; did you mean /v1/projects?'
    >>> unknown_route(parse_threshold("GET /v1/projects:p(99)<300")) is None
    True
    """
    if threshold.route is None:
        return None
    served = [f"{r.method} {r.path}" if threshold.method else r.path for r in contract.ROUTES]
    wanted = threshold.scope
    if wanted in served:
        return None
    nearest = difflib.get_close_matches(wanted, served, n=1)
    routes = ", ".join(dict.fromkeys(served))
    hint = f"did you mean {nearest[0]}?" if nearest else f"the API's routes: {routes}"
    return f"no request to {wanted}; {hint}"
