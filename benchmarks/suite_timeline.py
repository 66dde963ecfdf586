"""How the two pytest-xdist workers share `make test`'s suite, minute by minute (docs/benchmarks.md,
"Test suite wall time").

    .venv/bin/python benchmarks/suite_timeline.py [--out DIR] [-- PYTEST ARGS]

Runs pytest as `make test` does (the arguments after ``--`` replace ``-n 2 --dist loadgroup
--no-loadscope-reorder -q -m "not drill"``) with this file loaded as a plugin that records each
test's start and end per worker, reads the machine's CPU counters (``/proc/stat``) every second
meanwhile, and prints: the run's wall time and share of CPU busy, each worker's busy time, and per
minute the share of CPU busy beside the two tests each worker spent most of that minute in. The
records stay in ``--out`` (``<worker>.jsonl``, ``cpu.txt``). Run it on a machine with nothing else
running: the CPU share counts every process.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARGS = ["-n", "2", "--dist", "loadgroup", "--no-loadscope-reorder", "-q", "-m", "not drill"]
_ENV = "SUITE_TIMELINE_DIR"

# --- the pytest plugin (``-p benchmarks.suite_timeline``), in each worker ---------------------------

_started: dict[str, float] = {}


def pytest_runtest_logstart(nodeid: str, location: object) -> None:
    _started[nodeid] = time.time()


def pytest_runtest_logfinish(nodeid: str, location: object) -> None:
    out = os.environ.get(_ENV)
    if out is None or nodeid not in _started:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(Path(out) / f"{worker}.jsonl", "a") as f:
        f.write(json.dumps({"id": nodeid, "start": _started.pop(nodeid), "end": time.time()}) + "\n")


# --- the run and its report ----------------------------------------------------------------------


def _cpu_counters() -> tuple[int, int]:
    """(idle, total) jiffies of all CPUs since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return fields[3] + fields[4], sum(fields)


def _sample(path: Path, stop: threading.Event) -> None:
    with open(path, "w") as f:
        while not stop.wait(1.0):
            idle, total = _cpu_counters()
            f.write(f"{time.time():.3f} {idle} {total}\n")
            f.flush()


def _busy_per_minute(cpu: Path, t0: float) -> dict[int, float]:
    rows = [tuple(map(float, line.split())) for line in cpu.read_text().splitlines() if line]
    sums: dict[int, tuple[float, float]] = {}
    for (t, idle_a, total_a), (_, idle_b, total_b) in itertools.pairwise(rows):
        minute = int((t - t0) // 60)
        idle, total = sums.get(minute, (0.0, 0.0))
        sums[minute] = (idle + idle_b - idle_a, total + total_b - total_a)
    return {m: 1 - idle / total for m, (idle, total) in sorted(sums.items()) if total}


def _short(nodeid: str) -> str:
    module, _, rest = nodeid.partition("::")
    return f"{Path(module).name}::{rest[:28]}" if rest else Path(module).name


def _longest_in(tests: list[dict[str, object]], t0: float, minute: int) -> str:
    spent: dict[str, float] = {}
    lo, hi = t0 + minute * 60, t0 + minute * 60 + 60
    for test in tests:
        start, end = float(str(test["start"])), float(str(test["end"]))
        overlap = min(end, hi) - max(start, lo)
        if overlap > 0:
            name = _short(str(test["id"]))
            spent[name] = spent.get(name, 0.0) + overlap
    top = sorted(spent.items(), key=lambda kv: -kv[1])[:2]
    return ", ".join(f"{name} {seconds:.0f}s" for name, seconds in top)


def report(out: Path, t0: float, t1: float) -> str:
    files = sorted(out.glob("gw*.jsonl")) or [out / "main.jsonl"]  # the controller's, without xdist
    workers = {p.stem: [json.loads(line) for line in p.read_text().splitlines()] for p in files if p.exists()}
    busy = _busy_per_minute(out / "cpu.txt", t0)
    overall = sum(busy.values()) / len(busy) if busy else float("nan")
    lines = [f"wall {t1 - t0:.0f} s, CPU busy {overall:.0%} (mean of the minutes)"]
    for name, tests in workers.items():
        spent = sum(float(t["end"]) - float(t["start"]) for t in tests)
        lines.append(f"{name}: {len(tests)} tests, busy {spent:.0f} s")
    lines.append("minute  CPU busy  " + "  |  ".join(workers))
    for minute, share in busy.items():
        cells = "  |  ".join(_longest_in(tests, t0, minute) for tests in workers.values())
        lines.append(f"{minute:6d}  {share:8.0%}  {cells}")
    return "\n".join(lines)


def main() -> int:
    argv = sys.argv[1:]
    pytest_args = DEFAULT_ARGS
    if "--" in argv:
        cut = argv.index("--")
        argv, pytest_args = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=Path("reports/suite-timeline"), help="where the records go"
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.jsonl"), out / "cpu.txt"]:
        old.unlink(missing_ok=True)
    env = dict(os.environ)
    env[_ENV] = str(out.resolve())
    # The plugin by its dotted name from the checkout's root: with benchmarks/ itself on the path,
    # its testbed.py would stand for the testbed package in every process the tests start.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(out / "cpu.txt", stop), daemon=True)
    t0 = time.time()
    sampler.start()
    try:
        pytest = [sys.executable, "-m", "pytest", "-p", "benchmarks.suite_timeline", *pytest_args]
        code = subprocess.call(pytest, cwd=ROOT, env=env)
    finally:
        stop.set()
        sampler.join()
    print(report(out, t0, time.time()))
    return code


if __name__ == "__main__":
    sys.exit(main())
