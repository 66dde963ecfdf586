"""The ``platform_*`` series of docs/metrics.md, in a registry of their own (injectable)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from sloctl import contract as c

from .breaker import State

__all__ = ["PlatformMetrics"]


class PlatformMetrics:
    """The families of :data:`sloctl.contract.API_METRICS`; also the breakers'
    :class:`~testbed.breaker.Listener`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = c.API_REQUESTS.counter(r)
        self.duration = c.API_DURATION.histogram(r)
        self.operations = c.API_OPERATIONS.counter(r)
        self.breaker_state = c.BREAKER_STATE.gauge(r)
        self.breaker_transitions = c.BREAKER_TRANSITIONS.counter(r)
        self.breaker_calls = c.BREAKER_CALLS.counter(r)
        self.pool_size = c.POOL_SIZE.gauge(r)
        self.pool_in_use = c.POOL_IN_USE.gauge(r)
        self.pool_waiting = c.POOL_WAITING.gauge(r)
        self.tier_pool_size = c.TIER_POOL_SIZE.gauge(r)
        self.tier_pool_in_use = c.TIER_POOL_IN_USE.gauge(r)
        self.tier_pool_waiting = c.TIER_POOL_WAITING.gauge(r)
        self.tier_breaker_state = c.TIER_BREAKER_STATE.gauge(r)

    def init_dependency(self, dependency: str) -> None:
        """Export every series of a dependency at 0 from start-up (no absent series)."""
        self.breaker_state.labels(dependency).set(State.CLOSED.value)
        for result in c.BreakerResult:
            self.breaker_calls.labels(dependency, result.value)

    def init_operations(self) -> None:
        for operation in c.Operation:
            for outcome in operation.outcomes:
                self.operations.labels(operation.value, outcome.value)

    # Listener protocol
    def transition(self, dependency: str, old: State, new: State) -> None:
        self.breaker_state.labels(dependency).set(new.value)
        self.breaker_transitions.labels(dependency, old.label, new.label).inc()

    def result(self, dependency: str, result: str) -> None:
        self.breaker_calls.labels(dependency, result).inc()
