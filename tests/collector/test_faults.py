"""The fault matrix against real servers (issue 5 §5): stop, freeze (SIGSTOP), slow, wrong
password and PgBouncer pool exhaustion each map to exactly one reason; ``up`` drops within one
interval; a restarted server recovers within one interval; a frozen target delays no other
target's next probe by more than 10 % of the interval; and no configured password shows up in
metrics, logs, traces or the debug page.

"Within one interval" is the collector's schedule: the run that sees the fault (or the recovery)
is due at the first slot of its lane after it, or is the lane's first run at all (the slots
between missed, and counted). How late the loop then starts a due run is the machine's share as
much as the collector's: the frozen-target test measures the collector's share, the lateness
less the time the loop's thread waited for a CPU (``RunqueueWait``), so that the file holds on a
2-core machine at a load average of 10 as it does on a quiet one.

Every server here is this module's own (faults would break the shared session fixtures), and
all tests share one collector, so they run in one xdist group, in file order.
"""

from __future__ import annotations

import contextlib
import gc
import math
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence

import psycopg
import pytest
import redis

from sloctl import contract
from sloctl.collector.runner import RunResult
from tests.collector.helpers import (
    BreakableServers,
    LiveCollector,
    RunqueueWait,
    breakable_servers,
    collector_config,
    frozen_servers_module,
    live_collector,
)
from tests.fixtures.metrics import in_text
from tests.waiting import wait_until

pytestmark = frozen_servers_module("collector-faults")

INTERVAL = 1.0
TIMEOUT = 0.8
WRONG_PASSWORD = "not-the-password-7f3a"
RD_PASSWORD = "rd-Secret-3c4d"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BreakableServers]:
    workdir = tmp_path_factory.mktemp("collector-faults")
    try:
        with breakable_servers(
            workdir,
            pg_password="pg-Secret-1a2b",
            rd_password=RD_PASSWORD,
            superuser_password="su-Secret-9z8y",
        ) as s:
            yield s
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _config(s: BreakableServers) -> str:
    common = f"interval: {int(INTERVAL * 1000)}ms, timeout: {int(TIMEOUT * 1000)}ms"
    pg = f"user: platform, database: platform, password: {{env: PG}}, {common}"
    return f"""\
apiVersion: sloctl/v1
kind: CollectorConfig
listen: 127.0.0.1:0
defaults: {{connections: [cold, warm]}}
targets:
  - {{name: pg, kind: postgres, port: {s.pg.port}, {pg}, canary: true}}
  - {{name: pgb, kind: pgbouncer, port: {s.pgb.port}, {pg},
      adminUser: pgbouncer, adminPassword: {{env: PGBA}}}}
  - {{name: rd, kind: redis, port: {s.rd.port}, password: {{env: RD}}, canary: true, {common}}}
  - {{name: mg, kind: mongodb, port: {s.mg.port}, canary: true, {common}}}
  - {{name: pg-badpw, kind: postgres, port: {s.pg.port}, user: platform, database: platform,
      password: {{env: BAD}}, connections: cold, {common}}}
  - {{name: pgb-badpw, kind: pgbouncer, port: {s.pgb.port}, user: platform, database: platform,
      password: {{env: BAD}}, connections: cold, {common}}}
  - {{name: rd-badpw, kind: redis, port: {s.rd.port}, password: {{env: BAD}}, connections: cold, {common}}}
"""


def _secrets(s: BreakableServers) -> dict[tuple[str, str], str]:
    return {
        ("pg", "password"): s.pg.password,
        ("pgb", "password"): s.pgb.password,
        ("pgb", "admin"): s.pgb.admin_password,
        ("rd", "password"): RD_PASSWORD,
        ("pg-badpw", "password"): WRONG_PASSWORD,
        ("pgb-badpw", "password"): WRONG_PASSWORD,
        ("rd-badpw", "password"): WRONG_PASSWORD,
    }


@pytest.fixture(scope="module")
def live(servers: BreakableServers) -> Iterator[LiveCollector]:
    with live_collector(_config(servers), _secrets(servers)) as c:
        for name in ("pg", "pgb", "rd", "mg"):
            c.wait_for(name, lambda r: r.ok, after=0, timeout=10)
        yield c
    gc.collect()


def _gauge(live: LiveCollector, name: str, target: str) -> float:
    _ctype, body = live.get("/metrics")
    found = in_text(body, name, target=target)
    assert len(found) == 1, f"{name} for {target}: {found or 'not exported'}"
    return next(iter(found.values()))


