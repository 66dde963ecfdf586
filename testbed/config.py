"""Configuration of the platform API: one frozen dataclass, defaults from the plan."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from sloctl.contract import TIERS

from .breaker import BreakerSettings, default_failure_ratios, default_timeouts
from .tiers import ApiKey

__all__ = ["API_VERSION", "DEPRECATED_VERSIONS", "TestbedConfig", "default_pool_size"]

#: Date-based API version sent in the ``API-Version`` header of every response.
API_VERSION = "2026-11-01"
#: Older versions still served, each with its deprecation and sunset dates (Unix seconds):
#: a client that asks for one gets ``Deprecation`` (RFC 9745) and ``Sunset`` (RFC 8594).
DEPRECATED_VERSIONS: dict[str, tuple[int, int]] = {
    "2025-06-01": (1780272000, 1798761600),  # deprecated 2026-06-01, sunset 2027-01-01
}


def default_pool_size(spindles: int = 1) -> int:
    """The plan's formula ``(cores × 2) + spindles`` (PostgreSQL wiki, "Number of database
    connections"); SSDs count as one spindle."""
    return (os.cpu_count() or 1) * 2 + spindles


@dataclass(frozen=True)
class TestbedConfig:
    __test__ = False  # not a pytest test class, whatever its name says

    postgres_dsn: str
    redis_url: str
    mongodb_uri: str
    #: direct PostgreSQL (not PgBouncer) for pg_dump, which needs a session
    postgres_direct_dsn: str | None = None
    #: PostgreSQL's pool (through PgBouncer): the plan's (cores × 2) + spindles
    pool_size: int = field(default_factory=default_pool_size)
    #: Redis and MongoDB pools: the plan's 10 to 100 connections, idle ones closed after 30 s
    #: (redis-py keeps no minimum and closes no idle connection: for Redis only the maximum holds)
    document_pool: tuple[int, int] = (10, 100)
    pool_idle_seconds: float = 30.0
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    #: call timeouts per dependency; ``breaker.call_timeout`` is the default for others
    timeouts: tuple[tuple[str, float], ...] = tuple(sorted(default_timeouts().items()))
    #: failure ratios that trip each dependency's breaker; ``breaker.failure_ratio`` for others
    failure_ratios: tuple[tuple[str, float], ...] = tuple(sorted(default_failure_ratios().items()))
    #: the unauthenticated policy (requests without an API key): per client address
    rate_limit_per_second: float = 1000.0
    rate_limit_burst: int = 2000
    #: API keys (their SHA-256) → tenant and tier (testbed.tiers); none: no tier pools are opened
    api_keys: tuple[ApiKey, ...] = ()
    backup_dir: Path = Path("backups")
    backup_timeout: float = 60.0
    #: backups run off the request path (testbed.backups): dumps at a time, jobs waiting
    backup_workers: int = 1
    backup_queue: int = 16
    #: Seconds a request's body may take to arrive whole: a client that declares more bytes than
    #: it sends, or a chunked body that never ends, is answered 408 then, not waited on for ever.
    #: A whole body (64 KiB at most) takes 9 s at 56 kbit/s; on loopback, milliseconds.
    body_timeout: float = 10.0
    #: Seconds a request's head (request line and headers) may take to arrive whole, from the
    #: connection's opening: a client that sends half of one, or drips it, or nothing, is
    #: answered 408 or closed then (testbed.protocol). As for a body: a head of 64 KiB takes 9 s
    #: at 56 kbit/s.
    head_timeout: float = 10.0
    page_size_default: int = 20
    page_size_max: int = 100
    otlp_endpoint: str | None = None
    #: HMAC key of pagination cursors; None: random per process (cursors die with it)
    cursor_key: bytes | None = None
    service_name: str = "platform-api"

    def __post_init__(self) -> None:
        if self.pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, not {self.pool_size}")
        low, high = self.document_pool
        if not 0 <= low <= high or high < 1:
            raise ValueError(f"document_pool must be (min, max), 0 <= min <= max, not {self.document_pool}")
        if self.backup_workers < 1 or self.backup_queue < 1:
            raise ValueError("backup workers and backup queue must be at least 1")
        if not self.backup_timeout > 0:  # NaN too
            raise ValueError(
                f"backup timeout must be a positive number of seconds, not {self.backup_timeout}"
            )
        for what, seconds in (("body", self.body_timeout), ("head", self.head_timeout)):
            if not seconds > 0:  # NaN too
                raise ValueError(f"{what} timeout must be a positive number of seconds, not {seconds}")
        if self.rate_limit_per_second <= 0 or self.rate_limit_burst < 1:
            raise ValueError("rate limit must be positive, with a burst of at least 1")
        for name, seconds in self.timeouts:
            if seconds <= 0:
                raise ValueError(f"timeout of {name} must be positive, not {seconds}")
        for name, ratio in self.failure_ratios:
            if not 0 < ratio <= 1:
                raise ValueError(f"failure ratio of {name} must be in (0, 1], not {ratio}")

    def tier_dsn(self, tier: str) -> str:
        """``postgres_dsn`` on the tier's PgBouncer database (``platform_<tier>``, an alias of the
        same database with its own server connections: ``sloctl.servers.start_pgbouncer``)."""
        params = conninfo_to_dict(self.postgres_dsn)
        database = next(t.pgbouncer_database for t in TIERS if t.name == tier)
        return make_conninfo(
            **{**{k: str(v) for k, v in params.items() if v is not None}, "dbname": database}
        )

    def pool_max(self, dependency: str) -> int:
        return self.pool_size if dependency == "postgres" else self.document_pool[1]

    def breaker_for(self, dependency: str) -> BreakerSettings:
        timeout = dict(self.timeouts).get(dependency, self.breaker.call_timeout)
        return BreakerSettings(
            failure_ratio=dict(self.failure_ratios).get(dependency, self.breaker.failure_ratio),
            window_seconds=self.breaker.window_seconds,
            minimum_calls=self.breaker.minimum_calls,
            open_seconds=self.breaker.open_seconds,
            call_timeout=timeout,
            bucket_seconds=self.breaker.bucket_seconds,
        )
