"""``--start-timeout SECONDS`` of the commands that start servers (``sloctl testbed up``,
``sloctl gameday rig``, ``sloctl serve --demo``, ``sloctl backtest``): the most seconds each
server may take to become ready, each server's own limit (15 to 60 s) when left out. Before,
no flag reached those limits: a CI run at a load average of about 4 saw ``testbed up`` fail after
35 s with no way to give it longer, and a user could not make a stuck start fail sooner either.

The slow server is a real Redis loading a real append-only file that cannot load in less than a
known time: each ``DEBUG SLEEP 0.001`` in it sleeps at least a millisecond while Redis replays
it (Redis answers ``-LOADING`` meanwhile), as a large data set on a cold disk would. A limit
below that time fails the start naming the server, the limit and the flag, and stops what was
started; a limit above Redis's own 15 s lets a load longer than those 15 s come up. The
backtest's servers, slow in their own way, are in tests/backtest/test_start_timeout.py."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sloctl.cli.main import build_parser
from sloctl.cli.main import main as sloctl
from sloctl.servers import (
    ManagedProcess,
    MongoServer,
    PgBouncerServer,
    PostgresServer,
    RedisServer,
    ServerNotReady,
    ServerStartError,
    _lifeline,
)
from sloctl.servers.prometheus import PrometheusServer
from sloctl.servers.victoria import VictoriaMetricsServer, VmagentServer, VmauthServer
from sloctl.testbed_runner import ApiServer
from tests.fixtures.cli import SLOCTL, printed_addresses, stopped_on_failure
from tests.paths import ROOT

#: the commands that start servers, each with what it needs besides the flag (``--for``: were
#: a refused flag taken, the command would stop by itself), and the servers it starts
STARTERS: dict[tuple[str, ...], tuple[list[str], tuple[type[ManagedProcess], ...]]] = {
    ("testbed", "up"): (
        ["--for", "1s"],
        (PostgresServer, PgBouncerServer, RedisServer, MongoServer, ApiServer),
    ),
    ("gameday", "rig"): (
        ["--for", "1s", "--slos", str(ROOT / "slos" / "platform-api.yaml")],
        (PostgresServer, PgBouncerServer, RedisServer, MongoServer, ApiServer, PrometheusServer),
    ),
    ("serve",): (["--demo", "--for", "1s", "--listen", "127.0.0.1:0"], (PrometheusServer,)),
    # history from a port nothing listens on: were a refused flag taken, the run would stop at
    # its first read (having made its --workdir); the servers of either form, on any engine
    ("backtest",): (
        [
            str(ROOT / "slos" / "platform-jobs.yaml"),
            "--prometheus",
            "http://127.0.0.1:9",
            "--from",
            "0",
            "--to",
            "3600",
        ],
        (PrometheusServer, VictoriaMetricsServer, VmagentServer, VmauthServer),
    ),
}
#: the one refusal of a value out of bounds: the bounds and their reason (sloctl.limits)
BOUNDS = "give a number from 1 to 3,600 (a server not ready after an hour is stuck)"


def _parser(path: tuple[str, ...]) -> argparse.ArgumentParser:
    """The parser of the command ``path`` (``("testbed", "up")``)."""
    parser = build_parser(path[0])
    for name in path:
        (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return parser


@pytest.mark.parametrize("value", ["0.5", "0", "3601", "1e9"])
@pytest.mark.parametrize("path", list(STARTERS), ids=[" ".join(p) for p in STARTERS])
def test_a_start_timeout_out_of_its_bounds_is_refused_before_anything_starts(
    path: tuple[str, ...], value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*path, *STARTERS[path][0], "--workdir", str(tmp_path / "work"), "--start-timeout", value]
    with pytest.raises(SystemExit) as exited:
        sloctl(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert f"argument --start-timeout: {value}: {BOUNDS}" in err and "Traceback" not in err, err
    assert not (tmp_path / "work").exists(), "nothing started"


@pytest.mark.parametrize("path", list(STARTERS), ids=[" ".join(p) for p in STARTERS])
def test_a_start_timeout_at_its_bounds_is_taken_and_its_help_says_each_servers_own(
    path: tuple[str, ...],
) -> None:
    """1 and 3,600 are values, not refusals; the help states the servers' own limits, the ones
    that apply when the flag is left out, as the server classes have them."""
    parser = _parser(path)
    for value in ("1", "3600"):
        assert parser.parse_args([*STARTERS[path][0], "--start-timeout", value]).start_timeout == float(value)
    assert parser.parse_args(STARTERS[path][0]).start_timeout is None  # each server's own
    own = sorted({server.startup_timeout for server in STARTERS[path][1]})
    said = f"{own[0]:g} s" if len(own) == 1 else f"{own[0]:g} to {own[-1]:g} s"
    (action,) = (a for a in parser._actions if "--start-timeout" in a.option_strings)
    assert f"own, {said};" in (action.help or ""), action.help


def test_serve_refuses_a_start_timeout_without_the_demo_it_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --demo nothing is started: the flag would be taken and do nothing."""
    assert sloctl(["serve", "--prometheus", "http://127.0.0.1:9", "--start-timeout", "5", "--for", "1s"]) == 2
    err = capsys.readouterr().err
    assert "--start-timeout bounds the start of --demo's Prometheus: give it with --demo" in err, err


