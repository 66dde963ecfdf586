"""The collector's Prometheus series, exactly as ``docs/metrics.md`` defines them.

Everything is registered in an injected ``CollectorRegistry`` so that tests and the benchmark
can run several collectors in one process. Every configured target is exported from start-up:
``up`` at 0 and every ``reason`` at 0, so that ``rate()`` and absent-series alerts behave
before the first failure.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sloctl import naming
from sloctl.collector.config import Target
from sloctl.collector.probes.base import ProbeReport
from sloctl.collector.reasons import Phase, Reason

__all__ = ["DURATION_BUCKETS", "METRIC_NAMES", "CollectorMetrics"]

# Probe latencies run from sub-millisecond (warm Redis PING on loopback) to the deadline.
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

METRIC_NAMES = (
    naming.PROBE_ATTEMPTS,
    naming.PROBE_FAILURES,
    naming.PROBE_DURATION,
    naming.PROBE_UP,
    "sloctl_probe_last_run_timestamp_seconds",
    "sloctl_probe_connections_used",
    "sloctl_probe_connections_max",
    "sloctl_probe_memory_used_bytes",
    "sloctl_probe_memory_max_bytes",
    "sloctl_probe_role",
    "sloctl_probe_tls_cert_expiry_timestamp_seconds",
    "sloctl_pgbouncer_pool_client_active",
    "sloctl_pgbouncer_pool_client_waiting",
    "sloctl_pgbouncer_pool_server_active",
    "sloctl_pgbouncer_pool_server_idle",
    "sloctl_pgbouncer_pool_maxwait_seconds",
    "sloctl_pgbouncer_queries_total",
    "sloctl_pgbouncer_query_seconds_total",
)

_TK = ("target", "kind")


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry, targets: Iterable[Target]) -> None:
        # prometheus_client appends _total to counters itself: pass the bare name.
        self.attempts = Counter(
            naming.PROBE_ATTEMPTS.removesuffix("_total"), "Probe runs started.", _TK, registry=registry
        )
        self.failures = Counter(
            naming.PROBE_FAILURES.removesuffix("_total"),
            "Probe runs that failed, by reason.",
            (*_TK, "reason"),
            registry=registry,
        )
        self.duration = Histogram(
            naming.PROBE_DURATION,
            "Duration of each phase of a probe run; exemplars carry the run's trace_id.",
            (*_TK, "phase", "connection"),
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.up = Gauge(
            naming.PROBE_UP, "1 when the last run succeeded, 0 otherwise.", _TK, registry=registry
        )
        self.last_run = Gauge(
            "sloctl_probe_last_run_timestamp_seconds",
            "End of the last run (Unix time).",
            _TK,
            registry=registry,
        )
        self.conn_used = Gauge(
            "sloctl_probe_connections_used", "Server connections in use.", _TK, registry=registry
        )
        self.conn_max = Gauge(
            "sloctl_probe_connections_max", "Server connection limit.", _TK, registry=registry
        )
        self.mem_used = Gauge("sloctl_probe_memory_used_bytes", "Server memory used.", _TK, registry=registry)
        self.mem_max = Gauge("sloctl_probe_memory_max_bytes", "Server memory limit.", _TK, registry=registry)
        self.role = Gauge(
            "sloctl_probe_role", "1 for the server's current role.", (*_TK, "role"), registry=registry
        )
        self.cert_expiry = Gauge(
            "sloctl_probe_tls_cert_expiry_timestamp_seconds",
            "notAfter of the peer certificate.",
            _TK,
            registry=registry,
        )
        pool = ("target", "database", "user")
        self.pool_cl_active = Gauge(
            "sloctl_pgbouncer_pool_client_active", "SHOW POOLS cl_active.", pool, registry=registry
        )
        self.pool_cl_waiting = Gauge(
            "sloctl_pgbouncer_pool_client_waiting", "SHOW POOLS cl_waiting.", pool, registry=registry
        )
        self.pool_sv_active = Gauge(
            "sloctl_pgbouncer_pool_server_active", "SHOW POOLS sv_active.", pool, registry=registry
        )
        self.pool_sv_idle = Gauge(
            "sloctl_pgbouncer_pool_server_idle", "SHOW POOLS sv_idle.", pool, registry=registry
        )
        self.pool_maxwait = Gauge(
            "sloctl_pgbouncer_pool_maxwait_seconds",
            "SHOW POOLS maxwait + maxwait_us.",
            pool,
            registry=registry,
        )
        # SHOW STATS totals are the pooler's own counters: mirrored as gauges set to their value
        # would break the _total convention, so they are exported as counters advanced by deltas.
        self.pgb_queries = Counter(
            "sloctl_pgbouncer_queries",
            "SHOW STATS total_query_count.",
            ("target", "database"),
            registry=registry,
        )
        self.pgb_query_seconds = Counter(
            "sloctl_pgbouncer_query_seconds",
            "SHOW STATS total_query_time.",
            ("target", "database"),
            registry=registry,
        )
        self._pgb_last: dict[tuple[str, str], tuple[float, float]] = {}
        for t in targets:
            labels = (t.name, t.kind.value)
            self.attempts.labels(*labels)
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
        if rep.role is not None:
            for role in ("primary", "replica"):
                self.role.labels(*labels, role).set(1 if rep.role == role else 0)
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
