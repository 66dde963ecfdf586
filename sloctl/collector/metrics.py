"""The collector's Prometheus series, exactly as ``docs/metrics.md`` defines them.

Everything is registered in an injected ``CollectorRegistry`` so that tests and the benchmark
can run several collectors in one process. Every configured target is exported from start-up:
``up`` at 0 and every ``reason`` at 0, so that ``rate()`` and absent-series alerts behave
before the first failure.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Gauge

from sloctl import contract as c
from sloctl.collector.config import Target
from sloctl.collector.probes.base import ProbeReport
from sloctl.contract import Phase, Reason

__all__ = ["CollectorMetrics"]


class CollectorMetrics:
    """The collector's families of :data:`sloctl.contract.COLLECTOR_METRICS`, registered in
    ``registry``."""

    def __init__(self, registry: CollectorRegistry, targets: Iterable[Target]) -> None:
        self.attempts = c.PROBE_ATTEMPTS.counter(registry)
        self.missed = c.PROBE_MISSED.counter(registry)
        self.failures = c.PROBE_FAILURES.counter(registry)
        self.duration = c.PROBE_DURATION.histogram(registry)
        self.up = c.PROBE_UP.gauge(registry)
        self.last_run = c.PROBE_LAST_RUN.gauge(registry)
        self.conn_used = c.PROBE_CONNECTIONS_USED.gauge(registry)
        self.conn_max = c.PROBE_CONNECTIONS_MAX.gauge(registry)
        self.mem_used = c.PROBE_MEMORY_USED.gauge(registry)
        self.mem_max = c.PROBE_MEMORY_MAX.gauge(registry)
        self.role = c.PROBE_ROLE.gauge(registry)
        self.cert_expiry = c.PROBE_CERT_EXPIRY.gauge(registry)
        self.pool_cl_active = c.PGBOUNCER_CLIENT_ACTIVE.gauge(registry)
        self.pool_cl_waiting = c.PGBOUNCER_CLIENT_WAITING.gauge(registry)
        self.pool_sv_active = c.PGBOUNCER_SERVER_ACTIVE.gauge(registry)
        self.pool_sv_idle = c.PGBOUNCER_SERVER_IDLE.gauge(registry)
        self.pool_maxwait = c.PGBOUNCER_MAXWAIT.gauge(registry)
        self.pgb_queries = c.PGBOUNCER_QUERIES.counter(registry)
        self.pgb_query_seconds = c.PGBOUNCER_QUERY_SECONDS.counter(registry)
        self._pgb_last: dict[tuple[str, str], tuple[float, float]] = {}
        #: per target, the (database, user) of the pools exported
        self._pools: dict[str, set[tuple[str, str]]] = {}
        for t in targets:
            labels = (t.name, t.kind.value)
            self.attempts.labels(*labels)
            self.missed.labels(*labels)
            self.up.labels(*labels).set(0)
            for reason in Reason:
                self.failures.labels(*labels, reason.value)

    def observe(
        self, target: Target, connection: str, durations: dict[Phase, float], trace_id: str | None
    ) -> None:
        exemplar = {"trace_id": trace_id} if trace_id else None
        for phase, seconds in durations.items():
            self.duration.labels(target.name, target.kind.value, phase.value, connection).observe(
                seconds, exemplar=exemplar
            )

    def report(self, target: Target, rep: ProbeReport) -> None:
        """A successful run's figures. One the run did not read (Redis without ``maxmemory``, a
        role no longer reported) is removed rather than left at its last value, and so is a
        pool that the console no longer lists."""
        labels = (target.name, target.kind.value)
        for gauge, value in (
            (self.conn_used, rep.connections_used),
            (self.conn_max, rep.connections_max),
            (self.mem_used, rep.memory_used),
            (self.mem_max, rep.memory_max),
            (self.cert_expiry, rep.cert_not_after),
        ):
            if value is not None:
                gauge.labels(*labels).set(value)
            else:
                _remove(gauge, labels)
        for role in c.Role:
            if rep.role is not None:
                self.role.labels(*labels, role.value).set(1 if rep.role == role else 0)
            else:
                _remove(self.role, (*labels, role.value))
        if rep.pools:  # the console answered (its absence never fails a run: keep what it said)
            listed = {(p.database, p.user) for p in rep.pools}
            self._forget_pools(target.name, self._pools.get(target.name, set()) - listed)
            self._pools[target.name] = listed
        for p in rep.pools:
            pl = (target.name, p.database, p.user)
            self.pool_cl_active.labels(*pl).set(p.cl_active)
            self.pool_cl_waiting.labels(*pl).set(p.cl_waiting)
            self.pool_sv_active.labels(*pl).set(p.sv_active)
            self.pool_sv_idle.labels(*pl).set(p.sv_idle)
            self.pool_maxwait.labels(*pl).set(p.maxwait_seconds)
        for s in rep.stats:
            key = (target.name, s.database)
            last_q, last_s = self._pgb_last.get(key, (s.queries_total, s.query_seconds_total))
            # A PgBouncer restart resets its totals: count from the new base, never backwards.
            self.pgb_queries.labels(*key).inc(max(0.0, s.queries_total - last_q))
            self.pgb_query_seconds.labels(*key).inc(max(0.0, s.query_seconds_total - last_s))
            self._pgb_last[key] = (s.queries_total, s.query_seconds_total)

    def forget(self, target: Target) -> None:
        """A failed run: the target's saturation, role, certificate and pool series are removed,
        not left at what the last good run read. A database that is down has no connections in
        use, no role and no pools to show; the old figures, flat on a dashboard beside
        ``up 0``, told otherwise (Prometheus marks the removed series stale at its next scrape,
        and the panels show a gap)."""
        labels = (target.name, target.kind.value)
        for gauge in (self.conn_used, self.conn_max, self.mem_used, self.mem_max, self.cert_expiry):
            _remove(gauge, labels)
        for role in c.Role:
            _remove(self.role, (*labels, role.value))
        self._forget_pools(target.name, self._pools.pop(target.name, set()))

    def _forget_pools(self, target: str, pools: Iterable[tuple[str, str]]) -> None:
        for database, user in pools:
            for gauge in (
                self.pool_cl_active,
                self.pool_cl_waiting,
                self.pool_sv_active,
                self.pool_sv_idle,
                self.pool_maxwait,
            ):
                _remove(gauge, (target, database, user))


def _remove(gauge: Gauge, labels: tuple[str, ...]) -> None:
    """Remove one series of ``gauge`` if it is exported."""
    with contextlib.suppress(KeyError):
        gauge.remove(*labels)