def _slow_append_only_file(redis_home: Path, seconds: int) -> None:
    """An append-only file in ``redis_home`` that Redis takes at least ``seconds`` to load: a
    thousand ``DEBUG SLEEP 0.001`` a second (Redis 7 runs them as it replays the file, and
    takes a plain ``appendonly.aof`` into its ``appendonlydir`` at start)."""
    sleep = b"*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$5\r\n0.001\r\n"
    redis_home.mkdir(parents=True, exist_ok=True)
    (redis_home / "appendonly.aof").write_bytes(sleep * (seconds * 1000))


def _processes_in(folder: Path) -> list[str]:
    """``pid command`` of every process whose working directory is ``folder`` or under it: each
    server sloctl starts there (PostgreSQL and Redis work in their data folders under it,
    PgBouncer, SecantusDB and the API in the folder sloctl was started in), and a sloctl run
    there; not this process, nor its servers' lifeline watcher (which is no server)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():  # self, thread-self: this process again
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # not a process, or one that ended meanwhile
            continue
        ours = entry.name == str(os.getpid()) or _WATCHER in command
        if (cwd == str(folder) or cwd.startswith(f"{folder}/")) and not ours:
            found.append(f"{entry.name} {command.strip()}")
    return found


#: the command line of the servers' lifeline watcher runs this file
_WATCHER = str(Path(_lifeline.__file__).resolve())
#: what the command line of each server of a testbed holds
SERVERS = ("bin/postgres -D", "pgbouncer ", "redis-server ", "secantus", "-m testbed ")


@pytest.fixture
def base() -> Iterator[Path]:
    """A folder PostgreSQL's user can traverse (pytest's tmp_path is 0700 down the tree), so that
    its data folder is under it rather than in a folder of its own in /tmp."""
    made = Path(tempfile.mkdtemp(prefix="sloctl-test-start-timeout-"))
    made.chmod(0o711)
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


#: seconds of Redis load for each start: past the first run's limit, and past Redis's own 15 s
LOAD_PAST_THE_LIMIT = 60
LOAD_PAST_ITS_OWN = 18


@pytest.mark.servers
@pytest.mark.slow
@pytest.mark.waits  # about 25 s of Redis sleeping through its file: beside the CPU-heavy tests
@pytest.mark.timeout(300)
def test_a_server_slower_than_the_start_timeout_fails_the_start_and_a_longer_one_lets_it_up(
    base: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The failed start runs in this process: a server it did not stop would run on, registered
    with this process's lifeline (a sloctl process's lifeline stops it when sloctl ends, sooner
    than a look at it could tell)."""
    workdir = base / "work"
    _slow_append_only_file(workdir / "redis", LOAD_PAST_THE_LIMIT)
    monkeypatch.chdir(base)  # where the servers that do not change folders work
    assert sloctl(["testbed", "up", "--workdir", str(workdir), "--for", "1s", "--start-timeout", "3"]) == 1
    err = capsys.readouterr().err
    assert "sloctl testbed up: redis on 127.0.0.1:" in err, err
    assert "was not ready after 3 s; log tail" in err and "Traceback" not in err, err
    remedy = "sloctl testbed up: on a slow machine, give it longer with --start-timeout SECONDS"
    assert err.rstrip().endswith(remedy), err
    assert _processes_in(base) == [], "servers left running after the failed start"
    # No half state: the same work folder starts, every server of it (the cluster the failed
    # start made included), Redis given more than its own 15 s for a load longer than those.
    shutil.rmtree(workdir / "redis" / "appendonlydir")  # the first file, taken in by Redis
    _slow_append_only_file(workdir / "redis", LOAD_PAST_ITS_OWN)
    proc = subprocess.Popen(
        [*SLOCTL, "testbed", "up", "--workdir", str(workdir), "--for", "300s", "--start-timeout", "60"],
        cwd=base,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with stopped_on_failure(proc, signal.SIGTERM):
        printed = printed_addresses(proc, last="mongodb", timeout=120)
        assert {"api", "postgres", "pgbouncer", "redis", "mongodb"} <= set(printed)
        running = _processes_in(base)  # the look at what is left sees every server
        assert all(any(server in line for line in running) for server in SERVERS), running
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


@pytest.mark.parametrize(
    ("failure", "remedy"),
    [
        (ServerNotReady("redis on 127.0.0.1:1 was not ready after 3 s; log tail (x):"), True),
        (ServerStartError("redis exited with code 1 before it was ready"), False),
        (OSError("No space left on device"), False),
    ],
)
def test_only_a_server_slow_to_answer_is_told_of_the_flag_and_only_by_a_command_that_has_it(
    failure: Exception, remedy: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """The servers' library names no flag (not all its callers are commands: the suite, a
    library user); the commands that have ``--start-timeout`` say it after the error, for a server
    that ran but did not answer in time, directly or as the cause of the demo's error, and for
    nothing else: a server that exited or a full disk is not a slow machine."""
    from sloctl.cli._foreground import say_start_timeout
    from sloctl.serve.demo import DemoError

    said = "give it longer with --start-timeout SECONDS"
    wrapped = DemoError(f"the demo's Prometheus did not start: {failure}")
    wrapped.__cause__ = failure
    for exc in (failure, wrapped):
        say_start_timeout("sloctl serve", exc)
        assert (said in capsys.readouterr().err) is remedy, exc
    assert said not in str(failure)
