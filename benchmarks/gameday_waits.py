"""Two waits of every game day, against a loopback stand-in for the API and its Prometheus
(docs/benchmarks.md).

    PYTHONPATH=TREE .venv/bin/python benchmarks/gameday_waits.py [--runs 7] [--api-ms 5]

- ``routes_availability`` over the three routes (20 requests each, the steady state's
  probe and, as ``expect_routes_healthy``, the check of the routes a fault spares, run while
  the fault holds): its wall time when each answer takes ``--api-ms``;
- ``wait_until_resolved``: how late it sees the pages resolve, the pages stopping at a moment
  spread over a second (a rig's Prometheus evaluates every second, so a page resolves at any
  phase of a poll).

Prints the median and the maximum of ``--runs``. ``PYTHONPATH`` picks the tree measured: run it
for two checkouts in turn to compare them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sloctl.chaos.detection import wait_until_resolved
from sloctl.chaos.load import routes_availability


class _State:
    api_seconds = 0.005
    resolves_at = 0.0


class _Api(BaseHTTPRequestHandler):
    """The API's three routes (each answer after ``api_seconds``), the document the probe
    creates first, and Prometheus' instant query of ALERTS (one page until ``resolves_at``)."""

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.startswith("/api/v1/query"):
            firing = time.time() < _State.resolves_at
            result = [{"metric": {"alertname": "Page"}, "value": [time.time(), "1"]}] * firing
            self._send(200, {"status": "success", "data": {"resultType": "vector", "result": result}})
            return
        time.sleep(_State.api_seconds)
        self._send(200, {"id": "d1"})

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(_State.api_seconds)
        self._send(200, {})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(201, {"id": "d1"})

    def log_message(self, format: str, *args: object) -> None:
        return None


def _figures(values: list[float], unit: float, name: str) -> str:
    return f"{name}: median {statistics.median(values) * unit:,.0f} ms, max {max(values) * unit:,.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--api-ms", type=float, default=5.0)
    args = parser.parse_args()
    _State.api_seconds = args.api_ms / 1000
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        probe: list[float] = []
        for _ in range(args.runs):
            started = time.perf_counter()
            assert routes_availability(url, ["postgres", "redis", "mongodb"]) == 100.0
            probe.append(time.perf_counter() - started)
        late: list[float] = []
        for run in range(args.runs):
            _State.resolves_at = time.time() + 0.3 + run / args.runs  # every phase of a second
            seen = wait_until_resolved(url, timeout=10)
            assert seen is not None
            late.append(seen - _State.resolves_at)
        print(_figures(probe, 1000, "routes_availability, 3 routes x 20 requests"))
        print(_figures(late, 1000, "wait_until_resolved, seen after the pages resolved"))
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
