"""How long stopping the testbed takes, server by server, and ``sloctl testbed up`` from SIGTERM
to its exit (docs/benchmarks.md).

    .venv/bin/python benchmarks/server_stop.py [--rounds 3]

Each round starts the whole testbed (:func:`sloctl.testbed_runner.start_testbed`) in a fresh
work folder and stops its servers one by one in :meth:`~sloctl.testbed_runner.Testbed.stop`'s
order, timing each; then runs ``sloctl testbed up`` in a child process and times its exit from
the SIGTERM sent once it printed its addresses. Prints the median and the worst of each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sloctl.testbed_runner import start_testbed  # noqa: E402


def _stops(workdir: Path) -> dict[str, float]:
    """Seconds each server of a started testbed took to stop, in the order Testbed.stop uses."""
    testbed = start_testbed(workdir)
    taken: dict[str, float] = {}
    try:
        for server in (testbed.api, testbed.pgbouncer, testbed.postgres, testbed.redis, testbed.mongodb):
            began = time.monotonic()
            server.stop()
            taken[server.name] = time.monotonic() - began
    finally:
        testbed.stop()
    return taken


def _testbed_up_exit(workdir: Path) -> float:
    """Seconds from SIGTERM to the exit of ``sloctl testbed up``, once it printed its addresses."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "sloctl.cli.main", "testbed", "up", "--workdir", str(workdir)]
    argv += ["--for", "5m"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:  # the last address printed: every server runs
        if line.startswith("mongodb"):
            break
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    took = time.monotonic() - began
    if code != 0:
        raise SystemExit(f"sloctl testbed up exited {code}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="testbeds started and stopped (default 3)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="sloctl-bench-stop-"))
    base.chmod(0o711)  # PostgreSQL's user must reach its data
    figures: dict[str, list[float]] = {}
    try:
        for number in range(args.rounds):
            for name, took in _stops(base / f"lib{number}").items():
                figures.setdefault(name, []).append(took)
            figures.setdefault("sloctl testbed up, SIGTERM to exit", []).append(
                _testbed_up_exit(base / f"cli{number}")
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"{'what':40} {'median s':>9} {'worst s':>8}")
    for name, times in figures.items():
        print(f"{name:40} {statistics.median(times):9.3f} {max(times):8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