def _up_when_last_run_failed(live: LiveCollector, target: str) -> tuple[float | None] | None:
    """``sloctl_probe_up`` of ``target`` (in a tuple: 0.0 is falsy) while its last run (of
    either lane) is a failed one; None while a success is last. A lane that still works sets
    ``up`` back to 1 (a frozen PostgreSQL's backends are sessions of their own: SIGSTOP to the
    postmaster's group leaves the warm lane's backend answering), so the gauge is 0 only from
    the failed run to the next good one: a scrape after the failure raced that next run, and
    lost it on a loaded machine."""
    last, up = live.last_run_and_gauge(target, contract.PROBE_UP.name)
    return (up,) if last is not None and not last.ok else None


def _assert_fault(
    live: LiveCollector, target: str, reason: str, t_fault: float, *, lanes: Sequence[str] = ("cold", "warm")
) -> None:
    """Every lane's first failed run after the fault has ``reason`` and started within one
    interval of the fault; ``up`` is 0 by then; no run in the window has another reason."""
    for lane in lanes:

        def failed_on_lane(r: RunResult, lane: str = lane) -> bool:
            return not r.ok and r.connection == lane

        first = live.wait_for(
            target,
            failed_on_lane,
            after=t_fault,
            timeout=INTERVAL * 4,
        )
        assert first.reason == reason, f"{target}/{lane}: {first}"
        assert _first_chance(live, first, t_fault), f"{target}/{lane} detected late: {first}"
    (up,) = wait_until(
        lambda: _up_when_last_run_failed(live, target),
        timeout=INTERVAL * 4,
        what=f"{target}'s up read while its last run had failed",
    )
    assert up == 0.0
    reasons = {r.reason for r in live.runs_since(target, t_fault) if not r.ok and r.connection in lanes}
    assert reasons == {reason}


def _assert_recovers(live: LiveCollector, target: str, t_back: float) -> None:
    ok = live.wait_for(target, lambda r: r.ok, after=t_back, timeout=INTERVAL * 4)
    assert _first_chance(live, ok, t_back), f"{target} recovered late: {ok}"
    assert live.wait_for(
        target, lambda r: r.ok and r.connection == "warm", after=t_back, timeout=INTERVAL * 4
    )


def _first_chance(live: LiveCollector, run: RunResult, t: float) -> bool:
    """``run`` (the first of its kind after wall time ``t``) was due within one interval of
    ``t``, or no run of its lane started between ``t`` and it: an earlier run that ended past
    the next slot made the lane skip it (``sloctl_probe_runs_missed_total``), never wait."""
    if run.scheduled - t <= INTERVAL:
        return True
    lane = [r for r in live.runs_since(run.target, t) if r.connection == run.connection]
    return lane[0] == run


def _last_slots(live: LiveCollector, exclude: str) -> dict[tuple[str, str], float]:
    """The slot of each lane's latest start (monotonic), ``exclude``'s lanes aside."""
    return {lane: starts[-1][0] for lane, starts in live.starts().items() if lane[0] != exclude and starts}


def _collector_lateness(
    live: LiveCollector, since: float, exclude: str, waited: RunqueueWait
) -> list[tuple[float, str]]:
    """Each start of a lane not of ``exclude`` due since ``since`` (monotonic): the collector's
    share of its lateness (the lateness less the time this process's threads waited for a CPU
    meanwhile, and less the garbage collections of this test worker's heap, which stop the loop
    too) and what it was made of, the largest share first. A probe held up by another, frozen
    one would show the whole hold (up to a TIMEOUT, 800 ms) here, whatever the load."""
    rows = []
    for (t, m), starts in live.starts().items():
        for scheduled, actual in starts:
            if t != exclude and scheduled >= since:
                not_its, made_of = waited.not_the_collectors(scheduled, actual)
                said = f"{t}/{m} {(actual - scheduled) * 1000:.0f} ms late: {made_of}"
                rows.append((actual - scheduled - not_its, said))
    return sorted(rows, reverse=True)


# --- wrong password ------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["pg-badpw", "pgb-badpw", "rd-badpw"])
def test_wrong_password_is_reason_auth(live: LiveCollector, target: str) -> None:
    run = live.wait_for(target, lambda r: not r.ok, after=0, timeout=INTERVAL * 3)
    assert run.reason == "auth", run
    assert {r.reason for r in live.history(target)} == {"auth"}
    assert _gauge(live, contract.PROBE_UP.name, target) == 0.0


# --- stop and restart ----------------------------------------------------------------------


