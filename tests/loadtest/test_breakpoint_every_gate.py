"""A breakpoint search judges every gate it is given step by step (a route's, a dependency's,
one over all requests; p(…), avg, max, failure_ratio) over the step's own requests, from the
statistics the report's gates read; a step with too few requests in a gate's scope does not
judge it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sloctl.loadtest import RunStats, evaluate, parse_threshold
from sloctl.loadtest.results import RouteStats, judge_step, since, step_minimum
from tests.fixtures.locust_files import real_locust_run, run_locust_file
from tests.loadtest.breakpoint_stub import LOCUST_FILE, answer, ok_of, route_of


@real_locust_run
def test_a_route_gate_breaks_the_search_at_the_step_its_route_slows_past_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--duration", "25s", "--users", "1", "--threshold", "failure_ratio<=0.01"]
    flags += ["--threshold", "/slow:p(95)<=250", "--threshold", "/steady:p(95)<=250"]
    code, report = run_locust_file(tmp_path, LOCUST_FILE, answer, *flags)
    out = capsys.readouterr().out
    assert code == 0, out
    found = report["breakpoint"]
    # Before: the route gates were reported over the whole run alone; the search watched the
    # all-requests failure_ratio, held 5 users in 5 steps and never broke.
    assert (found["held_users"], found["broke_at_users"]) == (2, 3), found
    assert (found["broken_by"], found["broken_scope"]) == ("p(95) <= 250", "/slow"), found
    assert found["broken_value"] > 250, found
    assert report["stopped_by"] == "breakpoint"
    slow, steady = (t for t in report["thresholds"] if t["route"] is not None)
    assert slow["status"] == "broke the search" and slow["passed"] is None, slow
    assert slow["broke_search"]["users"] == 3 and slow["broke_search"]["value"] == found["broken_value"]
    assert (steady["status"], steady["broke_search"], steady["over"]) == ("PASS", None, "whole run"), steady
    assert "broke at 3 users" in out and "p(95) <= 250 (/slow) measured" in out, out


# -- the per-step judgement (pure) ---------------------------------------------------------------


def _step(*routes: RouteStats) -> RunStats:
    return RunStats(routes=routes, succeeded=tuple(ok_of(r) for r in routes))


def test_every_kind_of_gate_is_judged_over_the_step_as_the_report_judges_the_run() -> None:
    projects = route_of("/v1/projects", {10: 30, 300: 10})  # a quarter of its answers slow
    cache = route_of("/v1/cache/{key}", {2: 40}, failures=30)  # redis: 3 of 7 failing
    step = _step(projects, cache)
    gates = [
        parse_threshold(t)
        for t in (
            "/v1/projects:p(95)<=200",
            "GET /v1/projects:avg<100",
            "/v1/projects:max<=250",
            "/v1/cache/{key}:p(95)<=5",
            "failure_ratio<=0.1",
        )
    ]
    redis = replace(parse_threshold("failure_ratio<=0.1"), dependency="redis")  # as an SLO's gate
    judged = {g.threshold.describe(): g for g in judge_step([*gates, redis], step)}
    assert {k: (g.value, g.broke) for k, g in judged.items()} == {
        "p(95) <= 200 ms (/v1/projects)": (300.0, True),
        "avg < 100 ms (GET /v1/projects)": (82.5, False),
        "max <= 250 ms (/v1/projects)": (300.0, True),
        "p(95) <= 5 ms (/v1/cache/{key})": (2.0, False),
        # 30 failures of 110 requests
        "failure_ratio <= 0.1 (all requests)": (pytest.approx(30 / 110), True),
        "failure_ratio <= 0.1 (redis routes)": (pytest.approx(30 / 70), True),
    }
    # the same numbers as the whole-run evaluation of the same statistics
    assert [g.value for g in judge_step(gates, step)] == [r.value for r in evaluate(gates, step)]


def test_a_step_with_too_few_requests_in_a_gate_s_scope_does_not_judge_it() -> None:
    gate = parse_threshold("/v1/projects:p(95)<=200")
    noisy = _step(route_of("/v1/projects", {10: 4, 900: 1}), route_of("/v1/cache/{key}", {2: 200}))
    (verdict,) = judge_step([gate], noisy)
    assert (verdict.value, verdict.broke, verdict.requests) == (None, False, 5), verdict
    assert verdict.note == "5 requests to /v1/projects, fewer than 20: not judged"
    # twenty requests, one of them slow: judged, and p95 is not that one
    (verdict,) = judge_step([gate], _step(route_of("/v1/projects", {10: 19, 900: 1})))
    assert (verdict.value, verdict.broke) == (10.0, False), verdict
    # a p(99) needs 100: below, its nearest rank is the step's slowest request
    assert step_minimum(parse_threshold("p(99)<200")) == 100
    (verdict,) = judge_step([parse_threshold("p(99)<200")], _step(route_of("/x", {10: 98, 900: 1})))
    assert verdict.value is None and not verdict.broke, verdict
    # failures count every request; latency the successes alone
    (verdict,) = judge_step([gate], _step(route_of("/v1/projects", {10: 10}, failures=30)))
    assert verdict.value is None and verdict.requests == 10, verdict


def test_a_failure_ratio_over_its_limit_by_chance_alone_does_not_break_the_step() -> None:
    """An SLO's gate at 99.9 %: before, the first failed request of any step under 1,000
    requests broke the search (one of 200 measures 0.5 %, five times the limit)."""
    gate = parse_threshold("failure_ratio<=0.001")
    (verdict,) = judge_step([gate], _step(route_of("/v1/projects", {10: 199}, failures=1)))
    assert (verdict.value, verdict.held, verdict.broke) == (0.005, True, False), verdict
    assert verdict.note == (
        "1 failure of 200 requests: above 0.001, but a service failing at 0.001 shows as many"
        " in 18.14% of such steps"
    ), verdict.note
    # the whole run's gate is the plain ratio: the report still says it failed
    assert not evaluate([gate], _step(route_of("/v1/projects", {10: 199}, failures=1)))[0].passed
    # five of 200 are not chance at 0.1 % (one step in 460,000): the step breaks
    (verdict,) = judge_step([gate], _step(route_of("/v1/projects", {10: 195}, failures=5)))
    assert (verdict.value, verdict.broke) == (0.025, True), verdict
    # a gate allowing no failure breaks on the first
    (verdict,) = judge_step(
        [parse_threshold("failure_ratio<=0")], _step(route_of("/x", {10: 99}, failures=1))
    )
    assert verdict.broke, verdict


def test_a_step_is_the_difference_of_two_snapshots_of_the_same_statistics() -> None:
    before = (route_of("/a", {5: 10}), route_of("/b", {7: 3}))
    after = (route_of("/a", {5: 12, 40: 2}), route_of("/b", {7: 3}), route_of("/c", {1: 1}))
    step = {r.name: r for r in since(after, before, 10.0, 15.0)}
    assert set(step) == {"/a", "/c"}  # /b had no request in the step
    a = step["/a"]
    assert (a.num_requests, a.response_times, a.max_response_time, a.rps) == (4, ((5, 2), (40, 2)), 40.0, 0.8)
    assert a.avg == 22.5
