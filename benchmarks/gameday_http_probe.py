"""What one Chaos Toolkit ``http`` probe takes through the game days' session (docs/benchmarks.md).

    PYTHONPATH=TREE .venv/bin/python benchmarks/gameday_http_probe.py [--probes 400]

Runs the probe as a game day does (``chaoslib.activity.run_activity`` inside
``sloctl.chaos.providers.http_provider_guarded``: a new session and connection per probe, as
the provider makes them) against a loopback HTTP server in this process, by address and by
``localhost``, after 50 warm-up probes; prints the median and p90. ``PYTHONPATH`` picks the
tree whose guard is measured: run it for two checkouts in turn to compare them.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from chaoslib.activity import run_activity

from sloctl.chaos.providers import http_provider_guarded


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=400)
    args = parser.parse_args()
    logging.getLogger("chaostoolkit").setLevel(logging.ERROR)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        with http_provider_guarded():
            for host in ("127.0.0.1", "localhost"):
                provider = {"type": "http", "url": f"http://{host}:{port}/", "timeout": 5}
                probe = {"type": "probe", "name": "probe", "provider": provider}
                for _ in range(50):
                    run_activity(probe, {}, {})
                times = []
                for _ in range(args.probes):
                    started = time.perf_counter()
                    run_activity(probe, {}, {})
                    times.append(time.perf_counter() - started)
                times.sort()
                p90 = times[int(len(times) * 0.9)]
                print(f"{host}: median {statistics.median(times) * 1e6:,.0f} µs, p90 {p90 * 1e6:,.0f} µs")
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
