"""What judging a breakpoint search's step costs, and how long a search takes (docs/benchmarks.md).

    .venv/bin/python benchmarks/breakpoint_step.py step [--requests 5000] [--calls 200]
    .venv/bin/python benchmarks/breakpoint_step.py search [--tree DIR] [--duration 30s]

``step``: in this process, the statistics of one Locust run (``--requests`` per route of the
platform API's routes, times drawn from a log-normal around 20 ms, a tenth failing) in Locust's
``RequestStats`` and sloctl's successes, then the time of one step's judgement as the shape
makes it (:meth:`sloctl.loadtest.locustlib.BreakpointShape._close_step`'s work: two snapshots,
their difference, every gate of ``slos/`` judged) beside the all-requests pass the shape made
before every gate was judged (the buckets and counts summed over the routes, a percentile and a
failure ratio). It runs on Locust's event loop once per step (5 s).

``search``: one breakpoint search of a two-route stub (one route slowing down as users grow: the
Locust file and stub of ``tests/loadtest/breakpoint_stub.py``) with gates that never
break, so that it
runs every step, through ``sloctl loadtest`` of the tree ``--tree`` (default: this one; give a
copy of an older commit to compare); prints its wall time, steps and requests.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _filled(requests: int) -> tuple[object, object]:
    """Locust's statistics and sloctl's successes of one run over the API's routes."""
    from locust.stats import RequestStats

    from sloctl.contract import ROUTES
    from sloctl.loadtest.locustlib import _ExactStats

    every, ok = RequestStats(use_response_times_cache=False), _ExactStats()
    rng = random.Random(7)
    for r in ROUTES:
        for _ in range(requests):
            ms = rng.lognormvariate(3.0, 0.6)
            every.log_request(r.method, r.path, ms, 100)  # type: ignore[arg-type]
            if rng.random() < 0.1:
                every.log_error(r.method, r.path, "HTTP 503")
            else:
                ok.log_request(r.method, r.path, ms, 100)  # type: ignore[arg-type]
    return every, ok


def _step_costs(requests: int, calls: int) -> dict[str, float]:
    from sloctl.loadtest.locustlib import _gated, _snapshot
    from sloctl.loadtest.results import RunStats, judge_step, percentile, since
    from sloctl.loadtest.runner import breakpoint_gates
    from sloctl.loadtest.thresholds import thresholds_from_slos
    from sloctl.spec import load_paths

    every, ok = _filled(requests)
    gates = breakpoint_gates(thresholds_from_slos(load_paths([ROOT / "slos"]).slos)[0])
    before = (_snapshot(every), _snapshot(ok))  # type: ignore[arg-type]

    def judged() -> None:  # the step as the shape judges it now
        after = (_snapshot(every), _snapshot(ok))  # type: ignore[arg-type]
        step = RunStats(
            routes=since(after[0], before[0], 0.0, 5.0), succeeded=since(after[1], before[1], 0.0, 5.0)
        )
        judge_step(gates, step)

    def aggregate() -> None:  # the all-requests pass the shape made before
        n, f, _ = _gated(every)  # type: ignore[arg-type]
        times = _gated(ok)[2]  # type: ignore[arg-type]
        percentile(times, 95)
        _ = f / n if n else 0.0

    out = {"gates": float(len(gates))}
    for name, fn in (("aggregate_ms", aggregate), ("every_gate_ms", judged)):
        began = time.perf_counter()
        for _ in range(calls):
            fn()
        out[name] = round((time.perf_counter() - began) / calls * 1000, 3)
    return out


def _search(tree: Path, duration: str) -> dict[str, object]:
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.stub_http import serve
    from tests.loadtest.breakpoint_stub import LOCUST_FILE, answer

    with tempfile.TemporaryDirectory() as folder, serve(answer) as stub:
        (Path(folder) / "scenario.py").write_text(LOCUST_FILE)
        cmd = [
            sys.executable,
            "-c",
            "import sys; from sloctl.cli.main import main; sys.exit(main(sys.argv[1:]))",
        ]
        cmd += ["loadtest", f"{folder}/scenario.py", "--host", stub.url, "--report-dir", folder]
        cmd += ["--duration", duration, "--users", "1", "--threshold", "p(95)<=5000"]
        cmd += ["--threshold", "/slow:p(95)<=5000", "--threshold", "/steady:failure_ratio<=0.5"]
        began = time.monotonic()
        subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(tree)}, check=True, capture_output=True)
        wall = time.monotonic() - began
        report = json.loads((Path(folder) / "report.json").read_text())
    found = report["breakpoint"]
    return {
        "tree": str(tree),
        "wall_s": round(wall, 2),
        "ran_s": report["ran_seconds"],
        "steps": found["steps"],
        "held_users": found["held_users"],
        "requests": report["total"]["requests"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    step = sub.add_parser("step")
    step.add_argument("--requests", type=int, default=5000, help="requests per route")
    step.add_argument("--calls", type=int, default=200)
    search = sub.add_parser("search")
    search.add_argument("--tree", type=Path, default=ROOT)
    search.add_argument("--duration", default="30s")
    args = parser.parse_args()
    if args.what == "step":
        print(json.dumps(_step_costs(args.requests, args.calls)))
    else:
        print(json.dumps(_search(args.tree.resolve(), args.duration)))


if __name__ == "__main__":
    main()
