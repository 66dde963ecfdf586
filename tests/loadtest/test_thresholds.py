"""Gates from SLOs and from k6-style expressions, evaluated on Locust's final stats."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest

from sloctl.chaos.probes import percentile as probe_percentile
from sloctl.loadtest import RouteStats, RunStats, evaluate, parse_threshold, thresholds_from_slos
from sloctl.loadtest.results import percentile
from sloctl.loadtest.thresholds import Threshold, ThresholdError
from sloctl.spec import load_paths

SLOS = Path(__file__).parent / "slos"


def entry(name: str, method: str, times: dict[int, int], failures: int = 0) -> RouteStats:
    n = sum(times.values())
    return RouteStats(
        name=name,
        method=method,
        num_requests=n,
        num_failures=failures,
        total_response_time=float(sum(k * v for k, v in times.items())),
        max_response_time=float(max(times)),
        response_times=tuple(sorted(times.items())),
        start_time=100.0,
        last_request_timestamp=110.0,
    )


def test_slo_file_becomes_percentile_and_failure_ratio_gates_per_route() -> None:
    loaded = load_paths([SLOS])
    assert loaded.ok, loaded.errors
    gates, skipped = thresholds_from_slos(loaded.slos)
    described = {g.source: g.describe() for g in gates}
    assert described == {
        "SLO gates-availability": "failure_ratio <= 0.001 (all requests)",
        "SLO gates-latency": "p(95) <= 200 ms (all requests)",
        "SLO gates-list-projects-latency": "p(95) <= 250 ms (GET /v1/projects)",
        "SLO gates-provisioning": "failure_ratio <= 0.005 (POST /v1/projects)",
        "SLO gates-backup": "failure_ratio <= 0.001 (POST /v1/projects/{project_id}/backups)",
    }
    assert [s.slo for s in skipped] == ["gates-postgres-probe"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p(95)<200", Threshold("percentile", "<", 200, 95.0)),
        ("p(99.9) <= 1.5s", Threshold("percentile", "<=", 1500, 99.9)),
        ("avg<50ms", Threshold("avg", "<", 50)),
        ("http_req_failed<0.01", Threshold("failure_ratio", "<", 0.01)),
        ("rps>=100", Threshold("rps", ">=", 100)),
        ("GET /v1/projects:max<900", Threshold("max", "<", 900, None, "/v1/projects", "GET")),
        ("/v1/cache/{key}:p(50)<10", Threshold("percentile", "<", 10, 50.0, "/v1/cache/{key}")),
    ],
)
def test_k6_style_thresholds_parse(text: str, expected: Threshold) -> None:
    assert parse_threshold(text) == expected


@pytest.mark.parametrize("text", ["p95<200", "p(0)<1", "failure_ratio<5", "rps>10ms", "latency<3", ""])
def test_bad_thresholds_are_refused_with_an_example(text: str) -> None:
    with pytest.raises(ThresholdError, match=r"p\(95\)|percentile|ratio|unit"):
        parse_threshold(text)


def test_percentile_is_nearest_rank_over_locust_buckets() -> None:
    times = {10: 90, 150: 9, 900: 1}
    assert percentile(times, 50) == 10
    assert percentile(times, 90) == 10
    assert percentile(times, 95) == 150
    assert percentile(times, 99) == 150
    assert percentile(times, 100) == 900
    assert percentile({}, 95) == 0


def test_gates_pass_and_fail_on_final_stats_per_route() -> None:
    run = RunStats(
        routes=(
            entry("/v1/projects", "GET", {5: 95, 300: 5}),
            entry("/v1/cache/{key}", "GET", {2: 1000}, failures=2),
        )
    )
    results = evaluate(
        [
            parse_threshold("GET /v1/projects:p(95)<=200"),
            parse_threshold("GET /v1/projects:p(99)<=200"),
            parse_threshold("failure_ratio<=0.001"),
            parse_threshold("/v1/cache/{key}:failure_ratio<=0.002"),
            parse_threshold("POST /v1/documents:p(95)<100"),
            parse_threshold("rps>100"),
        ],
        run,
    )
    assert [r.passed for r in results] == [True, False, False, True, False, True]
    assert results[2].value == pytest.approx(2 / 1100)
    assert results[4].note == "no requests to POST /v1/documents"
    assert results[5].value == pytest.approx(110.0)


def test_the_platforms_slos_gate_per_dependency_and_per_operation() -> None:
    loaded = load_paths([Path(__file__).resolve().parents[2] / "slos"])
    assert loaded.ok, loaded.errors
    gates, skipped = thresholds_from_slos(loaded.slos)
    described = {g.source: g.describe() for g in gates}
    assert described["SLO platform-api-redis-latency"] == "p(95) <= 200 ms (redis routes)"
    assert described["SLO platform-api-postgres-availability"] == "failure_ratio <= 0.001 (postgres routes)"
    assert described["SLO platform-jobs-provisioning"] == "failure_ratio <= 0.005 (POST /v1/projects)"
    assert all("probe" in s.reason or "composite" in s.reason for s in skipped)


def test_a_dependency_gate_covers_exactly_the_routes_of_that_database() -> None:
    run = RunStats(
        routes=(
            entry("/v1/cache/{key}", "GET", {2: 99, 900: 1}),
            entry("/v1/cache/{key}", "PUT", {3: 100}),
            entry("/v1/documents", "POST", {500: 100}, failures=100),
        )
    )
    redis_p99 = Threshold("percentile", "<=", 200, 99.0, source="t", dependency="redis")
    redis_failures = Threshold("failure_ratio", "<=", 0.001, source="t", dependency="redis")
    mongo_failures = Threshold("failure_ratio", "<=", 0.001, source="t", dependency="mongodb")
    pg = Threshold("failure_ratio", "<=", 0.001, source="t", dependency="postgres")
    results = evaluate([redis_p99, redis_failures, mongo_failures, pg], run)
    assert [r.passed for r in results] == [True, True, False, False]
    assert results[0].value == 3
    assert results[3].note == "no requests to postgres routes"


def test_a_timeslice_latency_slo_gates_on_its_slice_percentile_and_a_composite_is_skipped() -> None:
    from tests.paths import ROOT

    loaded = load_paths([ROOT / "slos"])
    gates, skipped = thresholds_from_slos(loaded.slos)
    described = {g.source: g.describe() for g in gates}
    # p95 < 200 ms in 99.5 % of 5m slices: each slice of the run is held to p95, not p99.5.
    assert described["SLO platform-api-latency"] == "p(95) <= 200 ms (all requests)"
    assert described["SLO platform-api-postgres-latency"] == "p(95) <= 200 ms (postgres routes)"
    (composite,) = [s for s in skipped if s.slo == "platform-api-availability-by-dependency"]
    assert composite.reason == "a composite is gated through its components' gates"


def test_latency_gates_judge_the_successful_requests_and_failure_ratio_all_of_them() -> None:
    # Half the requests fail slowly (503s after 300 ms); the successes take 5 ms.
    everything = entry("/v1/projects", "GET", {5: 50, 300: 50}, failures=50)
    successes = entry("/v1/projects", "GET", {5: 50})
    gates = [parse_threshold(t) for t in ("p(95)<=200", "avg<50", "max<100", "failure_ratio<=0.6")]
    results = evaluate(gates, RunStats(routes=(everything,), succeeded=(successes,)))
    assert [(r.value, r.passed) for r in results] == [(5.0, True), (5.0, True), (5.0, True), (0.5, True)]
    assert results[0].note == "over the 50 successful requests of 100"
    # Results without the successes apart (an older results file) are judged on every request.
    older = evaluate(gates, RunStats(routes=(everything,)))
    assert [(r.value, r.passed) for r in older] == [
        (300.0, False),
        (152.5, False),
        (300.0, False),
        (0.5, True),
    ]


@pytest.mark.parametrize("percent", [50, 90, 95, 99, 99.5, 99.9, 99.95, 99.99])
@pytest.mark.parametrize("count", [1, 7, 20, 333, 1000, 10000])
def test_both_percentiles_take_the_nearest_rank_counted_in_decimal(count: int, percent: float) -> None:
    """The load tests' percentile (over Locust's buckets) and the game days' (over a probe's
    list of durations) agree with the nearest rank counted in exact fractions: 99.9 % of 1,000
    values is the 999th, where 99.9 / 100 * 1000 in binary floats ceils to the 1,000th."""
    rank = max(1, math.ceil(Fraction(str(percent)) * count / 100))
    values = [float(v) for v in range(1, count + 1)]
    assert percentile(dict.fromkeys(range(1, count + 1), 1), percent) == rank
    assert probe_percentile(values, percent) == rank
