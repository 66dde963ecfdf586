"""Every key of a shipped game-day experiment set to values of other kinds, each run as
``sloctl gameday run --dry-run`` in this process: how many ended in a traceback, and the exit
codes (docs/benchmarks.md, "Game-day experiment shape check").

    PYTHONPATH=$PWD .venv/bin/python benchmarks/experiment_kinds.py [--out new.json]
    PYTHONPATH=/tmp/old .venv/bin/python benchmarks/experiment_kinds.py --out old.json
    .venv/bin/python benchmarks/experiment_kinds.py --compare old.json new.json
    PYTHONPATH=$PWD .venv/bin/python benchmarks/experiment_kinds.py --time

The ``sloctl`` first on ``PYTHONPATH`` is the one run (a checkout of another commit for the
old figures); the experiment is always this checkout's. ``--out`` writes each case's exit code
and message; ``--compare`` says which cases changed their exit code or their words; ``--time``
times the shape check alone (``shape_problems``) over the shipped experiments instead.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import timeit
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import kind_sweeps
from kind_sweeps import VALUES, Key, key_paths, replaced

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = ROOT / "chaos" / "connection-loss.json"
#: the target it needs that has no default, on loopback's closed port 9 (a dry run contacts
#: nothing): left unset, every case would be refused for that alone
TARGETS = {"pgbouncer_admin_dsn": "host=127.0.0.1 port=9 dbname=pgbouncer"}
#: keys this many levels deep and above are replaced (the method's provider arguments are 5 deep)
DEPTH = 5
#: ``--time``: the check over the shipped experiments this many times a round, best of ``ROUNDS``
CALLS, ROUNDS = 200, 5


def run_case(base: dict[str, Any], path: tuple[Key, ...], value: object, folder: Path) -> dict[str, Any]:
    """``base`` with ``value`` at ``path``, dry-run: its exit code, its words, and a traceback."""
    from sloctl.cli.main import main

    bad = folder / "bad.json"
    bad.write_text(json.dumps(replaced(base, path, value)))
    err, out = io.StringIO(), io.StringIO()
    code: object = "traceback"
    failure = ""
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(["gameday", "run", str(bad), "--dry-run", "--report-dir", str(folder / "report")])
        except Exception:
            failure = traceback.format_exc()
    words = err.getvalue().replace(str(bad), "BAD")
    return {"code": code, "words": words, "traceback": failure or "Traceback" in words + out.getvalue()}


def sweep() -> dict[str, dict[str, Any]]:
    """Every case, by ``path=value``."""
    base = json.loads(EXPERIMENT.read_text())
    base["configuration"].update(TARGETS)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for path in key_paths(base, DEPTH):
            for value in VALUES:
                results[f"{list(path)}={json.dumps(value)}"] = run_case(base, path, value, Path(folder))
    return results


def compare(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> None:
    """Print the cases whose exit code changed (counted by old → new) and those whose words did."""
    moved = Counter(
        (str(old[k]["code"]), str(new[k]["code"])) for k in old if old[k]["code"] != new[k]["code"]
    )
    reworded = [k for k in old if old[k]["code"] == new[k]["code"] and old[k]["words"] != new[k]["words"]]
    changed = dict(moved) or "none"
    print(f"{len(old)} cases; exit code changed: {changed}; same code, other words: {len(reworded)}")
    for key in [k for k in old if old[k]["code"] != new[k]["code"]] + reworded:
        print(f"  {key}: {old[key]['code']} → {new[key]['code']}: {new[key]['words'].strip()[:160]}")


def time_check() -> float:
    """Milliseconds of ``shape_problems`` over every shipped experiment, best of :data:`ROUNDS`."""
    from sloctl.chaos.experiments import shape_problems

    experiments = [json.loads(p.read_text()) for p in sorted((ROOT / "chaos").glob("*.json"))]
    rounds = timeit.repeat(lambda: [shape_problems(e) for e in experiments], number=CALLS, repeat=ROUNDS)
    return min(rounds) / CALLS * 1000


def _summary(results: dict[str, dict[str, Any]]) -> str:
    codes = Counter(str(r["code"]) for r in results.values())
    tracebacks = sum(1 for r in results.values() if r["traceback"])
    return f"{len(results)} runs, {tracebacks} tracebacks, exit codes {dict(codes)}"


def main() -> None:
    kind_sweeps.main(
        __doc__.splitlines()[0],
        sweep=sweep,
        compare=compare,
        summary=_summary,
        timed=lambda: f"shape_problems over the shipped experiments: {time_check():.3f} ms",
        out_help="write each case's exit code and words here",
        time_help="time the shape check alone",
    )


if __name__ == "__main__":
    main()
