"""The HTTP servers' request checks, this checkout and another side by side (docs/benchmarks.md,
"The HTTP servers' request checks").

    .venv/bin/python benchmarks/http_request_checks.py [--old DIR] [--rounds 4]

Prints, for each checkout: the status and size of ``sloctl serve``'s answer to three over-long
query values (a listener over the tests' fake Prometheus of one SLO, over HTTP); the time of
``GET /healthz`` through the testbed's whole ASGI app in process (middleware included; the
databases are not reached: ``/healthz`` calls none), the median of 5 × 1,000 requests a round;
and the time of the middleware's request checks alone (``Host``, the request target, the
headers read once, ``Accept``). With ``--old DIR`` (a
checkout of another commit, e.g. ``git worktree add /tmp/old REV``) each round runs that
checkout (first on ``PYTHONPATH``, ``python -P``) then this one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: Over-long query values: a label filter of plain letters, one of ``<`` (escaped 4 bytes each
#: in HTML, 3 in a URL) and a sort key out of its choices.
URLS = ("/?label=" + "x" * 60_000, "/?label=" + "<" * 20_000, "/?sort=" + "<" * 20_000)
REQUESTS = 1000
BATCHES = 5


def _serve_sizes() -> list[tuple[int, int]]:
    import httpx

    from sloctl.serve import start
    from tests.fixtures.fake_prometheus import fake_app

    with fake_app(1) as (app, _calls):
        served = start(app, "127.0.0.1:0")
        try:
            with httpx.Client(trust_env=False, timeout=30) as client:
                answers = [client.get(served.url + url) for url in URLS]
        finally:
            served.stop()
    return [(a.status_code, len(a.content)) for a in answers]


async def _healthz_us() -> float:
    import httpx

    from testbed.app import create_app
    from testbed.config import TestbedConfig

    nowhere = ("postgresql://u:p@127.0.0.1:9/db", "redis://127.0.0.1:9/0", "mongodb://127.0.0.1:9/")
    app = create_app(TestbedConfig(*nowhere))
    headers = {"accept": "application/json"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
        for _ in range(REQUESTS // 5):  # warm
            await c.get("/healthz", headers=headers)
        batches = []
        for _ in range(BATCHES):
            began = time.perf_counter()
            for _ in range(REQUESTS):
                answer = await c.get("/healthz", headers=headers)
            batches.append((time.perf_counter() - began) / REQUESTS * 1e6)
            if answer.status_code != 200:
                raise SystemExit(f"GET /healthz: {answer.status_code} {answer.text[:200]}")
    return statistics.median(batches)


def _checks_us() -> float | None:
    """The middleware's request checks alone (``_malformed``) on an httpx-like request (min of 5
    × 50,000 calls); None for a checkout without them."""
    import timeit

    from testbed import middleware

    check = getattr(middleware, "_malformed", None)
    if check is None:
        return None
    headers = [(b"host", b"127.0.0.1"), (b"accept", b"application/json"), (b"user-agent", b"python-httpx")]
    scope = {"headers": headers, "http_version": "1.1", "method": "GET", "path": "/healthz"}
    calls = 50_000
    return min(timeit.repeat(lambda: check(scope, "/healthz"), number=calls, repeat=5)) / calls * 1e6


def _measure_here() -> None:
    figures = {"serve": _serve_sizes(), "healthz_us": asyncio.run(_healthz_us()), "checks_us": _checks_us()}
    print(json.dumps(figures))


def _measure(tree: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{ROOT}"}  # ROOT: the tests' fixtures
    out = subprocess.run(
        [sys.executable, "-P", str(Path(__file__).resolve()), "--here"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    figures: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, help="another checkout, measured alternately with this one")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--here", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.here:
        _measure_here()
        return
    trees = [("old", args.old.resolve()), ("new", ROOT)] if args.old else [("this", ROOT)]
    for n in range(1, args.rounds + 1):
        for name, tree in trees:
            figures = _measure(tree)
            sizes = ", ".join(f"{status} {size:,} B" for status, size in figures["serve"])
            checks = figures["checks_us"]
            alone = "none" if checks is None else f"{checks:.1f} µs"
            print(f"round {n} {name}: serve {sizes}; GET /healthz in process {figures['healthz_us']:.0f} µs;"
                  f" request checks alone {alone}")  # fmt: skip


if __name__ == "__main__":
    main()
