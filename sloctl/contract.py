"""The metric contract: every series the toolkit exports or reads from the collector and the
platform API, declared once (name, type, labels, unit, help), with the label values that have a
fixed set (reasons, phases, kinds, routes, breaker states).

The collector's and the testbed's registrars register from these declarations, the dashboards,
game-day probes, load-test gates and synthetic test data read them, and ``docs/metrics.md`` is
checked against them by a test. No other module spells one of these names: a test fails when a
string literal outside this module does (``tests/test_contract.py``).

Recording rules that sloctl generates are named in :mod:`sloctl.naming`.

>>> API_REQUESTS.name, API_REQUESTS.client_name, API_DURATION.series("bucket")
('platform_http_requests_total', 'platform_http_requests', 'platform_http_request_duration_seconds_bucket')
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "API_DURATION",
    "API_METRICS",
    "API_OPERATIONS",
    "API_REQUESTS",
    "BREAKER_CALLS",
    "BREAKER_STATE",
    "BREAKER_TRANSITIONS",
    "COLLECTOR_METRICS",
    "DATABASES",
    "LIVENESS_PATH",
    "METRICS",
    "METRICS_PATH",
    "OPERATIONAL_PATHS",
    "OPERATION_ROUTES",
    "PGBOUNCER_CLIENT_ACTIVE",
    "PGBOUNCER_CLIENT_WAITING",
    "PGBOUNCER_MAXWAIT",
    "PGBOUNCER_QUERIES",
    "PGBOUNCER_QUERY_SECONDS",
    "PGBOUNCER_SERVER_ACTIVE",
    "PGBOUNCER_SERVER_IDLE",
    "PLAN_BREAKERS",
    "POOL_IN_USE",
    "POOL_SIZE",
    "POOL_WAITING",
    "PROBE_ATTEMPTS",
    "PROBE_CERT_EXPIRY",
    "PROBE_CONNECTIONS_MAX",
    "PROBE_CONNECTIONS_USED",
    "PROBE_DURATION",
    "PROBE_FAILURES",
    "PROBE_LAST_RUN",
    "PROBE_MEMORY_MAX",
    "PROBE_MEMORY_USED",
    "PROBE_MISSED",
    "PROBE_ROLE",
    "PROBE_UP",
    "PROJECTS_PATH",
    "READINESS_PATH",
    "READINESS_TIMEOUT_SECONDS",
    "ROUTES",
    "ROUTE_DEPENDENCY",
    "TIERS",
    "TIER_BREAKER_STATE",
    "TIER_POOL_IN_USE",
    "TIER_POOL_SCALE",
    "TIER_POOL_SIZE",
    "TIER_POOL_WAITING",
    "ApiRoute",
    "BreakerPlan",
    "BreakerResult",
    "BreakerState",
    "Dependency",
    "Metric",
    "Operation",
    "Outcome",
    "Phase",
    "ProbeConnection",
    "ProbeKind",
    "Reason",
    "Role",
    "Tier",
    "route",
]

MetricType = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Metric:
    """One exported series family, as ``docs/metrics.md`` lists it."""

    name: str
    """As exported and queried (counters end in ``_total``)."""
    type: MetricType
    labels: tuple[str, ...]
    help: str
    buckets: tuple[float, ...] = ()

    @property
    def unit(self) -> str:
        """The base unit the name ends in (``seconds``, ``bytes``), or ``""``."""
        for unit in ("seconds", "bytes"):
            if self.name.removesuffix("_total").endswith(f"_{unit}"):
                return unit
        return ""

    @property
    def client_name(self) -> str:
        """The name prometheus_client is given: it appends ``_total`` to counters itself."""
        return self.name.removesuffix("_total") if self.type == "counter" else self.name

    def series(self, suffix: str) -> str:
        """A histogram's ``bucket``, ``sum`` or ``count`` series."""
        assert self.type == "histogram" and suffix in ("bucket", "sum", "count"), (self.name, suffix)
        return f"{self.name}_{suffix}"

    def counter(self, registry: CollectorRegistry) -> Counter:
        from prometheus_client import Counter

        assert self.type == "counter", self.name
        return Counter(self.client_name, self.help, self.labels, registry=registry)

    def gauge(self, registry: CollectorRegistry) -> Gauge:
        from prometheus_client import Gauge

        assert self.type == "gauge", self.name
        return Gauge(self.name, self.help, self.labels, registry=registry)

    def histogram(self, registry: CollectorRegistry) -> Histogram:
        from prometheus_client import Histogram

        assert self.type == "histogram" and self.buckets, self.name
        return Histogram(self.name, self.help, self.labels, buckets=self.buckets, registry=registry)


