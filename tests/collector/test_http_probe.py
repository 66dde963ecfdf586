"""The HTTP probe against a real loopback HTTP server scripted per path: status, problem+json,
RateLimit and Link checks, timeouts and broken answers each give their one reason."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sloctl.collector.runner import RunResult
from tests.collector.helpers import collector_config, histories_when, quiet_collector

#: the /slow target's deadline: what ends its wait, as /slow never answers
DEADLINE = 0.8
PROBLEM = json.dumps({"type": "about:blank", "title": "Not Found", "status": 404}).encode()


def _answer(status: int, headers: dict[str, str], body: bytes) -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + b"\r\n" + body


def _handler(
    traceparents: list[str],
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """The scripted server's connection handler, noting in ``traceparents`` the W3C
    traceparent of every request to /ok as it arrives."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve(reader, writer, traceparents)

    return handle


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, traceparents: list[str]) -> None:
    try:
        while True:  # keep-alive: serve requests until the client closes
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ")[1].decode()
            if path == "/ok":
                traceparents.extend(
                    line.split(b":", 1)[1].strip().decode()
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"traceparent:")
                )
                writer.write(
                    _answer(
                        200,
                        {
                            "RateLimit": '"default";r=9;t=1',
                            "RateLimit-Policy": '"default";q=10;w=1',
                            "Link": '</ok?c=1>; rel="next"',
                        },
                        b"{}",
                    )
                )
            elif path == "/missing":
                writer.write(_answer(404, {"Content-Type": "application/problem+json"}, PROBLEM))
            elif path == "/html404":
                writer.write(_answer(404, {"Content-Type": "text/html"}, b"<h1>no</h1>"))
            elif path == "/boom":
                writer.write(_answer(500, {"Content-Type": "application/problem+json"}, PROBLEM))
            elif path == "/nolimits":
                writer.write(_answer(200, {}, b"{}"))
            elif path == "/slow":
                # Never answers: the probe's own deadline (the thing tested) ends the wait
                # when it hangs up.
                await reader.read()
                break
            elif path == "/cut":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
                await writer.drain()
                break
            elif path == "/garbage":
                writer.write(b"\x00\x01 not http at all\r\n\r\n")
                await writer.drain()
                break
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def _config(port: int, dead_port: int) -> str:
    def t(name: str, path: str, extra: str = "") -> str:
        return f"name: {name}, kind: http, url: 'http://127.0.0.1:{port}{path}'{extra}"

    return collector_config(
        [
            t("ok", "/ok", ", expect: {rateLimitHeaders: true, linkHeader: true}"),
            t("missing", "/missing", ", expect: {status: 404}"),
            t("html404", "/html404", ", expect: {status: 404}"),
            t("unexpected", "/missing"),
            t("boom", "/boom"),
            t("nolimits", "/nolimits", ", expect: {rateLimitHeaders: true}"),
            t("slow", "/slow", f", interval: 1s, timeout: {DEADLINE * 1000:g}ms"),
            t("cut", "/cut"),
            t("garbage", "/garbage"),
            f"name: refused, kind: http, url: 'http://127.0.0.1:{dead_port}/'",
            "name: nxdomain, kind: http, url: 'http://no-such-host.invalid/'",
        ],
        # Every other target is about its answer, not the time it took: 1.9 s to give it, as
        # a busy machine may need (at 0.8 s the /boom target's cold connect timed out at load
        # average 10 on the two cores, the scripted server on the collector's own loop).
        "interval: 2s, timeout: 1900ms, connections: [cold, warm]",
    )


EXPECTED = {
    "ok": None,
    "missing": None,
    "html404": "validation",
    "unexpected": "validation",
    "boom": "server_error",
    "nolimits": "validation",
    "slow": "query_timeout",
    "cut": "protocol",
    "garbage": "protocol",
    "refused": "refused",
    "nxdomain": "dns",
}


#: how often the loop's watcher looks at the clock
TICK = 0.01


