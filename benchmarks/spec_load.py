"""Benchmark: reading the same SLO files again and again in one process, as a long-lived reader
does (a test worker, a fuzzer, a service that reloads its SLOs).

Each run is a fresh process that loads every file of ``slos/`` ``--reads`` times over
(``load_documents``, one file a call) and prints its CPU time, the objects the garbage collector
tracks at the end (what the reads left alive) and its collections. With ``--baseline DIR``
(another checkout of sloctl, e.g. ``git archive REV sloctl | tar -x -C DIR``), that version runs
too, with ``PYTHONPATH=DIR``, the two in turn ``--rounds`` times, so both see the same load.

Usage::

    .venv/bin/python benchmarks/spec_load.py [--reads 600] [--rounds 3] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(reads: int) -> dict[str, float]:
    """Load ``slos/`` ``reads`` times in this process; its CPU time and what is left alive."""
    from sloctl.spec import load_documents

    sources = [(p.name, p.read_text()) for p in sorted((ROOT / "slos").glob("*.yaml"))]
    started = time.process_time()
    for _ in range(reads):
        for source in sources:
            load_documents([source])
    cpu = time.process_time() - started
    gc.collect()
    return {
        "cpu_s": cpu,
        "tracked": len(gc.get_objects()),
        "collections": sum(s["collections"] for s in gc.get_stats()),
    }


def _run(reads: int, path: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": path}
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--reads", str(reads)], env=env, check=True, capture_output=True
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=600, help="reads of every file of slos/ per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", help="another checkout's folder holding sloctl/, run in turn")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.reads)))
        return
    trees = {"this tree": str(ROOT), **({"baseline": args.baseline} if args.baseline else {})}
    print("| round | tree | CPU | objects tracked at the end | collections |")
    print("|---|---|---:|---:|---:|")
    for round_ in range(1, args.rounds + 1):
        for name, path in trees.items():
            r = _run(args.reads, path)
            print(f"| {round_} | {name} | {r['cpu_s']:.2f} s | {r['tracked']:,} | {r['collections']:,} |")


if __name__ == "__main__":
    main()
