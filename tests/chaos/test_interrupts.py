"""How a game day ends when it is stopped (Ctrl-C, SIGTERM) and when another holds its targets:
an interrupt ends a sequence; the report is written before the wait for the pages to resolve,
which Ctrl-C or SIGTERM ends without losing it; an interrupted run does not wait; SIGTERM in an
activity interrupts the run as Ctrl-C does; a second run on the same targets is refused. Tiny
experiments (a Python action of this test's), a stub Prometheus whose page always fires; no
rig."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sloctl.chaos.gameday
from sloctl.chaos.gameday import run_gamedays
from sloctl.chaos.lock import gameday_lock, lock_path
from sloctl.chaos.result import GamedayResult
from sloctl.cli.main import main
from tests.chaos.results import completed_run
from tests.fixtures.cli import start_sloctl
from tests.fixtures.stub_http import Answer, StubRequest, prometheus_answer, serve, settle_reads, vector
from tests.paths import ROOT
from tests.waiting import wait_until

PAGE = "PlatformApiAvailabilityBudgetBurn"

_STEP = """
import time
from pathlib import Path

def step(marker: str, seconds: float) -> int:
    Path(marker).write_text("started")
    time.sleep(seconds)  # real timer: the action a run is stopped in the middle of
    return 1
"""


def _experiment(tmp_path: Path, name: str, seconds: float) -> Path:
    """A game day of one ``inject:`` action that writes ``<name>.started`` then sleeps."""
    (tmp_path / "stepmod.py").write_text(_STEP)
    experiment = {
        "title": f"Game day: {name}",
        "description": "one action",
        "extensions": [{"name": "sloctl", "gameday": name, "expected_alerts": []}],
        "controls": [
            {
                "name": "sloctl-safety",
                "provider": {"type": "python", "module": "sloctl.chaos.control", "arguments": {}},
            }
        ],
        "method": [
            {
                "type": "action",
                "name": "inject: step",
                "provider": {
                    "type": "python",
                    "module": "stepmod",
                    "func": "step",
                    "arguments": {"marker": str(tmp_path / f"{name}.started"), "seconds": seconds},
                },
            }
        ],
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(experiment))
    return path


def _always_paging(request: StubRequest) -> Answer:
    """A Prometheus whose page has fired since the epoch and never resolves."""
    settle = settle_reads(request, [(1.0, "page")])
    if settle is not None:
        return settle
    if request.path.endswith("/query_range"):
        values = [[float(request.query["start"]), "1"]]
        return prometheus_answer(
            {"resultType": "matrix", "result": [{"metric": {"alertname": PAGE}, "values": values}]}
        )
    return vector(({"alertname": PAGE}, 1.0), at=time.time())


@pytest.fixture
def prometheus() -> Iterator[str]:
    with serve(_always_paging) as stub:
        yield stub.url


def _sloctl(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], Path]:
    """``sloctl gameday run *args`` in a child (stderr to a file, to be read as it grows); the
    experiments' own step module (``stepmod``, no module of sloctl's) allowed."""
    err = tmp_path / "stderr.txt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    argv = ["gameday", "run", "--allow-unguarded-providers", *args]
    with err.open("w") as sink:
        proc = start_sloctl(*argv, stderr=sink, env=env, cwd=tmp_path)
    return proc, err


def _ended(proc: subprocess.Popen[str], timeout: float) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    return out


# --- an interrupt ends a sequence --------------------------------------------------------------


def _interrupted_first(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """run_gameday replaced: the first game day it runs is interrupted, the others would pass."""
    ran: list[Path] = []

    def run_gameday(path: Path, **_options: Any) -> GamedayResult:
        ran.append(path)
        name = Path(path).stem
        result = completed_run(name)
        if len(ran) == 1:
            result = completed_run(name, verdict="fail", status="interrupted")
            result.interrupted = True  # what a Ctrl-C in its run leaves (as an attribute: see the report)
        return result

    monkeypatch.setattr(sloctl.chaos.gameday, "run_gameday", run_gameday)
    return ran


def test_an_interrupted_game_day_ends_the_sequence_of_run_gamedays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = _interrupted_first(monkeypatch)
    paths = [_experiment(tmp_path, name, 0) for name in ("first", "second", "third")]
    said: list[str] = []
    results = run_gamedays(paths, progress=said.append)
    assert ran == paths[:1]
    assert [(r.gameday, r.verdict, r.status) for r in results] == [
        ("first", "fail", "interrupted"),
        ("second", "inconclusive", "not run"),
        ("third", "inconclusive", "not run"),
    ]
    assert results[1].reasons == ["not run: the sequence ended when first was interrupted"]
    assert "first was interrupted: the 2 after it not run" in said


def test_an_interrupted_game_day_ends_gameday_run_with_the_interrupt_s_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = _interrupted_first(monkeypatch)
    paths = [_experiment(tmp_path, name, 0) for name in ("first", "second")]
    argv = ["gameday", "run", *map(str, paths), "--report-dir", str(tmp_path / "reports"), "--quiet"]
    assert main(argv) == 130
    assert ran == paths[:1]
    out = capsys.readouterr().out
    assert f"{paths[1]}: not run (the sequence ended when first was interrupted)" in out
    assert "interrupted: 1 of 2 game days run" in out


def _interrupted_before_the_second(monkeypatch: pytest.MonkeyPatch, signum: signal.Signals) -> list[Path]:
    """run_gameday replaced: the first game day passes; ``signum`` comes as the second starts,
    outside any game day's run (whose control would make it an interrupted result)."""
    ran: list[Path] = []

    def run_gameday(path: Path, **_options: Any) -> GamedayResult:
        ran.append(path)
        if len(ran) == 2:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt  # what Python's own SIGINT handler raises
            os.kill(os.getpid(), signum)  # a real SIGTERM to this process: sloctl's handler
        return completed_run(Path(path).stem)

    monkeypatch.setattr(sloctl.chaos.gameday, "run_gameday", run_gameday)
    return ran


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_between_two_game_days_prints_what_ran_and_what_did_not(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    signum: signal.Signals,
) -> None:
    ran = _interrupted_before_the_second(monkeypatch, signum)
    paths = [_experiment(tmp_path, name, 0) for name in ("first", "second", "third")]
    argv = ["gameday", "run", *map(str, paths), "--report-dir", str(tmp_path / "reports"), "--quiet"]
    assert main(argv) == 130
    assert ran == paths[:2]
    out = capsys.readouterr().out
    assert "first: pass" in out
    assert out.splitlines()[-3:] == [
        f"{paths[1]}: interrupted before its result",
        f"{paths[2]}: not run (the sequence ended when {paths[1]} was interrupted)",
        "interrupted: 1 of 3 game days run",
    ]


