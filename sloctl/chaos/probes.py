"""Chaos Toolkit probes: breaker state and pool saturation from the platform API's
``/metrics``, route latency percentiles measured by real requests, and SLO burn rate and
budget consumed read from Prometheus through the generated recording rules.

All of them take an optional ``transport`` (an ``httpx`` transport) so tests can run without a
network; real targets must be on loopback, reached through the egress guard
(:mod:`sloctl.egress`: checked address, no redirect, no ``*_proxy`` variable).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from chaoslib.exceptions import ActivityFailed

from sloctl import contract, naming
from sloctl.durations import format_duration
from sloctl.egress import Egress
from sloctl.model import WINDOW_PLACEHOLDER, nearest_rank
from sloctl.prometheus import NotServed, Prometheus, PrometheusError, scalar
from sloctl.render import promql

__all__ = [
    "BREAKER_STATES",
    "DEFAULT_EVALUATION_SECONDS",
    "alert_fired_at",
    "alert_firing",
    "alert_rules",
    "breaker_state",
    "budget_consumed",
    "budget_consumed_since",
    "page_evaluation_interval",
    "pool_saturation",
    "prometheus_query",
    "prometheus_range",
    "prometheus_token",
    "prometheus_token_of_run",
    "route_latency",
    "slo_burn_rate",
    "wait_for_breaker",
]

#: ``platform_circuit_breaker_state`` values and the one spelling of each state
BREAKER_STATES = {state.value: state.label for state in contract.BreakerState}


#: Game-day probes and load reach loopback only; there is no flag to widen it.
GAMEDAY = Egress(action="probe")


def _client(url: str, transport: httpx.BaseTransport | None, timeout: float = 5.0) -> httpx.Client:
    """A client for ``url``: guarded, or on ``transport`` (tests). The URL is checked now, so
    that a bad one fails before a background load starts."""
    if transport is not None:
        return httpx.Client(transport=transport, timeout=timeout)
    GAMEDAY.check_url(url, flag="the game-day configuration", example="http://127.0.0.1:8000")
    return GAMEDAY.http_client(timeout=timeout)


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The Prometheus text format, samples only: ``{(name, labels): value}``, read by
    ``prometheus_client``'s own parser (escaped label values included)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        return {
            (sample.name, frozenset(sample.labels.items())): float(sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
    except ValueError as exc:
        raise ActivityFailed(f"the metrics page is not in the Prometheus text format: {exc}") from None


def _metric(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    want = set(labels.items())
    for (sample, sample_labels), value in samples.items():
        if sample == name and want <= sample_labels:
            return value
    raise ActivityFailed(f"metric {name}{labels} not found")


def _scrape(metrics_url: str, transport: httpx.BaseTransport | None) -> dict[Any, float]:
    with _client(metrics_url, transport) as client:
        response = client.get(metrics_url)
        response.raise_for_status()
        return parse_metrics(response.text)


def breaker_state(metrics_url: str, dependency: str, transport: httpx.BaseTransport | None = None) -> str:
    """``closed``, ``half_open`` or ``open``."""
    value = _metric(_scrape(metrics_url, transport), contract.BREAKER_STATE.name, dependency=dependency)
    return BREAKER_STATES.get(int(value), "unknown")


def wait_for_breaker(
    metrics_url: str,
    dependency: str,
    state: str = "open",
    timeout: float = 20.0,
    interval: float = 0.2,
    transport: httpx.BaseTransport | None = None,
) -> float:
    """Seconds until the breaker reaches ``state``; fails after ``timeout`` (120 s at most):
    "the breaker opens within N seconds" and "recovers after its reset time"."""
    started = time.monotonic()
    deadline = started + min(float(timeout), 120.0)
    last = "unknown"
    while time.monotonic() < deadline:
        last = breaker_state(metrics_url, dependency, transport)
        if last == state:
            return round(time.monotonic() - started, 3)
        time.sleep(interval)
    raise ActivityFailed(f"breaker {dependency} is {last}, not {state}, after {timeout} s")


def pool_saturation(
    metrics_url: str, dependency: str, transport: httpx.BaseTransport | None = None
) -> dict[str, float]:
    """``in_use / size`` and ``waiting`` of a dependency's pool; ``exhausted`` when callers wait."""
    samples = _scrape(metrics_url, transport)
    size = _metric(samples, contract.POOL_SIZE.name, dependency=dependency)
    in_use = _metric(samples, contract.POOL_IN_USE.name, dependency=dependency)
    waiting = _metric(samples, contract.POOL_WAITING.name, dependency=dependency)
    return {
        "size": size,
        "in_use": in_use,
        "waiting": waiting,
        "saturation": in_use / size if size else math.inf,
        "exhausted": float(waiting > 0),
    }


