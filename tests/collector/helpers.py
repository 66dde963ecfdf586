"""Run a Collector on an event loop in a background thread, so that synchronous tests can
break servers (stop, SIGSTOP, DEBUG SLEEP) while the collector keeps its schedule."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import os
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from sloctl.collector import Collector, load_config_text
from sloctl.collector.runner import RunResult
from sloctl.servers import (
    ManagedProcess,
    MongoServer,
    PgBouncerServer,
    PostgresServer,
    RedisServer,
    free_port,
    start_mongodb,
    start_pgbouncer,
    start_postgres,
    start_redis,
)
from tests.fixtures.cli import SLOCTL
from tests.waiting import wait_until

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]


def frozen_servers_module(group: str) -> list[pytest.MarkDecorator]:
    """The marks of a module that starts servers of its own, MongoDB among them, and freezes or
    stops them: ``servers`` and ``slow``; the xdist group ``group``, so that its tests share
    those servers on one worker, in file order; and pymongo's leaked monitor socket tolerated.

    pymongo 4.x leaks a socket when its monitor task is cancelled mid-connect, which
    AsyncMongoClient.close() does to a client whose server is down or frozen (see
    MongoProbe._detach). Such a module tolerates that unraisable ResourceWarning only, and
    collects garbage at teardown so that it never lands in another module's test."""
    return [
        pytest.mark.servers,
        pytest.mark.slow,
        pytest.mark.xdist_group(group),
        pytest.mark.filterwarnings(
            "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
        ),
        pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
    ]


@dataclass(frozen=True)
class BreakableServers:
    """A module's own database servers, for tests that stop, freeze or slow them: PostgreSQL;
    PgBouncer before it, two server connections a pool and 30 s for a client to wait for one
    (so that a test can exhaust the pool); Redis with ``DEBUG`` (``DEBUG SLEEP``); MongoDB with
    test commands (``failCommand``)."""

    pg: PostgresServer
    pgb: PgBouncerServer
    rd: RedisServer
    mg: MongoServer

    def by_target(self) -> dict[str, ManagedProcess]:
        """Each server by the name of the target that probes it: pg, pgb, rd and mg."""
        return {"pg": self.pg, "pgb": self.pgb, "rd": self.rd, "mg": self.mg}


@contextmanager
def breakable_servers(
    workdir: Path, *, pg_password: str, rd_password: str, superuser_password: str | None = None
) -> Iterator[BreakableServers]:
    """:class:`BreakableServers` in ``workdir``, stopped by pid on exit (PgBouncer before
    PostgreSQL), with the passwords given."""
    with contextlib.ExitStack() as started:
        pg = started.enter_context(
            start_postgres(workdir, password=pg_password, superuser_password=superuser_password)
        )
        pgb = started.enter_context(
            start_pgbouncer(workdir, upstream=pg, default_pool_size=2, query_wait_timeout=30)
        )
        rd = started.enter_context(start_redis(workdir, password=rd_password, debug_command=True))
        mg = started.enter_context(start_mongodb(workdir, test_commands=True))
        yield BreakableServers(pg, pgb, rd, mg)


#: the probes' defaults of most tests: one run a second, on a new connection, 0.8 s to answer
COLD_EVERY_SECOND = "interval: 1s, timeout: 800ms, connections: [cold]"


def collector_config(
    targets: Iterable[str], defaults: str | None = COLD_EVERY_SECOND, *, top: str = ""
) -> str:
    """A CollectorConfig's text that listens on a free loopback port: ``top`` (more top-level
    YAML lines), ``defaults`` and ``targets``, each the inside of a YAML flow mapping
    (``name: cache, kind: redis, port: 6379``)."""
    head = f"apiVersion: sloctl/v1\nkind: CollectorConfig\nlisten: 127.0.0.1:0\n{top}"
    if defaults is not None:
        head += f"defaults: {{{defaults}}}\n"
    return head + "targets:\n" + "".join(f"  - {{{target}}}\n" for target in targets)


def quiet_collector(
    config_text: str,
    file: str,
    *,
    logger: str,
    secrets: dict[tuple[str, str], str] | None = None,
    tracer_provider: TracerProvider | None = None,
    log_stream: IO[str] | None = None,
) -> Collector:
    """A Collector of ``config_text`` (read as ``file``) on a registry of its own, logging as
    ``logger`` into ``log_stream`` (by default a buffer nobody reads), its spans to
    ``tracer_provider`` (by default one that exports nowhere)."""
    return Collector(
        load_config_text(config_text, file),
        secrets or {},
        registry=CollectorRegistry(),
        tracer_provider=tracer_provider or TracerProvider(),
        log_stream=log_stream or io.StringIO(),
        logger_name=logger,
    )