# --- the wait for the pages: the report first, Ctrl-C or SIGTERM end it -------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_wait_for_the_pages_ends_it_and_keeps_the_report(
    tmp_path: Path, prometheus: str, signum: signal.Signals
) -> None:
    path = _experiment(tmp_path, "waits", 0)
    report = tmp_path / "report"
    proc, err = _sloctl(
        tmp_path,
        str(path),
        *("--set", f"prometheus_url={prometheus}", "--set", "resolve_deadline_seconds=120"),
        *("--report-dir", str(report)),
    )
    wait_until(lambda: "waiting for its pages to resolve" in err.read_text(), timeout=60, what="the wait")
    said = err.read_text()
    assert "Ctrl-C ends the wait and keeps the report" in said
    # written before the wait: a verdict so far, the pages so far
    early = json.loads((report / "report.json").read_text())
    assert early["verdict"] == "pass" and early["pages"] == {
        PAGE: "unexpected, was already firing before the fault, still firing"
    }
    assert "the pages had not resolved yet when this report was written" in early["reasons"]
    assert early["resolve_settle_s"] == 2.0  # the settle the wait holds out for: two 1 s evaluations
    proc.send_signal(signum)
    stopped = time.monotonic()
    out = _ended(proc, 30)
    assert time.monotonic() - stopped < 5
    assert proc.returncode == 130, out + err.read_text()
    assert "Traceback" not in err.read_text()
    final = json.loads((report / "report.json").read_text())
    assert final["interrupted"] is True and final["verdict"] == "fail", final["reasons"]
    assert (
        "interrupted while waiting for the pages to resolve: time to resolve not measured: interrupted"
        in (final["reasons"])
    )
    assert "time to resolve: not measured: interrupted (settle: quiet 2 s after the run)" in out
    assert json.loads((report / "journal.json").read_text())["status"] == "completed"


