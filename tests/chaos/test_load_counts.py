"""The game day's load counts every answer once, per dependency and second: ok, errors, and the
breaker's fast-fail rejections (a real HTTP stub on loopback answers)."""

from __future__ import annotations

from sloctl.chaos.load import generate_load
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
