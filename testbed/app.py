"""The platform API as an ASGI application (Starlette).

Routes, dependencies and metrics are those of docs/metrics.md. Every database call goes
through its dependency's circuit breaker (which applies the call timeout); failures become
RFC 9457 problems: 503 with ``Retry-After`` when a breaker is open.

What the client got wrong is settled before any dependency is called, so that it answers 400,
413 or 422 and never counts against a breaker: bodies are limited while they stream, numbers in
paths and queries are ASCII digits within range, JSON is parsed with its nesting and digit
limits caught, and documents are checked against what BSON and MongoDB accept. Every database
operation is written to the audit log (:mod:`testbed.audit`).

Layout: :mod:`testbed.dependencies` (pools, clients, breakers), :mod:`testbed.routes` (one
module per database, plus the service routes), :mod:`testbed.middleware` (version, trace
context, rate limit, metrics); this module wires them into a Starlette app, which
``python -m testbed`` serves with uvicorn over :mod:`testbed.protocol` (a request's head bounded).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import IO
from urllib.parse import unquote, urlsplit

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from psycopg.conninfo import conninfo_to_dict
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

from sloctl.contract import TIERS
from sloctl.masking import Masker, url_secrets

from .audit import AuditLog
from .breaker import Clock
from .config import TestbedConfig
from .dependencies import Dependencies
from .metrics import PlatformMetrics
from .middleware import PlatformMiddleware
from .problems import internal_error, problem
from .ratelimit import RateLimiter
from .routes import ROUTES

__all__ = ["create_app", "make_tracer_provider"]


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

    app = Starlette(
        routes=ROUTES,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_problem, Exception: _internal_error},
    )
    # No redirect of /v1/projects/ to /v1/projects: Starlette builds its Location from the
    # client's Host header (Host: evil.example got http://evil.example/v1/projects, a redirect a
    # shared cache would keep for everyone). The paths are the contract's; others are a 404.
    app.router.redirect_slashes = False
    app.state.deps = deps
    app.add_middleware(
        PlatformMiddleware,
        metrics=metrics,
        limiter=RateLimiter(config.rate_limit_per_second, config.rate_limit_burst, clock=clock),
        tracer=tracer,
        api_keys=config.api_keys,
        tier_limiters={
            t.name: RateLimiter.per_minute(t.requests_per_minute, clock=clock, policy_name=t.name)
            for t in TIERS
        },
    )
    return app


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Starlette's last resort (its ServerErrorMiddleware) answers text/plain otherwise; every
    # 5xx of the API is a problem document. The exception is still logged by the server.
    return internal_error(request.url.path)


def _allowed_methods(scope: Scope) -> list[str]:
    """The methods of every route whose path matches, in the route table's order. Starlette's
    own 405 names the methods of the first such route only: ``DELETE /v1/projects`` said
    ``Allow: GET, HEAD``, leaving out POST (RFC 9110 §15.5.6: Allow lists what the resource
    supports)."""
    methods: list[str] = []
    for route in ROUTES:
        if route.matches(scope)[0] is not Match.NONE:
            methods += [m for m in sorted(route.methods or (), key=_method_rank) if m not in methods]
    return methods


_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _method_rank(method: str) -> int:
    return _METHOD_ORDER.index(method) if method in _METHOD_ORDER else len(_METHOD_ORDER)


async def _http_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    detail, headers = str(exc.detail), exc.headers
    if exc.status_code == 405:
        allow = ", ".join(_allowed_methods(request.scope))
        detail = f"{request.method[:20]} is not served on this path; it serves {allow}"
        headers = {**(headers or {}), "Allow": allow}
    return problem(
        exc.status_code,
        slug,
        HTTPStatus(exc.status_code).phrase,
        detail,
        instance=request.url.path,
        headers=headers,
    )