def test_an_interrupted_run_does_not_wait_for_its_pages(tmp_path: Path, prometheus: str) -> None:
    path = _experiment(tmp_path, "stopped", 30)
    report = tmp_path / "report"
    proc, err = _sloctl(
        tmp_path,
        str(path),
        *("--set", f"prometheus_url={prometheus}", "--set", "resolve_deadline_seconds=120"),
        *("--report-dir", str(report)),
    )
    wait_until((tmp_path / "stopped.started").exists, timeout=60, what="the action to start")
    proc.send_signal(signal.SIGINT)
    stopped = time.monotonic()
    out = _ended(proc, 60)
    assert time.monotonic() - stopped < 10, err.read_text()
    assert proc.returncode == 130, out + err.read_text()
    assert "stopped: run interrupted (fail); report in" in err.read_text()
    assert "not waiting for its pages" in err.read_text()
    final = json.loads((report / "report.json").read_text())
    assert final["status"] == "interrupted" and final["interrupted"] is True
    assert any("its pages were not waited for" in r for r in final["reasons"]), final["reasons"]


# --- SIGTERM in an activity ----------------------------------------------------------------------


def test_sigterm_during_an_activity_interrupts_the_run_as_ctrl_c_does(tmp_path: Path) -> None:
    """Chaos Toolkit's own SIGTERM handler raised InterruptExecution inside the activity, its
    Python provider made that a failed activity, and the run "completed" with a verdict on the
    system; the next action ran."""
    path = _experiment(tmp_path, "terminated", 30)
    experiment = json.loads(path.read_text())
    after = json.loads(json.dumps(experiment["method"][0]))
    after["name"] = "check: after"
    after["provider"]["arguments"] = {"marker": str(tmp_path / "after.started"), "seconds": 0}
    experiment["method"].append(after)
    path.write_text(json.dumps(experiment))
    proc, err = _sloctl(tmp_path, str(path), "--report-dir", str(tmp_path / "report"))
    wait_until((tmp_path / "terminated.started").exists, timeout=60, what="the action to start")
    proc.send_signal(signal.SIGTERM)
    out = _ended(proc, 30)
    assert proc.returncode == 130, out + err.read_text()
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["status"] == "interrupted" and report["interrupted"] is True, report
    assert report["reasons"][0] == "run interrupted (Ctrl-C or SIGTERM)"
    assert not (tmp_path / "after.started").exists()  # the method did not carry on


# --- one game day at a time on a target --------------------------------------------------------

_HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.write(fd, f"pid {os.getpid()}, started 2026-12-04T10:00:00+00:00\\n".encode())
print("held", flush=True)
time.sleep(600)  # real timer: held until the test kills it
"""


def test_a_second_game_day_on_the_same_targets_is_refused_before_anything_runs(tmp_path: Path) -> None:
    path = _experiment(tmp_path, "second", 0)
    config = tmp_path / "targets.json"
    config.write_text(json.dumps({"api_url": "http://127.0.0.1:9"}))
    lock = lock_path(config, tmp_path)
    assert lock == tmp_path / "targets.json.lock"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        argv = [str(path), "--config", str(config), "--report-dir", str(tmp_path / "report")]
        proc, err = _sloctl(tmp_path, *argv)
        out = _ended(proc, 60)
        lines = err.read_text().splitlines()
        assert proc.returncode == 1, out + err.read_text()
        assert lines == [
            f"sloctl gameday run: refused: another game day holds these targets (pid {holder.pid},"
            f" started 2026-12-04T10:00:00+00:00; lock file {lock}): wait for it to end, two at once"
            " would measure each other's faults"
        ]
        assert (
            not (tmp_path / "second.started").exists() and not (tmp_path / "report" / "report.json").exists()
        )
        # SIGKILLed, the holder leaves the file and no lock: the next run goes ahead
        holder.kill()
        holder.communicate(timeout=10)
        with gameday_lock(lock):
            assert lock.read_text().startswith(f"pid {os.getpid()}, started ")
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate(timeout=10)
