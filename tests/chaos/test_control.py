"""Stop conditions against a stub Prometheus and a stub /metrics endpoint (real HTTP on
loopback), and the fault ledger's guarantees."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sloctl import contract, naming
from sloctl.chaos.control import evaluate_stop_condition
from sloctl.chaos.ledger import FaultLedger
from tests.fixtures.cli import sigint_as_in_a_terminal
from tests.fixtures.stub_http import Answer, StubHttp, StubRequest, serve, text, vector
from tests.paths import ROOT
from tests.waiting import wait_until


class _Answers:
    """The instant queries of the budget stop condition, and a /metrics page."""

    def __init__(self) -> None:
        self.errors_per_second = 0.0
        self.metrics = ""

    def __call__(self, request: StubRequest) -> Answer:
        if request.path.startswith("/metrics"):
            return text(self.metrics)
        query = request.query["query"]
        value = (
            2592000.0
            if query.startswith(naming.PERIOD_SECONDS)
            else 0.001
            if query.startswith(naming.ERROR_BUDGET)
            else 10.0
            if query.startswith("sum(rate(requests")
            else self.errors_per_second
        )
        return vector(({}, value))


@pytest.fixture
def answers() -> _Answers:
    return _Answers()


@pytest.fixture
def stub(answers: _Answers) -> Iterator[StubHttp]:
    with serve(answers) as server:
        yield server


def test_budget_stop_condition_is_the_burn_rate_of_the_run_times_its_length_over_the_period(
    stub: StubHttp, answers: _Answers
) -> None:
    """10 events/s. A run of 100 s at 0.1 error/s burns at 10x (1 % errors over a 0.1 %
    budget): 10 x 100 s / 30 d = 0.039 % of the budget; at 0.5 error/s, 50x: 0.193 %."""
    condition = {
        "kind": "budget",
        "prometheus_url": stub.url,
        "service": "platform-api",
        "slo": "availability",
        "error_query": 'sum(rate(errors{code=~"5.."}[{{.window}}]))',
        "total_query": "sum(rate(requests[{{.window}}]))",
        "max_percent": 0.1,
        "_since": 1_000_000.0,
    }
    now = 1_000_099.5  # the run's length: 99.5 s
    answers.errors_per_second = 0.1
    assert evaluate_stop_condition(condition, now=now) is None
    assert 'sum(rate(errors{code=~"5.."}[1m40s]))' in stub.queries  # the run's length, rounded up
    assert "sum(rate(requests[1m40s]))" in stub.queries
    answers.errors_per_second = 0.5
    assert (
        evaluate_stop_condition(condition, now=now) == "budget of platform-api/availability: 0.193 % > 0.1 %"
    )


def test_metric_stop_condition_sums_matching_samples(stub: StubHttp, answers: _Answers) -> None:
    answers.metrics = (
        f'{contract.API_REQUESTS.name}{{code="503",route="/v1/projects"}} 40\n'
        f'{contract.API_REQUESTS.name}{{code="503",route="/v1/cache/{{key}}"}} 30\n'
        f'{contract.API_REQUESTS.name}{{code="200",route="/v1/projects"}} 900\n'
    )
    condition = {
        "kind": "metric",
        "metrics_url": f"{stub.url}/metrics",
        "name": contract.API_REQUESTS.name,
        "labels": {"code": "503"},
        "max": 50,
    }
    assert evaluate_stop_condition(condition) == f"{contract.API_REQUESTS.name} = 70 > 50"
    condition["max"] = 100
    assert evaluate_stop_condition(condition) is None


def test_an_unknown_stop_condition_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown stop condition"):
        evaluate_stop_condition({"kind": "vibes"})


def test_the_ledger_undoes_newest_first_keeps_failures_and_sweeps_the_run() -> None:
    ledger = FaultLedger()
    done: list[str] = []
    ledger.start_run()
    ledger.register("a", lambda: done.append("a"))
    ledger.register("b", lambda: (_ for _ in ()).throw(RuntimeError("b")))
    ledger.register("c", lambda: done.append("c"))
    assert ledger.undo_all() == ["b"]
    assert done == ["c", "a"] and ledger.pending() == ["b"]
    ledger.done("b")
    assert sorted(ledger.sweep()) == ["b"]  # every undo of the run replayed, idempotently
    assert done == ["c", "a", "c", "a"]


def test_an_undo_that_fails_is_one_line_naming_the_fault_and_the_error_and_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Seen when the rig's Prometheus died mid-game-day: the final sweep replayed a proxy's undo
    and printed a whole traceback, and nothing in the report said a fault may still be in place."""
    from sloctl.chaos.control import STATUS, after_experiment_control, cleanup_control, configure_control
    from sloctl.chaos.ledger import LEDGER
    from sloctl.chaos.result import summarise
    from sloctl.reports.gameday import render_html

    def refused() -> None:
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    configure_control()
    try:
        LEDGER.register("proxy:39693", refused)
        after_experiment_control(None)
    finally:
        cleanup_control()
        LEDGER.forget()
    failure = "proxy:39693: ConnectionRefusedError: [Errno 111] Connection refused"
    assert STATUS.undo_failures == [failure]
    undo_lines = [r for r in caplog.records if "could not undo" in r.getMessage()]
    assert undo_lines and all(r.exc_info is None for r in undo_lines)  # no traceback
    assert {r.getMessage() for r in undo_lines} == {f"could not undo fault {failure}"}
    journal = {"status": "completed", "run": []}
    result = summarise(journal, {"title": "t"}, None, undo_failures=STATUS.undo_failures)
    assert result.undo_failures == [failure]
    assert f"could not undo fault {failure}; it may still be in place: check it by hand" in result.reasons
    assert failure in render_html(result)


