"""The collector's traces really leave over OTLP, over HTTP and over gRPC.

A receiver on loopback (a plain HTTP server, and a real gRPC TraceService) decodes what the
exporter the collector configures sends: the resource attributes, the span, its ERROR status.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, HTTPServer

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.trace import Status, StatusCode

from sloctl.collector.config import OtlpConfig
from sloctl.collector.tracing import make_tracer_provider


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


@pytest.fixture
def http_receiver() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    received: list[tuple[str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()
            self.wfile.write(trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_traces_are_exported_over_otlp_http(http_receiver: tuple[str, list[tuple[str, bytes]]]) -> None:
    endpoint, received = http_receiver
    _emit(endpoint, "http/protobuf")
    (path, body), *_ = received
    assert path == "/v1/traces"
    request = trace_service_pb2.ExportTraceServiceRequest()
    request.ParseFromString(body)
    _check(request)


def test_traces_are_exported_over_otlp_grpc() -> None:
    received: list[trace_service_pb2.ExportTraceServiceRequest] = []

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):  # type: ignore[no-untyped-def]
            received.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        _emit(f"http://127.0.0.1:{port}", "grpc")
    finally:
        server.stop(grace=None).wait(5)
    assert received
    _check(received[0])