@dataclass
class LoopWatch:
    """How late the collector's event loop was: each watcher tick's (due, woke) in Unix time.
    A timer of that loop (a run's deadline) fires late by what its ticks around then overran."""

    ticks: list[tuple[float, float]] = field(default_factory=list)

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():  # ends with the collection, which its own wait bounds
            due = time.time() + TICK
            await asyncio.sleep(TICK)  # real timer: how late it wakes is what is measured
            self.ticks.append((due, time.time()))

    def late(self, start: float, end: float) -> float:
        """Seconds of [start, end] by which the loop's ticks overran."""
        return sum(max(0.0, min(woke, end) - max(due, start)) for due, woke in self.ticks)


@dataclass(frozen=True)
class Observed:
    runs: dict[str, list[RunResult]]
    #: the W3C traceparent of every request to /ok, as the server received it
    traceparents: list[str]
    loop: LoopWatch


@pytest.fixture(scope="module")
def results() -> Observed:
    traceparents: list[str] = []
    loop = LoopWatch()

    async def main() -> dict[str, list[RunResult]]:
        server = await asyncio.start_server(_handler(traceparents), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
        # A port bound and not listening refuses every connect, and no other process can take it
        # while it is held (a port found free and let go could be).
        with socket.socket() as unlistened:
            unlistened.bind(("127.0.0.1", 0))
            config = _config(port, unlistened.getsockname()[1])
            collector = quiet_collector(
                config, "http.yaml", logger="sloctl.collector.httptest", tracer_provider=provider
            )
            stop = asyncio.Event()
            watcher = asyncio.create_task(loop.watch(stop))
            async with collector:
                # two runs per lane (cold and warm) of every target: some 5 s of their
                # schedules; the deadline only bounds a collector that falls behind
                out = await histories_when(
                    collector, lambda runs: min(runs) >= 4, timeout=30, what="two runs per lane"
                )
            stop.set()
            await watcher
        server.close()
        await server.wait_closed()
        return out

    return Observed(asyncio.run(main()), traceparents, loop)


@pytest.mark.parametrize("target", sorted(EXPECTED))
def test_each_http_outcome_maps_to_one_reason(results: Observed, target: str) -> None:
    runs = results.runs[target]
    assert len(runs) >= 2, runs
    assert {r.reason for r in runs} == {EXPECTED[target]}, runs


def test_phases_are_split_and_warm_runs_skip_the_handshake(results: Observed) -> None:
    cold = [r for r in results.runs["ok"] if r.connection == "cold"]
    warm = [r for r in results.runs["ok"] if r.connection == "warm"]
    assert all({"connect", "query", "total"} <= r.durations.keys() for r in cold)
    assert "connect" in warm[0].durations  # the first warm run opens the connection
    assert all("connect" not in r.durations for r in warm[1:])


def test_the_deadline_cuts_a_slow_answer(results: Observed) -> None:
    """The run ends at its deadline, not at the client's own 5 s timeout nor later: within what
    a quiet machine takes to hang up and end the run (0.19 s) past the deadline, plus whatever
    the collector's loop was late by meanwhile (on a busy machine the deadline's timer itself
    fires late: 1.16 s at load average 10 on the two cores)."""
    for r in results.runs["slow"]:
        assert r.error == f"no answer within the {DEADLINE:g}s deadline (phase query)", r
        total = r.durations["total"]
        assert total >= DEADLINE - 0.05, r
        late = results.loop.late(r.started + DEADLINE, r.started + total)
        assert total < DEADLINE + 0.19 + late, (r, late)


def test_each_request_carries_the_runs_trace_context(results: Observed) -> None:
    # traceparent = version-traceid-parentid-flags: the API continues the probe's trace
    sent = {tp.split("-")[1] for tp in results.traceparents}
    assert {r.trace_id for r in results.runs["ok"]} <= sent
    assert all(len(tp.split("-")) == 4 and tp.startswith("00-") for tp in results.traceparents)
