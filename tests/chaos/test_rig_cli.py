"""The workflow a user follows to try a game day on a laptop: ``sloctl gameday rig`` starts a
target and writes its configuration, ``sloctl gameday run --config`` runs a real game day
against it (with Prometheus: the page is detected), Ctrl-C stops every process and removes the
targets file."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.paths import ROOT
from tests.waiting import wait_until

# Beside the other game days, never in parallel with them: two rigs would share 2 cores.
pytestmark = [pytest.mark.servers, pytest.mark.slow, pytest.mark.xdist_group("chaos-rig")]


def _listening(url: str) -> bool:
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((parts.hostname or "127.0.0.1", parts.port or 0)) == 0


def test_rig_then_run_then_ctrl_c(tmp_path: Path) -> None:
    targets = tmp_path / "targets.json"
    sloctl = [sys.executable, "-m", "sloctl.cli.main", "gameday"]
    rules = str(ROOT / "rules" / "platform-api.yml")
    rig = subprocess.Popen(
        [
            *sloctl,
            "rig",
            "--workdir",
            str(tmp_path / "rig"),
            "--config-out",
            str(targets),
            *("--for", "180s", "--rules", rules),
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
                *("--set", "fast_fail_ms=3", "--report-dir", report),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "memory-exhaustion: pass" in run.stdout
        result = json.loads((tmp_path / "report" / "report.json").read_text())
        assert result["time_to_detect_s"] is not None  # the rig's Prometheus saw the page
        assert result["alerts"]["PlatformApiRedisAvailabilityBudgetBurn"].startswith("fired ")
    finally:
        rig.send_signal(signal.SIGINT)
        out, err = rig.communicate(timeout=60)
    assert rig.returncode == 0, err
    assert "try: sloctl gameday run" in out
    assert not targets.exists()  # no file that points at closed ports
    assert not any(_listening(u) for u in endpoints)
