"""Synthetic series for every metric of docs/metrics.md: as OpenMetrics text for
``promtool tsdb create-blocks-from openmetrics`` (timestamps in seconds, ending with ``# EOF``),
and the same samples as ``Sample`` rows for VictoriaMetrics' import API.

The platform API has an incident in its last hour (20 % of ``GET /v1/projects`` answer 503), so
that page alerts fire and the "firing alerts" panels have something to show.
"""

from __future__ import annotations

from sloctl import contract
from sloctl.backtest.series import Sample

STEP = 30
API_BUCKETS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.2", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf")
PROBE_BUCKETS = ("0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf")
TARGETS = (
    ("pg-main", "postgres"),
    ("pgb-main", "pgbouncer"),
    ("redis-main", "redis"),
    ("mongo-main", "mongodb"),
    ("api", "http"),
)


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


class _Writer:
    def __init__(self, start: int, end: int) -> None:
        self.times = list(range(start, end + 1, STEP))
        self.start = start
        self.points: list[tuple[str, str, float, int]] = []
        """Each sample's name, labels, value and time."""
        self.families: list[tuple[str, str, int]] = []
        """Each family's name, type and the index of its first sample."""

    def family(self, name: str, kind: str) -> None:
        assert name not in {f[0] for f in self.families}, name
        self.families.append((name, kind, len(self.points)))

    def series(self, name: str, labels: str, value_at: object) -> None:
        fn = value_at  # a callable of the seconds since start
        for t in self.times:
            v = fn(t - self.start)  # type: ignore[operator]
            # As the text writes it (six significant digits), so both forms hold the same values.
            self.points.append((name, labels, float(f"{v:.6g}"), t))

    def counter(
        self, name: str, labels: str, per_second: float, incident: float = 0.0, since: int = 0
    ) -> None:
        def value(s: int) -> float:
            return per_second * s + incident * max(0, s - since)

        self.series(name, labels, value)

    def gauge(self, name: str, labels: str, value: float) -> None:
        self.series(name, labels, lambda _s: value)

    def text(self) -> str:
        lines: list[str] = []
        ends = [first for _, _, first in self.families[1:]] + [len(self.points)]
        for (name, kind, first), end in zip(self.families, ends, strict=True):
            lines.append(f"# TYPE {name} {kind}")
            lines += (f"{n}{labels} {v:.6g} {t}" for n, labels, v, t in self.points[first:end])
        return "\n".join(lines) + "\n# EOF\n"


def openmetrics(start: int, end: int) -> str:
    """Samples every 30 s from ``start`` to ``end`` (Unix seconds), as OpenMetrics text."""
    return _write(start, end).text()


def samples(start: int, end: int) -> list[Sample]:
    """The samples of :func:`openmetrics`, in its order."""
    return [Sample(*point) for point in _write(start, end).points]


