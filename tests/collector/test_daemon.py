"""`sloctl collector run` as a real process: it starts with every target down, serves
/healthz, /metrics and /debug/targets, keeps running while targets are dead, and exits 0 on
SIGTERM."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

import pytest

from sloctl import contract
from sloctl.servers import free_port
from tests.collector.helpers import collector_process
from tests.fixtures.metrics import in_text
from tests.waiting import wait_until


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
        return str(resp.read().decode())


def _answers(port: int) -> bool:
    try:
        return _get(port, "/healthz") == "ok\n"
    except OSError:
        return False


def _refused(metrics: str) -> float:
    """Refused runs of the ``cache`` target so far."""
    return sum(in_text(metrics, contract.PROBE_FAILURES.name, reason="refused", target="cache").values())


def test_daemon_starts_down_serves_its_pages_and_stops_on_sigterm(tmp_path: Path) -> None:
    dead = free_port()
    port, proc = collector_process(
        tmp_path,
        "targets:\n"
        f"  - {{name: cache, kind: redis, port: {dead}, password: {{env: RPW}}, interval: 1s}}\n"
        f"  - {{name: db, kind: postgres, port: {dead}, user: u, database: d, interval: 30s}}\n",
        env={"RPW": "daemon-pw-0xc0ffee"},
    )
    try:
        wait_until(lambda: _answers(port), timeout=20, what="the collector's listener", interval=0.1)
        metrics = _get(port, "/metrics")
        assert f'{contract.PROBE_UP.name}{{kind="postgres",target="db"}} 0.0' in metrics
        assert f'{contract.PROBE_FAILURES.name}{{kind="postgres",reason="tls",target="db"}} 0.0' in metrics
        wait_until(lambda: _refused(_get(port, "/metrics")) >= 2, timeout=10, what="two refused runs")
        metrics = _get(port, "/metrics")
        assert f'{contract.PROBE_UP.name}{{kind="redis",target="cache"}} 0.0' in metrics
        assert '"reason": "refused"' in _get(port, "/debug/targets")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "daemon-pw-0xc0ffee" not in out + err
    assert '"event.reason":"refused"' in out
    # the log said when it started, and never that it stopped
    last = json.loads(out.splitlines()[-1])
    assert (last["message"], last["event.action"], last["labels.signal"]) == (
        "collector stopped on SIGTERM",
        "stop",
        "SIGTERM",
    )


@pytest.mark.waits  # three runs on the collector's 1 s schedule
def test_a_closed_stdout_drops_log_lines_with_one_notice_and_probing_goes_on(tmp_path: Path) -> None:
    """The reader of the log lines goes away (a log shipper restarts, ``| head``): every line
    then printed a 40-line "Logging error" traceback on stderr."""
    port, proc = collector_process(
        tmp_path, f"targets:\n  - {{name: cache, kind: redis, port: {free_port()}, interval: 1s}}\n"
    )
    try:
        assert proc.stdout is not None and '"event.action":"start"' in proc.stdout.readline()
        proc.stdout.close()  # the reader goes away; every failed run still logs a line
        refused = _refused(_get(port, "/metrics"))  # it listens before it logs "start"
        wait_until(lambda: _refused(_get(port, "/metrics")) >= refused + 3, timeout=15, what="3 more runs")
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err[:2000]
    assert err.count("sloctl collector: cannot write log lines any more") == 1, err
