"""The game day's load counts every answer once, per dependency and second: ok, errors, and the
breaker's fast-fail rejections (a real HTTP stub on loopback answers)."""

from __future__ import annotations

import threading

from sloctl.chaos.load import expect_routes_healthy, generate_load, routes_availability
from tests.fixtures.stub_http import Answer, StubRequest, serve


def _answer(request: StubRequest) -> Answer:
    if request.path == "/v1/projects":  # postgres
        return Answer(b"[]")
    if request.method == "POST":  # the load's set-up: the MongoDB document it reads
        return Answer(b'{"id": "d1"}', status=201)
    if request.path == "/v1/documents/d1":  # mongodb: the breaker is open
        return Answer(b'{"error": "circuit-open"}', status=503)
    return Answer(b'{"error": "no such route"}', status=404)


def test_the_load_counts_oks_and_fast_fail_rejections_per_dependency_and_second() -> None:
    with serve(_answer) as stub:
        result = generate_load(stub.url, ["postgres", "mongodb"], rate=40, seconds=0.5, workers=1)
    reads = sum(r.path == "/v1/projects" for r in stub.requests)
    rejected = sum(r.path == "/v1/documents/d1" for r in stub.requests)
    assert reads > 0 and rejected > 0 and len(stub.requests) == reads + rejected + 1
    assert result["totals"] == {
        "postgres": {"ok": reads, "errors": 0, "rejected": 0},
        "mongodb": {"ok": 0, "errors": 0, "rejected": rejected},
    }
    for dependency, rows in result["timeline"].items():
        seconds = [row[0] for row in rows]
        assert seconds == sorted(set(seconds)), dependency
        assert sum(row[1] + row[2] + row[3] for row in rows) == (
            reads if dependency == "postgres" else rejected
        )
    # The stub sends no Server-Timing header: no API time to report.
    assert result["fast_fail_p50_ms"] is None and result["fast_fail_p95_ms"] is None


def test_the_routes_are_probed_side_by_side_each_counted_on_its_own() -> None:
    """The availability probes (the steady state's, and the check of the routes a fault spares,
    while the fault holds) sent one route's requests after the other's: three times as long.
    Here the first request of each route is answered only once the other route's is in flight
    too (a 503 after 2 s otherwise), so requests one route after the other fail it."""
    together = threading.Barrier(2, timeout=2)
    first: set[str] = set()
    lock = threading.Lock()

    def answer(request: StubRequest) -> Answer:
        if request.method == "POST":
            return Answer(b'{"id": "d1"}', status=201)
        with lock:
            waits = request.path not in first
            first.add(request.path)
        if waits:
            try:
                together.wait()
            except threading.BrokenBarrierError:
                return Answer(b'{"error": "alone"}', status=503)
        return _answer(request) if request.path == "/v1/projects" else Answer(b'{"id": "d1"}')

    with serve(answer) as stub:
        healthy = expect_routes_healthy(stub.url, ["postgres", "mongodb"], objective=100.0, requests=10)
    assert healthy == {"postgres": 100.0, "mongodb": 100.0}
    paths = [r.path for r in stub.requests if r.method == "GET"]
    assert paths.count("/v1/projects") == 10 and paths.count("/v1/documents/d1") == 10
    with serve(_answer) as stub:  # the mongodb route's breaker open: the lowest route counts
        assert routes_availability(stub.url, ["postgres", "mongodb"], requests=5) == 0.0
