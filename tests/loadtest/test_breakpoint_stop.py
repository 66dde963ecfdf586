"""A real breakpoint search (Locust, the bundled BreakpointShape) against a loopback service
slower than the gate: the report says the run was stopped by the breakpoint, not by its
duration."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.fixtures.locust_files import locust_file, run_locust_file
from tests.fixtures.stub_http import Answer, StubRequest

pytestmark = [pytest.mark.slow, pytest.mark.waits]

LOCUST_FILE = locust_file("/slow", wait="constant(0.02)", shape=True)


def _answer(request: StubRequest) -> Answer:
    time.sleep(0.02)  # real timer: the service's own 20 ms, four times the gate's 5 ms
    return Answer(b"ok")


def test_a_breakpoint_search_that_broke_says_so_as_what_stopped_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_locust_file(
        tmp_path, LOCUST_FILE, _answer, "--duration", "60s", "--users", "2", "--threshold", "p(95)<=5"
    )
    out = capsys.readouterr().out
    assert code == 1, out
    assert report["breakpoint"]["broke_at_users"] == 2, report["breakpoint"]
    # Before: 'stopped_by: duration' (and "(stopped by duration)") for a run of one 5 s step of 60 s.
    assert report["stopped_by"] == "breakpoint", report["stopped_by"]
    assert "(stopped by breakpoint)" in out, out