# --- label values with a fixed set ------------------------------------------------------------


class ProbeKind(StrEnum):
    """``kind`` of a collector target."""

    POSTGRES = "postgres"
    PGBOUNCER = "pgbouncer"
    REDIS = "redis"
    MONGODB = "mongodb"
    HTTP = "http"


class ProbeConnection(StrEnum):
    """``connection``: ``cold`` opens a new connection for every run; ``warm`` keeps one open."""

    COLD = "cold"
    WARM = "warm"


class Reason(StrEnum):
    """``reason`` of a failed probe run: the fixed set, nothing else is ever exported."""

    DNS = "dns"
    REFUSED = "refused"
    CONNECT_TIMEOUT = "connect_timeout"
    TLS = "tls"
    AUTH = "auth"
    POOL_TIMEOUT = "pool_timeout"
    QUERY_TIMEOUT = "query_timeout"
    SERVER_ERROR = "server_error"
    VALIDATION = "validation"
    PROTOCOL = "protocol"


class Phase(StrEnum):
    """``phase`` of a probe run."""

    CONNECT = "connect"
    TLS = "tls"
    AUTH = "auth"
    QUERY = "query"
    CANARY = "canary"
    TOTAL = "total"


class Role(StrEnum):
    """``role`` of a database server as its probe found it (``sloctl_probe_role``)."""

    PRIMARY = "primary"
    REPLICA = "replica"


class Dependency(StrEnum):
    """``dependency`` of the platform API's series; ``none`` for routes that use no database."""

    POSTGRES = "postgres"
    REDIS = "redis"
    MONGODB = "mongodb"
    NONE = "none"


DATABASES: tuple[str, ...] = tuple(d.value for d in Dependency if d is not Dependency.NONE)
"""The platform's databases, in the order its pages, game days and the testbed list them."""