def test_a_run_starts_unstopped_after_the_previous_run_in_the_process_stopped_its_load() -> None:
    from sloctl.chaos.control import after_experiment_control, cleanup_control, configure_control
    from sloctl.chaos.load import STOP

    configure_control()
    after_experiment_control(None)
    cleanup_control()
    assert STOP.is_set()  # the first run ended: its load stops
    configure_control()  # a second game day in the same process (gameday suite, a test session)
    try:
        assert not STOP.is_set()
    finally:
        after_experiment_control(None)
        cleanup_control()


# --- a run stopped while an action with a pause after it still runs ---------------------------

_SLOW_ACTION = """
import time
from pathlib import Path

def slow(marker: str) -> int:
    Path(marker).write_text("started")
    time.sleep(5)  # real timer: the action a run is stopped in the middle of
    return 1
"""

_RUN = """
import json, sys, time
from chaoslib.experiment import run_experiment

experiment = json.loads(sys.argv[1])
t0 = time.monotonic()
journal = run_experiment(experiment, settings={"runtime": {"rollbacks": {"strategy": "always"}}})
print(json.dumps({"status": journal["status"], "seconds": time.monotonic() - t0}))
"""

PAUSE_AFTER = 60


@pytest.mark.parametrize("stopped_by", ["ctrl-c", "stop condition"])
def test_a_run_stopped_during_an_action_does_not_wait_out_the_pause_after_it(
    tmp_path: Path, stopped_by: str
) -> None:
    # Long: the experiment is written out inline, so that the pause it must not wait out is in view.
    # Chaos Toolkit pauses after an activity in a `finally` clause, interrupted or not: without
    # the control's own pauses the run below would wait its 60 s before unwinding.
    (tmp_path / "slowmod.py").write_text(_SLOW_ACTION)
    marker = tmp_path / "started"
    tripped = threading.Event()
    with serve(lambda _r: text(f"sloctl_test_trip {1 if tripped.is_set() else 0}\n")) as metrics:
        url = f"{metrics.url}/metrics"
        trip = {"kind": "metric", "metrics_url": url, "name": "sloctl_test_trip", "max": 0}
        experiment = {
            "title": "stopped mid-action",
            "description": "an action, then a long pause",
            "controls": [
                {
                    "name": "sloctl-safety",
                    "provider": {
                        "type": "python",
                        "module": "sloctl.chaos.control",
                        "arguments": {"stop_conditions": [trip], "interval": 0.1},
                    },
                }
            ],
            "method": [
                {
                    "type": "action",
                    "name": "slow",
                    "provider": {
                        "type": "python",
                        "module": "slowmod",
                        "func": "slow",
                        "arguments": {"marker": str(marker)},
                    },
                    "pauses": {"after": PAUSE_AFTER},
                }
            ],
        }
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
        proc = subprocess.Popen(
            [sys.executable, "-c", _RUN, json.dumps(experiment)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=tmp_path,
            preexec_fn=sigint_as_in_a_terminal,
        )
        try:
            wait_until(marker.exists, timeout=30, what="the action to start")
            if stopped_by == "ctrl-c":
                proc.send_signal(signal.SIGINT)
            else:
                tripped.set()
            stopped = time.monotonic()
            out, _ = proc.communicate(timeout=PAUSE_AFTER / 2)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
    waited = time.monotonic() - stopped
    status = {"ctrl-c": "interrupted", "stop condition": "aborted"}[stopped_by]
    assert json.loads(out.splitlines()[-1])["status"] == status, out
    assert waited < 5, f"the run ended {waited:.1f} s after it was stopped"
