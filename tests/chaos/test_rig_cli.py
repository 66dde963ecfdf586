"""The workflow a user follows to try a game day on a laptop: ``sloctl gameday rig`` starts a
target and writes its configuration, ``sloctl gameday run --config`` runs a real game day
against it (with Prometheus: the page is detected, then resolves), Ctrl-C stops every process
and removes the targets file. The rig runs the plan's timing profile here (30 s open, 10 s
window, 3/5/10/1 s timeouts), the one run of a game day with the plan's values, and its rules
with the suite's fast reset (short windows ÷ :data:`FAST_RESET`) so that the page resolves within a
minute."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.chaos.conftest import FAST_RESET
from tests.fixtures.cli import stopped_on_failure
from tests.fixtures.timing import FAST_FAIL_MS
from tests.paths import ROOT
from tests.waiting import wait_until

# Beside the other game days, never in parallel with them: two rigs would share 2 cores.
pytestmark = [pytest.mark.servers, pytest.mark.slow, pytest.mark.xdist_group("chaos-rig")]


def _listening(url: str) -> bool:
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((parts.hostname or "127.0.0.1", parts.port or 0)) == 0


@pytest.mark.timeout(900)  # 90 s of game day, then a minute or two until the page resolves
def test_a_rig_with_the_plan_timings_runs_a_game_day_that_pages_and_resolves_then_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    # Long: one story through the real command (rig up, game day, page, resolve, Ctrl-C), each
    # step checked on the live rig before the next.
    targets = tmp_path / "targets.json"
    sloctl = [sys.executable, "-m", "sloctl.cli.main", "gameday"]
    slos = str(ROOT / "slos" / "platform-api.yaml")
    rig = subprocess.Popen(
        [
            *sloctl,
            "rig",
            "--workdir",
            str(tmp_path / "rig"),
            "--config-out",
            str(targets),
            *("--for", "900s", "--slos", slos, "--fast-reset", str(FAST_RESET), "--profile", "plan"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: targets.exists() or rig.poll() is not None,
            timeout=90,
            what="the targets file",
            interval=0.3,
        )
        assert targets.exists(), rig.stderr.read() if rig.stderr else "no targets file"
        config = json.loads(targets.read_text())
        endpoints = [config["api_url"], config["prometheus_url"]]
        assert all(urlsplit(u).hostname == "127.0.0.1" for u in endpoints)
        experiment = str(ROOT / "chaos" / "memory-exhaustion.json")
        report = str(tmp_path / "report")
        run = subprocess.run(
            [
                *sloctl,
                "run",
                experiment,
                "--config",
                str(targets),
                *("--set", f"fast_fail_ms={FAST_FAIL_MS:g}", "--report-dir", report),
            ],
            capture_output=True,
            text=True,
            timeout=600,  # 90 s of load, then the page resolves (its 5 s short window)
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "memory-exhaustion: pass" in run.stdout
        # Progress while it ran: each activity, and the wait for the pages to resolve.
        assert "memory-exhaustion: Action: inject: redis_maxmemory_squeeze" in run.stderr
        assert "waiting for its pages to resolve" in run.stderr
        assert f"rules' short windows: ÷ {FAST_RESET} (fast reset)" in run.stdout
        result = json.loads((tmp_path / "report" / "report.json").read_text())
        # The rig's Prometheus saw the page (the plan: within 5 min) and saw it resolve (15 min).
        assert result["alerts"]["PlatformApiRedisAvailabilityBudgetBurn"].startswith("fired ")
        assert result["time_to_detect_s"] is not None and result["time_to_detect_s"] < 300
        assert result["time_to_resolve_s"] is not None
        assert f"(settle: quiet {result['resolve_settle_s']:g} s after the run)" in run.stdout
        assert result["resolve_settle_s"] > 0
        assert result["time_to_detect_s"] < result["time_to_resolve_s"] < 900
        assert result["pages"]["PlatformApiRedisAvailabilityBudgetBurn"].startswith("expected, fired ")
        # The plan's timings, stated in the report: the breaker stayed open its 30 s.
        assert result["timing_profile"] == "plan" and config["timing_profile"] == "plan"
        assert result["fast_reset"] == FAST_RESET and config["fast_reset"] == FAST_RESET
        assert config["breaker_open_seconds"] == 30 and result["time_to_recover_s"] >= 25
        page = (tmp_path / "report" / "report.html").read_text()
        assert (
            "Timing profile: plan" in page
            and "<td>breaker-open-seconds</td><td>30 s</td><td>30 s</td>" in page
        )
    finally:
        rig.send_signal(signal.SIGINT)
        out, err = rig.communicate(timeout=60)
    assert rig.returncode == 0, err
    assert "try: sloctl gameday run" in out
    assert not targets.exists()  # no file that points at closed ports
    assert not any(_listening(u) for u in endpoints)


def _redis_pid(port: int) -> int | None:
    """The pid of the redis-server on ``port`` (from /proc: it sets its title to
    ``redis-server 127.0.0.1:PORT``)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip()
        except OSError:
            continue
        if title.startswith(b"redis-server") and title.endswith(f":{port}".encode()):
            return int(entry.name)
    return None


@pytest.mark.timeout(300)
def test_a_rig_whose_database_dies_stops_naming_it(tmp_path: Path) -> None:
    """It watched the API and Prometheus only: with redis-server killed it kept running, and the
    next game day ran against a broken rig."""
    targets = tmp_path / "targets.json"
    workdir = tmp_path / "rig"
    rig = subprocess.Popen(
        [
            *(sys.executable, "-m", "sloctl.cli.main", "gameday", "rig", "--workdir", str(workdir)),
            *("--config-out", str(targets), "--for", "600s", "--fast-reset", str(FAST_RESET)),
            *("--slos", str(ROOT / "slos" / "platform-api.yaml")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with stopped_on_failure(rig, signal.SIGINT):
        wait_until(lambda: targets.exists() or rig.poll() is not None, timeout=90, what="the targets file")
        assert targets.exists(), rig.stderr.read() if rig.stderr else "no targets file"
        pid = _redis_pid(urlsplit(json.loads(targets.read_text())["redis_url"]).port or 0)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        _, err = rig.communicate(timeout=60)
    assert rig.returncode == 1, err
    assert f"sloctl gameday rig: redis exited (pid {pid}, signal SIGKILL); log: {workdir}" in err, err
    assert "Traceback" not in err and not targets.exists()
