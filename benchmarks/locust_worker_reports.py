"""How far a distributed run (``--processes 2``) goes past ``--max-requests``, and how dense its
time series is (docs/benchmarks.md, "Distributed workers' reports").

    .venv/bin/python benchmarks/locust_worker_reports.py [--rounds 3] [--baseline TREE]

Runs ``sloctl.loadtest.runner.run_scenario`` on a one-route Locust file (4 users at 10 req/s
each, ``--processes 2 --max-requests 200``) against one loopback HTTP server in this process and
prints, per run, the wall time, the requests made, ``ran_seconds`` and the time series' samples
with their median gap. ``--baseline TREE`` (a checkout of another commit, ``git archive``) runs
the same measure with that tree's sloctl in alternating rounds, so that the machine's changing
load hits both alike.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
LOCUST_FILE = """\
from locust import FastHttpUser, constant, task

import sloctl.loadtest.locustlib  # noqa: F401


class Client(FastHttpUser):
    wait_time = constant(0.1)

    @task
    def ok(self) -> None:
        self.client.get("/ok", name="/ok")
"""


def measure(tree: Path) -> dict[str, object]:
    """One distributed run with ``tree``'s sloctl (this process imports it; Locust's too)."""
    os.environ["PYTHONPATH"] = str(tree)
    sys.path.insert(0, str(tree))
    from sloctl.loadtest.runner import RunOptions, run_scenario
    from tests.fixtures.stub_http import Answer, serve

    with tempfile.TemporaryDirectory(prefix="sloctl-bench-") as tmp, serve(lambda _r: Answer(b"ok")) as stub:
        scenario = Path(tmp) / "scenario.py"
        scenario.write_text(LOCUST_FILE)
        options = RunOptions(host=stub.url, duration=30, users=4, user_rps=10, processes=2, max_requests=200)
        began = time.monotonic()
        stats = run_scenario(scenario, options, workdir=Path(tmp) / "run")
        wall = time.monotonic() - began
    t = [s.t for s in stats.samples]
    gaps = [b - a for a, b in itertools.pairwise(t)]
    return {
        "wall_s": round(wall, 2),
        "requests": stats.total.num_requests,
        "ran_seconds": stats.ran_seconds,
        "samples": len(t),
        "median_gap_s": round(statistics.median(gaps), 2) if gaps else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another tree, measured in alternating rounds")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # a child's single measure
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one)))
        return
    trees = [("this tree", HERE)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    for round_ in range(1, args.rounds + 1):
        for name, tree in trees:
            child = [sys.executable, __file__, "--one", str(tree)]
            done = subprocess.run(child, capture_output=True, text=True, check=True, cwd=tree, timeout=300)
            print(f"round {round_} {name}: {done.stdout.strip()}", flush=True)


if __name__ == "__main__":
    main()