@pytest.mark.parametrize("target", ["pg", "pgb", "rd", "mg"])
def test_stopped_server_is_refused_and_recovers_after_restart(
    live: LiveCollector, servers: BreakableServers, target: str
) -> None:
    server = servers.by_target()[target]
    server.stop()
    t_fault = time.time()
    try:
        _assert_fault(live, target, "refused", t_fault)
    finally:
        server.restart()
    _assert_recovers(live, target, time.time())


# --- freeze --------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["pg", "pgb", "rd", "mg"])
def test_frozen_server_is_connect_timeout_and_delays_no_other_target(
    live: LiveCollector, servers: BreakableServers, target: str
) -> None:
    server = servers.by_target()[target]
    live.wait_for(target, lambda r: r.ok, after=time.time(), timeout=INTERVAL * 4)  # clean start
    with RunqueueWait(live.thread.native_id) as waited:
        since = live.now()
        server.pause()
        t_fault = time.time()
        try:
            # Only the cold lane is asserted: a warm lane that was mid-query when the server froze
            # is, correctly, a query_timeout. Kept connections are covered by the slow-server tests.
            _assert_fault(live, target, "connect_timeout", t_fault, lanes=("cold",))
            # Two more runs of every other lane while the target stays frozen.
            slots = _last_slots(live, exclude=target)
            wait_until(
                lambda: all(s >= slots[k] + 1.5 * INTERVAL for k, s in _last_slots(live, target).items()),
                timeout=INTERVAL * 6,
                what="two more runs of every other lane",
            )
            late = _collector_lateness(live, since, target, waited)
        finally:
            server.resume()
    shown = "; ".join(said for _, said in late[:3])
    assert late[0][0] <= 0.1 * INTERVAL, f"a frozen {target} held up other targets' probes: {shown}"
    _assert_recovers(live, target, time.time())


# --- slow servers --------------------------------------------------------------------------


def _next_start(live: LiveCollector, target: str, lane: str, *, margin: float) -> float:
    """Monotonic time of the lane's first scheduled run at least ``margin`` seconds from now
    (the lane keeps a fixed grid: a late run skips to the next slot, never shifts it)."""
    scheduled, _actual = live.lane_starts(target, lane)[-1]
    slots = max(1, math.ceil((time.monotonic() + margin - scheduled) / INTERVAL))
    return scheduled + slots * INTERVAL


def _sleep_until(monotonic_t: float) -> None:
    # real timer: the fault is aimed at the collector's own schedule (its next run of a lane)
    time.sleep(max(0.0, monotonic_t - time.monotonic()))


def test_postgres_slowed_by_pg_sleep_lock_is_query_timeout(
    live: LiveCollector, servers: BreakableServers
) -> None:
    # A session holds the canary table's lock while it runs pg_sleep: the probe connects and
    # answers its first query, then its canary write waits past the deadline.
    done = threading.Event()

    def hold_lock() -> None:
        with psycopg.connect(servers.pg.admin_dsn) as conn:
            conn.execute("LOCK TABLE sloctl_probe_canary IN ACCESS EXCLUSIVE MODE")
            started.set()
            conn.execute("SELECT pg_sleep(2.5)")
        done.set()

    started = threading.Event()
    t_fault = time.time()
    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert started.wait(5)
    try:
        _assert_fault(live, "pg", "query_timeout", t_fault)
    finally:
        holder.join(10)
    assert done.is_set()
    _assert_recovers(live, "pg", time.time())


