"""OpenTelemetry: a server span per request and a client span per dependency call."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette

from sloctl.servers import free_port
from testbed.app import create_app
from testbed.config import TestbedConfig
from tests.fixtures.servers import Databases

pytestmark = pytest.mark.servers


def _patient(databases: Databases) -> TestbedConfig:
    """The API on the session's databases with a Redis call timeout of 10 s, not the plan's 1 s:
    these tests are about spans, and a loaded 2-core machine has made a first Redis call (connect,
    AUTH, GET) outlast 1 s, answered 503."""
    config = databases.config()
    return databases.config(timeouts=tuple(sorted((dict(config.timeouts) | {"redis": 10.0}).items())))


def traced(config: TestbedConfig) -> tuple[Starlette, InMemorySpanExporter]:
    """The API in process and the exporter that keeps its finished spans."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return create_app(config, tracer_provider=provider), exporter


async def get(app: Starlette, path: str) -> httpx.Response:
    """One request in process (no lifespan: the Redis client connects lazily)."""
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.get(path)
    finally:
        await app.state.deps.close()


def test_requests_and_dependency_calls_are_traced(databases: Databases) -> None:
    app, exporter = traced(_patient(databases))
    response = asyncio.run(get(app, "/v1/cache/traced"))
    assert response.status_code == 404, response.text
    spans = {s.name: s for s in exporter.get_finished_spans()}
    server, call = spans["GET /v1/cache/{key}"], spans["redis call"]
    assert server.kind is SpanKind.SERVER and call.kind is SpanKind.CLIENT
    assert call.parent is not None and call.parent.span_id == server.context.span_id
    assert server.attributes is not None and server.attributes["http.response.status_code"] == 404
    assert server.status.status_code is StatusCode.UNSET


def test_a_failed_dependency_marks_the_server_span_as_an_error(databases: Databases) -> None:
    nowhere = f"redis://:x@127.0.0.1:{free_port()}/0"  # nothing listens there
    app, exporter = traced(databases.config(redis_url=nowhere))
    response = asyncio.run(get(app, "/v1/cache/traced"))
    assert response.status_code == 503, response.text
    server = next(s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER)
    assert server.status.status_code is StatusCode.ERROR


def test_an_incoming_traceparent_is_continued_and_names_the_problems_request_id(
    databases: Databases,
) -> None:
    app, exporter = traced(_patient(databases))
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

    async def call() -> httpx.Response:
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                headers = {"traceparent": f"00-{trace_id}-{parent_id}-01"}
                return await client.get("/v1/cache/absent-traced", headers=headers)
        finally:
            await app.state.deps.close()

    response = asyncio.run(call())
    spans = {s.name: s for s in exporter.get_finished_spans()}
    server, db = spans["GET /v1/cache/{key}"], spans["redis call"]
    # one trace: the caller's span is the server span's parent, the database call its child
    assert format(server.context.trace_id, "032x") == trace_id
    assert server.parent is not None and format(server.parent.span_id, "016x") == parent_id
    assert db.context.trace_id == server.context.trace_id
    body = response.json()
    assert body["request_id"] == trace_id == response.headers["X-Request-ID"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["timestamp"])
