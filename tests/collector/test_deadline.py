"""A run never outlives its deadline by more than the cleanup allowance, for every kind, against
real servers frozen (SIGSTOP; HTTP and HTTPS servers that hold every request) or a PgBouncer
whose pool is exhausted, on a new connection and on a kept one; and cleanups that outlast
their runs pile up neither themselves nor connections beyond their bound.

A run's wall time is what it recorded itself (``durations["total"]``: from its start to its
end, its cleanup included), less the time this process's threads waited for a CPU over it
(:class:`RunqueueWait`), so that the bound holds on a loaded 2-core machine as on a quiet one,
and less the garbage collections of the test worker's heap over it (as the collector's schedule
tests do: a suite run once failed a run 11 ms over the bound, cause not recorded then).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import shutil
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sloctl.collector import Collector
from sloctl.collector.config import ConnectionMode, Target
from sloctl.collector.probes.base import CLEANUP_ALLOWANCE, MAX_PENDING_CLEANUPS, Cleanups, Probe
from sloctl.collector.runner import RunResult
from sloctl.servers import RedisServer, RedisTls, start_redis
from tests.collector.helpers import (
    BreakableServers,
    RunqueueWait,
    breakable_servers,
    collector_config,
    frozen_servers_module,
    quiet_collector,
)
from tests.fixtures.certs import Pki
from tests.fixtures.stub_http import STOP_POLL_SECONDS
from tests.waiting import wait_until

pytestmark = frozen_servers_module("collector-deadline")

#: The runs' deadline. The bound under test is absolute (deadline + CLEANUP_ALLOWANCE, 50 ms),
#: so a shorter deadline tests it as hard: 0.4 s still lets a frozen Redis over TLS reach its
#: plaintext check (at 0.2 s), and every frozen run waits it out, which is most of this module's
#: time (0.8 s made it 59 s of a suite run).
TIMEOUT = 0.4
#: The deadline of the test that needs every run to read pool_timeout: PgBouncer's console is
#: asked at 40 % of it and must answer in the rest (its auth alone took 0.14 s on a loaded machine).
CONSOLE_TIMEOUT = 0.8
#: Runs made, at most, to see a server answer before it is frozen: on a loaded machine a new
#: connection's first run (TLS, a client built) may meet a 0.4 s deadline; it is setup, not the test.
PRIME_ATTEMPTS = 3
PG_PASSWORD = "pg-Secret-5e6f"
RD_PASSWORD = "rd-Secret-7a8b"


class _FreezableHttp(ThreadingHTTPServer):
    """A real HTTP/1.1 server whose handlers hold every request while ``frozen``."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.frozen, self.thawed = threading.Event(), threading.Event()