def test_redis_slowed_by_debug_sleep_is_query_timeout_on_a_kept_connection(
    live: LiveCollector, servers: BreakableServers
) -> None:
    # DEBUG SLEEP blocks the single-threaded server: a kept connection sees its PING go
    # unanswered (query_timeout); a new one cannot even finish AUTH, like a frozen server
    # (connect_timeout). The sleep is aimed just before the warm lane's next run; a warm run
    # proves the point only if it really started while the server slept with a whole deadline
    # left, so an attempt whose run the loaded machine started outside that window is made
    # again (at most three), and said when none hits it.
    sleep_s = 1.0
    client = redis.Redis(host="127.0.0.1", port=servers.rd.port, password=RD_PASSWORD)
    try:
        client.ping()  # connect and AUTH now, so that DEBUG SLEEP goes out when aimed
        missed: list[str] = []
        for _attempt in range(3):
            _sleep_until(_next_start(live, "rd", "warm", margin=0.2) - 0.05)
            t_fault, m_fault = time.time(), time.monotonic()
            # redis-py leaves execute_command unannotated
            client.execute_command("DEBUG", "SLEEP", f"{sleep_s}")  # type: ignore[no-untyped-call]
            window = (m_fault + 0.01, m_fault + sleep_s - TIMEOUT - 0.01)
            hits = [a for _s, a in live.lane_starts("rd", "warm") if window[0] <= a <= window[1]]
            if hits:
                break
            missed.append(f"{[round(a - m_fault, 3) for _s, a in live.lane_starts('rd', 'warm')[-3:]]}")
        else:
            raise AssertionError(
                f"no warm run of rd started while Redis slept, in 3 attempts (starts relative to "
                f"each DEBUG SLEEP, s: {'; '.join(missed)})"
            )
        run = live.wait_for(
            "rd", lambda r: r.connection == "warm", after=t_fault + 0.005, timeout=INTERVAL * 5
        )
        assert run.reason == "query_timeout", run
        assert run.durations["query"] >= TIMEOUT * 0.9
        for r in live.runs_since("rd", t_fault - 0.1):
            if not r.ok and r.connection == "cold":
                # A new connection the sleep caught before AUTH was answered cannot finish it
                # (connect_timeout); one already past AUTH when the sleep began (a cold run that
                # started just before it, which a loaded machine lets happen) waits in its query
                # or canary as a kept one does (query_timeout). Which phases it reached says which.
                expected = "query_timeout" if "query" in r.durations else "connect_timeout"
                assert r.reason == expected, r
    finally:
        client.close()
    _assert_recovers(live, "rd", time.time())


def test_mongodb_slowed_by_failcommand_block_connection_is_query_timeout(
    live: LiveCollector, servers: BreakableServers
) -> None:
    import pymongo

    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        servers.mg.uri, serverSelectionTimeoutMS=5000
    )
    try:
        # a warm run that keeps its client, before the fault
        live.wait_for(
            "mg", lambda r: r.ok and r.connection == "warm", after=time.time(), timeout=INTERVAL * 4
        )
        t_fault = time.time()
        client.admin.command(
            {
                "configureFailPoint": "failCommand",
                "mode": "alwaysOn",
                "data": {
                    "failCommands": ["ping"],
                    "appName": "sloctl-probe-mg",
                    "blockConnection": True,
                    "blockTimeMS": 1500,
                },
            }
        )
        try:
            _assert_fault(live, "mg", "query_timeout", t_fault)
            # The kept client's ping went out and went unanswered: a slow server, not a stale
            # connection. Retried as stale, the run reconnected and, on a loaded machine, met
            # its deadline in the new connection's handshake (connect_timeout).
            warm = [r for r in live.runs_since("mg", t_fault) if r.connection == "warm" and not r.ok]
            assert warm and not {"connect", "auth"} & warm[0].durations.keys(), warm[:1]
        finally:
            client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
    finally:
        client.close()
    _assert_recovers(live, "mg", time.time())


# --- pool exhaustion -----------------------------------------------------------------------


def test_pgbouncer_pool_exhaustion_is_pool_timeout(live: LiveCollector, servers: BreakableServers) -> None:
    # default_pool_size=2: two clients in open transactions pin both server connections, so
    # the probe's query queues in PgBouncer (cl_waiting) until its deadline.
    holders = [psycopg.connect(servers.pgb.dsn, prepare_threshold=None) for _ in range(2)]
    try:
        for h in holders:
            h.execute("SELECT 1")  # psycopg opens a transaction: the server connection is pinned
        t_fault = time.time()
        _assert_fault(live, "pgb", "pool_timeout", t_fault)
    finally:
        for h in holders:
            h.close()
    _assert_recovers(live, "pgb", time.time())


@contextlib.contextmanager
def _slow_console_proxy(port: int, delay: float) -> Iterator[int]:
    """A loopback TCP proxy to PgBouncer's ``port``, and its own port: a connection whose
    startup packet names the admin console (database ``pgbouncer``) gets PgBouncer's first
    answer after it ``delay`` seconds late, as from a console that is slow to answer (a busy
    PgBouncer, a loaded machine); the probe's own connections pass at once."""
    listener = socket.create_server(("127.0.0.1", 0))
    socks: list[socket.socket] = [listener]
    threads: list[threading.Thread] = []
    closing = threading.Event()

    def pump(src: socket.socket, dst: socket.socket, console: threading.Event, upstream: bool) -> None:
        seen, held = b"", False
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if upstream and len(seen) < 4096:
                    seen += data
                    if b"database\x00pgbouncer\x00" in seen:
                        console.set()
                elif not upstream and console.is_set() and not held:
                    held = True
                    closing.wait(delay)  # real timer: the slowness is the fault injected
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                server = socket.create_connection(("127.0.0.1", port), timeout=5)
                server.settimeout(None)
                socks.extend((client, server))
                console = threading.Event()
                for args in ((client, server, console, True), (server, client, console, False)):
                    threads.append(threading.Thread(target=pump, args=args, daemon=True))
                    threads[-1].start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[1]
    finally:
        closing.set()
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in (acceptor, *threads):
            thread.join(5)


