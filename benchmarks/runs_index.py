"""``sloctl serve``'s runs index (:func:`sloctl.serve.runs.find_runs`) over reports of each kind
with one key or list item set to values of other kinds: how many ended in a traceback out of the
index (a 500 on every runs page), were read as a run, or were listed as not read; and the time
the index takes over one large load-test report (docs/benchmarks.md, "The runs index's report
shapes").

    PYTHONPATH=$PWD .venv/bin/python benchmarks/runs_index.py [--out new.json]
    PYTHONPATH=/tmp/old .venv/bin/python benchmarks/runs_index.py --out old.json
    .venv/bin/python benchmarks/runs_index.py --compare old.json new.json
    PYTHONPATH=$PWD .venv/bin/python benchmarks/runs_index.py --time

The ``sloctl`` first on ``PYTHONPATH`` is the one run (a checkout of another commit for the old
figures). ``--out`` writes each case's outcome; ``--compare`` counts the cases whose outcome
changed; ``--time`` times the index over a load-test report of :data:`SAMPLES` samples instead.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import kind_sweeps
from kind_sweeps import VALUES, Key, key_paths, replaced

#: a report of each kind as its command writes it, with every field the runs pages read
REPORTS: dict[str, Any] = {
    "gameday": {
        "experiment": "Game day: connection loss", "gameday": "connection-loss", "verdict": "pass",
        "status": "completed", "time_to_detect_s": 41.0, "budget_consumed_percent": 0.42,
        "expected_alerts": ["PlatformApiAvailability"],
        "checks": [{"name": "check: postgres breaker open", "status": "succeeded", "output": True}],
    },
    "loadtest": {
        "scenario": "breakpoint", "host": "http://127.0.0.1:8000", "passed": True, "interrupted": False,
        "total": {"requests": 900, "failures": 0},
        "thresholds": [{
            "expression": "p(95) <= 200", "scope": "all requests", "source": "SLO platform-api-latency",
            "value": 250.0, "passed": None, "broke_search": {"users": 15, "rps": 70.1, "value": 260.0},
        }],
        "breakpoint": {
            "held_users": 10, "broke_at_users": 15, "broke_at_rps": 70.1, "broken_by": "p(95) <= 200",
        },
    },
    "backtest": [{
        "slo": "platform-jobs-backups", "scenario": "full_outage", "budget_left": 0.25,
        "tiers": [{
            "tier": "page_quick", "expected": True, "detection_seconds": 120, "designed_seconds": 180,
            "false_alerts": 0,
        }],
    }],
}  # fmt: skip
#: ``--time``: samples in the load-test report's time series (a 2-hour soak at one a second:
#: about 1 MB), and how many times the index is built (the median is printed)
SAMPLES, CALLS = 7200, 15


def run_case(kind: str, path: tuple[Key, ...], value: object, folder: Path) -> str:
    """The report of ``kind`` with ``value`` at ``path``, indexed: ``run``, ``not read: why`` or
    ``traceback: error``."""
    from sloctl.serve.runs import find_runs

    (folder / "report.json").write_text(json.dumps(replaced(REPORTS[kind], path, value)))
    try:
        index = find_runs({kind: (folder,)}, {})  # type: ignore[dict-item]
    except Exception:
        return "traceback: " + traceback.format_exc().strip().splitlines()[-1]
    return f"not read: {index.skipped[0][1]}" if index.skipped else "run"


def sweep() -> dict[str, str]:
    """Every case's outcome, by ``kind path=value``."""
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for kind, report in REPORTS.items():
            for path in key_paths(report):
                for value in VALUES:
                    results[f"{kind} {list(path)}={json.dumps(value)}"] = run_case(
                        kind, path, value, Path(folder)
                    )
    return results


def outcome(text: str) -> str:
    return text.split(":", 1)[0]


def compare(old: dict[str, str], new: dict[str, str]) -> None:
    """Print the cases whose outcome changed, counted by old → new, and each of them."""
    moved = Counter((outcome(old[k]), outcome(new[k])) for k in old if outcome(old[k]) != outcome(new[k]))
    print(f"{len(old)} cases; outcome changed: {dict(moved) or 'none'}")
    for key in (k for k in old if outcome(old[k]) != outcome(new[k])):
        print(f"  {key}: {old[key][:70]} → {new[key][:110]}")


def time_index() -> float:
    """Median milliseconds of the index over one load-test report of :data:`SAMPLES` samples."""
    from sloctl.serve.runs import find_runs

    sample = {"users": 50, "rps": 48.2, "failures_per_s": 0.1, "p50_ms": 5, "p95_ms": 40, "p99_ms": 80}
    report = {**REPORTS["loadtest"], "timeseries": [{"t": float(t), **sample} for t in range(SAMPLES)]}
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "report.json").write_text(json.dumps(report))
        took = []
        for _ in range(CALLS):
            start = time.perf_counter()
            (_run,) = find_runs({"loadtest": (Path(folder),)}, {}).runs
            took.append(time.perf_counter() - start)
        size = (Path(folder) / "report.json").stat().st_size
    print(f"a load-test report of {size:,} bytes")
    return statistics.median(took) * 1000


def main() -> None:
    kind_sweeps.main(
        __doc__.splitlines()[0],
        sweep=sweep,
        compare=compare,
        summary=lambda results: (
            f"{len(results)} cases: {dict(Counter(outcome(r) for r in results.values()))}"
        ),
        timed=lambda: f"the runs index, median of {CALLS}: {time_index():.1f} ms",
        out_help="write each case's outcome here",
        time_help="time the index over a large report",
    )


if __name__ == "__main__":
    main()