class _Frozen(BaseHTTPRequestHandler):
    """Answers 200 (keeping the connection) until the server's ``frozen`` event is set, then
    holds every request until ``thawed`` is."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, _FreezableHttp)
        if server.frozen.is_set():
            server.thawed.wait(30)
        with contextlib.suppress(OSError):  # a client its deadline made hang up
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        return None


@dataclass(frozen=True)
class Servers(BreakableServers):
    """The database servers to freeze, a Redis that speaks TLS alone (its CA: ``ca``), and an
    HTTP and an HTTPS server to freeze."""

    rd_tls: RedisServer
    ca: Path
    http: _FreezableHttp
    https: _FreezableHttp


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, redis_pki: Pki) -> Iterator[Servers]:
    workdir = tmp_path_factory.mktemp("collector-deadline")
    http = _FreezableHttp(("127.0.0.1", 0), _Frozen)
    https = _FreezableHttp(("127.0.0.1", 0), _Frozen)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(*redis_pki.server)
    https.socket = tls.wrap_socket(https.socket, server_side=True)
    for server in (http, https):
        threading.Thread(target=server.serve_forever, args=(STOP_POLL_SECONDS,), daemon=True).start()
    try:
        with (
            breakable_servers(workdir, pg_password=PG_PASSWORD, rd_password=RD_PASSWORD) as db,
            start_redis(workdir / "tls", password=RD_PASSWORD, tls=RedisTls(*redis_pki.server)) as rd_tls,
        ):
            yield Servers(db.pg, db.pgb, db.rd, db.mg, rd_tls, redis_pki.ca, http, https)
    finally:
        for server in (http, https):
            server.thawed.set()
            server.shutdown()
            server.server_close()
        shutil.rmtree(workdir, ignore_errors=True)
        gc.collect()  # pymongo's leaked sockets warn here, not in another module's test


def _collector(s: Servers, timeout: float = TIMEOUT) -> Collector:
    db = "user: platform, database: platform, password: {env: PG}"
    pg, pgb = f"{db}, port: {s.pg.port}", f"{db}, port: {s.pgb.port}"
    text = collector_config(
        [
            f"name: pg, kind: postgres, {pg}, canary: true",
            f"name: pgb, kind: pgbouncer, {pgb}, adminUser: pgbouncer, adminPassword: {{env: PGBA}}",
            f"name: rd, kind: redis, port: {s.rd.port}, password: {{env: RD}}, canary: true",
            f"name: rdtls, kind: redis, port: {s.rd_tls.port}, password: {{env: RD}}, canary: true,"
            f" tls: {{caFile: '{s.ca}'}}",
            f"name: mg, kind: mongodb, port: {s.mg.port}, canary: true",
            f"name: api, kind: http, url: 'http://127.0.0.1:{s.http.server_address[1]}/'",
            f"name: apitls, kind: http, url: 'https://localhost:{s.https.server_address[1]}/',"
            f" tls: {{caFile: '{s.ca}'}}",
        ],
        f"interval: 1s, timeout: {int(timeout * 1000)}ms, connections: [cold, warm]",
    )
    secrets = {
        ("pg", "password"): PG_PASSWORD,
        ("pgb", "password"): PG_PASSWORD,
        ("pgb", "admin"): s.pgb.admin_password,
        ("rd", "password"): RD_PASSWORD,
        ("rdtls", "password"): RD_PASSWORD,
    }
    return quiet_collector(text, "deadline.yaml", logger="sloctl.test.deadline", secrets=secrets)


def _lane(c: Collector, name: str, mode: str) -> tuple[Target, ConnectionMode, Probe]:
    target = next(t for t in c.config.targets if t.name == name)
    m = ConnectionMode(mode)
    return target, m, c.runner._factory(target, m)


async def _primed(c: Collector, lane: tuple[Target, ConnectionMode, Probe]) -> None:
    """A good run on ``lane`` before the fault (a warm lane then keeps its connection, made
    before the fault): the server answers, so what follows is the fault's doing."""
    runs = []
    for _ in range(PRIME_ATTEMPTS):
        runs.append(await c.runner.run_once(*lane))
        if runs[-1].ok:
            return
    raise AssertionError(f"{lane[0].name} {lane[1].value}: no good run before the fault: {runs}")


async def _timed(
    c: Collector, lane: tuple[Target, ConnectionMode, Probe], waited: RunqueueWait
) -> tuple[float, str]:
    """One run's wall time, as the run recorded it, less the CPU waits of this process over it and
    the garbage collections of this test worker's heap (they stop the loop too, and a real
    collector's heap is not the worker's), and what it was made of; asserted to be a run its
    deadline ended."""
    target, mode, probe = lane
    t0 = time.monotonic()
    result: RunResult = await c.runner.run_once(target, mode, probe)
    t1 = time.monotonic()
    await asyncio.to_thread(
        wait_until, lambda: waited.samples[-1][0] >= t1, timeout=5, what="a CPU-wait sample after the run"
    )
    assert not result.ok and result.reason in {"connect_timeout", "query_timeout", "pool_timeout"}, result
    total = result.durations["total"]
    not_its, made_of = waited.not_the_collectors(t0, t1)
    return total - not_its, f"{total:.3f} s: {made_of}"


