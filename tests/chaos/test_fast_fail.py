"""The fast-fail check gates the open breaker's answer time *above the API's floor* (its time
for ``/healthz`` right after each rejected call), so that a busy API or machine does not fail
it while a breaker that waits for its dependency does (a real HTTP stub on loopback answers
with chosen ``Server-Timing`` durations)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from chaoslib.exceptions import ActivityFailed

from sloctl.chaos.load import FLOOR_ROUTE, expect_fast_fail
from tests.fixtures.stub_http import Answer, StubRequest, serve


def _api(rejected_ms: float, floor_ms: float | None) -> Callable[[StubRequest], Answer]:
    def answer(request: StubRequest) -> Answer:
        if request.path == FLOOR_ROUTE and floor_ms is not None:
            return Answer(b'{"status": "ok"}', headers=(("Server-Timing", f"app;dur={floor_ms}"),))
        if request.path.startswith("/v1/documents/"):  # mongodb: the breaker is open
            timing = (("Server-Timing", f"app;dur={rejected_ms}"),)
            return Answer(b'{"type": "https://x/problems/circuit-open"}', status=503, headers=timing)
        return Answer(b"{}", status=404)

    return answer


def test_a_busy_api_passes_when_the_breaker_adds_little_above_its_floor() -> None:
    # 4.2 ms absolute is over the 1 ms bound, but the API's cheapest answer took 4.0 ms then.
    with serve(_api(4.2, 4.0)) as stub:
        figures = expect_fast_fail(stub.url, "mongodb", max_ms=1.0, requests=5)
    assert figures["rejected"] == 5
    assert figures["server_p50_ms"] == 4.2 and figures["floor_p50_ms"] == 4.0
    assert figures["above_floor_p50_ms"] == pytest.approx(0.2)
    paths = [r.path for r in stub.requests]
    assert paths == [p for _ in range(5) for p in ("/v1/documents/000000000000000000000000", FLOOR_ROUTE)]


def test_a_breaker_that_waits_for_its_dependency_fails_the_check() -> None:
    with serve(_api(300.0, 0.3)) as stub, pytest.raises(ActivityFailed) as failed:
        expect_fast_fail(stub.url, "mongodb", max_ms=3.0, requests=5)
    assert "fast-fail median 299.7 ms above the API's floor > 3.0 ms" in str(failed.value)


def test_an_api_without_a_floor_route_is_a_clear_failure_not_a_pass() -> None:
    with serve(_api(0.5, None)) as stub, pytest.raises(ActivityFailed) as failed:
        expect_fast_fail(stub.url, "mongodb", max_ms=3.0, requests=3)
    assert f"or {FLOOR_ROUTE} does not answer" in str(failed.value)
