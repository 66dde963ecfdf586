"""Time ``render_dashboards`` (and the Alertmanager fragment) for N SLOs.

.venv/bin/python benchmarks/dashboards.py --slos 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sloctl.render.alertmanager import render_alertmanager
from sloctl.render.dashboards import render_dashboards
from tests.dashboards.factories import many_slos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slos", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    slos = many_slos(args.slos)  # 10 SLOs per service, every SLI kind, some tiers disabled
    times: list[float] = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        files = render_dashboards(slos)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    am = render_alertmanager(slos)
    am_time = time.perf_counter() - start
    size = sum(len(t) for t in files.values())
    print(
        f"dashboards: {args.slos} SLOs, {len(files)} files, {size / 1e6:.1f} MB: "
        f"best {min(times):.2f} s, median {statistics.median(times):.2f} s over {args.repeat} runs"
    )
    print(f"alertmanager fragment: {len(am) / 1e3:.1f} kB in {am_time * 1000:.1f} ms")


if __name__ == "__main__":
    main()