def _write(start: int, end: int) -> _Writer:
    # Long but flat: one family of samples after another, in the contract's order.
    w = _Writer(start, end)
    incident = end - start - 3600
    api_routes = (
        ("/v1/projects", "GET", "postgres"),
        ("/v1/projects", "POST", "postgres"),
        ("/v1/cache/{key}", "GET", "redis"),
        ("/v1/documents", "POST", "mongodb"),
    )

    w.family(contract.API_REQUESTS.client_name, "counter")
    for route, method, dep in api_routes:
        w.counter(
            contract.API_REQUESTS.name, _labels(route=route, method=method, code="200", dependency=dep), 20.0
        )
        bad = 5.0 if (route, method) == ("/v1/projects", "GET") else 0.0
        w.counter(
            contract.API_REQUESTS.name,
            _labels(route=route, method=method, code="503", dependency=dep),
            0.01,
            bad,
            incident,
        )

    w.family(contract.API_DURATION.name, "histogram")
    for route, method, dep in api_routes:
        base = {"route": route, "method": method, "dependency": dep}
        for i, le in enumerate(API_BUCKETS):
            share = min(1.0, 0.3 + 0.06 * i)
            w.counter(f"{contract.API_DURATION.name}_bucket", _labels(**base, le=le), 20.0 * share)
        w.counter(f"{contract.API_DURATION.name}_count", _labels(**base), 20.0)
        w.counter(f"{contract.API_DURATION.name}_sum", _labels(**base), 2.0)

    w.family(contract.API_OPERATIONS.client_name, "counter")
    for op in ("provision_database", "backup"):
        w.counter(contract.API_OPERATIONS.name, _labels(operation=op, outcome="success"), 0.5)
        w.counter(contract.API_OPERATIONS.name, _labels(operation=op, outcome="failure"), 0.001)

    w.family(contract.PROBE_ATTEMPTS.client_name, "counter")
    for target, kind in TARGETS:
        w.counter(contract.PROBE_ATTEMPTS.name, _labels(target=target, kind=kind), 0.2)
    w.family(contract.PROBE_FAILURES.client_name, "counter")
    for target, kind in TARGETS:
        for reason in tuple(contract.Reason):
            w.counter(
                contract.PROBE_FAILURES.name,
                _labels(target=target, kind=kind, reason=reason),
                0.002 if reason == "query_timeout" else 0.0,
            )
    w.family(contract.PROBE_DURATION.name, "histogram")
    for target, kind in TARGETS:
        for phase in ("connect", "tls", "auth", "query", "canary", "total"):
            for connection in ("cold", "warm"):
                base = {"target": target, "kind": kind, "phase": phase, "connection": connection}
                for i, le in enumerate(PROBE_BUCKETS):
                    w.counter(
                        f"{contract.PROBE_DURATION.name}_bucket",
                        _labels(**base, le=le),
                        0.1 * min(1.0, 0.2 * (i + 1)),
                    )
                w.counter(f"{contract.PROBE_DURATION.name}_count", _labels(**base), 0.1)
                w.counter(f"{contract.PROBE_DURATION.name}_sum", _labels(**base), 0.002)
    gauges = {
        contract.PROBE_UP.name: 1.0,
        contract.PROBE_LAST_RUN.name: float(end),
        contract.PROBE_CONNECTIONS_USED.name: 12.0,
        contract.PROBE_CONNECTIONS_MAX.name: 100.0,
        contract.PROBE_MEMORY_USED.name: 64e6,
        contract.PROBE_MEMORY_MAX.name: 256e6,
        contract.PROBE_CERT_EXPIRY.name: float(end + 90 * 86400),
    }
    for name, value in gauges.items():
        w.family(name, "gauge")
        for target, kind in TARGETS:
            w.gauge(name, _labels(target=target, kind=kind), value)
    w.family(contract.PROBE_ROLE.name, "gauge")
    for target, kind in TARGETS:
        w.gauge(contract.PROBE_ROLE.name, _labels(target=target, kind=kind, role="primary"), 1.0)
        w.gauge(contract.PROBE_ROLE.name, _labels(target=target, kind=kind, role="replica"), 0.0)
    pool = {"target": "pgb-main", "database": "platform", "user": "platform"}
    for name, value in (
        (contract.PGBOUNCER_CLIENT_ACTIVE.name, 8.0),
        (contract.PGBOUNCER_CLIENT_WAITING.name, 1.0),
        (contract.PGBOUNCER_SERVER_ACTIVE.name, 4.0),
        (contract.PGBOUNCER_SERVER_IDLE.name, 2.0),
        (contract.PGBOUNCER_MAXWAIT.name, 0.05),
    ):
        w.family(name, "gauge")
        w.gauge(name, _labels(**pool), value)
    stats = {"target": "pgb-main", "database": "platform"}
    w.family(contract.PGBOUNCER_QUERIES.client_name, "counter")
    w.counter(contract.PGBOUNCER_QUERIES.name, _labels(**stats), 50.0)
    w.family(contract.PGBOUNCER_QUERY_SECONDS.client_name, "counter")
    w.counter(contract.PGBOUNCER_QUERY_SECONDS.name, _labels(**stats), 0.5)
    return w
