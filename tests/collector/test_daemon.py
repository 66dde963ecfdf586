"""`sloctl collector run` as a real process: it starts with every target down, serves
/healthz, /metrics and /debug/targets, keeps running while targets are dead, and exits 0 on
SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sloctl.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
        return str(resp.read().decode())


def test_daemon_starts_down_serves_its_pages_and_stops_on_sigterm(tmp_path: Path) -> None:
    port, dead = free_port(), free_port()
    config = tmp_path / "targets.yaml"
    config.write_text(
        f"apiVersion: sloctl/v1\nkind: CollectorConfig\nlisten: 127.0.0.1:{port}\n"
        "targets:\n"
        f"  - {{name: cache, kind: redis, port: {dead}, password: {{env: RPW}}, interval: 500ms}}\n"
        f"  - {{name: db, kind: postgres, port: {dead}, user: u, database: d, interval: 30s}}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "sloctl.cli.main", "collector", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "RPW": "daemon-pw-0xc0ffee"},
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # bounded wait for the listener
            try:
                assert _get(port, "/healthz") == "ok\n"
                break
            except OSError:
                time.sleep(0.1)
        metrics = _get(port, "/metrics")
        assert 'sloctl_probe_up{kind="postgres",target="db"} 0.0' in metrics
        assert 'sloctl_probe_failures_total{kind="postgres",reason="tls",target="db"} 0.0' in metrics
        time.sleep(1.2)
        metrics = _get(port, "/metrics")
        assert 'sloctl_probe_up{kind="redis",target="cache"} 0.0' in metrics
        refused = [
            ln
            for ln in metrics.splitlines()
            if ln.startswith("sloctl_probe_failures_total") and 'reason="refused",target="cache"' in ln
        ]
        assert refused and float(refused[0].rsplit(" ", 1)[1]) >= 2
        assert '"reason": "refused"' in _get(port, "/debug/targets")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "daemon-pw-0xc0ffee" not in out + err
    assert '"event.reason":"refused"' in out
