"""The testbed's audit log: one ECS 8.x line per database operation, queries with their
placeholders and never the values, personal data masked, and trace.id/span.id those of the
operation's own OpenTelemetry span (read from the SDK's in-memory exporter)."""

from __future__ import annotations

import io
import json
import os
import stat

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.testclient import TestClient

from sloctl.testbed_runner import ApiServer
from testbed.app import create_app
from tests.fixtures.servers import Databases

pytestmark = pytest.mark.servers

PERSONAL = ["jane.doe@example.com", "4111111111111111", "+1 415-555-0100", "123-45-6789", "hunter2-pw"]


def test_every_database_operation_is_an_ecs_line_correlated_with_its_span(databases: Databases) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    audit = io.StringIO()
    config = databases.config(postgres_direct_dsn=databases.postgres.dsn)
    app = create_app(config, tracer_provider=provider, audit_stream=audit)
    document = {"email": PERSONAL[0], "card": PERSONAL[1], "phone": PERSONAL[2], "ssn": PERSONAL[3]}
    with TestClient(app, base_url="http://127.0.0.1") as client:
        created = client.post("/v1/documents", json={**document, "password": PERSONAL[4]})
        assert created.status_code == 201
        assert client.get(f"/v1/documents/{created.json()['id']}").status_code == 200
        assert client.put("/v1/cache/audit-k", content=PERSONAL[0].encode()).status_code == 204
        assert client.get("/v1/cache/audit-k").status_code == 200
        assert client.post("/v1/projects", json={"name": "audited"}).status_code in (201, 409)
        assert client.post("/v1/projects", json={"name": "audited"}).status_code == 409  # a failed INSERT
        assert client.get("/v1/projects?limit=5").status_code == 200
    text = audit.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    for value in (*PERSONAL, databases.pgbouncer.password, databases.redis.password):
        assert value not in text
    actions = [line["event.action"] for line in lines]
    for expected in ("mongodb.insert", "mongodb.find", "redis.set", "redis.get", "postgresql.insert"):
        assert expected in actions, actions
    assert actions.count("postgresql.select") >= 1
    spans = {
        (f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}"): s for s in exporter.get_finished_spans()
    }
    for line in lines:
        assert line["ecs.version"].startswith("8.")
        assert line["event.kind"] == "event" and line["event.category"] == ["database"]
        assert line["event.type"][0] in ("access", "change", "creation")
        assert line["event.outcome"] in ("success", "failure") and line["event.duration"] > 0
        assert line["database.type"] in ("postgresql", "redis", "mongodb")
        assert "%s" in line["database.query"] or line["event.action"] in (
            "postgresql.create",
            "mongodb.insert",
        )
        span = spans[(line["trace.id"], line["span.id"])]  # the operation's own span
        assert span.kind is SpanKind.CLIENT and span.parent is not None
        call = next(s for s in spans.values() if s.context.span_id == span.parent.span_id)
        assert call.name.endswith(" call")  # the breaker's call span, under the request's
    pg = [line for line in lines if line["database.type"] == "postgresql"]
    assert {line["user.name"] for line in pg} == {databases.pgbouncer.user}
    failed = [line for line in lines if line["event.outcome"] == "failure"]
    assert [line["event.action"] for line in failed] == ["postgresql.insert"]
    assert failed[0]["error.type"] == "UniqueViolation" and failed[0]["log.level"] == "warning"


def test_the_api_process_writes_its_audit_log_owner_only(platform_api: ApiServer) -> None:
    with httpx.Client(base_url=platform_api.url, timeout=10) as client:
        assert client.get("/v1/cache/audit-file").status_code == 404
    mode = stat.S_IMODE(os.stat(platform_api.audit_log).st_mode)
    assert mode == 0o600, oct(mode)
    last = json.loads(platform_api.audit_log.read_text().splitlines()[-1])
    assert last["event.action"] == "redis.get" and last["url.path"] == "/v1/cache/{key}"
