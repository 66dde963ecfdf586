"""How long a MongoDB (SecantusDB) server outlives its launcher killed outright, stopped by the
servers' lifeline (docs/benchmarks.md, "Stopping the testbed").

    .venv/bin/python benchmarks/killed_launcher_stop.py [--runs 12]

Each run starts a child Python that starts MongoDB (:func:`sloctl.servers.start_mongodb`) in a
fresh folder and prints its pid; the child is SIGKILLed and the time until the server process
is gone is taken. Prints every figure, then the median and the worst.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sloctl.servers._lifeline import alive, start_time  # noqa: E402

LAUNCHER = """
import sys
from pathlib import Path
from sloctl.servers import start_mongodb
server = start_mongodb(Path(sys.argv[1]))
print(server.pid, flush=True)
sys.stdin.read()
"""
#: Bounds a run: the lifeline's grace (10 s) and its SIGKILL are well inside it.
GIVE_UP_SECONDS = 30.0
POLL_SECONDS = 0.005


def _one(folder: Path) -> float:
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(folder)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert launcher.stdout is not None and launcher.stdin is not None
    pid = int(launcher.stdout.readline())
    began = start_time(pid)
    killed = time.monotonic()
    launcher.kill()
    launcher.wait()
    launcher.stdin.close()
    launcher.stdout.close()
    while alive(pid, began) and time.monotonic() - killed < GIVE_UP_SECONDS:
        time.sleep(POLL_SECONDS)
    return time.monotonic() - killed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12)
    args = parser.parse_args()
    taken = []
    for _ in range(args.runs):
        folder = Path(tempfile.mkdtemp(prefix="sloctl-bench-killed-"))
        try:
            taken.append(_one(folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    print("seconds from SIGKILL to the server's end:", " ".join(f"{t:.2f}" for t in taken))
    print(f"median {statistics.median(taken):.3f} s, worst {max(taken):.3f} s")


if __name__ == "__main__":
    main()
