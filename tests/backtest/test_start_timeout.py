"""``sloctl backtest --start-timeout SECONDS`` reaches the start of the servers the replay runs,
in both forms (synthetic scenarios, history from ``--prometheus``) and on each engine: a server
that is not ready within the limit fails the backtest after that limit, not its own 60 s, with the
remedy in the last line (``say_start_timeout``), and is stopped.

The slow server is a real Prometheus or VictoriaMetrics whose storage holds a named pipe where it
reads a file as it opens: a WAL segment that Prometheus replays before ``/-/ready`` answers, a
metadata file that VictoriaMetrics reads before it listens. Opening a pipe for reading waits for
a writer, which the test opens only once the server logs its stop: until then a read that does
not return, as from a hung or very slow disk, so the server cannot be ready within any limit,
whatever the machine's load."""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sloctl.backtest import run_many, scenario
from sloctl.backtest.victoria import ENGINES
from sloctl.cli.main import main
from sloctl.servers import ServerNotReady
from sloctl.shelf import PrometheusEngine
from sloctl.spec import load_text
from tests.fixtures.specs import shop_slo
from tests.fixtures.stub_http import prometheus_answer, serve
from tests.fixtures.victoria_unit import victoriametrics_marks
from tests.waiting import wait_until

#: the SLO of shop_slo, named in the error of the replay that had no verdict
SLO_ID = "shop-availability"
#: the last line of a backtest whose server was slow to answer
REMEDY = "sloctl backtest: on a slow machine, give it longer with --start-timeout SECONDS"
#: the storage file of the replay's Prometheus it reads before it is ready, under its workdir:
#: the first WAL segment (an existing ``wal`` folder is replayed at start)
PROMETHEUS_WAL = Path("data/wal/00000000")
#: the VictoriaMetrics engines of ``--engine``: one node, and the replicated pair
VICTORIA_ENGINES = [engine.name for engine in ENGINES]
#: what Prometheus 2 and 3 log on their stop signal ("Received SIGTERM, exiting gracefully...",
#: "Received an OS signal, exiting gracefully...")
STOPPING = "exiting gracefully"


def _pipe_at(path: Path) -> None:
    """A named pipe at ``path`` (its folders made) that no one writes to."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)


def _let_go(pipe: Path) -> None:
    """A writer of ``pipe`` opened and closed if a reader waits for one: its open returns, and its
    read finds the end of the file."""
    try:
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
    except OSError as exc:  # no reader waits on it now
        if exc.errno != errno.ENXIO:
            raise


@contextlib.contextmanager
def _released_on_stop(pipe: Path, log: Path) -> Iterator[None]:
    """The Prometheus reading ``pipe`` let go from the moment it logs its stop in ``log`` to the
    end of the block, so that it exits rather than wait in that read for the SIGKILL its stop
    sends after 10 s (``stop_timeout``); Prometheus 2 opens the segment twice as it opens its
    TSDB. The backtest has failed by then; a server that is not stopped is not let go, and is
    found running by the test."""
    done = threading.Event()

    def stopping() -> bool:
        return done.is_set() or (log.is_file() and STOPPING in log.read_text(errors="replace"))

    def let_go_till_done() -> bool:
        _let_go(pipe)
        return done.is_set()

    def release() -> None:
        with contextlib.suppress(AssertionError):  # the run over first: nothing more to let go
            wait_until(stopping, timeout=120, what="the stop of the Prometheus reading the pipe")
            wait_until(let_go_till_done, timeout=120, what="the end of the run")

    thread = threading.Thread(target=release)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _processes_naming(folder: Path) -> list[str]:
    """``pid command`` of every process whose command line names ``folder``: each server of a
    replay there (its data folder is a flag)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or entry.name == str(os.getpid()):
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # a process that ended meanwhile
            continue
        if str(folder) in command:
            found.append(f"{entry.name} {command.strip()}")
    return found


def _assert_failed_on_a_slow_start(code: int, err: str, server: str, work: Path) -> None:
    """The backtest exited 1 naming the SLO, the server and the limit of 1 s, the remedy last,
    with no traceback, and left no server running."""
    assert code == 1, err
    assert f"sloctl backtest: {SLO_ID}: {server} on 127.0.0.1:" in err, err
    assert "was not ready after 1 s; log tail" in err and "Traceback" not in err, err
    assert err.rstrip().endswith(REMEDY), err
    assert _processes_naming(work) == [], "a server left running after the failed start"


@pytest.mark.promtool
@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("form", ["synthetic", "history"])
def test_a_replay_prometheus_not_ready_within_the_start_timeout_fails_the_backtest_after_it(
    form: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], prometheus_engine: PrometheusEngine
) -> None:
    """Without the flag reaching the start, Prometheus's own 60 s would apply ("after 60 s")."""
    spec = tmp_path / "shop.yaml"
    spec.write_text(shop_slo())
    work = tmp_path / "work"
    argv = ["backtest", str(spec), "--workdir", str(work), "--engine", prometheus_engine.name]
    argv += ["--start-timeout", "1"]
    # each SLO's history is replayed in a folder of its own
    replayed = work if form == "synthetic" else work / f"0-{SLO_ID}"
    _pipe_at(replayed / PROMETHEUS_WAL)
    with _released_on_stop(replayed / PROMETHEUS_WAL, replayed / "prometheus.log"):
        if form == "synthetic":
            code = main([*argv, "--scenario", "full_outage"])
        else:  # from a quiet source
            end = int(time.time()) // 3600 * 3600
            empty = prometheus_answer({"resultType": "matrix", "result": []})
            with serve(lambda _request: empty) as source:
                code = main([*argv, "--prometheus", source.url, "--from", str(end - 3600), "--to", str(end)])
    _assert_failed_on_a_slow_start(code, capsys.readouterr().err, "prometheus", work)


@pytest.mark.promtool
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_librarys_run_many_takes_the_start_timeout_too(
    tmp_path: Path, prometheus_engine: PrometheusEngine
) -> None:
    """``run_many``, the library's entry point (``sloctl.backtest``), takes the limit as the
    command does (its one-SLO wrapper, gone since, took none: a caller waited out 60 s)."""
    (slo,) = load_text(shop_slo()).slos
    work = tmp_path / "work"
    _pipe_at(work / PROMETHEUS_WAL)
    with _released_on_stop(work / PROMETHEUS_WAL, work / "prometheus.log"):
        began = time.monotonic()
        with pytest.raises(ServerNotReady, match=r"was not ready after 1 s"):
            run_many([(slo, [scenario("full_outage")])], work, engine=prometheus_engine, start_timeout=1)
    assert time.monotonic() - began < 30  # the limit and the stop, not the 60 s
    assert _processes_naming(work) == [], "a server left running after the failed start"


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "engine",
    [pytest.param(name, marks=victoriametrics_marks("victoria-metrics")) for name in VICTORIA_ENGINES],
)
def test_a_victoriametrics_node_not_ready_within_the_start_timeout_fails_the_backtest_after_it(
    engine: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first storage node (``vm-0``) reads its storage's metadata before it listens."""
    spec = tmp_path / "shop.yaml"
    spec.write_text(shop_slo())
    work = tmp_path / "work"
    _pipe_at(work / "vm-0" / "data" / "metadata" / "minTimestampForCompositeIndex")
    argv = ["backtest", str(spec), "--scenario", "full_outage", "--workdir", str(work), "--engine", engine]
    code = main([*argv, "--start-timeout", "1"])
    _assert_failed_on_a_slow_start(code, capsys.readouterr().err, "victoria-metrics", work)
