"""Time to resolve and the run's pages, against a scripted Prometheus (its ALERTS series, its
rule groups, the generated rules' info series): the wait ends when no page fires and none can
still trip from the run's last data, every page that fired is listed as expected or not, pages
still firing at the deadline fail the game day, and a deadline of 0 lists them without waiting."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

from sloctl import naming
from sloctl.chaos.detection import (
    RESOLVE_POLL_SECONDS,
    _budget_figure,
    detection_figures,
    resolution_figures,
    settle_seconds,
    wait_until_resolved,
)
from sloctl.chaos.probes import DEFAULT_EVALUATION_SECONDS
from sloctl.chaos.result import GamedayResult
from tests.chaos.results import completed_run
from tests.fixtures.stub_http import Answer, StubRequest, prometheus_answer, serve, settle_reads, vector

#: a rule group (for the rules API) holding one alert of ``severity``, evaluated every ``interval`` s
Group = tuple[float, str]

EXPECTED = "PlatformApiRedisAvailabilityBudgetBurn"
OTHER = "PlatformApiAvailabilityBudgetBurn"


class _Alerts:
    """The scripted ALERTS series."""

    #: alert name → epoch seconds at which it fired (range queries)
    fired: ClassVar[dict[str, float]] = {}
    #: how many instant queries still see the pages firing
    firing_polls: ClassVar[int] = 0


def _answer(request: StubRequest) -> Answer:
    settle = settle_reads(request)  # no slice, no rule group: no settle
    if settle is not None:
        return settle
    assert 'ALERTS{alertstate="firing", severity="page"}' in request.query["query"]
    if request.path.endswith("/query_range"):
        result: list[dict[str, Any]] = [
            {"metric": {"alertname": name}, "values": [[at, "1"]]} for name, at in _Alerts.fired.items()
        ]
        return prometheus_answer({"resultType": "matrix", "result": result})
    firing = _Alerts.firing_polls > 0
    _Alerts.firing_polls -= 1
    return vector(*(({"alertname": n}, 1.0) for n in _Alerts.fired if firing), at=time.time())


def _timeline(
    spans: dict[str, tuple[float, float]], groups: list[Group], slices: list[str]
) -> Callable[[StubRequest], Answer]:
    """A Prometheus whose pages fire over ``spans`` (alert name → [from, to) epoch seconds), as
    its instant and range queries of ALERTS see them at the moment they are asked."""

    def answer(request: StubRequest) -> Answer:
        settle = settle_reads(request, groups, slices)
        if settle is not None:
            return settle
        now = time.time()
        if request.path.endswith("/query_range"):
            fired = [(n, frm) for n, (frm, _to) in spans.items() if frm <= now]
            result = [{"metric": {"alertname": n}, "values": [[frm, "1"]]} for n, frm in fired]
            return prometheus_answer({"resultType": "matrix", "result": result})
        return vector(*(({"alertname": n}, 1.0) for n, (frm, to) in spans.items() if frm <= now < to), at=now)

    return answer


@pytest.fixture
def prometheus() -> Iterator[str]:
    with serve(_answer) as stub:
        yield stub.url


def _result() -> GamedayResult:
    return completed_run("memory-exhaustion", expected_alerts=[EXPECTED], duration_s=20.0, fault_at_s=4.0)


def test_the_wait_ends_when_no_page_fires_and_every_page_of_the_run_is_listed(prometheus: str) -> None:
    start = time.time() - 20
    _Alerts.fired = {EXPECTED: start + 6.0, OTHER: start + 7.0}
    _Alerts.firing_polls = 2  # two polls, RESOLVE_POLL_SECONDS apart, see them firing
    result = _result()
    ended = resolution_figures(result, {"prometheus_url": prometheus}, start)
    assert ended is not None and result.time_to_resolve_s is not None
    # from the fault (4 s into the run) to the poll that saw no page any more
    assert result.time_to_resolve_s == pytest.approx(ended - (start + 4.0), abs=0.01)
    assert ended - time.time() < 1 and result.time_to_resolve_s >= 16 + 2 * RESOLVE_POLL_SECONDS - 0.1
    assert result.pages == {
        EXPECTED: "expected, fired 2.0 s after the fault",
        OTHER: "unexpected, fired 3.0 s after the fault",
    }
    assert result.verdict == "pass"


def test_the_wait_sees_the_pages_resolve_within_a_rule_evaluation_not_a_second_later() -> None:
    """A rig's Prometheus evaluates its rules every second; the wait read the pages once a
    second too, so it saw them resolve up to a second late (0.8 s here), after every game day
    of a sequence. It reads them every RESOLVE_POLL_SECONDS now."""
    resolves_at = time.time() + 0.3

    def answer(_request: StubRequest) -> Answer:
        firing = time.time() < resolves_at
        return vector(*([({"alertname": OTHER}, 1.0)] if firing else []), at=time.time())

    with serve(answer) as stub:
        seen = wait_until_resolved(stub.url, timeout=10)
    assert seen is not None
    assert 0 <= seen - resolves_at < 0.5, seen - resolves_at


def test_a_page_the_runs_last_slice_trips_after_a_quiet_poll_is_waited_for_and_listed() -> None:
    """CI, 2026-12-07: the wait ended at its first poll, which saw no page; a latency page,
    tripped by the run's last 10 s slice as it was judged, fired a moment later, unlisted, and
    was still firing when the sequence ended. The pages must now stay quiet for the longest
    slice and two rule evaluations after the run (1 s and 2 × 0.25 s here, read from
    Prometheus): the page is waited for, listed, and the time to resolve counted from its end."""
    start = time.time() - 20  # a 20 s run, its fault 4 s in
    now = time.time()
    late = (now + 0.4, now + 0.8)
    groups = [(0.25, "page"), (300.0, "ticket")]  # the ticket group's interval is not a page's
    with serve(_timeline({OTHER: late}, groups, ["1s"])) as stub:
        result = _result()
        began = time.monotonic()
        ended = resolution_figures(result, {"prometheus_url": stub.url}, start)
        waited = time.monotonic() - began
    assert ended is not None and ended >= late[1]
    assert 1.5 <= waited < 3, waited  # the settle, not the ticket group's 600 s
    assert result.resolve_settle_s == 1.5  # stated in the report
    assert result.pages == {OTHER: f"unexpected, fired {round(late[0] - start - 4.0, 3)} s after the fault"}
    assert result.time_to_resolve_s == pytest.approx(ended - (start + 4.0), abs=0.01)


def test_an_expected_page_not_yet_fired_when_the_run_ends_is_awaited_until_the_detection_deadline() -> None:
    """The wait used to end at once when no page fired yet, so an expected page firing a
    second after the run (within the detection deadline) read "did not fire" and failed the
    game day. It is awaited now, until the detection deadline after the fault at most."""
    start = time.time() - 20
    now = time.time()
    configuration: dict[str, Any] = {"resolve_settle_seconds": 0, "detection_deadline_seconds": 18.0}
    # the deadline is 2 s away (4 s into the run + 18 s); the page fires over three polls: a
    # span shorter than one (0.2 s, before) fell between two polls in 1 run of 10 or so
    span = (now + 0.5, now + 0.5 + 3 * RESOLVE_POLL_SECONDS)
    with serve(_timeline({EXPECTED: span}, [], [])) as stub:
        result = _result()
        configuration["prometheus_url"] = stub.url
        ended = resolution_figures(result, configuration, start)
        detection_figures(result, configuration, {}, start, ended)
    assert ended is not None and span[1] <= ended < span[1] + 0.5
    assert result.alerts == {EXPECTED: f"fired {round(span[0] - start - 4.0, 3)} s after the fault"}
    assert result.verdict == "pass", result.reasons
    assert result.resolve_settle_s == 0
    # never firing: the wait holds until the deadline, no longer, and the run fails
    with serve(_timeline({}, [], [])) as stub:
        result = _result()
        configuration["prometheus_url"] = stub.url
        start, began = time.time() - 20, time.monotonic()  # the deadline 2 s away again
        ended = resolution_figures(result, configuration, start)
        detection_figures(result, configuration, {}, start, ended)
    assert 1.8 < time.monotonic() - began < 3
    assert result.verdict == "fail" and result.alerts == {EXPECTED: "did not fire"}


@pytest.mark.parametrize(
    ("configured", "groups", "slices", "seconds"),
    [
        (0, [(1.0, "page")], ["5m"], 0.0),  # the configuration's, Prometheus not asked
        (7.5, [(1.0, "page")], ["5m"], 7.5),
        (None, [(30.0, "page"), (600.0, "ticket")], ["10s", "5m"], 300 + 2 * 30),
        (None, [(15.0, "page")], [], 30.0),  # no timeslice SLO: two evaluations
        (None, [], [], 0.0),  # no page alert at all
        (None, None, ["30s"], 30 + 2 * DEFAULT_EVALUATION_SECONDS),  # no rules API (404)
    ],
)
def test_the_settle_is_the_longest_slice_and_two_evaluations_of_the_page_rules(
    configured: float | None, groups: list[Group] | None, slices: list[str], seconds: float
) -> None:
    def answer(request: StubRequest) -> Answer:
        assert configured is None, "a configured settle asks Prometheus nothing"
        if groups is None and request.path.endswith("/rules"):
            return Answer(b"404 page not found", "text/plain", 404)
        settle = settle_reads(request, groups or [], slices)
        assert settle is not None, request
        return settle

    configuration = {} if configured is None else {"resolve_settle_seconds": configured}
    with serve(answer) as stub:
        assert settle_seconds(stub.url, configuration) == seconds


def test_pages_still_firing_at_the_resolve_deadline_fail_the_game_day(prometheus: str) -> None:
    start = time.time() - 20
    _Alerts.fired = {EXPECTED: start + 6.0}
    _Alerts.firing_polls = 10**6
    result = _result()
    # the deadline (17 s after the fault, 4 s into the run) is 1 s away: a few polls
    resolution_figures(result, {"prometheus_url": prometheus, "resolve_deadline_seconds": 17}, start)
    assert result.verdict == "fail" and result.time_to_resolve_s is None
    assert result.reasons == ["the pages still fired 17 s after the fault (resolve_deadline_seconds)"]
    assert result.pages == {EXPECTED: "expected, fired 2.0 s after the fault, still firing"}


def test_a_resolve_deadline_of_0_lists_the_pages_without_waiting(prometheus: str) -> None:
    start = time.time() - 20
    _Alerts.fired = {OTHER: start + 5.0}
    _Alerts.firing_polls = 10**6
    result = _result()
    began = time.monotonic()
    resolution_figures(result, {"prometheus_url": prometheus, "resolve_deadline_seconds": 0}, start)
    assert time.monotonic() - began < 1
    assert result.verdict == "pass" and result.time_to_resolve_s is None
    assert result.pages == {OTHER: "unexpected, fired 1.0 s after the fault, still firing"}


def test_a_page_already_firing_before_the_fault_is_said_so_never_a_negative_time(prometheus: str) -> None:
    start = time.time() - 20
    _Alerts.fired = {OTHER: start + 1.0, EXPECTED: start + 6.0}  # the fault is 4 s into the run
    _Alerts.firing_polls = 0
    result = _result()
    resolution_figures(result, {"prometheus_url": prometheus, "resolve_deadline_seconds": 0}, start)
    assert result.pages == {
        EXPECTED: "expected, fired 2.0 s after the fault",
        OTHER: "unexpected, was already firing before the fault",
    }


def test_a_run_without_a_fault_lists_its_pages_into_the_run_not_after_a_fault(prometheus: str) -> None:
    start = time.time() - 20
    _Alerts.fired = {OTHER: start + 1.5}
    _Alerts.firing_polls = 0
    result = completed_run("memory-exhaustion", expected_alerts=[EXPECTED], duration_s=3.0, fault_at_s=None)
    resolution_figures(result, {"prometheus_url": prometheus, "resolve_deadline_seconds": 0}, start)
    assert result.pages == {OTHER: "unexpected, fired 1.5 s into the run, no fault was injected"}
    assert result.time_to_resolve_s is None


def test_a_stop_condition_that_trips_before_the_fault_is_inconclusive_naming_the_alert() -> None:
    from sloctl.chaos.result import verdict_of

    baseline = {"activity": {"name": "baseline: steady traffic"}, "status": "succeeded"}
    journal = {"status": "aborted", "run": [baseline]}
    verdict, reasons = verdict_of(journal, f"alert {OTHER} fires")
    assert verdict == "inconclusive"
    assert reasons == [
        f"a stop condition tripped before any fault was injected: alert {OTHER} fires; nothing was"
        " learnt about the fault (a page still firing from an earlier run?)"
    ]
    inject = {"activity": {"name": "inject: redis_maxmemory_squeeze"}, "status": "succeeded"}
    assert verdict_of({**journal, "run": [baseline, inject]}, f"alert {OTHER} fires")[0] == "fail"


@pytest.mark.parametrize(("errors", "events", "figure"), [(0.0, 0.0, None), (2.0, 1000.0, 0.001543)])
def test_a_run_whose_sli_saw_no_event_has_no_budget_figure_not_zero(
    errors: float, events: float, figure: float | None
) -> None:
    """Found by reading the budget probe: a run whose SLI counted no event (the load missed
    what the SLO counts, or the scrapes did not come) reported 0 % of the budget spent, a
    healthy figure out of nothing. 2 errors in 1,000 events over 20 s spend
    100 × (0.002 / 0.001) × 20 / 2,592,000 = 0.001543 % of a 30-day 99.9 % budget."""

    def answer(request: StubRequest) -> Answer:
        query = request.query["query"]
        if query.startswith(naming.PERIOD_SECONDS):
            return vector(({}, 30 * 86400.0))
        if query.startswith(naming.ERROR_BUDGET):
            return vector(({}, 0.001))
        return vector(({}, errors if query.startswith("errors") else events))

    budget = {"service": "svc", "slo": "slo", "error_query": "errors[{{.window}}]"}
    budget["total_query"] = "total[{{.window}}]"
    result = _result()
    with serve(answer) as stub:
        _budget_figure(result, stub.url, {"budget": budget}, 1000.0, 1020.0)
    assert result.budget_consumed_percent == figure
    assert any("saw no event" in r for r in result.reasons) == (figure is None), result.reasons