def _judged(timed: list[tuple[float, str]], what: str) -> None:
    """Every run within the deadline and the allowance, less what the machine and the worker took."""
    bound = TIMEOUT + CLEANUP_ALLOWANCE
    assert max(t for t, _ in timed) <= bound, f"{what}: bound {bound} s; runs " + "; ".join(
        s for _, s in timed
    )


def _freeze(s: Servers, name: str) -> tuple[Callable[[], None], Callable[[], None]]:
    if name in {"api", "apitls"}:
        http = s.http if name == "api" else s.https

        def freeze() -> None:
            http.thawed.clear()
            http.frozen.set()

        def thaw() -> None:
            http.frozen.clear()
            http.thawed.set()

        return freeze, thaw
    server = {**s.by_target(), "rdtls": s.rd_tls}[name]
    return server.pause, server.resume


async def _frozen_runs(c: Collector, s: Servers, name: str, mode: str, runs: int) -> list[tuple[float, str]]:
    lane = _lane(c, name, mode)
    await _primed(c, lane)
    freeze, thaw = _freeze(s, name)
    with RunqueueWait(threading.get_native_id()) as waited:
        freeze()
        try:
            return [await _timed(c, lane, waited) for _ in range(runs)]
        finally:
            thaw()
            await lane[2].close()


@pytest.mark.parametrize("mode", ["cold", "warm"])
@pytest.mark.parametrize("name", ["pg", "pgb", "rd", "rdtls", "mg", "api", "apitls"])
def test_a_run_on_a_frozen_server_ends_within_its_deadline_and_the_allowance(
    servers: Servers, name: str, mode: str
) -> None:
    async def main() -> list[tuple[float, str]]:
        return await _frozen_runs(_collector(servers), servers, name, mode, runs=3)

    _judged(asyncio.run(main()), f"{name} {mode}")


@contextlib.contextmanager
def _pool_pinned(s: Servers) -> Iterator[None]:
    holders = [psycopg.connect(s.pgb.dsn, prepare_threshold=None) for _ in range(2)]
    try:
        for h in holders:
            h.execute("SELECT 1")  # an open transaction pins a server connection
        yield
    finally:
        for h in holders:
            h.close()


@pytest.mark.parametrize("mode", ["cold", "warm"])
def test_a_run_queued_in_an_exhausted_pgbouncer_pool_ends_within_its_deadline_and_the_allowance(
    servers: Servers, mode: str
) -> None:
    async def main() -> list[tuple[float, str]]:
        c = _collector(servers)
        lane = _lane(c, "pgb", mode)
        await _primed(c, lane)
        with RunqueueWait(threading.get_native_id()) as waited, _pool_pinned(servers):
            try:
                return [await _timed(c, lane, waited) for _ in range(2)]
            finally:
                await lane[2].close()

    _judged(asyncio.run(main()), f"pgb {mode}")


def test_a_redis_tls_run_its_deadline_ended_leaves_the_close_to_a_background_cleanup(
    servers: Servers,
) -> None:
    """A kept TLS connection to a frozen Redis: the close waits for a ``close_notify`` that never
    comes (half the cleanup allowance, then a reset); the lane does not wait for it, a cleanup
    does, and the probe's close waits that out."""

    async def main() -> tuple[RunResult, int, int]:
        c = _collector(servers)
        lane = _lane(c, "rdtls", "warm")
        await _primed(c, lane)
        freeze, thaw = _freeze(servers, "rdtls")
        freeze()
        try:
            result = await c.runner.run_once(*lane)
            pending = _pending(lane[2])
            await lane[2].close()
            return result, pending, _pending(lane[2])
        finally:
            thaw()

    result, pending, after = asyncio.run(main())
    assert result.reason == "query_timeout", result
    assert (pending, after) == (1, 0)


