"""``sloctl loadtest`` stopped by SIGTERM or Ctrl-C mid-run: Locust is stopped the graceful way
(its users deprovision their projects), nothing is left running, and the part that ran is
reported, marked interrupted. Before, SIGTERM left Locust loading the API as an orphan until its
own --run-time, and Ctrl-C SIGKILLed it: its users' ``project_lt_*`` schemas stayed behind."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psycopg
import pytest

from sloctl.servers import PostgresServer
from sloctl.servers._lifeline import alive
from sloctl.testbed_runner import ApiServer
from tests.fixtures.cli import start_sloctl
from tests.waiting import wait_until

pytestmark = [pytest.mark.servers, pytest.mark.slow]


def _load_test_schemas(postgres: PostgresServer) -> set[str]:
    with psycopg.connect(postgres.dsn) as conn:
        rows = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'project_lt%'").fetchall()
    return {str(r[0]) for r in rows}


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (``/proc``)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _locust_of(pid: int) -> int | None:
    for child in _children(pid):
        try:
            if b"locust" in Path(f"/proc/{child}/cmdline").read_bytes():
                return child
        except OSError:
            continue
    return None


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_run_stops_locust_deprovisions_and_reports_the_part_that_ran(
    sig: signal.Signals,
    code: int,
    platform_api: ApiServer,
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:
    before = _load_test_schemas(postgres_server)
    report_dir = tmp_path / "lt"
    proc = start_sloctl(
        "loadtest",
        "steady",
        "--host",
        platform_api.url,
        "--threshold",
        "failure_ratio<0.5",
        "--duration",
        "10m",
        "--users",
        "4",
        "--report-dir",
        str(report_dir),
    )
    locust = None
    try:
        locust = wait_until(lambda: _locust_of(proc.pid), timeout=60, what="Locust to start")
        # the users are loading the API: each provisioned its project
        wait_until(
            lambda: len(_load_test_schemas(postgres_server) - before) >= 4,
            timeout=60,
            what="the users' projects to be provisioned",
        )
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
        if locust is not None and alive(locust):  # an orphan: the defect this test is about
            os.kill(locust, signal.SIGKILL)
    assert proc.returncode == code, err
    assert "interrupted: stopping Locust, deprovisioning" in err, err
    assert "Traceback" not in err
    assert not alive(locust), "Locust outlived sloctl loadtest"
    assert _load_test_schemas(postgres_server) == before, "the users' projects were left behind"
    report = json.loads((report_dir / "report.json").read_text())
    assert report["interrupted"] is True and report["passed"] is False
    assert report["stopped_by"] == "interrupted"
    assert report["total"]["requests"] > 0
    assert "INTERRUPTED" in out
    assert "INTERRUPTED" in (report_dir / "report.html").read_text()
