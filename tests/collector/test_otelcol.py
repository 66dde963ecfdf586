"""collector/otelcol.yaml in a real OpenTelemetry Collector (the tool shelf's ``otelcol-sloctl``,
release 0.161): it validates, starts on loopback ports given through its ``${env:…}`` addresses,
and samples 1,000 real traces as the plan says.

The traces come from the two instrumented programs of this repository, each through its own
OTLP exporter: the sloctl collector's probe runs (OTLP/gRPC; an HTTP target that answers, and
every fifth run a port where nothing listens: reason ``refused``, status ERROR) and the testbed
API's requests (OTLP/HTTP; cache reads and writes on a real Redis, and every fifth a read of a
key that holds a list: Redis answers WRONGTYPE, the API 503, status ERROR). Each program's
tracer provider also records every span it ends in memory (the ground truth of what was sent),
and draws its trace ids from a seeded generator: the probabilistic policy hashes trace ids, so a
seed makes the sampled fraction reproducible instead of a 0.5 %-a-run flake at ±3 %.

What came out is read from a loopback OTLP/gRPC receiver (the collector's ``otlp_grpc/traces``
exporter pointed at it): every trace id and span, and when each export request arrived.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import random
import re
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import StatusCode

from sloctl.collector.app import Collector
from sloctl.collector.config import ConnectionMode, TlsContexts, load_config_text
from sloctl.collector.runner import build_probe
from sloctl.collector.tracing import make_tracer_provider
from sloctl.durations import parse_duration
from sloctl.servers import RedisServer, free_port
from sloctl.servers._process import wait_until
from sloctl.servers.otelcol import (
    EXPORTER_VARIABLES,
    LISTEN_VARIABLES,
    start_otelcol,
    validate_otelcol,
)
from sloctl.shelf import find
from testbed import app as testbed_app
from testbed.config import TestbedConfig
from tests.collector.otlp import otlp_grpc_receiver
from tests.fixtures.stub_http import serve, text
from tests.paths import ROOT
from tests.servers.ports import listening_ports

CONFIG = ROOT / "collector" / "otelcol.yaml"
needs_otelcol = pytest.mark.skipif(
    find("otelcol-sloctl") is None,
    reason="otelcol-sloctl is not built on this machine: scripts/tools.sh otelcol",
)


def _shipped() -> dict[str, dict[str, object]]:
    doc = yaml.safe_load(CONFIG.read_text())
    assert isinstance(doc, dict)
    return doc


# -- the file as it is ------------------------------------------------------------------------


@needs_otelcol
def test_the_shipped_config_passes_the_collectors_own_validate() -> None:
    assert validate_otelcol(CONFIG) == []


@needs_otelcol
def test_validate_refuses_a_config_the_collector_could_not_run(tmp_path: Path) -> None:
    broken = tmp_path / "otelcol.yaml"
    broken.write_text(CONFIG.read_text().replace("decision_wait:", "decision_wiat:"))
    complaints = validate_otelcol(broken)
    assert any("decision_wiat" in line for line in complaints), complaints


def test_every_address_in_the_config_is_an_env_variable_the_launcher_sets() -> None:
    # The parsed document written out again: every key and value, none of the file's comments.
    text = json.dumps(_shipped())
    used = set(re.findall(r"\$\{env:([A-Z0-9_]+):-[^}]+\}", text))
    known = set(LISTEN_VARIABLES.values()) | {var for var, _shape in EXPORTER_VARIABLES.values()}
    assert used == known


@needs_otelcol
def test_the_collector_starts_on_the_ports_it_is_given_and_nowhere_else(tmp_path: Path) -> None:
    with start_otelcol(tmp_path, config=CONFIG) as col:
        with urllib.request.urlopen(col.telemetry_url, timeout=5) as resp:
            telemetry = resp.read().decode()
        assert "otelcol_process_uptime" in telemetry
        assert col.environment()["SLOCTL_OTELCOL_OTLP_GRPC"] == col.otlp_grpc
        assert listening_ports(col.pid) == set(col.ports.values())
        log = col.logfile.read_text()
    assert "deprecated" not in log, "the config uses a component name the collector deprecates"


# -- 1,000 traces through it ------------------------------------------------------------------

TRACES_PER_SOURCE = 500
ERROR_EVERY = 5  # every fifth trace of each source fails; the last one of each does
SEND_SECONDS = 15.0  # spread the traffic so that several batch windows pass (~67 traces/s)
WAIT = 90.0  # seconds: a bound on waiting for the collector's output, not an expectation
SDK_EXPORT_DELAY = 5.0  # the OpenTelemetry SDK's BatchSpanProcessor schedule delay (its default)


class SeededIds(IdGenerator):
    """Trace and span ids from a seeded PRNG (the SDK's generator draws from ``random`` too)."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def generate_span_id(self) -> int:
        return self._rng.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._rng.getrandbits(128) or 1


@dataclass
class Received:
    """What the collector exported: (arrival Unix time, trace id → span count) per request."""

    exports: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def traces(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        with self.lock:
            for _t, spans in self.exports:
                for trace_id, n in spans.items():
                    out[trace_id] += n
        return out

    def first_arrival(self) -> dict[str, float]:
        out: dict[str, float] = {}
        with self.lock:
            for t, spans in self.exports:
                for trace_id in spans:
                    out.setdefault(trace_id, t)
        return out


@pytest.fixture
def receiver() -> Iterator[tuple[str, Received]]:
    received = Received()

    def record(request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        now = time.time()
        spans: dict[str, int] = defaultdict(int)
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    spans[span.trace_id.hex()] += 1
        with received.lock:
            received.exports.append((now, dict(spans)))

    with otlp_grpc_receiver(record) as address:
        yield address, received


@pytest.fixture
def http_target() -> Iterator[str]:
    """A loopback HTTP server for the probes: 200 to everything."""
    with serve(lambda _request: text("ok", "text/plain")) as stub:
        yield f"{stub.url}/"


def _tap(provider: TracerProvider) -> InMemorySpanExporter:
    """Record every span ``provider`` ends, beside its own OTLP exporter."""
    tap = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(tap))
    return tap


async def _probe_runs(url: str, otlp_grpc: str, tap_into: list[InMemorySpanExporter]) -> TracerProvider:
    """The sloctl collector's runner, probing an answering and a refused target, exporting over
    OTLP/gRPC with its own tracer provider."""
    config = load_config_text(
        "apiVersion: sloctl/v1\nkind: CollectorConfig\n"
        f"listen: 127.0.0.1:{free_port()}\n"
        f"otlp: {{endpoint: 'http://{otlp_grpc}', protocol: grpc}}\n"
        "targets:\n"
        f"  - {{name: api, kind: http, url: '{url}', interval: 10s, timeout: 2s, connections: [cold]}}\n"
        f"  - {{name: gone, kind: http, url: 'http://127.0.0.1:{free_port()}/', interval: 10s,"
        " timeout: 2s, connections: [cold]}\n"
    )
    provider = make_tracer_provider(config.service_name, config.otlp, id_generator=SeededIds(1))
    tap_into.append(_tap(provider))
    collector = Collector(config, {}, tracer_provider=provider, log_stream=io.StringIO())
    api, gone = config.targets
    tls = TlsContexts()
    probes = {t.name: build_probe(t, ConnectionMode.COLD, {}, config, tls) for t in config.targets}
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        for i in range(TRACES_PER_SOURCE):
            # real timer: traffic paced over SEND_SECONDS, so that the OTel Collector's batch and
            # tail-sampling windows (its own timers, the thing tested) pass several times
            await asyncio.sleep(max(0.0, start + i * SEND_SECONDS / TRACES_PER_SOURCE - loop.time()))
            target = gone if i % ERROR_EVERY == ERROR_EVERY - 1 else api
            await collector.runner.run_once(target, ConnectionMode.COLD, probes[target.name])
    finally:
        for probe in probes.values():
            await probe.close()
    return provider


async def _api_requests(
    redis: RedisServer, otlp_http: str, tap_into: list[InMemorySpanExporter]
) -> TracerProvider:
    """The testbed API in process, traced by its own tracer provider (OTLP/HTTP)."""
    nowhere = free_port()
    config = TestbedConfig(
        postgres_dsn=f"postgresql://x@127.0.0.1:{nowhere}/x",
        redis_url=redis.url,
        mongodb_uri=f"mongodb://127.0.0.1:{nowhere}/",
        otlp_endpoint=f"{otlp_http}/v1/traces",
    )
    provider = testbed_app.make_tracer_provider(config, id_generator=SeededIds(2))
    tap_into.append(_tap(provider))
    app = testbed_app.create_app(config, tracer_provider=provider)
    redis_client = app.state.deps.redis
    transport = httpx.ASGITransport(app=app)
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        # Set up behind the API's back, so that its 500 requests are its only traces.
        await redis_client.set("cache:seed", b"v", ex=300)
        await redis_client.rpush("cache:a-list", "x")  # a GET of it: WRONGTYPE
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for i in range(TRACES_PER_SOURCE):
                # real timer: traffic paced over SEND_SECONDS, so that the OTel Collector's batch and
                # tail-sampling windows (its own timers, the thing tested) pass several times
                await asyncio.sleep(max(0.0, start + i * SEND_SECONDS / TRACES_PER_SOURCE - loop.time()))
                if i % ERROR_EVERY == ERROR_EVERY - 1:
                    assert (await client.get("/v1/cache/a-list")).status_code == 503
                elif i % 2:
                    assert (await client.get("/v1/cache/seed")).status_code == 200
                else:
                    assert (await client.put(f"/v1/cache/k{i}?ttl=300", content=b"v")).status_code == 204
    finally:
        await redis_client.delete("cache:a-list", "cache:seed")
        await app.state.deps.close()
    return provider


_DECISIONS = re.compile(
    r'^otelcol_processor_tail_sampling_global_count_traces_sampled\{[^}]*sampled="(true|false)"[^}]*\} (\S+)$'
)


def _decisions(telemetry_url: str) -> tuple[int, int]:
    """(traces kept, traces decided) by tail sampling, from the collector's own metrics."""
    with urllib.request.urlopen(telemetry_url, timeout=5) as resp:
        text = resp.read().decode()
    counts = {"true": 0, "false": 0}
    for line in text.splitlines():
        m = _DECISIONS.match(line)
        if m:
            counts[m.group(1)] += int(float(m.group(2)))
    return counts["true"], counts["true"] + counts["false"]


def _by_trace(spans: tuple[ReadableSpan, ...]) -> dict[str, list[ReadableSpan]]:
    out: dict[str, list[ReadableSpan]] = defaultdict(list)
    for s in spans:
        assert s.context is not None
        out[format(s.context.trace_id, "032x")].append(s)
    return out


def _failed(spans: list[ReadableSpan]) -> bool:
    return any(s.status.status_code is StatusCode.ERROR for s in spans)


@needs_otelcol
@pytest.mark.slow
@pytest.mark.servers
@pytest.mark.waits
def test_a_thousand_traces_keep_every_error_and_ten_percent_of_the_rest_in_batch_windows(
    tmp_path: Path, receiver: tuple[str, Received], http_target: str, redis_server: RedisServer
) -> None:
    # Long: one live Collector; the sampling and the batching are checked on the same export.
    out_endpoint, received = receiver
    processors = _shipped()["processors"]
    decision_wait = parse_duration(str(processors["tail_sampling"]["decision_wait"]))  # type: ignore[index]
    batch_timeout = parse_duration(str(processors["batch"]["timeout"]))  # type: ignore[index]
    batch_size = int(processors["batch"]["send_batch_size"])  # type: ignore[index]
    total = 2 * TRACES_PER_SOURCE

    with start_otelcol(tmp_path, config=CONFIG, exporters={"traces": out_endpoint}) as col:
        taps: list[InMemorySpanExporter] = []

        async def send() -> list[TracerProvider]:
            return list(
                await asyncio.gather(
                    _probe_runs(http_target, col.otlp_grpc, taps),
                    _api_requests(redis_server, col.otlp_http, taps),
                )
            )

        providers = asyncio.run(send())
        for provider in providers:
            assert provider.force_flush(30_000), "a source could not hand its spans to the collector"
        sent_at = time.monotonic()

        def drained() -> bool:
            """Tail sampling decided every trace, and every trace it kept came out."""
            kept, decided = _decisions(col.telemetry_url)
            return decided >= total and len(received.traces()) >= kept

        assert wait_until(drained, timeout=WAIT, interval=0.25), (
            f"not drained after {WAIT:.0f} s: (kept, decided) {_decisions(col.telemetry_url)}, "
            f"{len(received.traces())} traces out; log tail:\n{col.logfile.read_text()[-3000:]}"
        )
        drained_after = time.monotonic() - sent_at
        kept_count, decided = _decisions(col.telemetry_url)

    probes_tap, api_tap = taps
    sent = {
        "sloctl collector": _by_trace(probes_tap.get_finished_spans()),
        "testbed API": _by_trace(api_tap.get_finished_spans()),
    }
    errors = {source: {t for t, spans in traces.items() if _failed(spans)} for source, traces in sent.items()}
    for source, traces in sent.items():
        assert len(traces) == TRACES_PER_SOURCE, source
        assert len(errors[source]) == TRACES_PER_SOURCE // ERROR_EVERY, source
    all_sent = {t: spans for traces in sent.values() for t, spans in traces.items()}
    out = received.traces()
    assert (decided, len(out)) == (total, kept_count), "the collector's own counts disagree with its output"
    assert set(out) <= set(all_sent), "the collector exported traces nobody sent"
    for trace_id, n in out.items():
        assert n == len(all_sent[trace_id]), f"trace {trace_id}: {n} of {len(all_sent[trace_id])} spans"

    fractions = {}
    for source, traces in sent.items():
        assert errors[source] <= set(out), f"{source}: an error trace was dropped"
        others = set(traces) - errors[source]
        fractions[source] = len(others & set(out)) / len(others)
    others_all = {t for t, spans in all_sent.items() if not _failed(spans)}
    kept = len(others_all & set(out)) / len(others_all)
    assert 0.07 <= kept <= 0.13, f"kept {kept:.1%} of the traces without errors, not 10 % ± 3 %"

    # Tail sampling holds each trace for decision_wait after its first span arrived (which is
    # after that span ended): nothing comes out sooner; and no later than the sender's export
    # delay, the decision (plus its 1 s tick) and one batch window, with 2 s to spare.
    arrived = received.first_arrival()
    held = [arrived[t] - min(s.end_time or 0 for s in all_sent[t]) / 1e9 for t in out]
    longest = SDK_EXPORT_DELAY + decision_wait + 1.0 + batch_timeout + 2.0
    assert min(held) >= decision_wait - 0.05, f"a trace left after {min(held):.2f} s"
    assert max(held) <= longest, f"a trace was held {max(held):.1f} s, more than {longest:g} s"
    # The batch processor flushes on its timer (no batch reaches send_batch_size here): export
    # requests are whole multiples of the timeout apart.
    times = sorted(t for t, _spans in received.exports)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= 3, f"only {len(times)} export requests: too few to see the batch window"
    assert all(sum(spans.values()) <= batch_size for _t, spans in received.exports)
    for gap in gaps:
        windows = round(gap / batch_timeout)
        assert windows >= 1 and abs(gap - windows * batch_timeout) <= 0.5, (
            f"export gaps {[round(g, 2) for g in gaps]} s: not multiples of the {batch_timeout:g} s timeout"
        )
    print(
        f"\notelcol: {total} traces sent, {sum(map(len, errors.values()))} with errors; out: every error "
        f"trace and {kept:.1%} of the others ({', '.join(f'{s} {f:.1%}' for s, f in fractions.items())}); "
        f"held {min(held):.1f}–{max(held):.1f} s; {len(times)} exports, gaps "
        f"{', '.join(f'{g:.2f}' for g in gaps)} s; drained {drained_after:.1f} s after the last send"
    )
