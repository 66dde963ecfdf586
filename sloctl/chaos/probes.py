"""Chaos Toolkit probes: breaker state and pool saturation from the platform API's
``/metrics``, route latency percentiles measured by real requests, and SLO burn rate and
budget consumed read from Prometheus through the generated recording rules.

All of them take an optional ``transport`` (an ``httpx`` transport) so tests can run without a
network; real targets must be on loopback.
"""

from __future__ import annotations

import math
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from chaoslib.exceptions import ActivityFailed

from sloctl import naming

from .proxy import check_allowed

__all__ = [
    "BREAKER_STATES",
    "alert_firing",
    "breaker_state",
    "budget_consumed",
    "pool_saturation",
    "prometheus_query",
    "route_latency",
    "slo_burn_rate",
    "wait_for_breaker",
]

#: ``platform_circuit_breaker_state`` values (docs/metrics.md).
BREAKER_STATES = {0: "closed", 1: "half-open", 2: "open"}


def _client(url: str, transport: httpx.BaseTransport | None, timeout: float = 5.0) -> httpx.Client:
    if transport is None:
        check_allowed(urlsplit(url).hostname or "127.0.0.1")
    return httpx.Client(transport=transport, timeout=timeout)


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The Prometheus text format, samples only: ``{(name, labels): value}``."""
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, brace, rest = head.partition("{")
        labels: list[tuple[str, str]] = []
        if brace:
            body = rest.rsplit("}", 1)[0]
            for part in _split_labels(body):
                key, _, raw = part.partition("=")
                labels.append((key.strip(), raw.strip().strip('"')))
        try:
            samples[(name.strip(), frozenset(labels))] = float(value)
        except ValueError:
            continue
    return samples


def _split_labels(body: str) -> list[str]:
    parts: list[str] = []
    current = ""
    quoted = False
    for char in body:
        if char == '"' and not current.endswith("\\"):
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


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
    """``closed``, ``half-open`` or ``open``."""
    value = _metric(_scrape(metrics_url, transport), "platform_circuit_breaker_state", dependency=dependency)
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
    size = _metric(samples, "platform_pool_size", dependency=dependency)
    in_use = _metric(samples, "platform_pool_in_use", dependency=dependency)
    waiting = _metric(samples, "platform_pool_waiting", dependency=dependency)
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
        "p50_ms": _percentile(durations, 50),
        "p95_ms": _percentile(durations, 95),
        "max_ms": max(durations),
        "codes": codes,
        "errors": sum(n for c, n in codes.items() if c == "error" or c.startswith("5")),
        "fast_fail_p50_ms": _percentile(rejected, 50) if rejected else None,
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return round(ordered[index], 3)


def prometheus_query(prometheus_url: str, query: str, transport: httpx.BaseTransport | None = None) -> float:
    """The value of an instant query that returns one sample (NaN when it returns none)."""
    with _client(prometheus_url, transport) as client:
        response = client.get(f"{prometheus_url.rstrip('/')}/api/v1/query", params={"query": query})
        response.raise_for_status()
        body = response.json()
    if body.get("status") != "success":
        raise ActivityFailed(f"Prometheus query failed: {body.get('error')}")
    result = body["data"]["result"]
    if not result:
        return math.nan
    return float(result[0]["value"][1])


def _selector(service: str, slo: str) -> str:
    return f'{{{naming.LABEL_SERVICE}="{service}", {naming.LABEL_SLO}="{slo}"}}'


def slo_burn_rate(
    prometheus_url: str, service: str, slo: str, transport: httpx.BaseTransport | None = None
) -> float:
    """The current burn rate, from the generated ``sloctl:current_burn_rate:ratio``."""
    return prometheus_query(prometheus_url, naming.CURRENT_BURN_RATE + _selector(service, slo), transport)


def budget_consumed(
    prometheus_url: str, service: str, slo: str, transport: httpx.BaseTransport | None = None
) -> float:
    """Percent of the period's error budget consumed so far, from the generated
    ``sloctl:period_error_budget_remaining:ratio``; a game day reports the difference between
    its end and its start."""
    remaining = prometheus_query(prometheus_url, naming.BUDGET_REMAINING + _selector(service, slo), transport)
    return round(100 * (1 - remaining), 6)


def alert_firing(
    prometheus_url: str, alertname: str, severity: str = "page", transport: httpx.BaseTransport | None = None
) -> bool:
    """Whether ``alertname`` fires with ``severity`` (Prometheus' ``ALERTS`` series)."""
    query = f'count(ALERTS{{alertname="{alertname}", alertstate="firing", severity="{severity}"}})'
    value = prometheus_query(prometheus_url, query, transport)
    return not math.isnan(value) and value > 0
