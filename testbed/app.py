"""The platform API as an ASGI application (Starlette).

Routes, dependencies and metrics are those of docs/metrics.md. Every database call goes
through its dependency's circuit breaker (which applies the call timeout); failures become
RFC 9457 problems: 503 with ``Retry-After`` when a breaker is open.

What the client got wrong is settled before any dependency is called, so that it answers 400,
413 or 422 and never counts against a breaker: bodies are limited while they stream, numbers in
paths and queries are ASCII digits within range, JSON is parsed with its nesting and digit
limits caught, and documents are checked against what BSON and MongoDB accept. Every database
operation is written to the audit log (:mod:`testbed.audit`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import unquote, urlsplit

import psycopg
import redis.asyncio as aioredis
from bson import ObjectId
from bson import encode as bson_encode
from bson.errors import InvalidDocument, InvalidId
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool
from pymongo import AsyncMongoClient
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sloctl import contract
from sloctl.masking import Masker, url_secrets

from .audit import AuditLog, Caller, EventType
from .breaker import BreakerOpenError, CircuitBreaker, Clock
from .config import API_VERSION, DEPENDENCIES, DEPRECATED_VERSIONS, TestbedConfig
from .cursors import Direction, decode_cursor, encode_cursor
from .metrics import PlatformMetrics
from .openapi import openapi_document
from .problems import REQUEST_ID, problem
from .ratelimit import RateLimiter

__all__ = ["ROUTES", "create_app", "make_tracer_provider"]

T = TypeVar("T")

#: route template -> dependency label (the contract's route table)
ROUTE_DEPENDENCY = contract.ROUTE_DEPENDENCY
PROJECT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
CACHE_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
MAX_BODY = 64 * 1024
#: Ids and counters are PostgreSQL bigints and BSON int64s.
MAX_INT64 = 2**63 - 1
#: Documents nest at most this deep (MongoDB refuses more than 100 levels; ours are shallow).
MAX_DEPTH = 32
DDL = """
CREATE TABLE IF NOT EXISTS projects (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    schema_name text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
# Every statement once, so that what runs is what the audit log says ran (placeholders kept).
SQL_LIST = "SELECT id, name, schema_name, created_at FROM projects WHERE id > %s ORDER BY id LIMIT %s"
SQL_LIST_BEFORE = (
    "SELECT id, name, schema_name, created_at FROM projects WHERE id < %s ORDER BY id DESC LIMIT %s"
)
# Offset pagination, for comparison only (benchmarks/pagination.py): the database reads and
# throws away every row before the offset, so its cost grows with the depth.
SQL_LIST_OFFSET = "SELECT id, name, schema_name, created_at FROM projects ORDER BY id LIMIT %s OFFSET %s"
MAX_OFFSET = 10_000_000
SQL_INSERT = (
    "INSERT INTO projects (name, schema_name) VALUES (%s, %s) RETURNING id, name, schema_name, created_at"
)
SQL_SCHEMA = "CREATE SCHEMA {}"
SQL_ITEMS = "CREATE TABLE {}.items (id bigserial PRIMARY KEY, body jsonb NOT NULL)"
SQL_GET = "SELECT id, name, schema_name, created_at FROM projects WHERE id = %s"
SQL_SCHEMA_OF = "SELECT schema_name FROM projects WHERE id = %s"
SQL_DELETE = "DELETE FROM projects WHERE id = %s RETURNING schema_name"
SQL_DROP = "DROP SCHEMA {} CASCADE"
DUMP = "pg_dump --schema=%s --no-owner"


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


# -- helpers ---------------------------------------------------------------------------------


def _json(data: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(data, default=str),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


def _deps(request: Request) -> Dependencies:
    deps: Dependencies = request.app.state.deps
    return deps


def _bad_request(detail: str, instance: str) -> Response:
    return problem(400, "invalid-request", "Invalid request", detail, instance=instance)


def _unprocessable(detail: str, instance: str) -> Response:
    return problem(422, "invalid-document", "Unprocessable document", detail, instance=instance)


def _int_param(text: str, low: int, high: int) -> int | None:
    """A whole number written in ASCII digits within ``[low, high]``, else None. Not
    ``str.isdigit()``, which also accepts '²' (that ``int()`` refuses) and '١' (that it reads)."""
    if not (0 < len(text) <= 19 and text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if low <= value <= high else None


def _caller(request: Request) -> Caller:
    return Caller(
        request.client.host if request.client else None,
        request.method,
        str(request.scope.get("state", {}).get("route", "other")),
    )


@contextlib.contextmanager
def _audited(
    request: Request, system: str, action: str, query: str, target: str, kind: EventType = "access"
) -> Iterator[None]:
    """One database operation of this request, in its own span and audit line."""
    with _deps(request).audit.operation(
        system, action, query, target=target, kind=kind, caller=_caller(request)
    ):
        yield


def _not_found(what: str, instance: str) -> Response:
    return problem(404, "not-found", "Not found", f"{what} does not exist", instance=instance)


async def _guarded(request: Request, dependency: str, fn: Callable[[], Awaitable[Response]]) -> Response:
    """Turn breaker rejections, timeouts and dependency errors into problem responses."""
    deps = _deps(request)
    instance = request.url.path
    try:
        return await deps.call(dependency, fn)
    except ClientProblem as exc:
        return problem(exc.status, exc.slug, exc.title, exc.detail, instance=instance)
    except BreakerOpenError as exc:
        return problem(
            503,
            "circuit-open",
            "Dependency unavailable",
            f"the circuit breaker for {dependency} is open; the request was not attempted",
            instance=instance,
            headers={"Retry-After": str(max(1, int(exc.retry_after + 0.999)))},
            extra={"dependency": dependency},
        )
    except TimeoutError:
        return problem(
            503,
            "dependency-timeout",
            "Dependency timeout",
            f"{dependency} did not answer within {deps.breakers[dependency].settings.call_timeout:g} s",
            instance=instance,
            extra={"dependency": dependency},
        )
    except Exception as exc:  # any driver error: the dependency failed, not the client
        return problem(
            503,
            "dependency-failure",
            "Dependency failure",
            f"{dependency} failed: {type(exc).__name__}",
            instance=instance,
            extra={"dependency": dependency},
        )


def _project(row: tuple[Any, ...]) -> dict[str, object]:
    return {"id": row[0], "name": row[1], "schema": row[2], "created_at": row[3].isoformat()}


async def _read_body(request: Request) -> bytes | Response:
    """The body, refused as soon as it is known to exceed ``MAX_BODY``: from ``Content-Length``
    before reading, else while it streams. Never more than ``MAX_BODY`` bytes are held."""
    too_large = problem(
        413, "too-large", "Body too large", f"at most {MAX_BODY} bytes", instance=request.url.path
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        return too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_json_object(request: Request) -> dict[str, Any] | Response:
    body = await _read_body(request)
    if isinstance(body, Response):
        return body
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        # ValueError: not JSON, not UTF-8, or an integer of more than 4,300 digits (Python's
        # limit); RecursionError: nested deeper than the parser's stack.
        return _bad_request(
            "the body is not valid JSON (or nests too deep, or holds a number too long)", request.url.path
        )
    if not isinstance(data, dict):
        return _bad_request("the body must be a JSON object", request.url.path)
    return data


def _document_problem(value: object, depth: int = 0) -> str | None:
    """Why MongoDB (or BSON) would refuse ``value``, or None: checked before the call, so that
    the refusal is the client's 422 and not a dependency failure."""
    if depth > MAX_DEPTH:
        return f"documents nest at most {MAX_DEPTH} levels"
    if isinstance(value, dict):
        for key, item in value.items():
            if not key or "\x00" in key or key.startswith("$") or "." in key:
                return f"field name {key!r} is empty, holds a NUL or a '.', or starts with '$'"
            found = _document_problem(item, depth + 1)
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _document_problem(item, depth + 1)
            if found:
                return found
    elif isinstance(value, int) and not isinstance(value, bool) and not -MAX_INT64 - 1 <= value <= MAX_INT64:
        return "integers must fit in 64 bits (-2**63 to 2**63-1)"
    return None


# -- postgres routes ---------------------------------------------------------------------------


async def list_projects(request: Request) -> Response:
    """Cursor pagination (``cursor``: opaque, signed; ``Link`` first/next/prev), or ``offset``
    for comparison; not both."""
    deps = _deps(request)
    config = deps.config
    raw_limit = request.query_params.get("limit")
    limit = config.page_size_default if raw_limit is None else _int_param(raw_limit, 1, config.page_size_max)
    if limit is None:
        return _bad_request(
            f"limit must be a whole number from 1 to {config.page_size_max}", request.url.path
        )
    raw_offset = request.query_params.get("offset")
    offset = None if raw_offset is None else _int_param(raw_offset, 0, MAX_OFFSET)
    if raw_offset is not None and offset is None:
        return _bad_request(f"offset must be a whole number from 0 to {MAX_OFFSET}", request.url.path)
    direction: Direction = "after"
    position = 0
    if "cursor" in request.query_params:
        if offset is not None:
            return _bad_request("give cursor or offset, not both", request.url.path)
        try:
            direction, position = decode_cursor(request.query_params["cursor"], deps.cursor_key)
        except ValueError as exc:
            return _bad_request(f"cursor must be one this API gave: {exc}", request.url.path)

    async def run() -> Response:
        async with deps.pg() as conn:
            if offset is not None:
                with _audited(request, "postgresql", "select", SQL_LIST_OFFSET, "projects"):
                    cur = await conn.execute(SQL_LIST_OFFSET, (limit + 1, offset))
                    rows = await cur.fetchall()
            elif direction == "before":
                with _audited(request, "postgresql", "select", SQL_LIST_BEFORE, "projects"):
                    cur = await conn.execute(SQL_LIST_BEFORE, (position, limit + 1))
                    rows = list(reversed(await cur.fetchall()))
            else:
                with _audited(request, "postgresql", "select", SQL_LIST, "projects"):
                    cur = await conn.execute(SQL_LIST, (position, limit + 1))
                    rows = await cur.fetchall()
        more = len(rows) > limit
        page = (rows[1:] if direction == "before" else rows[:limit]) if more else rows
        items = [_project(r) for r in page]
        base = f"/v1/projects?limit={limit}"
        links = [f'<{base}>; rel="first"']
        if offset is not None:
            if more:
                links.append(f'<{base}&offset={offset + limit}>; rel="next"')
            if offset > 0:
                links.append(f'<{base}&offset={max(0, offset - limit)}>; rel="prev"')
        elif page:
            key = deps.cursor_key
            # after a backwards page the rows after it exist (we came from them)
            if more or direction == "before":
                links.append(f'<{base}&cursor={encode_cursor("after", page[-1][0], key)}>; rel="next"')
            if position > 0 and (direction == "after" or more):
                links.append(f'<{base}&cursor={encode_cursor("before", page[0][0], key)}>; rel="prev"')
        return _json({"items": items}, headers={"Link": ", ".join(links)})

    return await _guarded(request, "postgres", run)


async def create_project(request: Request) -> Response:
    data = await _read_json_object(request)
    if isinstance(data, Response):
        return data
    name = data.get("name")
    if not isinstance(name, str) or not PROJECT_NAME.match(name):
        return _bad_request("name must match [a-z][a-z0-9_]{0,39}", request.url.path)
    schema = f"project_{name}"
    metrics = _deps(request).metrics

    async def run() -> Response:
        async with _deps(request).pg() as conn:
            try:
                async with conn.transaction():
                    with _audited(request, "postgresql", "insert", SQL_INSERT, "projects", "creation"):
                        cur = await conn.execute(SQL_INSERT, (name, schema))
                        row = await cur.fetchone()
                    with _audited(request, "postgresql", "create", SQL_SCHEMA, "schema", "creation"):
                        await conn.execute(sql.SQL(SQL_SCHEMA).format(sql.Identifier(schema)))
                    with _audited(request, "postgresql", "create", SQL_ITEMS, "items", "creation"):
                        await conn.execute(sql.SQL(SQL_ITEMS).format(sql.Identifier(schema)))
            except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateSchema) as exc:
                raise ClientProblem(409, "conflict", "Conflict", f"project {name!r} exists") from exc
        assert row is not None
        project = _project(row)
        return _json(project, 201, {"Location": f"/v1/projects/{project['id']}"})

    response = await _guarded(request, "postgres", run)
    # A provisioning attempt either provisioned (2xx) or failed on our side (5xx); client
    # errors (409) are not provisioning attempts.
    if response.status_code < 300:
        metrics.operations.labels("provision_database", "success").inc()
    elif response.status_code >= 500:
        metrics.operations.labels("provision_database", "failure").inc()
    return response


def _project_id(request: Request) -> int | None:
    return _int_param(request.path_params["project_id"], 1, MAX_INT64)


async def get_project(request: Request) -> Response:
    project_id = _project_id(request)
    if project_id is None:
        return _not_found("project", request.url.path)

    async def run() -> Response:
        async with _deps(request).pg() as conn:
            with _audited(request, "postgresql", "select", SQL_GET, "projects"):
                cur = await conn.execute(SQL_GET, (project_id,))
                row = await cur.fetchone()
        if row is None:
            raise ClientProblem(404, "not-found", "Not found", "project does not exist")
        return _json(_project(row))

    return await _guarded(request, "postgres", run)


async def delete_project(request: Request) -> Response:
    """Deprovision: the project's row and its schema go in one transaction."""
    project_id = _project_id(request)
    if project_id is None:
        return _not_found("project", request.url.path)

    async def run() -> Response:
        async with _deps(request).pg() as conn, conn.transaction():
            with _audited(request, "postgresql", "delete", SQL_DELETE, "projects", "deletion"):
                cur = await conn.execute(SQL_DELETE, (project_id,))
                row = await cur.fetchone()
            if row is None:
                raise ClientProblem(404, "not-found", "Not found", "project does not exist")
            with _audited(request, "postgresql", "drop", SQL_DROP, "schema", "deletion"):
                await conn.execute(sql.SQL(SQL_DROP).format(sql.Identifier(str(row[0]))))
        return Response(status_code=204)

    return await _guarded(request, "postgres", run)


def _pg_dump_binary() -> str:
    from sloctl.servers import ServerStartError, pg_bin

    try:
        return pg_bin("pg_dump")
    except ServerStartError:
        found = shutil.which("pg_dump")
        if found is None:
            raise
        return found


async def create_backup(request: Request) -> Response:
    """``pg_dump`` of the project's schema to the backup directory, outcome counted."""
    deps = _deps(request)
    project_id = _project_id(request)
    if project_id is None:
        return _not_found("project", request.url.path)
    found: list[str] = []

    async def lookup() -> Response:
        async with deps.pg() as conn:
            with _audited(request, "postgresql", "select", SQL_SCHEMA_OF, "projects"):
                cur = await conn.execute(SQL_SCHEMA_OF, (project_id,))
                row = await cur.fetchone()
        if row is None:
            raise ClientProblem(404, "not-found", "Not found", "project does not exist")
        found.append(str(row[0]))
        return Response(status_code=204)

    looked_up = await _guarded(request, "postgres", lookup)
    if looked_up.status_code != 204:
        if looked_up.status_code >= 500:
            deps.metrics.operations.labels("backup", "failure").inc()
        return looked_up
    # pg_dump needs a session: it runs against PostgreSQL directly, not through PgBouncer.
    params = conninfo_to_dict(deps.config.postgres_direct_dsn or deps.config.postgres_dsn)
    password = str(params.pop("password", "") or "")
    env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"}
    backup_dir = Path(deps.config.backup_dir)
    backup_dir.mkdir(parents=True, exist_ok=True)
    target = backup_dir / f"project-{project_id}-{time.strftime('%Y%m%dT%H%M%S')}-{os.urandom(3).hex()}.sql"
    started = time.perf_counter()
    failed: str | None = None
    try:
        with _audited(request, "postgresql", "dump", DUMP, "schema"):
            failed = await _pg_dump(params, env, found[0], target, deps.config.backup_timeout)
            if failed is not None:
                raise BackupFailed(failed)
    except BackupFailed:
        deps.metrics.operations.labels("backup", "failure").inc()
        with contextlib.suppress(OSError):
            target.unlink()
        return problem(
            503, "backup-failed", "Backup failed", f"pg_dump failed: {failed}", instance=request.url.path
        )
    deps.metrics.operations.labels("backup", "success").inc()
    body = {
        "project_id": project_id,
        "file": target.name,
        "bytes": target.stat().st_size,
        "duration_seconds": round(time.perf_counter() - started, 4),
    }
    return _json(body, 201)


class BackupFailed(Exception):
    """pg_dump exited with an error (its last line of output is the message)."""


async def _pg_dump(
    params: dict[str, Any], env: dict[str, str], schema: str, target: Path, timeout: float
) -> str | None:
    """Run pg_dump (password in the environment, never on its command line); the last line of
    its output when it failed, else None."""
    proc = await asyncio.create_subprocess_exec(
        _pg_dump_binary(),
        f"--dbname={make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})}",
        f"--schema={schema}",
        "--no-owner",
        f"--file={target}",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout):
            _, stderr = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        stderr = b"pg_dump timed out"
    if proc.returncode == 0:
        return None
    last = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
    return last[0][:200]


# -- redis routes ------------------------------------------------------------------------------


def _cache_key(request: Request) -> str | None:
    key: str = request.path_params["key"]
    return key if CACHE_KEY.match(key) else None


async def get_cache(request: Request) -> Response:
    key = _cache_key(request)
    if key is None:
        return _bad_request("key must match [A-Za-z0-9_.:-]{1,200}", request.url.path)

    async def run() -> Response:
        with _audited(request, "redis", "get", "GET cache:%s", "cache"):
            value = await _deps(request).redis.get(f"cache:{key}")
        if value is None:
            raise ClientProblem(404, "not-found", "Not found", f"cache key {key!r} does not exist")
        return Response(
            value if isinstance(value, bytes) else value.encode(), media_type="application/octet-stream"
        )

    return await _guarded(request, "redis", run)


async def put_cache(request: Request) -> Response:
    key = _cache_key(request)
    if key is None:
        return _bad_request("key must match [A-Za-z0-9_.:-]{1,200}", request.url.path)
    ttl_raw = request.query_params.get("ttl")
    ttl = None if ttl_raw is None else _int_param(ttl_raw, 1, 86400 * 30)
    if ttl_raw is not None and ttl is None:
        return _bad_request("ttl must be a whole number of seconds, 1 to 2592000", request.url.path)
    body = await _read_body(request)
    if isinstance(body, Response):
        return body

    async def run() -> Response:
        query = "SET cache:%s %s" + (" EX %s" if ttl else "")
        with _audited(request, "redis", "set", query, "cache", "change"):
            await _deps(request).redis.set(f"cache:{key}", body, ex=ttl)
        return Response(status_code=204)

    return await _guarded(request, "redis", run)


# -- mongodb routes ----------------------------------------------------------------------------


async def create_document(request: Request) -> Response:
    data = await _read_json_object(request)
    if isinstance(data, Response):
        return data
    data.pop("_id", None)
    invalid = _document_problem(data)
    if invalid is None:
        try:
            bson_encode(data)  # BSON's own encoder has the last word
        except (InvalidDocument, OverflowError) as exc:
            invalid = str(exc)
    if invalid is not None:
        return _unprocessable(invalid, request.url.path)

    async def run() -> Response:
        with _audited(request, "mongodb", "insert", '{"insert": "documents"}', "documents", "creation"):
            result = await _deps(request).mongo.platform.documents.insert_one(dict(data))
        doc_id = str(result.inserted_id)
        return _json({"id": doc_id}, 201, {"Location": f"/v1/documents/{doc_id}"})

    return await _guarded(request, "mongodb", run)


async def get_document(request: Request) -> Response:
    try:
        oid = ObjectId(request.path_params["document_id"])
    except (InvalidId, TypeError):
        return _not_found("document", request.url.path)

    async def run() -> Response:
        with _audited(
            request, "mongodb", "find", '{"find": "documents", "filter": {"_id": "%s"}}', "documents"
        ):
            doc = await _deps(request).mongo.platform.documents.find_one({"_id": oid})
        if doc is None:
            raise ClientProblem(404, "not-found", "Not found", "document does not exist")
        doc["id"] = str(doc.pop("_id"))
        return _json(doc)

    return await _guarded(request, "mongodb", run)


# -- unmetered-by-SLO routes -------------------------------------------------------------------


async def healthz(request: Request) -> Response:
    """Liveness of the API process itself; breaker states for humans (no database call)."""
    deps = _deps(request)
    return JSONResponse({"status": "ok", "breakers": {d: b.state.label for d, b in deps.breakers.items()}})


async def openapi_endpoint(request: Request) -> Response:
    return JSONResponse(openapi_document())


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(_deps(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)


ROUTES = [
    Route("/v1/projects", list_projects, methods=["GET"]),
    Route("/v1/projects", create_project, methods=["POST"]),
    Route("/v1/projects/{project_id}", get_project, methods=["GET"]),
    Route("/v1/projects/{project_id}", delete_project, methods=["DELETE"]),
    Route("/v1/projects/{project_id}/backups", create_backup, methods=["POST"]),
    Route("/v1/cache/{key}", get_cache, methods=["GET"]),
    Route("/v1/cache/{key}", put_cache, methods=["PUT"]),
    Route("/v1/documents", create_document, methods=["POST"]),
    Route("/v1/documents/{document_id}", get_document, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/metrics", metrics_endpoint, methods=["GET"]),
    Route("/openapi.json", openapi_endpoint, methods=["GET"]),
]


class PlatformMiddleware:
    """Pure ASGI middleware (cheaper than BaseHTTPMiddleware): route template, rate limit,
    server span, ``API-Version`` header, request counter and latency histogram."""

    def __init__(
        self, app: ASGIApp, *, metrics: PlatformMetrics, limiter: RateLimiter, tracer: trace.Tracer
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.limiter = limiter
        self.tracer = tracer

    @staticmethod
    def _route(scope: Scope) -> str:
        partial = None
        for route in ROUTES:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route.path
            if match is Match.PARTIAL and partial is None:
                partial = route.path
        return partial or "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        route = self._route(scope)
        # For the audit log: the route template, not the path (ids in paths are values).
        scope.setdefault("state", {})["route"] = route
        method: str = scope["method"]
        dependency = ROUTE_DEPENDENCY.get(route, "none")
        request_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        version, version_headers = negotiate_version(request_headers.get("api-version"))
        extra: list[tuple[bytes, bytes]] = [(b"api-version", (version or API_VERSION).encode())]
        extra += [(k.lower().encode(), v.encode()) for k, v in version_headers.items()]
        status = 500
        # W3C trace context: a caller's traceparent (the collector's probe, a client) is
        # continued, so that one trace spans the caller, the API and the database calls.
        parent = _W3C.extract(request_headers)
        with self.tracer.start_as_current_span(
            f"{method} {route}", kind=SpanKind.SERVER, context=parent
        ) as span:
            request_id = format(span.get_span_context().trace_id, "032x")
            token = REQUEST_ID.set(request_id)
            extra.append((b"x-request-id", request_id.encode()))
            span.set_attribute("http.request.method", method)
            span.set_attribute("http.route", route)
            try:
                if route.startswith("/v1/") and version is None:
                    status = 400
                    await self._refuse_version(request_headers["api-version"], scope, receive, send, extra)
                    return
                if route.startswith("/v1/"):
                    client = scope.get("client")
                    decision = self.limiter.check(client[0] if client else "unknown")
                    headers = self.limiter.headers(decision)
                    if not decision.allowed:
                        response = problem(
                            429,
                            "rate-limited",
                            "Too many requests",
                            f"the rate limit is {self.limiter.rate:g} requests/s with bursts of "
                            f"{self.limiter.capacity}",
                            instance=scope["path"],
                            headers=headers,
                        )
                        status = 429
                        await response(scope, receive, _with_headers(send, extra))
                        return
                    extra += [(k.lower().encode(), v.encode()) for k, v in headers.items()]

                async def send_with_headers(message: Message) -> None:
                    nonlocal status
                    if message["type"] == "http.response.start":
                        status = message["status"]
                        # W3C Server-Timing: the time the API took until it answered, so that
                        # clients (the game days' fast-fail check) can tell it from the network.
                        took = f"app;dur={(time.perf_counter() - started) * 1000:.3f}".encode()
                        headers = [*message.get("headers", []), *extra, (b"server-timing", took)]
                        message = {**message, "headers": headers}
                    await send(message)

                await self.app(scope, receive, send_with_headers)
            finally:
                REQUEST_ID.reset(token)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                elapsed = time.perf_counter() - started
                self.metrics.requests.labels(route, method, str(status), dependency).inc()
                self.metrics.duration.labels(route, method, dependency).observe(elapsed)

    @staticmethod
    async def _refuse_version(
        asked: str, scope: Scope, receive: Receive, send: Send, extra: list[tuple[bytes, bytes]]
    ) -> None:
        supported = ", ".join([API_VERSION, *DEPRECATED_VERSIONS])
        response = problem(
            400,
            "unsupported-version",
            "Unsupported API version",
            f"API-Version {asked[:40]!r} is not served; supported: {supported}",
            instance=scope["path"],
        )
        await response(scope, receive, _with_headers(send, extra))


_W3C = TraceContextTextMapPropagator()


def _with_headers(send: Send, extra: Sequence[tuple[bytes, bytes]]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


def _http_date(unix: int) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(unix))


def negotiate_version(asked: str | None) -> tuple[str | None, dict[str, str]]:
    """The version to answer with (``None``: not served) and the headers that go with it: an
    older version is served with ``Deprecation: @<unix>`` (RFC 9745) and ``Sunset`` (RFC 8594)."""
    if asked is None or asked.strip() == API_VERSION:
        return API_VERSION, {}
    asked = asked.strip()
    if asked in DEPRECATED_VERSIONS:
        deprecated, sunset = DEPRECATED_VERSIONS[asked]
        return asked, {"Deprecation": f"@{deprecated}", "Sunset": _http_date(sunset)}
    return None, {}


def _dsns(config: TestbedConfig) -> list[str]:
    return [
        dsn
        for dsn in (config.postgres_dsn, config.postgres_direct_dsn, config.redis_url, config.mongodb_uri)
        if dsn
    ]


def make_tracer_provider(config: TestbedConfig, id_generator: IdGenerator | None = None) -> TracerProvider:
    """The API's tracer provider: OTLP/HTTP export when ``config.otlp_endpoint`` is set;
    ``id_generator`` is the SDK's random one unless given (tests seed it)."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": config.service_name}), id_generator=id_generator
    )
    if config.otlp_endpoint:
        # Optional: the OTLP exporter ships with the collector extra.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=config.otlp_endpoint)))
    return provider


def _database_users(config: TestbedConfig) -> dict[str, str | None]:
    """The role each dependency is used as, for the audit log's ``user.name``."""
    from redis.connection import parse_url

    redis_user = parse_url(config.redis_url).get("username")  # type: ignore[no-untyped-call]
    mongo_user = urlsplit(config.mongodb_uri).username
    return {
        "postgresql": str(conninfo_to_dict(config.postgres_dsn).get("user") or "") or None,
        "redis": str(redis_user or "default"),
        "mongodb": unquote(mongo_user) if mongo_user else None,
    }


def create_app(
    config: TestbedConfig,
    *,
    metrics: PlatformMetrics | None = None,
    clock: Clock = time.monotonic,
    tracer_provider: TracerProvider | None = None,
    audit_stream: IO[str] | None = None,
) -> Starlette:
    """Build the ASGI app. Clients connect lazily: the API starts even when a database is down
    (its breaker will tell). ``audit_stream`` receives the audit log (one JSON line per
    database operation); none is written without it."""
    metrics = metrics or PlatformMetrics()
    metrics.init_operations()
    provider = tracer_provider or make_tracer_provider(config)
    tracer = provider.get_tracer("testbed")
    # The passwords of the connection strings are masked wherever a driver error repeats them.
    secrets = [p for dsn in _dsns(config) for p in url_secrets(dsn)]
    audit = AuditLog(audit_stream, config.service_name, Masker(secrets), tracer, _database_users(config))
    deps = Dependencies(config, metrics, tracer, clock, audit)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await deps.open()
        try:
            yield
        finally:
            await deps.close()
            provider.shutdown()

    async def internal_error(request: Request, exc: Exception) -> Response:
        # Starlette's last resort (its ServerErrorMiddleware) answers text/plain otherwise; every
        # 5xx of the API is a problem document. The exception is still logged by the server.
        return problem(
            500,
            "internal-error",
            "Internal server error",
            "the API failed while answering; the error is in its log",
            instance=request.url.path,
        )

    async def http_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem(
            exc.status_code,
            slug,
            HTTPStatus(exc.status_code).phrase,
            str(exc.detail),
            instance=request.url.path,
            headers=exc.headers,
        )

    app = Starlette(
        routes=ROUTES,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_problem, Exception: internal_error},
    )
    app.state.deps = deps
    app.add_middleware(
        PlatformMiddleware,
        metrics=metrics,
        limiter=RateLimiter(config.rate_limit_per_second, config.rate_limit_burst, clock=clock),
        tracer=tracer,
    )
    return app
