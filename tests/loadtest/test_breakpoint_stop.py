"""Real breakpoint searches (Locust, the bundled BreakpointShape) against loopback services:
a search that found its breaking point, or held to its last step, has done its job (exit 0,
the point in the report); it fails (exit 1) only when it held fewer users than
``--breakpoint-at-least`` asks. A search that could only end one way is refused before any load.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sloctl.cli.main import main
from tests.fixtures.locust_files import locust_file, real_locust_run, run_locust_file
from tests.fixtures.stub_http import Answer, StubRequest

LOCUST_FILE = locust_file("/slow", wait="constant(0.02)", shape=True)


def _answer(request: StubRequest) -> Answer:
    time.sleep(0.02)  # real timer: the service's own 20 ms, four times the gate's 5 ms
    return Answer(b"ok")


@real_locust_run
def test_a_breakpoint_search_that_broke_exits_0_and_says_where_and_what_stopped_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--duration", "60s", "--users", "2", "--threshold", "p(95)<=5", "--breakpoint-step", "2s"]
    code, report = run_locust_file(tmp_path, LOCUST_FILE, _answer, *flags)
    out = capsys.readouterr().out
    # Before: exit 1 and "FAILED: at least one threshold was violated" for a search that found
    # its point, as every search that broke did.
    assert code == 0, out
    found = report["breakpoint"]
    assert (found["broke_at_users"], found["held_users"], found["broken_by"]) == (2, 0, "p(95) <= 5"), found
    assert found["broken_value"] > 5 and found["failure"] is None, found
    assert report["passed"] is True
    # Before: 'stopped_by: duration' (and "(stopped by duration)") for a run of one step of 60 s.
    assert report["stopped_by"] == "breakpoint", report["stopped_by"]
    assert "(stopped by breakpoint)" in out, out
    assert "breakpoint: no step held; broke at 2 users" in out, out
    assert out.rstrip().splitlines()[-1].startswith("PASSED: breakpoint search done"), out


@real_locust_run
def test_a_search_that_held_to_its_end_counts_its_last_step_and_gates_on_the_users_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Steps of 2 s (--breakpoint-step): 5 s steps in 10 s prove the same, in 10 s instead of 4.
    flags = ["--duration", "4s", "--users", "1", "--threshold", "p(95)<=1000", "--breakpoint-step", "2s"]
    code, report = run_locust_file(tmp_path, LOCUST_FILE, _answer, *flags, "--breakpoint-at-least", "2")
    out = capsys.readouterr().out
    # Two whole steps of 2 s in 4 s: before, the search stopped at the duration without
    # measuring the step then ending, and held 1 user.
    assert code == 0, out
    found = report["breakpoint"]
    assert (found["steps"], found["held_users"], found["broke_at_users"]) == (2, 2, None), found
    assert "held 2 users" in out and "in 2 steps: no gate it watches broke" in out, out
    # The same search asked to hold 3 users (it adds 1 per step, 2 steps in 4 s) cannot: refused
    # before any load; one that held too few fails.
    refused = ["loadtest", "breakpoint", "--host", "http://127.0.0.1:9", "--report-dir", str(tmp_path / "r")]
    refused += [*flags, "--breakpoint-at-least", "3"]
    assert main(refused) == 2
    assert "the search reaches 2 users at most (2 steps of 2 s in --duration 4s" in capsys.readouterr().err
    flags = ["--duration", "4s", "--users", "1", "--threshold", "p(95)<=5", "--breakpoint-step", "2s"]
    code, report = run_locust_file(tmp_path, LOCUST_FILE, _answer, *flags, "--breakpoint-at-least", "1")
    out = capsys.readouterr().out
    assert code == 1, out
    assert report["breakpoint"]["failure"] == "held 0 users, fewer than --breakpoint-at-least 1", report
    assert out.rstrip().endswith("FAILED: held 0 users, fewer than --breakpoint-at-least 1"), out


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["steady", "--breakpoint-at-least", "5"], "the steady scenario runs no breakpoint search"),
        (["breakpoint", "--breakpoint-at-least", "0"], "--breakpoint-at-least 0: give 1 or more users"),
        (["breakpoint", "--duration", "3s"], "--duration 3s: a breakpoint search runs steps of 5 s"),
        (
            ["breakpoint", "--duration", "3s", "--breakpoint-step", "4s"],
            "--duration 3s: a breakpoint search runs steps of 4 s (--breakpoint-step); give 4s or more",
        ),
        (["breakpoint", "--breakpoint-step", "500ms"], "--breakpoint-step 0.5s: give 1s to 1d"),
        (["steady", "--breakpoint-step", "2s"], "--breakpoint-step: the steady scenario runs no breakpoint"),
        (["breakpoint", "--breakpoint-at-least", "201"], "the search reaches 200 users at most"),
        (
            ["breakpoint", "--breakpoint-alpha", "0"],
            "--breakpoint-alpha 0: give a probability above 0 and below 1",
        ),
        (
            ["breakpoint", "--breakpoint-alpha", "1"],
            "--breakpoint-alpha 1: give a probability above 0 and below 1",
        ),
        (["breakpoint", "--breakpoint-alpha", "nan"], "--breakpoint-alpha nan: give a probability above 0"),
        (
            ["steady", "--breakpoint-alpha", "0.01"],
            "--breakpoint-alpha: the steady scenario runs no breakpoint",
        ),
    ],
)
def test_a_search_that_could_only_end_one_way_is_a_usage_error_before_any_load(
    flags: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["loadtest", *flags, "--host", "http://127.0.0.1:9", "--report-dir", str(tmp_path / "r")]
    assert main([*argv, "--threshold", "p(95)<200"]) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_a_search_without_a_gate_it_can_watch_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "loadtest",
        "breakpoint",
        "--host",
        "http://127.0.0.1:9",
        "--threshold",
        "rps>100",
    ]
    assert main(argv) == 2
    assert "stops on a latency or failure gate with an upper limit" in capsys.readouterr().err


def _one_in_fifty(failed: itertools.count[int]) -> Callable[[StubRequest], Answer]:
    """Every 50th request fails (500): 2 %, twice a ``failure_ratio <= 0.01`` gate's limit."""
    return lambda _request: Answer(b"no", status=500) if next(failed) % 50 == 49 else Answer(b"ok")


