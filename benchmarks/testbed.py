"""Benchmark of the testbed against the reliability plan.

    .venv/bin/python benchmarks/testbed.py [--duration 30] [--json out.json]

1. p95 latency at a fixed moderate rate (plan: < 20 ms): Locust ``steady`` scenario, 10 users
   at 5 req/s each (50 req/s), against the API with its real databases.
2. Server-side fast-fail latency with a breaker open (plan: < 1 ms), measured inside the ASGI
   app (middleware, routing, breaker, problem+json), against the time the same request takes to
   fail without a breaker: Redis refusing connections, and Redis frozen (SIGSTOP), where the
   call waits for its 1 s timeout.
3. Requests per second one Locust process sustains on this machine (closed loop, no waits),
   on ``/healthz`` (API-bound only by routing) and on the full route mix.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sloctl.loadtest.runner import RunOptions, resolve_scenario, run_scenario  # noqa: E402
from sloctl.servers import free_port, start_redis  # noqa: E402
from sloctl.testbed_runner import start_testbed  # noqa: E402
from testbed.app import create_app  # noqa: E402
from testbed.breaker import BreakerSettings  # noqa: E402
from testbed.config import TestbedConfig  # noqa: E402

HEALTH_LOCUSTFILE = """
from locust import FastHttpUser, task
import sloctl.loadtest.locustlib  # noqa: F401  (hooks: results file, bounds)

class HealthUser(FastHttpUser):
    @task
    def health(self):
        self.client.get("/healthz")
"""


async def _asgi_call(app: Any, path: str) -> tuple[float, int]:
    """One request straight into the ASGI app; seconds spent inside it and the status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    started = time.perf_counter()
    await app(scope, receive, send)
    return time.perf_counter() - started, status


def _app(redis_url: str, minimum_calls: int) -> Any:
    config = TestbedConfig(
        postgres_dsn="postgresql://nobody@127.0.0.1:1/none",
        redis_url=redis_url,
        mongodb_uri="mongodb://127.0.0.1:1/?directConnection=true",
        breaker=BreakerSettings(minimum_calls=minimum_calls),
        rate_limit_per_second=1e9,
        rate_limit_burst=10**9,
    )
    return create_app(config)


async def _fast_fail(workdir: Path) -> dict[str, float]:
    refused_url = f"redis://:x@127.0.0.1:{free_port()}/0"
    # With a breaker: trip it (5 refused calls), then time rejections.
    app = _app(refused_url, minimum_calls=5)
    for _ in range(5):
        await _asgi_call(app, "/v1/cache/k")
    for _ in range(200):  # warm-up
        await _asgi_call(app, "/v1/cache/k")
    open_times = []
    for _ in range(5000):
        seconds, status = await _asgi_call(app, "/v1/cache/k")
        assert status == 503
        open_times.append(seconds)
    # Without a breaker (it never trips): the same request fails on a refused connection...
    app_nb = _app(refused_url, minimum_calls=10**9)
    refused_times = []
    for _ in range(300):
        seconds, status = await _asgi_call(app_nb, "/v1/cache/k")
        assert status == 503
        refused_times.append(seconds)
    # ... or waits for the 1 s Redis timeout when Redis is frozen.
    frozen_times = []
    with start_redis(workdir / "frozen") as redis:
        app_frozen = _app(redis.url, minimum_calls=10**9)
        await _asgi_call(app_frozen, "/v1/cache/k")  # connect while it answers
        redis.pause()
        try:
            for _ in range(3):
                seconds, status = await _asgi_call(app_frozen, "/v1/cache/k")
                assert status == 503
                frozen_times.append(seconds)
        finally:
            redis.resume()
    q = statistics.quantiles
    open_p50, open_p99 = statistics.median(open_times), q(open_times, n=100)[98]
    return {
        "open_breaker_p50_ms": open_p50 * 1000,
        "open_breaker_p99_ms": open_p99 * 1000,
        "refused_no_breaker_p50_ms": statistics.median(refused_times) * 1000,
        "frozen_no_breaker_p50_ms": statistics.median(frozen_times) * 1000,
        "ratio_refused": statistics.median(refused_times) / open_p50,
        "ratio_frozen": statistics.median(frozen_times) / open_p50,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per Locust run (default 30)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    with tempfile.TemporaryDirectory(prefix="sloctl-bench-") as tmp:
        work = Path(tmp)
        results["fast_fail"] = asyncio.run(_fast_fail(work))
        print(json.dumps(results["fast_fail"], indent=2), flush=True)
        with start_testbed(work / "testbed") as tb:
            steady = run_scenario(
                resolve_scenario("steady"),
                RunOptions(host=tb.api.url, duration=args.duration, users=10, user_rps=5.0),
                workdir=work / "steady",
            )
            total = steady.total
            reads = [r for r in steady.routes if r.method == "GET"]
            from sloctl.loadtest.results import aggregate

            read_total = aggregate(reads)
            results["steady_50rps"] = {
                "requests": total.num_requests,
                "failures": total.num_failures,
                "rps": round(total.rps, 1),
                "p50_ms": total.percentile(50),
                "p95_ms": total.percentile(95),
                "p99_ms": total.percentile(99),
                "reads_p95_ms": read_total.percentile(95),
                "per_route_p95_ms": {f"{r.method} {r.name}": r.percentile(95) for r in steady.routes},
            }
            print(json.dumps(results["steady_50rps"], indent=2), flush=True)
            health_file = work / "health.py"
            health_file.write_text(HEALTH_LOCUSTFILE)
            for label, scenario in (("healthz", health_file), ("route_mix", resolve_scenario("steady"))):
                run = run_scenario(
                    scenario,
                    RunOptions(
                        host=tb.api.url, duration=min(args.duration, 20.0), users=20, user_rps=10_000.0
                    ),
                    workdir=work / f"max-{label}",
                )
                results[f"one_locust_process_{label}"] = {
                    "rps": round(run.total.rps, 1),
                    "p95_ms": run.total.percentile(95),
                    "failures": run.total.num_failures,
                }
                print(label, json.dumps(results[f"one_locust_process_{label}"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
