"""A real Locust run (local, and distributed over two worker processes) against a loopback
service whose failures are slow: the latency gates read the successful requests alone, as a
latency SLI does; the failures are the availability gate's."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.locust_files import locust_file, run_locust_file
from tests.fixtures.stub_http import Answer, StubRequest

pytestmark = [pytest.mark.slow, pytest.mark.waits]

LOCUST_FILE = locust_file("/ok", "/fail")


def _answer(request: StubRequest) -> Answer:
    if request.path == "/fail":
        # The service under test answers its failures in 400 ms, the response time Locust
        # measures and the latency gates must leave out (not a wait of the test's). Well above
        # the max gate's 300 ms: a success stalled on a loaded machine (166 ms seen beside
        # another Locust run at load 8) must not read as a failure's latency.
        time.sleep(0.4)  # real timer
        return Answer(b"unavailable", status=503)
    return Answer(b"ok")


@pytest.mark.parametrize("processes", [1, 2])
def test_latency_gates_read_the_successful_requests_while_failures_count_for_availability(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], processes: int
) -> None:
    flags = ["--duration", "20s", "--users", "8", "--max-requests", "200"]
    flags += ["--threshold", "p(95)<100", "--threshold", "max<300", "--threshold", "failure_ratio<0.9"]
    if processes > 1:
        flags += ["--processes", str(processes)]
    code, report = run_locust_file(tmp_path, LOCUST_FILE, _answer, *flags)
    out = capsys.readouterr().out
    assert code == 0, out
    # Every request's 95th percentile would be a failure's 400 ms; the gates saw the successes' few ms.
    gates = {t["expression"]: t for t in report["thresholds"]}
    assert gates["p(95) < 100"]["passed"] and gates["p(95) < 100"]["value"] < 100, gates
    assert gates["max < 300"]["passed"], gates
    assert "successful requests of" in gates["p(95) < 100"]["note"], gates
    assert 0.3 < gates["failure_ratio < 0.9"]["value"] < 0.7, gates
    # 200 requests at some 40 a second: stopped early, and the report says how long it ran
    # (it said the 20 s asked, as for a run interrupted at 10 s of 60)
    assert report["stopped_by"] == "max_requests" and report["duration_seconds"] == 20, report["stopped_by"]
    assert 0 < report["ran_seconds"] < 20, report["ran_seconds"]
    if processes > 1:
        # A sample a second: the workers report every second, so most samples follow the one
        # before by a second. Before, every 3 s (Locust's default): at most two samples in three
        # seconds, so at most half the gaps that short. Most, not all: on a loaded machine a
        # worker's report can come late and leave one gap of 2-3 s (CI, 2026-12-07:
        # 2.0, 3.0, 4.01, 6.51 s), which failed a bound on the mean gap.
        t = [s["t"] for s in report["timeseries"]]
        gaps = [b - a for a, b in itertools.pairwise(t)]
        assert len(gaps) >= 2 and sum(g < 1.35 for g in gaps) > len(gaps) / 2, t
    _assert_the_report_agrees_with_the_gates(report, gates, (tmp_path / "report.html").read_text())


def _assert_the_report_agrees_with_the_gates(
    report: dict[str, Any], gates: dict[str, dict[str, Any]], page: str
) -> None:
    """The report's latency figures (total, per route, over time) are the successes' the gates
    judged; failures are counts and rates. Before, they were Locust's over every request: a
    p95 of 400 ms on the page beside a passed ``p(95) < 100``."""
    total = report["total"]
    assert report["latency_over"] == "successful requests"
    assert total["failures"] >= 50 and total["successes"] == total["requests"] - total["failures"], total
    assert total["p95_ms"] == gates["p(95) < 100"]["value"] and total["max_ms"] < 300, total
    routes = {r["name"]: r for r in report["routes"]}
    assert routes["/fail"]["failures"] == routes["/fail"]["requests"] > 0, routes
    assert routes["/fail"]["p95_ms"] is None and routes["/fail"]["failure_ratio"] == 1, routes
    assert routes["/ok"]["failures"] == 0 and routes["/ok"]["p95_ms"] < 100, routes
    # Per interval: every interval's p95 over all requests was a failure's 400 ms or more.
    p95s = sorted(s["p95_ms"] for s in report["timeseries"] if s["p95_ms"] is not None)
    assert p95s and p95s[len(p95s) // 2] < 100, report["timeseries"]
    assert any(s["failures_per_s"] > 0 for s in report["timeseries"]), report["timeseries"]
    assert "and the latency chart are over the successful requests, as the latency gates read them" in page
    assert "Latency percentiles per interval (successful requests)" in page
