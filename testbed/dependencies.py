"""The API's dependencies: pools, clients and a circuit breaker per database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pymongo
import redis.asyncio as aioredis
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from psycopg_pool import AsyncConnectionPool
from pymongo import AsyncMongoClient
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from sloctl.contract import DATABASES, TIERS, Operation, Outcome
from sloctl.masking import Masker

from .audit import AuditLog
from .backups import DUMP, BackupFailed, BackupJob, BackupJobs, pg_dump
from .breaker import CircuitBreaker, Clock, State
from .config import TestbedConfig
from .metrics import PlatformMetrics
from .tiers import CALLER_TIER

__all__ = ["ClientProblem", "Dependencies"]


T = TypeVar("T")
#: How long closing the MongoDB client may spend ending its sessions on the server (a courtesy:
#: the server expires them on its own after 30 minutes)
MONGO_CLOSE_SECONDS = 0.5
DDL = """
CREATE TABLE IF NOT EXISTS projects (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    schema_name text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


class ClientProblem(Exception):
    """A request error found while talking to a dependency (not the dependency's fault)."""

    def __init__(self, status: int, slug: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail


class _TierListener:
    """A tier's PostgreSQL breaker reports its state under its tier (its calls are counted
    with the dependency's: ``platform_circuit_breaker_calls_total{dependency="postgres"}``)."""

    def __init__(self, metrics: PlatformMetrics, tier: str) -> None:
        self.metrics = metrics
        self.tier = tier

    def transition(self, dependency: str, old: State, new: State) -> None:
        self.metrics.tier_breaker_state.labels(self.tier).set(new.value)

    def result(self, dependency: str, result: str) -> None:
        self.metrics.result(dependency, result)


PgPool = AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]]


def _redis_pool(config: TestbedConfig) -> aioredis.BlockingConnectionPool:
    """Redis connections: at most the configured pool, waits and calls bounded by the breaker's
    call timeout."""
    timeout = config.breaker_for("redis").call_timeout
    return aioredis.BlockingConnectionPool.from_url(
        config.redis_url,
        max_connections=config.pool_max("redis"),
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )


def _mongo_client(config: TestbedConfig) -> AsyncMongoClient[dict[str, Any]]:
    """The MongoDB client, connecting lazily (the API starts while MongoDB is down)."""
    timeout_ms = int(config.breaker_for("mongodb").call_timeout * 1000)
    return AsyncMongoClient(
        config.mongodb_uri,
        minPoolSize=config.document_pool[0],
        maxPoolSize=config.pool_max("mongodb"),
        maxIdleTimeMS=int(config.pool_idle_seconds * 1000),
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        appname="platform-api",
        connect=False,
    )


