"""``sloctl serve --demo``'s start-up for the SLO files of slos/: seconds from the call until
its throwaway Prometheus holds the backfilled scenarios and recordings and evaluates the rules
(``sloctl.serve.demo.demo`` entered), the part of it spent waiting for the live scrape and
every rule group's evaluation after it (from the demo's "waiting" progress line on), and the
blocks its data directory holds then. ``--live-interval`` sets the live evaluation interval
(60 s, ``serve --demo``'s; the UI tests' stack uses 10).

With ``--baseline DIR`` (another checkout of sloctl, e.g. ``git archive REV sloctl | tar -x -C
DIR``), that version's demo starts too, in turn with this one (``--rounds`` each), each in a
process of its own with ``PYTHONPATH`` set to its checkout, over the same SLO files.

Usage::

    .venv/bin/python benchmarks/serve_demo.py [--rounds 1] [--baseline DIR] [--live-interval 60]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def once(live_interval: int) -> None:
    """``--once``: one demo start-up with the sloctl on ``PYTHONPATH``; a JSON line."""
    from sloctl.serve.demo import demo
    from sloctl.spec import load_paths

    slos = load_paths([ROOT / "slos"]).slos
    waiting: list[float] = []

    def progress(message: str) -> None:
        if "waiting" in message:
            waiting.append(time.perf_counter())

    with tempfile.TemporaryDirectory(prefix="sloctl-bench-demo-") as tmp:
        t0 = time.perf_counter()
        with demo(slos, workdir=Path(tmp), progress=progress, live_interval=live_interval):
            now = time.perf_counter()
            blocks = sum(1 for p in (Path(tmp) / "data").iterdir() if p.is_dir() and p.name != "wal")
    wait = now - waiting[0]
    print(json.dumps({"slos": len(slos), "seconds": now - t0, "wait": wait, "blocks": blocks}))


def start(checkout: Path, live_interval: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--once", str(live_interval)],
        env={**os.environ, "PYTHONPATH": str(checkout.resolve())},
        capture_output=True, text=True, check=True, timeout=1800,
    )  # fmt: skip
    answer: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return answer


def main() -> None:
    if sys.argv[1:2] == ["--once"]:
        once(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline", type=Path, help="another checkout of sloctl, started in turn")
    parser.add_argument("--live-interval", type=int, default=60, help="live evaluation interval, s")
    args = parser.parse_args()
    variants = {"this": ROOT} | ({"baseline": args.baseline} if args.baseline else {})
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, checkout in variants.items():
            runs[name].append(start(checkout, args.live_interval))
            print(name, runs[name][-1], file=sys.stderr)
    print("| version | SLOs | start-up (each round) | of it, the live wait | blocks |")
    print("|---|---:|---|---|---:|")
    for name, r in runs.items():
        times = ", ".join(f"{x['seconds']:.0f} s" for x in r)
        waits = ", ".join(f"{x['wait']:.1f} s" for x in r)
        print(f"| {name} | {r[0]['slos']:.0f} | {times} | {waits} | {r[-1]['blocks']:.0f} |")
    if "baseline" in runs:
        a = statistics.median(x["seconds"] for x in runs["baseline"])
        b = statistics.median(x["seconds"] for x in runs["this"])
        print(f"\nthis ÷ baseline: {b / a:.2f}x the start-up (medians)")


if __name__ == "__main__":
    main()
