"""OpenTelemetry: a server span per request and a client span per dependency call."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette

from sloctl.servers import MongoServer, PgBouncerServer, RedisServer, free_port
from testbed.app import create_app
from testbed.config import TestbedConfig

pytestmark = pytest.mark.servers


async def get_status(app: Starlette, path: str) -> int:
    """One request in process (no lifespan: the Redis client connects lazily)."""
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return (await client.get(path)).status_code
    finally:
        await app.state.deps.close()


def test_requests_and_dependency_calls_are_traced(
    pgbouncer_server: PgBouncerServer, redis_server: RedisServer, mongodb_server: MongoServer
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = TestbedConfig(
        postgres_dsn=pgbouncer_server.dsn,
        redis_url=redis_server.url,
        mongodb_uri=mongodb_server.uri,
    )
    assert asyncio.run(get_status(create_app(config, tracer_provider=provider), "/v1/cache/traced")) == 404
    spans = {s.name: s for s in exporter.get_finished_spans()}
    server, call = spans["GET /v1/cache/{key}"], spans["redis call"]
    assert server.kind is SpanKind.SERVER and call.kind is SpanKind.CLIENT
    assert call.parent is not None and call.parent.span_id == server.context.span_id
    assert server.attributes is not None and server.attributes["http.response.status_code"] == 404
    assert server.status.status_code is StatusCode.UNSET


def test_a_failed_dependency_marks_the_server_span_as_an_error(
    pgbouncer_server: PgBouncerServer, mongodb_server: MongoServer
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = TestbedConfig(
        postgres_dsn=pgbouncer_server.dsn,
        redis_url=f"redis://:x@127.0.0.1:{free_port()}/0",  # nothing listens there
        mongodb_uri=mongodb_server.uri,
    )
    assert asyncio.run(get_status(create_app(config, tracer_provider=provider), "/v1/cache/traced")) == 503
    server = next(s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER)
    assert server.status.status_code is StatusCode.ERROR
