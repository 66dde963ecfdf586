"""A VictoriaMetrics replay whose history ends now (``sloctl.backtest.victoria.replay_victoria``,
as the rule-quality benchmark's cost part replays each rule set before evaluating it live): the
seconds from the first write to the replay's end, once the raw series and each level's
recordings are counted on every node. An hour of one counter, one sample a minute, a two-level
rule set; each topology ``--runs`` times, the median printed with each phase's median.

Usage (``PYTHONPATH`` first names the sloctl measured; another checkout for a baseline, e.g.
``git archive REV sloctl | tar -x -C DIR`` and ``PYTHONPATH=DIR:.``)::

    PYTHONPATH=. .venv/bin/python benchmarks/victoria_replay_now.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from sloctl.backtest.engine import RuleSet
from sloctl.backtest.series import REQUESTS, Sample
from sloctl.backtest.victoria import TOPOLOGIES, Topology, replay_victoria

RULES = RuleSet(
    "bench",
    yaml.safe_dump(
        {
            "groups": [
                {
                    "name": "bench",
                    "rules": [
                        {"record": "bench:rate5m", "expr": f"sum(rate({REQUESTS}[5m]))"},
                        {"record": "bench:rate5m:avg1h", "expr": "avg_over_time(bench:rate5m[1h])"},
                    ],
                }
            ]
        }
    ),
)


def _once(topology: Topology, workdir: Path) -> dict[str, float]:
    end = int(time.time())  # the newest sample is written now
    start = end - 3600
    series = [Sample(REQUESTS, '{shard="0"}', 60.0 * i, start + 60 * i) for i in range(61)]
    t0 = time.monotonic()
    with replay_victoria(RULES, series, workdir, start=start, end=end, topology=topology) as bt:
        total = time.monotonic() - t0
        return {"replay": total} | {p.what: p.seconds for p in bt.phases}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    print("| topology | replay s (median) | raw series s | level 0 s | level 1 s |")
    print("|---|---:|---:|---:|---:|")
    for topology in TOPOLOGIES:
        runs: list[dict[str, float]] = []
        for n in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="sloctl-bench-") as tmp:
                runs.append(_once(topology, Path(tmp) / str(n)))
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"| {topology} | {med['replay']:.2f} | {med['raw series']:.2f} | {med['level 0']:.2f} | "
              f"{med['level 1']:.2f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