def route_latency(
    url: str,
    method: str = "GET",
    requests: int = 20,
    timeout: float = 5.0,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Send ``requests`` requests (200 at most) one after another; percentiles in ms of all of
    them, the status codes, and the median of the 503 ``circuit-open`` answers (fast-fail)."""
    count = max(1, min(int(requests), 200))
    durations: list[float] = []
    rejected: list[float] = []
    codes: dict[str, int] = {}
    with _client(url, transport, timeout=timeout) as client:
        for _ in range(count):
            started = time.perf_counter()
            try:
                response = client.request(method, url)
                code = str(response.status_code)
                problem = response.headers.get("content-type", "").startswith("application/problem")
                if problem and response.json().get("type", "").endswith("/circuit-open"):
                    rejected.append((time.perf_counter() - started) * 1000)
            except httpx.HTTPError:
                code = "error"
            durations.append((time.perf_counter() - started) * 1000)
            codes[code] = codes.get(code, 0) + 1
    return {
        "p50_ms": percentile(durations, 50),
        "p95_ms": percentile(durations, 95),
        "max_ms": max(durations),
        "codes": codes,
        "errors": sum(n for c, n in codes.items() if c == "error" or c.startswith("5")),
        "fast_fail_p50_ms": percentile(rejected, 50),
    }


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (nearest rank) of ``values``, in their unit to 3 decimals."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[nearest_rank(len(ordered), q) - 1], 3)


class _RunToken:
    """The bearer token of the game day running (``gameday run --prometheus-token-file``).
    Chaos Toolkit calls the probes with the experiment's arguments alone, and those land in the
    journal: the token is the run's, set around it by :func:`prometheus_token_of_run`, read by
    every Prometheus read of the run (the probes', the sloctl control's watcher thread's, the
    budget gate's), never written anywhere."""

    lock = threading.Lock()
    value: str | None = None


@contextmanager
def prometheus_token_of_run(token: str | None) -> Iterator[None]:
    """``token`` sent to Prometheus by every read of the game day run inside the block."""
    with _RunToken.lock:
        before, _RunToken.value = _RunToken.value, token
    try:
        yield
    finally:
        with _RunToken.lock:
            _RunToken.value = before


def prometheus_token() -> str | None:
    """The bearer token of the game day running (None: none given)."""
    return _RunToken.value


@contextmanager
def _prometheus(prometheus_url: str, transport: httpx.BaseTransport | None) -> Iterator[Prometheus]:
    """The game day's client of ``prometheus_url`` (with the run's bearer token); a failed
    query fails the activity."""
    try:
        flag = "the game-day configuration"
        with Prometheus(
            prometheus_url,
            egress=GAMEDAY,
            transport=transport,
            timeout=5.0,
            flag=flag,
            token=prometheus_token(),
        ) as prom:
            yield prom
    except PrometheusError as exc:
        raise ActivityFailed(f"Prometheus query failed: {exc}") from None


def prometheus_query(
    prometheus_url: str, query: str, at: float | None = None, transport: httpx.BaseTransport | None = None
) -> float:
    """The value of an instant query that returns one sample (NaN when it returns none), now or
    ``at`` (epoch seconds)."""
    with _prometheus(prometheus_url, transport) as prom:
        return scalar(prom.query(query, at))


def prometheus_labels(
    prometheus_url: str, query: str, transport: httpx.BaseTransport | None = None
) -> list[dict[str, str]]:
    """The label sets of an instant query's series, now."""
    with _prometheus(prometheus_url, transport) as prom:
        return [dict(series.get("metric", {})) for series in prom.query(query)]


def alert_rules(prometheus_url: str, transport: httpx.BaseTransport | None = None) -> set[str]:
    """The names of the alerting rules Prometheus evaluates."""
    with _prometheus(prometheus_url, transport) as prom:
        return {str(rule.get("name")) for group in prom.rules("alert") for rule in group.get("rules", [])}


#: Prometheus' default ``evaluation_interval``, for an engine that serves no rules API
DEFAULT_EVALUATION_SECONDS = 60.0


def page_evaluation_interval(prometheus_url: str, transport: httpx.BaseTransport | None = None) -> float:
    """The longest evaluation interval (seconds) of the rule groups that hold a page alert (0:
    none); Prometheus' default, a minute, where no rules API answers (Mimir without its ruler)."""
    with _prometheus(prometheus_url, transport) as prom:
        try:
            groups = prom.rules("alert")
        except NotServed:
            return DEFAULT_EVALUATION_SECONDS
    return max(
        (
            float(group.get("interval") or 0)
            for group in groups
            if any((rule.get("labels") or {}).get("severity") == "page" for rule in group.get("rules", []))
        ),
        default=0.0,
    )


def prometheus_range(
    prometheus_url: str,
    query: str,
    start: float,
    end: float,
    step: float = 1.0,
    transport: httpx.BaseTransport | None = None,
) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
    """A range query: ``[(labels, [(epoch seconds, value), …]), …]`` (11,000 points at most,
    Prometheus' own limit, so ``step`` grows with long ranges)."""
    step = max(float(step), (end - start) / 10_000, 0.001)
    with _prometheus(prometheus_url, transport) as prom:
        result = prom.query_range(query, start, end, step)
    return [
        (dict(series.get("metric", {})), [(float(t), float(v)) for t, v in series.get("values", [])])
        for series in result
    ]


def _selector(service: str, slo: str) -> str:
    return promql.matchers({naming.LABEL_SERVICE: service, naming.LABEL_SLO: slo})


def slo_burn_rate(
    prometheus_url: str, service: str, slo: str, transport: httpx.BaseTransport | None = None
) -> float:
    """The current burn rate, from the generated ``sloctl:current_burn_rate:ratio``."""
    return prometheus_query(
        prometheus_url, naming.CURRENT_BURN_RATE + _selector(service, slo), transport=transport
    )


def budget_consumed(
    prometheus_url: str, service: str, slo: str, transport: httpx.BaseTransport | None = None
) -> float:
    """Percent of the period's error budget consumed so far, from the generated
    ``sloctl:period_error_budget_remaining:ratio`` (what a game day spent itself:
    :func:`budget_consumed_since`)."""
    remaining = prometheus_query(
        prometheus_url, naming.BUDGET_REMAINING + _selector(service, slo), transport=transport
    )
    return round(100 * (1 - remaining), 6)


def budget_consumed_since(
    prometheus_url: str,
    service: str,
    slo: str,
    error_query: str,
    total_query: str,
    since: float,
    now: float | None = None,
    transport: httpx.BaseTransport | None = None,
) -> float:
    """Percent of the period's error budget spent since ``since`` (epoch seconds): the burn
    rate over the run times its length over the period, ``ratio / budget × D / period``, with
    the run's error ratio from the SLO's own queries at ``D`` and the budget and period from the
    generated recordings (``sloctl:error_budget:ratio``, ``sloctl:period:seconds``). It does
    not depend on how much history Prometheus holds (a difference of
    ``sloctl:period_error_budget_remaining:ratio`` would). NaN (not measured) while the run is
    shorter than two scrapes or its SLI saw no event: no event is nothing known, not an
    untouched budget."""
    now = time.time() if now is None else now
    window = max(1, math.ceil(now - since))
    selector = _selector(service, slo)
    period = prometheus_query(prometheus_url, naming.PERIOD_SECONDS + selector, now, transport)
    budget = prometheus_query(prometheus_url, naming.ERROR_BUDGET + selector, now, transport)
    if math.isnan(period) or math.isnan(budget) or budget <= 0:
        raise ActivityFailed(f"no generated recording rules for {service}/{slo} in Prometheus")
    at = format_duration(window)
    errors = prometheus_query(prometheus_url, error_query.replace(WINDOW_PLACEHOLDER, at), now, transport)
    events = prometheus_query(prometheus_url, total_query.replace(WINDOW_PLACEHOLDER, at), now, transport)
    if math.isnan(errors) or math.isnan(events) or events <= 0:
        return math.nan
    return round(100 * (errors / events) / budget * window / period, 6)


def alert_fired_at(
    prometheus_url: str,
    alertname: str,
    start: float,
    end: float,
    severity: str = "page",
    step: float = 1.0,
    transport: httpx.BaseTransport | None = None,
) -> float | None:
    """The first moment (epoch seconds, to ``step``) in ``[start, end]`` at which ``alertname``
    was firing with ``severity``, from Prometheus' ``ALERTS`` series; None when it never was."""
    query = f"max({promql.selector('ALERTS', alertname=alertname, alertstate='firing', severity=severity)})"
    series = prometheus_range(prometheus_url, query, start, end, step, transport)
    moments = [moment for _, points in series for moment, _ in points]
    return min(moments) if moments else None


def alert_firing(
    prometheus_url: str, alertname: str, severity: str = "page", transport: httpx.BaseTransport | None = None
) -> bool:
    """Whether ``alertname`` fires with ``severity`` (Prometheus' ``ALERTS`` series)."""
    query = f"count({promql.selector('ALERTS', alertname=alertname, alertstate='firing', severity=severity)})"
    value = prometheus_query(prometheus_url, query, transport=transport)
    return not math.isnan(value) and value > 0