class BreakerState(enum.Enum):
    """Values of ``platform_circuit_breaker_state``; :attr:`label` is the one spelling of a state
    (``from_state``/``to_state`` label values, game-day probes, ``/healthz``)."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class BreakerResult(StrEnum):
    """``result`` of ``platform_circuit_breaker_calls_total``."""

    SUCCESS = "success"
    FAILURE = "failure"
    TIMEOUT = "timeout"
    REJECTED = "rejected"


class Operation(StrEnum):
    """``operation`` of ``platform_operations_total``."""

    PROVISION_DATABASE = "provision_database"
    BACKUP = "backup"

    @property
    def outcomes(self) -> tuple[Outcome, ...]:
        """The outcomes it can end in: only a backup (a job the user may cancel) is cancelled.

        >>> [o.value for o in Operation.BACKUP.outcomes]
        ['success', 'failure', 'cancelled']
        """
        return tuple(o for o in Outcome if o is not Outcome.CANCELLED or self is Operation.BACKUP)


class Outcome(StrEnum):
    """``outcome`` of ``platform_operations_total``. ``cancelled``: the user stopped the
    operation; the service neither did nor failed it, so an SLO counts it in neither its good
    nor its total events (slos/platform-jobs.yaml)."""

    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ApiRoute:
    """A route of the platform API: the one place its method and path template are written. The
    testbed binds its handler by :attr:`operation_id` and ``/openapi.json`` describes it under
    that ``operationId``.

    >>> ROUTES[1].method, ROUTES[1].path, ROUTES[1].dependency.value, ROUTES[1].operation_id
    ('POST', '/v1/projects', 'postgres', 'createProject')
    """

    method: Literal["GET", "POST", "PUT", "DELETE"]
    #: the route template, as the ``route`` label and OpenAPI's ``paths`` spell it
    path: str
    dependency: Dependency
    #: OpenAPI's ``operationId`` (camelCase), unique across the API
    operation_id: str

    def url(self, query: str = "", **params: object) -> str:
        """The path of one request: the template's ``{name}`` filled from ``params``, then
        ``?query`` when given.

        >>> route("getProject").url(project_id=7), route("listProjects").url("limit=5")
        ('/v1/projects/7', '/v1/projects?limit=5')
        """
        return self.path.format(**params) + (f"?{query}" if query else "")


#: Every route of the platform API, in the order the testbed matches them (Starlette takes the
#: first match, and the middleware names a request's route by the same walk).
ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute("GET", "/v1/projects", Dependency.POSTGRES, "listProjects"),
    ApiRoute("POST", "/v1/projects", Dependency.POSTGRES, "createProject"),
    ApiRoute("GET", "/v1/projects/{project_id}", Dependency.POSTGRES, "getProject"),
    ApiRoute("DELETE", "/v1/projects/{project_id}", Dependency.POSTGRES, "deleteProject"),
    ApiRoute("POST", "/v1/projects/{project_id}/backups", Dependency.POSTGRES, "createBackup"),
    # a backup job's status: in the API's memory (testbed.backups), no database call
    ApiRoute("GET", "/v1/projects/{project_id}/backups/{backup_id}", Dependency.NONE, "getBackup"),
    # cancel a backup job: off the queue, or its running dump killed; no database call
    ApiRoute("POST", "/v1/projects/{project_id}/backups/{backup_id}/cancel", Dependency.NONE, "cancelBackup"),
    ApiRoute("GET", "/v1/cache/{key}", Dependency.REDIS, "getCache"),
    ApiRoute("PUT", "/v1/cache/{key}", Dependency.REDIS, "putCache"),
    ApiRoute("POST", "/v1/documents", Dependency.MONGODB, "createDocument"),
    ApiRoute("GET", "/v1/documents/{document_id}", Dependency.MONGODB, "getDocument"),
    # liveness: the API process answers (no database call; the floor of the fast-fail checks)
    ApiRoute("GET", "/healthz", Dependency.NONE, "getHealth"),
    # readiness: each database answers a ping within READINESS_TIMEOUT_SECONDS, else 503
    ApiRoute("GET", "/readyz", Dependency.NONE, "getReadiness"),
    ApiRoute("GET", "/metrics", Dependency.NONE, "getMetrics"),
    ApiRoute("GET", "/openapi.json", Dependency.NONE, "getOpenapi"),
)
_BY_OPERATION_ID = {r.operation_id: r for r in ROUTES}


def route(operation_id: str) -> ApiRoute:
    """The route of ``operation_id`` (OpenAPI's ``operationId``: ``getProject``)."""
    return _BY_OPERATION_ID[operation_id]


#: the liveness route (the API process answers) and the readiness route (its databases answer)
LIVENESS_PATH = _BY_OPERATION_ID["getHealth"].path
READINESS_PATH = _BY_OPERATION_ID["getReadiness"].path
#: the route Prometheus scrapes, and the project list (a cheap PostgreSQL read the collector probes)
METRICS_PATH = _BY_OPERATION_ID["getMetrics"].path
PROJECTS_PATH = _BY_OPERATION_ID["listProjects"].path
#: the operational routes the platform's SLOs leave out (``route!~"/healthz|/readyz|/metrics"``
#: in ``slos/platform-api.yaml``): a load test's gates that name no route leave them out too
OPERATIONAL_PATHS = (LIVENESS_PATH, READINESS_PATH, METRICS_PATH)
#: how long ``/readyz`` waits for each database's ping (all three at once): short and bounded,
#: so that a dead or paused database makes it answer 503 in about a second, never hang
READINESS_TIMEOUT_SECONDS = 1.0
if len(_BY_OPERATION_ID) != len(ROUTES):
    raise ValueError("an operationId names two routes")
#: route template -> its ``dependency`` label value
ROUTE_DEPENDENCY: dict[str, str] = {r.path: r.dependency.value for r in ROUTES}
#: the (method, route) that runs each operation
OPERATION_ROUTES: dict[str, tuple[str, str]] = {
    operation: (_BY_OPERATION_ID[operation_id].method, _BY_OPERATION_ID[operation_id].path)
    for operation, operation_id in (
        (Operation.PROVISION_DATABASE, "createProject"),
        (Operation.BACKUP, "createBackup"),
    )
}

# --- the platform API's tiers -------------------------------------------------------------------

#: The plan's pools are divided by this on the testbed (rounded up): their maxima add up to 770
#: connections, and the testbed has one PgBouncer (``max_client_conn`` 200) in front of one
#: PostgreSQL (``max_connections`` 100) on 2 cores; divided by 10 they add up to 77.
TIER_POOL_SCALE = 10


@dataclass(frozen=True)
class Tier:
    """A customer tier: the plan's rate limit and PostgreSQL pool (min/max connections).

    >>> TIERS[0].name, TIERS[0].requests_per_minute, TIERS[0].pool, TIERS[0].testbed_pool
    ('free', 100, (2, 20), (1, 2))
    """

    name: str
    requests_per_minute: int
    pool: tuple[int, int]
    #: where the figure comes from, for the docs' table
    source: str = "the plan"

    @property
    def testbed_pool(self) -> tuple[int, int]:
        """The plan's pool divided by :data:`TIER_POOL_SCALE`, rounded up (at least 1)."""
        low, high = self.pool
        return max(1, math.ceil(low / TIER_POOL_SCALE)), max(1, math.ceil(high / TIER_POOL_SCALE))

    @property
    def pgbouncer_database(self) -> str:
        """The PgBouncer database (an alias of ``platform``) that isolates this tier's server
        connections: a tier that holds all of its own cannot queue another tier's queries."""
        return f"platform_{self.name}"


#: One table for the API, PgBouncer's configuration, the docs and the tests. The plan names no
#: rate limit for Starter; 500/min (between Free's and Pro's) is ours.
TIERS: tuple[Tier, ...] = (
    Tier("free", 100, (2, 20)),
    Tier("starter", 500, (5, 50), source="the plan's pool; the limit is ours"),
    Tier("pro", 1_000, (20, 200)),
    Tier("enterprise", 10_000, (50, 500)),
)

# --- the platform API's circuit breakers ----------------------------------------------------------


@dataclass(frozen=True)
class BreakerPlan:
    """The reliability plan's circuit-breaker figures: the platform API (``testbed/``) takes them
    as its defaults, the game days' ``plan`` profile and the experiments' configuration assume
    them. Whole seconds stay ``int`` so that the generated experiments print ``30``, not ``30.0``.

    >>> PLAN_BREAKERS.open_seconds, dict(PLAN_BREAKERS.timeouts)["redis"]
    (30, 1.0)
    """

    #: how long an open breaker refuses calls before its half-open trial
    open_seconds: int = 30
    #: the rolling window whose failure ratio opens the breaker
    window_seconds: int = 10
    #: the call timeout of a dependency not in ``timeouts``
    default_timeout: float = 3.0
    #: call timeouts per dependency (seconds)
    timeouts: tuple[tuple[Dependency, float], ...] = (
        (Dependency.POSTGRES, 5.0),
        (Dependency.MONGODB, 10.0),
        (Dependency.REDIS, 1.0),
    )
    #: the share of failed calls in the window that opens the breaker (a cache may fail more
    #: often before the API stops calling it)
    failure_ratios: tuple[tuple[Dependency, float], ...] = (
        (Dependency.POSTGRES, 0.5),
        (Dependency.MONGODB, 0.6),
        (Dependency.REDIS, 0.7),
    )


PLAN_BREAKERS = BreakerPlan()

# --- collector probe metrics --------------------------------------------------------------------

_TK = ("target", "kind")
_POOL = ("target", "database", "user")
#: probe latencies run from sub-millisecond (warm Redis PING on loopback) to the deadline
PROBE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

PROBE_ATTEMPTS = Metric("sloctl_probe_attempts_total", "counter", _TK, "Probe runs started.")
PROBE_MISSED = Metric(
    "sloctl_probe_runs_missed_total",
    "counter",
    _TK,
    "Scheduled probe runs skipped because the previous one ended past their slot.",
)
PROBE_FAILURES = Metric(
    "sloctl_probe_failures_total", "counter", (*_TK, "reason"), "Probe runs that failed, by reason."
)
PROBE_DURATION = Metric(
    "sloctl_probe_duration_seconds",
    "histogram",
    (*_TK, "phase", "connection"),
    "Duration of each phase of a probe run; exemplars carry the run's trace_id.",
    PROBE_BUCKETS,
)
PROBE_UP = Metric("sloctl_probe_up", "gauge", _TK, "1 when the last run succeeded, 0 otherwise.")
PROBE_LAST_RUN = Metric(
    "sloctl_probe_last_run_timestamp_seconds", "gauge", _TK, "End of the last run (Unix time)."
)
PROBE_CONNECTIONS_USED = Metric("sloctl_probe_connections_used", "gauge", _TK, "Server connections in use.")
PROBE_CONNECTIONS_MAX = Metric("sloctl_probe_connections_max", "gauge", _TK, "Server connection limit.")
PROBE_MEMORY_USED = Metric("sloctl_probe_memory_used_bytes", "gauge", _TK, "Server memory used.")
PROBE_MEMORY_MAX = Metric("sloctl_probe_memory_max_bytes", "gauge", _TK, "Server memory limit.")
PROBE_ROLE = Metric("sloctl_probe_role", "gauge", (*_TK, "role"), "1 for the server's current role.")
PROBE_CERT_EXPIRY = Metric(
    "sloctl_probe_tls_cert_expiry_timestamp_seconds", "gauge", _TK, "notAfter of the peer certificate."
)
PGBOUNCER_CLIENT_ACTIVE = Metric(
    "sloctl_pgbouncer_pool_client_active", "gauge", _POOL, "SHOW POOLS cl_active."
)
PGBOUNCER_CLIENT_WAITING = Metric(
    "sloctl_pgbouncer_pool_client_waiting", "gauge", _POOL, "SHOW POOLS cl_waiting."
)
PGBOUNCER_SERVER_ACTIVE = Metric(
    "sloctl_pgbouncer_pool_server_active", "gauge", _POOL, "SHOW POOLS sv_active."
)
PGBOUNCER_SERVER_IDLE = Metric("sloctl_pgbouncer_pool_server_idle", "gauge", _POOL, "SHOW POOLS sv_idle.")
PGBOUNCER_MAXWAIT = Metric(
    "sloctl_pgbouncer_pool_maxwait_seconds", "gauge", _POOL, "SHOW POOLS maxwait + maxwait_us."
)
# SHOW STATS totals are the pooler's own counters: mirrored as gauges set to their value would
# break the _total convention, so they are exported as counters advanced by deltas.
PGBOUNCER_QUERIES = Metric(
    "sloctl_pgbouncer_queries_total", "counter", ("target", "database"), "SHOW STATS total_query_count."
)
PGBOUNCER_QUERY_SECONDS = Metric(
    "sloctl_pgbouncer_query_seconds_total", "counter", ("target", "database"), "SHOW STATS total_query_time."
)

COLLECTOR_METRICS: tuple[Metric, ...] = (
    PROBE_ATTEMPTS,
    PROBE_MISSED,
    PROBE_FAILURES,
    PROBE_DURATION,
    PROBE_UP,
    PROBE_LAST_RUN,
    PROBE_CONNECTIONS_USED,
    PROBE_CONNECTIONS_MAX,
    PROBE_MEMORY_USED,
    PROBE_MEMORY_MAX,
    PROBE_ROLE,
    PROBE_CERT_EXPIRY,
    PGBOUNCER_CLIENT_ACTIVE,
    PGBOUNCER_CLIENT_WAITING,
    PGBOUNCER_SERVER_ACTIVE,
    PGBOUNCER_SERVER_IDLE,
    PGBOUNCER_MAXWAIT,
    PGBOUNCER_QUERIES,
    PGBOUNCER_QUERY_SECONDS,
)

# --- platform API metrics (testbed) ---------------------------------------------------------------

#: Every latency threshold an SLO or a gate uses must be a bucket bound, or Prometheus can only
#: interpolate it: 0.2 is the latency SLO's threshold, 0.02 the plan's load-test p95 target.
API_BUCKETS = (0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

API_REQUESTS = Metric(
    "platform_http_requests_total", "counter", ("route", "method", "code", "dependency"), "Requests answered."
)
API_DURATION = Metric(
    "platform_http_request_duration_seconds",
    "histogram",
    ("route", "method", "dependency"),
    "Request latency.",
    API_BUCKETS,
)
API_OPERATIONS = Metric(
    "platform_operations_total", "counter", ("operation", "outcome"), "Long-running operations by outcome."
)
BREAKER_STATE = Metric(
    "platform_circuit_breaker_state", "gauge", ("dependency",), "0 closed, 1 half_open, 2 open."
)
BREAKER_TRANSITIONS = Metric(
    "platform_circuit_breaker_transitions_total",
    "counter",
    ("dependency", "from_state", "to_state"),
    "Circuit breaker state changes.",
)
BREAKER_CALLS = Metric(
    "platform_circuit_breaker_calls_total",
    "counter",
    ("dependency", "result"),
    "Calls through a breaker by result.",
)
POOL_SIZE = Metric("platform_pool_size", "gauge", ("dependency",), "Connection pool capacity.")
POOL_IN_USE = Metric("platform_pool_in_use", "gauge", ("dependency",), "Checked-out connections.")
POOL_WAITING = Metric("platform_pool_waiting", "gauge", ("dependency",), "Callers waiting for a connection.")
TIER_POOL_SIZE = Metric("platform_tier_pool_size", "gauge", ("tier",), "A tier's PostgreSQL pool capacity.")
TIER_POOL_IN_USE = Metric(
    "platform_tier_pool_in_use", "gauge", ("tier",), "A tier's checked-out PostgreSQL connections."
)
TIER_POOL_WAITING = Metric(
    "platform_tier_pool_waiting", "gauge", ("tier",), "A tier's callers waiting for a PostgreSQL connection."
)
TIER_BREAKER_STATE = Metric(
    "platform_tier_circuit_breaker_state",
    "gauge",
    ("tier",),
    "A tier's PostgreSQL breaker state.",
)

API_METRICS: tuple[Metric, ...] = (
    API_REQUESTS,
    API_DURATION,
    API_OPERATIONS,
    BREAKER_STATE,
    BREAKER_TRANSITIONS,
    BREAKER_CALLS,
    POOL_SIZE,
    POOL_IN_USE,
    POOL_WAITING,
    TIER_POOL_SIZE,
    TIER_POOL_IN_USE,
    TIER_POOL_WAITING,
    TIER_BREAKER_STATE,
)

METRICS: tuple[Metric, ...] = COLLECTOR_METRICS + API_METRICS