def test_pool_exhaustion_is_pool_timeout_with_a_console_slow_to_answer(servers: BreakableServers) -> None:
    """The console is asked while the pooled query waits (at 40 % of the deadline); it had 30 %
    of the deadline to answer, and a console slower than that (auth took 0.14 s of a probe's own
    connection on a loaded machine) left the run an ambiguous query_timeout. It has the rest of
    the run's deadline now: asked at 0.8 s of 2 s, it answers 0.9 s later, in time."""
    holders = [psycopg.connect(servers.pgb.dsn, prepare_threshold=None) for _ in range(2)]
    try:
        for h in holders:
            h.execute("SELECT 1")  # psycopg opens a transaction: the server connection is pinned
        with _slow_console_proxy(servers.pgb.port, delay=0.9) as port:
            config = collector_config(
                [
                    f"name: slow-console, kind: pgbouncer, port: {port}, user: platform,"
                    " database: platform, password: {env: PG}, adminUser: pgbouncer,"
                    " adminPassword: {env: PGBA}"
                ],
                "interval: 3s, timeout: 2s, connections: [cold]",
            )
            secrets = {
                ("slow-console", "password"): servers.pgb.password,
                ("slow-console", "admin"): servers.pgb.admin_password,
            }
            with live_collector(config, secrets) as live:
                run = live.wait_for("slow-console", lambda r: not r.ok, after=0, timeout=10)
    finally:
        for h in holders:
            h.close()
    assert run.reason == "pool_timeout", run


# --- metrics, secrets --------------------------------------------------------------------


def test_metrics_pass_promtool_and_carry_exemplars(live: LiveCollector) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    ctype, text = live.get("/metrics")
    assert ctype.startswith("text/plain")
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ctype, om = live.get("/metrics", accept="application/openmetrics-text; version=1.0.0")
    assert ctype.startswith("application/openmetrics-text")
    assert om.rstrip().endswith("# EOF")
    assert any(
        f"{contract.PROBE_DURATION.name}_bucket" in ln and '# {trace_id="' in ln for ln in om.splitlines()
    )
    for reason in (
        "dns",
        "refused",
        "connect_timeout",
        "tls",
        "auth",
        "pool_timeout",
        "query_timeout",
        "server_error",
        "validation",
        "protocol",
    ):
        assert f'{contract.PROBE_FAILURES.name}{{kind="postgres",reason="{reason}",target="pg"}}' in text


def test_no_configured_password_leaks_into_metrics_logs_traces_or_debug_page(
    live: LiveCollector, servers: BreakableServers
) -> None:
    passwords = set(_secrets(servers).values())
    _c, metrics = live.get("/metrics")
    _c, om = live.get("/metrics", accept="application/openmetrics-text")
    _c, debug = live.get("/debug/targets")
    logs = live.logs.getvalue()
    spans = live.spans.get_finished_spans()
    assert spans and logs and '"error"' in debug
    traces = "\n".join(s.to_json() for s in spans)
    assert "ERROR" in traces
    for password in passwords:
        for name, text in (
            ("metrics", metrics),
            ("openmetrics", om),
            ("logs", logs),
            ("traces", traces),
            ("debug page", debug),
        ):
            assert password not in text, f"a configured password appears in the {name}"


def test_logs_are_ecs_json_lines(live: LiveCollector) -> None:
    import json

    def probe_failures() -> list[dict[str, object]]:
        """The probe runs' failure lines (a PgBouncer console's failure is logged too, without a
        run's reason): the bad-password targets fail every run, the first within an interval."""
        lines = [json.loads(ln) for ln in live.logs.getvalue().splitlines() if ln]
        return [d for d in lines if d.get("event.outcome") == "failure" and d.get("event.action") == "probe"]

    failures = wait_until(probe_failures, timeout=INTERVAL * 4, what="a probe run's failure logged")
    for d in failures:
        assert {
            "@timestamp",
            "log.level",
            "message",
            "event.action",
            "error.message",
            "labels.target",
        } <= d.keys()
        assert d["event.reason"] in {
            "refused",
            "connect_timeout",
            "auth",
            "pool_timeout",
            "query_timeout",
            "protocol",
            "server_error",
            "validation",
        }
