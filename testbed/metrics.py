"""The ``platform_*`` series of docs/metrics.md, in a registry of their own (injectable)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .breaker import State

__all__ = ["LATENCY_BUCKETS", "PlatformMetrics"]

#: Every latency threshold an SLO or a gate uses must be a bucket bound, or Prometheus can only
#: interpolate it: 0.2 is the latency SLO's threshold, 0.02 the plan's load-test p95 target.
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PlatformMetrics:
    """Also the breakers' :class:`~testbed.breaker.Listener`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "platform_http_requests",
            "Requests answered.",
            ["route", "method", "code", "dependency"],
            registry=r,
        )
        self.duration = Histogram(
            "platform_http_request_duration_seconds",
            "Request latency.",
            ["route", "method", "dependency"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.operations = Counter(
            "platform_operations", "Long-running operations by outcome.", ["operation", "outcome"], registry=r
        )
        self.breaker_state = Gauge(
            "platform_circuit_breaker_state", "0 closed, 1 half-open, 2 open.", ["dependency"], registry=r
        )
        self.breaker_transitions = Counter(
            "platform_circuit_breaker_transitions",
            "Circuit breaker state changes.",
            ["dependency", "from_state", "to_state"],
            registry=r,
        )
        self.breaker_calls = Counter(
            "platform_circuit_breaker_calls",
            "Calls through a breaker by result.",
            ["dependency", "result"],
            registry=r,
        )
        self.pool_size = Gauge("platform_pool_size", "Connection pool capacity.", ["dependency"], registry=r)
        self.pool_in_use = Gauge(
            "platform_pool_in_use", "Checked-out connections.", ["dependency"], registry=r
        )
        self.pool_waiting = Gauge(
            "platform_pool_waiting", "Callers waiting for a connection.", ["dependency"], registry=r
        )

    def init_dependency(self, dependency: str) -> None:
        """Export every series of a dependency at 0 from start-up (no absent series)."""
        self.breaker_state.labels(dependency).set(State.CLOSED.value)
        for result in ("success", "failure", "timeout", "rejected"):
            self.breaker_calls.labels(dependency, result)

    def init_operations(self) -> None:
        for operation in ("provision_database", "backup"):
            for outcome in ("success", "failure"):
                self.operations.labels(operation, outcome)

    # Listener protocol
    def transition(self, dependency: str, old: State, new: State) -> None:
        self.breaker_state.labels(dependency).set(new.value)
        self.breaker_transitions.labels(dependency, old.label, new.label).inc()

    def result(self, dependency: str, result: str) -> None:
        self.breaker_calls.labels(dependency, result).inc()