def runs_of_each(
    config_text: str,
    file: str,
    *,
    logger: str,
    runs: int = 1,
    timeout: float = 30,
    secrets: dict[tuple[str, str], str] | None = None,
) -> dict[str, list[RunResult]]:
    """Each target's first runs (``runs`` of each at least) by a :func:`quiet_collector` of
    ``config_text``, stopped once they are in."""

    async def main() -> dict[str, list[RunResult]]:
        collector = quiet_collector(config_text, file, logger=logger, secrets=secrets)
        async with collector:
            return await histories_when(
                collector, lambda counts: min(counts) >= runs, timeout=timeout, what=f"{runs} run(s) of each"
            )

    return asyncio.run(main())


async def histories_when(
    collector: Collector, enough: Callable[[list[int]], bool], *, timeout: float, what: str
) -> dict[str, list[RunResult]]:
    """Each target's runs so far, as soon as ``enough`` holds of the numbers of runs per target
    of the running ``collector``; waited for in a thread, so that its event loop keeps running."""
    states = collector.runner.states
    await asyncio.to_thread(
        wait_until, lambda: enough([len(s.history) for s in states.values()]), timeout=timeout, what=what
    )
    return {name: list(s.history) for name, s in states.items()}


class LiveCollector:
    def __init__(self, config_text: str, secrets: dict[tuple[str, str], str]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.logs = io.StringIO()
        self.spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.collector = quiet_collector(
            config_text,
            "test.yaml",
            logger=f"sloctl.collector.test{id(self)}",
            secrets=secrets,
            tracer_provider=provider,
            log_stream=self.logs,
        )
        self.call(self.collector.start())

    def call(self, coro: Coroutine[object, object, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        try:
            self.call(self.collector.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    def now(self) -> float:
        """The loop's clock (monotonic), comparable with ``runner.run_starts``."""
        return time.monotonic()

    def lane_starts(self, target: str, lane: str) -> list[tuple[float, float]]:
        """(scheduled, actual) monotonic starts of a lane so far, read on the collector's loop."""
        return self.starts()[(target, lane)]

    def starts(self) -> dict[tuple[str, str], list[tuple[float, float]]]:
        """:meth:`lane_starts` of every lane, in one look."""

        async def snap() -> dict[tuple[str, str], list[tuple[float, float]]]:
            return {lane: list(s) for lane, s in self.collector.runner.run_starts.items()}

        return self.call(snap())

    def last_run_and_gauge(self, target: str, gauge: str) -> tuple[RunResult | None, float | None]:
        """``target``'s last run and the value of its ``gauge`` (a metric labelled by target and
        kind), read together on the collector's loop: no run ends between the two."""

        async def snap() -> tuple[RunResult | None, float | None]:
            state = self.collector.runner.states[target]
            labels = {"target": target, "kind": state.target.kind.value}
            last = state.history[-1] if state.history else None
            return last, self.collector.registry.get_sample_value(gauge, labels)

        return self.call(snap())

    def history(self, target: str) -> list[RunResult]:
        async def snap() -> list[RunResult]:
            return list(self.collector.runner.states[target].history)

        return self.call(snap())

    def get(self, path: str, accept: str | None = None) -> tuple[str, str]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.collector.server.port}{path}")
        if accept:
            req.add_header("Accept", accept)
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.headers.get("Content-Type", ""), resp.read().decode()

    def wait_for(
        self, target: str, pred: Callable[[RunResult], bool], *, after: float, timeout: float
    ) -> RunResult:
        """First run of ``target`` started after wall time ``after`` that matches ``pred``."""
        try:
            return wait_until(
                lambda: next((r for r in self.history(target) if r.started >= after and pred(r)), None),
                timeout=timeout,
                what=f"a matching run of {target}",
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last runs: {self.history(target)[-4:]}") from None

    def runs_since(self, target: str, after: float) -> list[RunResult]:
        return sorted((r for r in self.history(target) if r.started >= after), key=lambda r: r.started)


class RunqueueWait:
    """How long the threads of this process waited for a CPU (runnable, not running), summed,
    sampled from Linux's ``/proc/self/task/*/schedstat`` every :data:`SAMPLE_SECONDS` by a
    thread of its own (not counted): the machine's share of the lateness of the collector's
    loop, which a test of its schedule subtracts so that it measures the collector, not the
    load. Every thread counts, not the loop's alone: a thread preempted while it holds the GIL
    (the test's own, polling) keeps the loop waiting off the runqueue (seen: 400 ms late, 20 ms
    of it the loop's own wait for a CPU). The CPU time of the loop's thread (``loop``) and of
    the others is sampled too, to say where the rest went. Without schedstat (not Linux, or a
    kernel without ``CONFIG_SCHED_INFO``) every figure is 0, and the bound is the bare lateness."""

    SAMPLE_SECONDS = 0.005

    def __init__(self, loop: int | None) -> None:
        """``loop``: the native id of the collector's loop thread (a started thread has one)."""
        self._loop = str(loop)
        #: (monotonic time, (seconds waited for a CPU, the loop's CPU seconds, the other
        #: threads' CPU seconds) so far), in time order
        self.samples: list[tuple[float, tuple[float, float, float]]] = []
        #: (start, end) of each garbage collection while inside, monotonic
        self.collections: list[tuple[float, float]] = []
        self._gc_started: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="runqueue-wait", daemon=True)

    def _read(self, sampler: int) -> tuple[float, float, float] | None:
        waited = loop = others = 0.0
        seen = False
        for task in Path("/proc/self/task").iterdir():
            if task.name == str(sampler):
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):  # a thread that just ended
                on_cpu, on_runqueue = (int(f) / 1e9 for f in (task / "schedstat").read_text().split()[:2])
                waited += on_runqueue
                if task.name == self._loop:
                    loop += on_cpu
                else:
                    others += on_cpu
                seen = True
        return (waited, loop, others) if seen else None

    def _sample(self) -> None:
        sampler = threading.get_native_id()
        while (figures := self._read(sampler)) is not None:
            self.samples.append((time.monotonic(), figures))
            if self._stop.wait(self.SAMPLE_SECONDS):
                return

    def between(self, start: float, end: float) -> tuple[float, float, float]:
        """Seconds the threads waited for a CPU, the loop's thread ran and the others ran, from
        the last sample at or before ``start`` to the first at or after ``end`` (monotonic
        times): all of it in ``[start, end]``, and at most the two sampling gaps more. Zeros
        when no samples bracket the span."""
        before = [f for t, f in self.samples if t <= start]
        after = [f for t, f in self.samples if t >= end]
        if not (before and after):
            return (0.0, 0.0, 0.0)
        w0, l0, o0 = before[-1]
        w1, l1, o1 = after[0]
        return (w1 - w0, l1 - l0, o1 - o0)

    def gc_between(self, start: float, end: float) -> float:
        """Seconds the garbage collector ran in ``[start, end]`` (monotonic times): a collection
        stops every thread of the process, the loop's too, and one of a test worker's whole heap
        is the worker's doing, not the collector's (c143: the loop 863 ms on a CPU in a window
        915 ms long, cause not seen; this says whether it was a collection)."""
        return sum(max(0.0, min(b, end) - max(a, start)) for a, b in self.collections)

    def not_the_collectors(self, start: float, end: float) -> tuple[float, str]:
        """Of ``[start, end]`` (monotonic times), the seconds that were not the collector's doing
        (its threads' waits for a CPU, the worker's garbage collections) and what the span was
        made of, said for a failure."""
        rq, loop, others = self.between(start, end)
        collecting = self.gc_between(start, end)
        said = (
            f"{rq * 1000:.0f} ms waiting for a CPU, the loop {loop * 1000:.0f} ms on one, other"
            f" threads {others * 1000:.0f} ms, garbage collection {collecting * 1000:.0f} ms"
        )
        return rq + collecting, said

    def _on_gc(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.monotonic()
        elif self._gc_started is not None:
            self.collections.append((self._gc_started, time.monotonic()))
            self._gc_started = None

    def __enter__(self) -> RunqueueWait:
        self._thread.start()
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._on_gc)
        self._stop.set()
        self._thread.join(5)


@contextmanager
def live_collector(config_text: str, secrets: dict[tuple[str, str], str]) -> Iterator[LiveCollector]:
    c = LiveCollector(config_text, secrets)
    try:
        yield c
    finally:
        c.close()


@contextmanager
def silent_listener() -> Iterator[tuple[int, threading.Event]]:
    """A loopback TCP port whose connections are accepted and never answered, and an event set
    when the first one arrives."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            held.append(conn)
            accepted.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
        listener.close()
        for conn in held:
            conn.close()
        thread.join(5)


def collector_process(
    workdir: Path, body: str, env: Mapping[str, str] | None = None
) -> tuple[int, subprocess.Popen[str]]:
    """``sloctl collector run`` as a real process on ``workdir/targets.yaml``: the header, a
    free loopback ``listen`` port, then ``body`` (``targets:`` and whatever else); its port and
    the process, stdout and stderr piped, with ``env`` added to this environment."""
    port = free_port()
    config = workdir / "targets.yaml"
    config.write_text(f"apiVersion: sloctl/v1\nkind: CollectorConfig\nlisten: 127.0.0.1:{port}\n{body}")
    proc = subprocess.Popen(
        [*SLOCTL, "collector", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    return port, proc