@real_locust_run
def test_breakpoint_alpha_sets_how_unlikely_a_steps_failures_must_be_to_break_the_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A step of 1 user (about 50 to 250 requests) failing 2 %: 1 to 5 failures, which a service
    # failing at exactly 1 % shows in 11 % to 39 % of such steps. Beyond chance at alpha 0.5, not
    # at the default 0.001.
    flags = ["--duration", "10s", "--users", "1", "--threshold", "failure_ratio<=0.01"]
    for name in ("default", "half"):
        (tmp_path / name).mkdir()
    code, report = run_locust_file(
        tmp_path / "default", LOCUST_FILE, _one_in_fifty(itertools.count()), *flags
    )
    found = report["breakpoint"]
    assert code == 0 and (found["steps"], found["broke_at_users"], found["alpha"]) == (2, None, 0.001), found
    assert (
        "in 2 steps: no gate it watches broke (failure ratios judged at alpha 0.001)"
        in capsys.readouterr().out
    )
    flags += ["--breakpoint-alpha", "0.5"]
    code, report = run_locust_file(tmp_path / "half", LOCUST_FILE, _one_in_fifty(itertools.count()), *flags)
    found = report["breakpoint"]
    assert code == 0 and (found["broke_at_users"], found["broken_by"], found["alpha"]) == (
        1,
        "failure_ratio <= 0.01",
        0.5,
    ), found
    out = capsys.readouterr().out
    assert "broke at 1 users" in out and "(failure ratios judged at alpha 0.5)" in out, out
