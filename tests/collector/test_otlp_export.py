"""The collector's traces really leave over OTLP, over HTTP and over gRPC.

A receiver on loopback (the suite's stub HTTP server, and a real gRPC TraceService) decodes what the
exporter the collector configures sends: the resource attributes, the span, its ERROR status.
"""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.trace import Status, StatusCode

import sloctl
from sloctl.collector.config import OtlpConfig
from sloctl.collector.tracing import make_tracer_provider
from tests.collector.otlp import otlp_grpc_receiver
from tests.fixtures.stub_http import Answer, serve


def _emit(endpoint: str, protocol: str) -> None:
    provider = make_tracer_provider("sloctl-collector", OtlpConfig(endpoint=endpoint, protocol=protocol))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("probe postgres") as run:
        with tracer.start_as_current_span("connect"):
            pass
        run.set_status(Status(StatusCode.ERROR, "refused"))
    assert provider.force_flush(10_000)
    provider.shutdown()


def _check(request: trace_service_pb2.ExportTraceServiceRequest) -> None:
    (resource_spans,) = request.resource_spans
    attrs = {a.key: a.value for a in resource_spans.resource.attributes}
    assert attrs["service.name"].string_value == "sloctl-collector"
    assert attrs["sloctl.synthetic"].bool_value is True
    spans = {s.name: s for scope in resource_spans.scope_spans for s in scope.spans}
    assert set(spans) == {"probe postgres", "connect"}
    assert spans["connect"].parent_span_id == spans["probe postgres"].span_id
    assert spans["probe postgres"].status.code == 2  # STATUS_CODE_ERROR: tail sampling keeps it


def test_traces_are_exported_over_otlp_http() -> None:
    reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
    answer = Answer(reply, "application/x-protobuf")
    with serve(lambda _request: answer) as receiver:
        _emit(receiver.url, "http/protobuf")
    first, *_ = receiver.requests
    assert (first.method, first.path) == ("POST", "/v1/traces")
    request = trace_service_pb2.ExportTraceServiceRequest()
    request.ParseFromString(first.body)
    _check(request)


def test_traces_are_exported_over_otlp_grpc() -> None:
    received: list[trace_service_pb2.ExportTraceServiceRequest] = []
    with otlp_grpc_receiver(received.append) as address:
        _emit(f"http://{address}", "grpc")
    assert received
    _check(received[0])


def test_the_resource_names_the_version_of_the_sloctl_that_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """``service.version`` was a copy of the version number beside the package's own."""
    monkeypatch.setattr(sloctl, "__version__", "9.8.7")
    provider = make_tracer_provider("sloctl-collector", None)
    assert provider.resource.attributes["service.version"] == "9.8.7"