def _pending(probe: Probe) -> int:
    return len(probe._cleanups)  # type: ignore[attr-defined]


#: The bound on a MongoDB probe's pending cleanups in the test below: pymongo ends an abandoned
#: call at its own deadline (the run's), so that two or three were pending at most in a long
#: freeze, never near MAX_PENDING_CLEANUPS (8), and the test could not fail at that bound.
CLEANUP_BOUND = 1


def test_a_long_freeze_piles_up_no_cleanups_beyond_the_bound(servers: Servers) -> None:
    """Back-to-back runs on a MongoDB frozen throughout, each driver call abandoned by its run's
    deadline and left to end in the background, with a bound below what overlaps: the cleanups
    never outnumber it (the oldest is cancelled, closing hard), and none is left once the server
    answers again and the probe is closed."""

    async def main() -> tuple[int, int]:
        c = _collector(servers)
        target, mode, probe = lane = _lane(c, "mg", "warm")
        await _primed(c, lane)  # a kept connection to interrupt
        probe._cleanups = Cleanups(CLEANUP_BOUND)  # type: ignore[attr-defined]
        freeze, thaw = _freeze(servers, "mg")
        most = 0
        freeze()
        try:
            for _ in range(MAX_PENDING_CLEANUPS + 4):
                async with asyncio.timeout(TIMEOUT + 5):
                    await c.runner.run_once(target, mode, probe)
                most = max(most, _pending(probe))
        finally:
            thaw()
        await probe.close()
        return most, _pending(probe)

    most, left = asyncio.run(main())
    assert most == CLEANUP_BOUND
    assert left == 0


def _connections_to(port: int) -> int:
    """Established TCP connections to a loopback ``port``, by the kernel (PgBouncer keeps a
    queued client it no longer hears from in ``SHOW CLIENTS``)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for r in rows if r.split()[2].endswith(f":{port:04X}") and r.split()[3] == "01")


def test_cleanups_that_never_end_are_bounded_and_close_their_connections(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PgBouncer with its pool pinned accepts every new connection and queues its query: each
    # warm run connects anew (the last one failed), meets its deadline, and leaves a cleanup
    # that holds its connection. Given a server that never confirms a cancel request (the
    # grace made an hour long; psycopg gives up by itself after 5 s + 5 s), they would pile up
    # as fast as runs: the bound (3 here, to reach it quickly) ends the oldest, which closes
    # its connection, so connections stay within the bound too.
    from sloctl.collector.probes import postgres

    monkeypatch.setattr(postgres, "_CANCEL_GRACE", 3600.0)
    limit = 3

    async def main() -> tuple[list[int], int, int]:
        c = _collector(servers, CONSOLE_TIMEOUT)
        target, mode, probe = _lane(c, "pgb", "warm")
        probe._cleanups = Cleanups(limit)  # type: ignore[attr-defined]
        counts: list[int] = []
        with _pool_pinned(servers):
            holders = _connections_to(servers.pgb.port)
            for _ in range(limit + 3):
                async with asyncio.timeout(CONSOLE_TIMEOUT + 5):
                    run = await c.runner.run_once(target, mode, probe)
                assert run.reason == "pool_timeout", run
                counts.append(_pending(probe))
            # the connections of the cleanups the bound ended are closed (a step of the loop)
            opened = await asyncio.to_thread(
                wait_until,
                lambda: (n := _connections_to(servers.pgb.port) - holders) <= limit and n + 1,
                timeout=2,
                what=f"at most {limit} probe connections to PgBouncer",
            )
            async with asyncio.timeout(5):
                await probe.close()
        return counts, opened - 1, _pending(probe)

    counts, opened, left = asyncio.run(main())
    # One query's cleanup per run, none ending by itself within the test: without the bound,
    # as many as runs. Reached, less at most one (a run's wrapper cleanup ends at once).
    assert limit - 1 <= max(counts) <= limit < len(counts), counts
    assert 1 <= opened <= limit
    assert left == 0
