"""A real breakpoint search (Locust, the bundled BreakpointShape) against a loopback service
slower than the gate: the report says the run was stopped by the breakpoint, not by its
duration."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sloctl.cli.main import main
from tests.fixtures.stub_http import Answer, StubRequest, serve

pytestmark = [pytest.mark.slow, pytest.mark.waits]

LOCUST_FILE = """
from locust import FastHttpUser, constant, task

from sloctl.loadtest.locustlib import BreakpointShape

__all__ = ["BreakpointShape", "Paced"]


class Paced(FastHttpUser):
    wait_time = constant(0.02)

    @task
    def slow(self) -> None:
        self.client.get("/slow", name="/slow")
"""


def _answer(request: StubRequest) -> Answer:
    time.sleep(0.02)  # real timer: the service's own 20 ms, four times the gate's 5 ms
    return Answer(b"ok")


def test_a_breakpoint_search_that_broke_says_so_as_what_stopped_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "search.py").write_text(LOCUST_FILE)
    with serve(_answer) as stub:
        argv = ["loadtest", str(tmp_path / "search.py"), "--host", stub.url, "--duration", "60s"]
        code = main([*argv, "--users", "2", "--threshold", "p(95)<=5", "--report-dir", str(tmp_path)])
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    assert code == 1, out
    assert report["breakpoint"]["broke_at_users"] == 2, report["breakpoint"]
    # Before: 'stopped_by: duration' (and "(stopped by duration)") for a run of one 5 s step of 60 s.
    assert report["stopped_by"] == "breakpoint", report["stopped_by"]
    assert "(stopped by breakpoint)" in out, out
