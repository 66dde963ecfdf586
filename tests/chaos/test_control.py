"""Stop conditions against a stub Prometheus and a stub /metrics endpoint (real HTTP on
loopback), and the fault ledger's guarantees."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from sloctl import naming
from sloctl.chaos.control import evaluate_stop_condition
from sloctl.chaos.ledger import FaultLedger


class _Stub(http.server.BaseHTTPRequestHandler):
    """Answers the instant queries of the budget stop condition, and a /metrics page."""

    errors_per_second: ClassVar[float] = 0.0
    metrics: ClassVar[str] = ""
    queries: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        if self.path.startswith("/metrics"):
            body = self.metrics.encode()
            kind = "text/plain"
        else:
            query = parse_qs(urlsplit(self.path).query)["query"][0]
            self.queries.append(query)
            value = (
                2592000.0
                if query.startswith(naming.PERIOD_SECONDS)
                else 0.001
                if query.startswith(naming.ERROR_BUDGET)
                else 10.0
                if query.startswith("sum(rate(requests")
                else self.errors_per_second
            )
            result = [{"metric": {}, "value": [0, str(value)]}]
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


def test_budget_stop_condition_is_the_burn_rate_of_the_run_times_its_length_over_the_period(
    stub: str,
) -> None:
    """10 events/s. A run of 100 s at 0.1 error/s burns at 10x (1 % errors over a 0.1 %
    budget): 10 x 100 s / 30 d = 0.039 % of the budget; at 0.5 error/s, 50x: 0.193 %."""
    condition = {
        "kind": "budget",
        "prometheus_url": stub,
        "service": "platform-api",
        "slo": "availability",
        "error_query": 'sum(rate(errors{code=~"5.."}[{{.window}}]))',
        "total_query": "sum(rate(requests[{{.window}}]))",
        "max_percent": 0.1,
        "_since": time.time() - 99.5,
    }
    _Stub.errors_per_second = 0.1
    assert evaluate_stop_condition(condition) is None
    assert 'sum(rate(errors{code=~"5.."}[1m40s]))' in _Stub.queries  # the run's length, rounded up
    assert "sum(rate(requests[1m40s]))" in _Stub.queries
    _Stub.errors_per_second = 0.5
    assert evaluate_stop_condition(condition) == "budget of platform-api/availability: 0.193 % > 0.1 %"


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
