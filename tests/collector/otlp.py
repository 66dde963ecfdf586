"""A real OTLP/gRPC trace receiver on loopback, for the tests that read what an exporter or an
OpenTelemetry Collector sent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

__all__ = ["otlp_grpc_receiver"]


@contextmanager
def otlp_grpc_receiver(
    on_export: Callable[[trace_service_pb2.ExportTraceServiceRequest], None],
) -> Iterator[str]:
    """A TraceService on 127.0.0.1 (a free port) that hands every export request to
    ``on_export``; yields its ``host:port``, stopped on exit."""

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):  # type: ignore[no-untyped-def]
            on_export(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    # the generated *_pb2_grpc module has no annotations
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
        Service(), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None).wait(5)
