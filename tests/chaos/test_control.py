"""Stop conditions against a stub Prometheus and a stub /metrics endpoint (real HTTP on
loopback), and the fault ledger's guarantees."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sloctl import contract, naming
from sloctl.chaos.control import evaluate_stop_condition
from sloctl.chaos.ledger import FaultLedger
from tests.fixtures.stub_http import Answer, StubHttp, StubRequest, serve, text, vector


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
