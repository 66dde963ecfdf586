"""The API's dependencies: pools, clients and a circuit breaker per database."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import redis.asyncio as aioredis
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from psycopg_pool import AsyncConnectionPool
from pymongo import AsyncMongoClient
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from sloctl.masking import Masker

from .audit import AuditLog
from .breaker import CircuitBreaker, Clock
from .config import DEPENDENCIES, TestbedConfig
from .metrics import PlatformMetrics

__all__ = ["ClientProblem", "Dependencies"]


T = TypeVar("T")
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


class Dependencies:
    """Pools, clients and breakers of the three databases."""

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
            for dep in DEPENDENCIES
        }
        self.in_flight = dict.fromkeys(DEPENDENCIES, 0)
        #: callers waiting for a PostgreSQL connection from the pool
        self.pg_waiting = 0
        pg_timeout = config.breaker_for("postgres").call_timeout
        self.pg_pool: AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]] = AsyncConnectionPool(
            config.postgres_dsn,
            min_size=1,
            max_size=config.pool_size,
            open=False,
            # PgBouncer in transaction mode forbids server-side prepared statements.
            kwargs={
                "prepare_threshold": None,
                "autocommit": True,
                "connect_timeout": max(1, int(pg_timeout)),
            },
            timeout=pg_timeout,
            reconnect_timeout=3600.0,
            name="platform",
        )
        redis_timeout = config.breaker_for("redis").call_timeout
        self.redis_pool = aioredis.BlockingConnectionPool.from_url(
            config.redis_url,
            max_connections=config.pool_max("redis"),
            timeout=redis_timeout,
            socket_timeout=redis_timeout,
            socket_connect_timeout=redis_timeout,
        )
        # No client-side retries: the breaker and the caller decide, and failing fast is the point.
        self.redis = aioredis.Redis(connection_pool=self.redis_pool, retry=Retry(NoBackoff(), 0))
        mongo_ms = int(config.breaker_for("mongodb").call_timeout * 1000)
        self.mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            config.mongodb_uri,
            minPoolSize=config.document_pool[0],
            maxPoolSize=config.pool_max("mongodb"),
            maxIdleTimeMS=int(config.pool_idle_seconds * 1000),
            serverSelectionTimeoutMS=mongo_ms,
            connectTimeoutMS=mongo_ms,
            appname="platform-api",
            connect=False,
        )
        self._schema_ready = False
        self._schema_lock = asyncio.Lock()
        #: signs pagination cursors (testbed.cursors)
        self.cursor_key = config.cursor_key or os.urandom(32)
        self._export_pool_gauges()

    def _export_pool_gauges(self) -> None:
        for dep in DEPENDENCIES:
            self.metrics.init_dependency(dep)
            self.metrics.pool_size.labels(dep).set(self.config.pool_max(dep))

        def pg_in_use() -> float:
            stats = self.pg_pool.get_stats()
            return float(stats.get("pool_size", 0) - stats.get("pool_available", 0))

        self.metrics.pool_in_use.labels("postgres").set_function(pg_in_use)
        # Not psycopg_pool's ``requests_waiting``: it keeps callers that timed out or were
        # cancelled in its queue until a connection comes back, so it only grows while the
        # database is unreachable. We count the callers that are waiting right now.
        self.metrics.pool_waiting.labels("postgres").set_function(lambda: float(self.pg_waiting))
        # redis-py and pymongo do not expose their waiters: calls in flight beyond the pool's
        # size are the ones waiting for a connection.
        for dep in ("redis", "mongodb"):
            self.metrics.pool_in_use.labels(dep).set_function(self._in_use_reader(dep))
            self.metrics.pool_waiting.labels(dep).set_function(self._waiting_reader(dep))

    def _in_use_reader(self, dep: str) -> Callable[[], float]:
        return lambda: float(min(self.in_flight[dep], self.config.pool_max(dep)))

    def _waiting_reader(self, dep: str) -> Callable[[], float]:
        return lambda: float(max(0, self.in_flight[dep] - self.config.pool_max(dep)))

    async def open(self) -> None:
        await self.pg_pool.open(wait=False)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.pg_pool.close(timeout=5)
        with contextlib.suppress(Exception):
            await self.redis.aclose()
            await self.redis_pool.aclose()
        with contextlib.suppress(Exception):
            await self.mongo.close()

    async def call(self, dependency: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` through the dependency's breaker, in a client span."""
        breaker = self.breakers[dependency]
        self.in_flight[dependency] += 1
        try:
            with self.tracer.start_as_current_span(f"{dependency} call", kind=SpanKind.CLIENT) as span:
                span.set_attribute("db.system", "mongodb" if dependency == "mongodb" else dependency)
                return await breaker.call(fn, is_failure=lambda exc: not isinstance(exc, ClientProblem))
        finally:
            self.in_flight[dependency] -= 1

    @contextlib.asynccontextmanager
    async def _pg_connection(self) -> AsyncIterator[psycopg.AsyncConnection[tuple[Any, ...]]]:
        """A connection from the pool; :attr:`pg_waiting` counts callers until they get one."""
        async with contextlib.AsyncExitStack() as stack:
            self.pg_waiting += 1
            try:
                conn = await stack.enter_async_context(self.pg_pool.connection())
            finally:
                self.pg_waiting -= 1
            yield conn

    @contextlib.asynccontextmanager
    async def pg(self) -> AsyncIterator[psycopg.AsyncConnection[tuple[Any, ...]]]:
        async with self._pg_connection() as conn:
            try:
                if not self._schema_ready:
                    async with self._schema_lock:
                        if not self._schema_ready:
                            with self.audit.operation(
                                "postgresql",
                                "create",
                                " ".join(DDL.split()),
                                target="projects",
                                kind="creation",
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