class Dependencies:
    """Pools, clients and breakers of the three databases; with API keys configured, also a
    PostgreSQL pool and breaker per tier (:data:`sloctl.contract.TIERS`), so that a tier that
    exhausts its pool or times out its queries queues and trips only itself."""

    def __init__(
        self,
        config: TestbedConfig,
        metrics: PlatformMetrics,
        tracer: trace.Tracer,
        clock: Clock,
        audit: AuditLog | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.tracer = tracer
        self.audit = audit or AuditLog(None, config.service_name, Masker(), tracer)
        self.breakers = {
            dep: CircuitBreaker(dep, config.breaker_for(dep), clock=clock, listener=metrics)
            for dep in DATABASES
        }
        self.in_flight = dict.fromkeys(DATABASES, 0)
        #: callers waiting for a PostgreSQL connection from the pool
        self.pg_waiting = 0
        self.pg_pool = self._pg_pool(config.postgres_dsn, 1, config.pool_size, "platform")
        #: tier -> its pool, breaker and waiting callers (only with API keys: no key, no tier)
        tiers = [t for t in TIERS if any(k.tier == t.name for k in config.api_keys)]
        self.tier_pools = {
            t.name: self._pg_pool(config.tier_dsn(t.name), *t.testbed_pool, t.pgbouncer_database)
            for t in tiers
        }
        self.tier_breakers = {
            t.name: CircuitBreaker(
                "postgres",
                config.breaker_for("postgres"),
                clock=clock,
                listener=_TierListener(metrics, t.name),
            )
            for t in tiers
        }
        self.tier_waiting = dict.fromkeys(self.tier_pools, 0)
        self.redis_pool = _redis_pool(config)
        # No client-side retries: the breaker and the caller decide, and failing fast is the point.
        self.redis = aioredis.Redis(connection_pool=self.redis_pool, retry=Retry(NoBackoff(), 0))
        self.mongo = _mongo_client(config)
        self.backups = BackupJobs(
            config.backup_dir,
            self._dump,
            self._count_backup,
            workers=config.backup_workers,
            queue=config.backup_queue,
        )
        self._schema_ready = False
        #: one lock per pool (None: the shared one): a tier whose connections are stuck must not
        #: hold another tier's first request behind the table's creation
        self._schema_locks = {tier: asyncio.Lock() for tier in (None, *self.tier_pools)}
        #: signs pagination cursors (testbed.cursors)
        self.cursor_key = config.cursor_key or os.urandom(32)
        self._export_pool_gauges()

    def _pg_pool(self, dsn: str, low: int, high: int, name: str) -> PgPool:
        pg_timeout = self.config.breaker_for("postgres").call_timeout
        return AsyncConnectionPool(
            dsn,
            min_size=low,
            max_size=high,
            open=False,
            # PgBouncer in transaction mode forbids server-side prepared statements.
            kwargs={
                "prepare_threshold": None,
                "autocommit": True,
                "connect_timeout": max(1, int(pg_timeout)),
            },
            timeout=pg_timeout,
            reconnect_timeout=3600.0,
            name=name,
        )

    def _export_pool_gauges(self) -> None:
        for dep in DATABASES:
            self.metrics.init_dependency(dep)
            self.metrics.pool_size.labels(dep).set(self.config.pool_max(dep))

        self.metrics.pool_in_use.labels("postgres").set_function(_in_use(self.pg_pool))
        for tier, pool in self.tier_pools.items():
            self.metrics.tier_pool_size.labels(tier).set(pool.max_size)
            self.metrics.tier_pool_in_use.labels(tier).set_function(_in_use(pool))
            self.metrics.tier_pool_waiting.labels(tier).set_function(self._tier_waiting_reader(tier))
            self.metrics.tier_breaker_state.labels(tier).set(State.CLOSED.value)
        # Not psycopg_pool's ``requests_waiting``: it keeps callers that timed out or were
        # cancelled in its queue until a connection comes back, so it only grows while the
        # database is unreachable. We count the callers that are waiting right now.
        self.metrics.pool_waiting.labels("postgres").set_function(lambda: float(self.pg_waiting))
        # redis-py and pymongo do not expose their waiters: calls in flight beyond the pool's
        # size are the ones waiting for a connection.
        for dep in ("redis", "mongodb"):
            self.metrics.pool_in_use.labels(dep).set_function(self._in_use_reader(dep))
            self.metrics.pool_waiting.labels(dep).set_function(self._waiting_reader(dep))

    def _tier_waiting_reader(self, tier: str) -> Callable[[], float]:
        return lambda: float(self.tier_waiting[tier])

    def _in_use_reader(self, dep: str) -> Callable[[], float]:
        return lambda: float(min(self.in_flight[dep], self.config.pool_max(dep)))

    def _waiting_reader(self, dep: str) -> Callable[[], float]:
        return lambda: float(max(0, self.in_flight[dep] - self.config.pool_max(dep)))

    async def open(self) -> None:
        for pool in (self.pg_pool, *self.tier_pools.values()):
            await pool.open(wait=False)
        self.backups.start()

    async def _dump(self, job: BackupJob, target: Path) -> str | None:
        """pg_dump of the job's schema, audited: direct to PostgreSQL, since pg_dump needs a
        session, which PgBouncer's transaction mode does not give."""
        dsn = self.config.postgres_direct_dsn or self.config.postgres_dsn
        try:
            with self.audit.operation("postgresql", "dump", DUMP, target="schema", caller=job.caller):
                error = await pg_dump(dsn, job.schema, target, self.config.backup_timeout, job.id)
                if error is not None:
                    raise BackupFailed(error)
        except BackupFailed as exc:
            return str(exc)
        return None

    def _count_backup(self, outcome: Outcome) -> None:
        self.metrics.operations.labels(Operation.BACKUP.value, outcome.value).inc()

    async def close(self) -> None:
        await self.backups.stop()
        for pool in (self.pg_pool, *self.tier_pools.values()):
            with contextlib.suppress(Exception):
                await pool.close(timeout=5)
        with contextlib.suppress(Exception):
            await self.redis.aclose()
            await self.redis_pool.aclose()
        with contextlib.suppress(Exception), pymongo.timeout(MONGO_CLOSE_SECONDS):
            # close() ends the client's sessions on the server first (endSessions), selecting a
            # server for up to the call timeout (MongoDB's: 10 s by the plan): with MongoDB
            # gone, every stop waited it out and was killed at its own 10 s.
            await self.mongo.close()

    async def call(self, dependency: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` through the dependency's breaker (PostgreSQL: the caller's tier's), in a
        client span."""
        breaker = self.breaker_for(dependency)
        self.in_flight[dependency] += 1
        try:
            with self.tracer.start_as_current_span(f"{dependency} call", kind=SpanKind.CLIENT) as span:
                span.set_attribute("db.system", "mongodb" if dependency == "mongodb" else dependency)
                return await breaker.call(fn, is_failure=lambda exc: not isinstance(exc, ClientProblem))
        finally:
            self.in_flight[dependency] -= 1

    def breaker_for(self, dependency: str) -> CircuitBreaker:
        tier = CALLER_TIER.get()
        if dependency == "postgres" and tier is not None:
            return self.tier_breakers[tier]
        return self.breakers[dependency]

    @contextlib.asynccontextmanager
    async def _pg_connection(self) -> AsyncIterator[psycopg.AsyncConnection[tuple[Any, ...]]]:
        """A connection from the caller's tier's pool (no tier: the shared one); the waiting
        counters count callers until they get one."""
        tier = CALLER_TIER.get()
        pool = self.pg_pool if tier is None else self.tier_pools[tier]
        self._waiting(tier, +1)
        try:
            conn = await _checked_out(pool)
        finally:
            self._waiting(tier, -1)
        try:
            async with conn:
                yield conn
        finally:
            await pool.putconn(conn)

    def _waiting(self, tier: str | None, delta: int) -> None:
        if tier is None:
            self.pg_waiting += delta
        else:
            self.tier_waiting[tier] += delta

    @contextlib.asynccontextmanager
    async def pg(self) -> AsyncIterator[psycopg.AsyncConnection[tuple[Any, ...]]]:
        async with self._pg_connection() as conn:
            try:
                if not self._schema_ready:
                    async with self._schema_locks[CALLER_TIER.get()]:
                        if not self._schema_ready:
                            # Two pools may race to create it: IF NOT EXISTS is not atomic
                            # in PostgreSQL, and the loser's unique violation means "exists".
                            with (
                                self.audit.operation(
                                    "postgresql",
                                    "create",
                                    " ".join(DDL.split()),
                                    target="projects",
                                    kind="creation",
                                ),
                                contextlib.suppress(psycopg.errors.UniqueViolation),
                            ):
                                await conn.execute(DDL)
                            self._schema_ready = True
                yield conn
            except psycopg.OperationalError:
                # A connection error (class 08, server shutdown): PgBouncer may keep the client
                # side open, so the pool would hand the broken connection out again. A closed
                # connection is dropped by the pool instead.
                await conn.close()
                raise


async def _checked_out(pool: PgPool) -> psycopg.AsyncConnection[tuple[Any, ...]]:
    """A connection of ``pool`` whose other end is still there, within the pool's timeout.

    A connection that sat idle in the pool may have been closed under it: by a middlebox's idle
    timeout (a NAT, a firewall, a load balancer; a game day's fault proxy ends a connection idle
    for 10 minutes), a PgBouncer restart or a reset. psycopg_pool hands it out as it is, and the
    request that gets it fails; its ``check`` callback would try the next one only after a
    backoff of a second or more. So each connection is looked at as it leaves the pool (no round
    trip: :func:`_peer_gone`), and a dead one is closed, which makes the pool open another in its
    place, and the next one is taken at once: what redis-py and PyMongo do with theirs."""
    deadline = time.monotonic() + pool.timeout
    for _ in range(pool.max_size + 1):
        conn = await pool.getconn(max(0.0, deadline - time.monotonic()))
        if not _peer_gone(conn):
            return conn
        try:
            await conn.close()
        finally:  # even when the call's timeout cancels it here: the pool must not lose its place
            await pool.putconn(conn)
    raise psycopg.OperationalError(f"every connection of pool {pool.name!r} had been closed by its other end")


def _peer_gone(conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> bool:
    """Whether ``conn``'s other end has closed or reset it (or written to it, which an idle
    connection's server does only on its way out: PgBouncer's FATAL before it closes one), read
    without blocking and without consuming anything."""
    if conn.closed:
        return True
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, ValueError, psycopg.Error):
        return True


def _in_use(pool: PgPool) -> Callable[[], float]:
    def read() -> float:
        stats = pool.get_stats()
        return float(stats.get("pool_size", 0) - stats.get("pool_available", 0))

    return read
