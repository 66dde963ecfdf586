"""The platform API as an ASGI application (Starlette).

Routes, dependencies and metrics are those of docs/metrics.md. Every database call goes
through its dependency's circuit breaker (which applies the call timeout); failures become
RFC 9457 problems: 503 with ``Retry-After`` when a breaker is open.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import redis.asyncio as aioredis
from bson import ObjectId
from bson.errors import InvalidId
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode
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

from .breaker import BreakerOpenError, CircuitBreaker, Clock
from .config import API_VERSION, DEPENDENCIES, TestbedConfig
from .metrics import PlatformMetrics
from .problems import problem
from .ratelimit import RateLimiter

__all__ = ["ROUTES", "create_app", "make_tracer_provider"]

T = TypeVar("T")

#: route template -> dependency label (docs/metrics.md, "Routes of the platform API")
ROUTE_DEPENDENCY: dict[str, str] = {
    "/v1/projects": "postgres",
    "/v1/projects/{project_id}": "postgres",
    "/v1/projects/{project_id}/backups": "postgres",
    "/v1/cache/{key}": "redis",
    "/v1/documents": "mongodb",
    "/v1/documents/{document_id}": "mongodb",
    "/healthz": "none",
    "/metrics": "none",
}
PROJECT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
CACHE_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
MAX_BODY = 64 * 1024
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
        self, config: TestbedConfig, metrics: PlatformMetrics, tracer: trace.Tracer, clock: Clock
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.tracer = tracer
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
            max_connections=config.pool_size,
            timeout=redis_timeout,
            socket_timeout=redis_timeout,
            socket_connect_timeout=redis_timeout,
        )
        # No client-side retries: the breaker and the caller decide, and failing fast is the point.
        self.redis = aioredis.Redis(connection_pool=self.redis_pool, retry=Retry(NoBackoff(), 0))
        mongo_ms = int(config.breaker_for("mongodb").call_timeout * 1000)
        self.mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            config.mongodb_uri,
            maxPoolSize=config.pool_size,
            serverSelectionTimeoutMS=mongo_ms,
            connectTimeoutMS=mongo_ms,
            appname="platform-api",
            connect=False,
        )
        self._schema_ready = False
        self._schema_lock = asyncio.Lock()
        self._export_pool_gauges()

    def _export_pool_gauges(self) -> None:
        size = self.config.pool_size
        for dep in DEPENDENCIES:
            self.metrics.init_dependency(dep)
            self.metrics.pool_size.labels(dep).set(size)

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
        return lambda: float(min(self.in_flight[dep], self.config.pool_size))

    def _waiting_reader(self, dep: str) -> Callable[[], float]:
        return lambda: float(max(0, self.in_flight[dep] - self.config.pool_size))

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


def _encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("cursor is not valid") from exc
    if not raw.startswith("id:") or not raw[3:].isdigit():
        raise ValueError("cursor is not valid")
    return int(raw[3:])


def _project(row: tuple[Any, ...]) -> dict[str, object]:
    return {"id": row[0], "name": row[1], "schema": row[2], "created_at": row[3].isoformat()}


async def _read_json_object(request: Request) -> dict[str, Any] | Response:
    body = await request.body()
    if len(body) > MAX_BODY:
        return problem(
            413, "too-large", "Body too large", f"at most {MAX_BODY} bytes", instance=request.url.path
        )
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _bad_request("the body is not valid JSON", request.url.path)
    if not isinstance(data, dict):
        return _bad_request("the body must be a JSON object", request.url.path)
    return data


# -- postgres routes ---------------------------------------------------------------------------


async def list_projects(request: Request) -> Response:
    config = _deps(request).config
    try:
        limit = int(request.query_params.get("limit", config.page_size_default))
        after = _decode_cursor(request.query_params["cursor"]) if "cursor" in request.query_params else 0
    except ValueError as exc:
        return _bad_request(f"limit must be an integer and cursor opaque: {exc}", request.url.path)
    if not 1 <= limit <= config.page_size_max:
        return _bad_request(f"limit must be between 1 and {config.page_size_max}", request.url.path)

    async def run() -> Response:
        async with _deps(request).pg() as conn:
            cur = await conn.execute(
                "SELECT id, name, schema_name, created_at FROM projects WHERE id > %s ORDER BY id LIMIT %s",
                (after, limit + 1),
            )
            rows = await cur.fetchall()
        items = [_project(r) for r in rows[:limit]]
        headers: dict[str, str] = {}
        links = [f'</v1/projects?limit={limit}>; rel="first"']
        if len(rows) > limit:
            links.append(
                f'</v1/projects?limit={limit}&cursor={_encode_cursor(rows[limit - 1][0])}>; rel="next"'
            )
        headers["Link"] = ", ".join(links)
        return _json({"items": items}, headers=headers)

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
                    cur = await conn.execute(
                        "INSERT INTO projects (name, schema_name) VALUES (%s, %s) "
                        "RETURNING id, name, schema_name, created_at",
                        (name, schema),
                    )
                    row = await cur.fetchone()
                    await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
                    await conn.execute(
                        sql.SQL(
                            "CREATE TABLE {}.items (id bigserial PRIMARY KEY, body jsonb NOT NULL)"
                        ).format(sql.Identifier(schema))
                    )
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
    raw = request.path_params["project_id"]
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


async def get_project(request: Request) -> Response:
    project_id = _project_id(request)
    if project_id is None:
        return _not_found("project", request.url.path)

    async def run() -> Response:
        async with _deps(request).pg() as conn:
            cur = await conn.execute(
                "SELECT id, name, schema_name, created_at FROM projects WHERE id = %s", (project_id,)
            )
            row = await cur.fetchone()
        if row is None:
            raise ClientProblem(404, "not-found", "Not found", "project does not exist")
        return _json(_project(row))

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
            cur = await conn.execute("SELECT schema_name FROM projects WHERE id = %s", (project_id,))
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
    with deps.tracer.start_as_current_span("pg_dump", kind=SpanKind.CLIENT) as span:
        proc = await asyncio.create_subprocess_exec(
            _pg_dump_binary(),
            f"--dbname={make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})}",
            f"--schema={found[0]}",
            "--no-owner",
            f"--file={target}",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(deps.config.backup_timeout):
                _, stderr = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            stderr = b"pg_dump timed out"
        if proc.returncode != 0:
            span.set_status(Status(StatusCode.ERROR, "pg_dump failed"))
            deps.metrics.operations.labels("backup", "failure").inc()
            with contextlib.suppress(OSError):
                target.unlink()
            last = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            return problem(
                503,
                "backup-failed",
                "Backup failed",
                f"pg_dump failed: {last[0][:200]}",
                instance=request.url.path,
            )
    deps.metrics.operations.labels("backup", "success").inc()
    body = {
        "project_id": project_id,
        "file": target.name,
        "bytes": target.stat().st_size,
        "duration_seconds": round(time.perf_counter() - started, 4),
    }
    return _json(body, 201)


# -- redis routes ------------------------------------------------------------------------------


def _cache_key(request: Request) -> str | None:
    key: str = request.path_params["key"]
    return key if CACHE_KEY.match(key) else None


async def get_cache(request: Request) -> Response:
    key = _cache_key(request)
    if key is None:
        return _bad_request("key must match [A-Za-z0-9_.:-]{1,200}", request.url.path)

    async def run() -> Response:
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
    body = await request.body()
    if len(body) > MAX_BODY:
        return problem(
            413, "too-large", "Body too large", f"at most {MAX_BODY} bytes", instance=request.url.path
        )
    ttl_raw = request.query_params.get("ttl")
    if ttl_raw is not None and not (ttl_raw.isdigit() and 0 < int(ttl_raw) <= 86400 * 30):
        return _bad_request("ttl must be a whole number of seconds, 1 to 2592000", request.url.path)
    ttl = int(ttl_raw) if ttl_raw else None

    async def run() -> Response:
        await _deps(request).redis.set(f"cache:{key}", body, ex=ttl)
        return Response(status_code=204)

    return await _guarded(request, "redis", run)


# -- mongodb routes ----------------------------------------------------------------------------


async def create_document(request: Request) -> Response:
    data = await _read_json_object(request)
    if isinstance(data, Response):
        return data
    data.pop("_id", None)

    async def run() -> Response:
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


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(_deps(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)


ROUTES = [
    Route("/v1/projects", list_projects, methods=["GET"]),
    Route("/v1/projects", create_project, methods=["POST"]),
    Route("/v1/projects/{project_id}", get_project, methods=["GET"]),
    Route("/v1/projects/{project_id}/backups", create_backup, methods=["POST"]),
    Route("/v1/cache/{key}", get_cache, methods=["GET"]),
    Route("/v1/cache/{key}", put_cache, methods=["PUT"]),
    Route("/v1/documents", create_document, methods=["POST"]),
    Route("/v1/documents/{document_id}", get_document, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/metrics", metrics_endpoint, methods=["GET"]),
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
        method: str = scope["method"]
        dependency = ROUTE_DEPENDENCY.get(route, "none")
        extra: list[tuple[bytes, bytes]] = [(b"api-version", API_VERSION.encode())]
        status = 500
        with self.tracer.start_as_current_span(f"{method} {route}", kind=SpanKind.SERVER) as span:
            span.set_attribute("http.request.method", method)
            span.set_attribute("http.route", route)
            try:
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
                            headers={**headers, "API-Version": API_VERSION},
                        )
                        status = 429
                        await response(scope, receive, send)
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
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                elapsed = time.perf_counter() - started
                self.metrics.requests.labels(route, method, str(status), dependency).inc()
                self.metrics.duration.labels(route, method, dependency).observe(elapsed)


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


def create_app(
    config: TestbedConfig,
    *,
    metrics: PlatformMetrics | None = None,
    clock: Clock = time.monotonic,
    tracer_provider: TracerProvider | None = None,
) -> Starlette:
    """Build the ASGI app. Clients connect lazily: the API starts even when a database is down
    (its breaker will tell)."""
    metrics = metrics or PlatformMetrics()
    metrics.init_operations()
    provider = tracer_provider or make_tracer_provider(config)
    tracer = provider.get_tracer("testbed")
    deps = Dependencies(config, metrics, tracer, clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await deps.open()
        try:
            yield
        finally:
            await deps.close()
            provider.shutdown()

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

    app = Starlette(routes=ROUTES, lifespan=lifespan, exception_handlers={HTTPException: http_problem})
    app.state.deps = deps
    app.add_middleware(
        PlatformMiddleware,
        metrics=metrics,
        limiter=RateLimiter(config.rate_limit_per_second, config.rate_limit_burst, clock=clock),
        tracer=tracer,
    )
    return app
