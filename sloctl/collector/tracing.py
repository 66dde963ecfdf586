"""OpenTelemetry set-up: one trace per probe run, one child span per phase.

Runs that fail end with status ERROR so that the tail-sampling policy in
``collector/otelcol.yaml`` keeps all of them; ``sloctl.synthetic=true`` on the resource lets
Tempo queries and SLOs tell probe traffic from users'.
"""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator

import sloctl
from sloctl.collector.config import OtlpConfig

__all__ = ["make_tracer_provider"]


def make_tracer_provider(
    service_name: str,
    otlp: OtlpConfig | None,
    id_generator: IdGenerator | None = None,
) -> TracerProvider:
    """``id_generator``: the SDK's random one unless given (tests seed it, so that which trace
    ids a probabilistic sampler keeps is reproducible). ``service.version`` is sloctl's own
    (it was a copy of the version number, which the next release would have left behind)."""
    resource = Resource.create(
        {
            "service.name": service_name,
            "service.version": sloctl.__version__,
            "sloctl.synthetic": True,
            "telemetry.source": "synthetic-probe",
        }
    )
    provider = TracerProvider(resource=resource, id_generator=id_generator)
    if otlp is not None:
        exporter: SpanExporter
        if otlp.protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

            exporter = GrpcExporter(endpoint=otlp.endpoint, insecure=otlp.endpoint.startswith("http://"))
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

            endpoint = otlp.endpoint.rstrip("/")
            exporter = HttpExporter(
                endpoint=endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"
            )
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
