"""The five game days of chaos/schedule.yaml in sequence on one rig, as
tests/chaos/test_gameday.py runs them (quick profile, the platform's SLOs with their short
windows divided by ``--fast-reset``, the rig's Prometheus over a healthy month): per game day
its run, the wait for its pages after it and its time to resolve, and the whole sequence's wall
time (docs/benchmarks.md).

    PYTHONPATH=TREE .venv/bin/python benchmarks/gameday_sequence.py [--fast-reset 60]

``PYTHONPATH`` picks the tree measured: run it for two checkouts in turn to compare them. It
starts real servers on loopback (PostgreSQL, PgBouncer, Redis, SecantusDB, the API, Prometheus)
in a temporary folder and stops them at the end; about three minutes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sloctl.chaos.gameday import run_gamedays
from sloctl.chaos.profiles import PROFILES
from sloctl.chaos.rig import start_rig
from sloctl.chaos.schedule import load_schedule
from sloctl.spec import load_paths

ROOT = Path(__file__).resolve().parent.parent
#: the fast-fail gate of the test suite's game days (tests/fixtures/timing.py): a shared
#: machine's scheduling, not the API, decides a 1 ms median
FAST_FAIL_MS = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fast-reset", type=int, default=60, help="the rig's short windows ÷ N (default 60)")
    args = parser.parse_args()
    loaded = load_paths([ROOT / "slos" / "platform-api.yaml"])
    if loaded.errors:
        raise SystemExit(f"slos/platform-api.yaml: {loaded.errors}")
    paths = [ROOT / e.experiment for e in load_schedule(ROOT / "chaos" / "schedule.yaml").gamedays]
    marks: list[tuple[float, str]] = []

    def said(line: str) -> None:
        marks.append((time.monotonic(), line))

    with (
        tempfile.TemporaryDirectory(prefix="sloctl-bench-") as tmp,
        start_rig(Path(tmp) / "rig", slos=loaded.slos, fast_reset=args.fast_reset) as rig,
    ):
        assert rig.prometheus is not None
        configuration = {**rig.configuration(), **PROFILES["quick"].timings, "fast_fail_ms": FAST_FAIL_MS}
        began = time.monotonic()
        results = run_gamedays(
            paths, configuration=configuration, out_dir=Path(tmp) / "reports", progress=said
        )
        total = time.monotonic() - began
    over = [t for t, line in marks if ": run over (" in line]
    starts = [t for t, line in marks if line.startswith("game day ")] + [began + total]
    print("| game day | verdict | run | wait after it | time to resolve |")
    print("|---|---|---:|---:|---:|")
    for result, run_over, next_start in zip(results, over, starts[1:], strict=True):
        print(
            f"| {result.gameday} | {result.verdict} | {result.duration_s:.1f} s"
            f" | {next_start - run_over:.1f} s | {result.time_to_resolve_s} s |"
        )
    print(f"\nthe five in sequence: {total:.1f} s")
    for result in results:
        print(f"{result.gameday}: " + "; ".join(f"{a}: {s}" for a, s in sorted(result.pages.items())))


if __name__ == "__main__":
    main()
