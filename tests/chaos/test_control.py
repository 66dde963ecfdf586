"""Stop conditions against a stub Prometheus and a stub /metrics endpoint (real HTTP on
loopback), and the fault ledger's guarantees."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import unquote

import pytest

from sloctl import naming
from sloctl.chaos.control import evaluate_stop_condition
from sloctl.chaos.ledger import FaultLedger


class _Stub(http.server.BaseHTTPRequestHandler):
    remaining: ClassVar[float] = 1.0
    metrics: ClassVar[str] = ""

    def do_GET(self) -> None:
        if self.path.startswith("/metrics"):
            body = self.metrics.encode()
            kind = "text/plain"
        else:
            result = (
                [{"metric": {}, "value": [0, str(self.remaining)]}]
                if naming.BUDGET_REMAINING in unquote(self.path)
                else []
            )
            body = json.dumps({"status": "success", "data": {"result": result}}).encode()
            kind = "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_budget_stop_condition_counts_from_the_start_of_the_run(stub: str) -> None:
    condition = {
        "kind": "budget",
        "prometheus_url": stub,
        "service": "platform-api",
        "slo": "availability",
        "max_percent": 2,
        "_start_percent": 10.0,
    }
    _Stub.remaining = 0.89  # 11 % consumed: 1 % since the start
    assert evaluate_stop_condition(condition) is None
    _Stub.remaining = 0.87  # 13 %: 3 % since the start
    reason = evaluate_stop_condition(condition)
    assert reason is not None and "platform-api/availability" in reason


def test_metric_stop_condition_sums_matching_samples(stub: str) -> None:
    _Stub.metrics = (
        'platform_http_requests_total{code="503",route="/v1/projects"} 40\n'
        'platform_http_requests_total{code="503",route="/v1/cache/{key}"} 30\n'
        'platform_http_requests_total{code="200",route="/v1/projects"} 900\n'
    )
    condition = {
        "kind": "metric",
        "metrics_url": f"{stub}/metrics",
        "name": "platform_http_requests_total",
        "labels": {"code": "503"},
        "max": 50,
    }
    assert evaluate_stop_condition(condition) == "platform_http_requests_total = 70 > 50"
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
