"""What compiling our modules anew at every start costs: the CLI, the testbed's API process and
the suite's collection, each with ``PYTHONDONTWRITEBYTECODE=1`` (nothing compiled is kept: every
process compiles sloctl, testbed and the test modules again) and with compiled modules kept, side
by side in each round (docs/benchmarks.md, "Compiled modules kept").

    .venv/bin/python benchmarks/bytecode_cache.py [--rounds 3]

Each way runs in a copy of the committed tree of its own (``git archive HEAD``), so that the
working tree's ``__pycache__`` folders play no part; the kept way's copy is filled by one run of
each command before the rounds. The standard library and the installed packages keep the
bytecode they were installed with in both. Prints the median and the worst of each, and the
ratio of the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMANDS: dict[str, list[str]] = {
    "sloctl validate slos/": [sys.executable, "-m", "sloctl.cli.main", "validate", "slos/"],
    # what `python -m testbed` imports before it serves (the app, its routes and drivers)
    "the testbed API's imports": [sys.executable, "-c", "import testbed.app"],
    "pytest --collect-only (the suite)": [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--collect-only",
        "-q",
        "-m",
        "not drill",
    ],
}


def _took(argv: list[str], tree: Path, env: dict[str, str]) -> float:
    began = time.monotonic()
    subprocess.run(argv, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.monotonic() - began


def _copy(tree: Path) -> Path:
    """The committed tree, unpacked into ``tree`` (``python -m`` imports from the folder it runs in)."""
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each command each way (default 3)")
    args = parser.parse_args()
    environ = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    figures: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="sloctl-bench-pyc-") as tmp:
        ways = {
            # nothing of ours ever compiled to disk: every module of the tree compiled at every start
            "compiled anew": (_copy(Path(tmp, "anew")), {**environ, "PYTHONDONTWRITEBYTECODE": "1"}),
            "compiled kept": (_copy(Path(tmp, "kept")), environ),
        }
        for argv in COMMANDS.values():
            _took(argv, *ways["compiled kept"])  # fills the kept copy's __pycache__ folders
        for _ in range(args.rounds):
            for name, argv in COMMANDS.items():
                for way, (tree, env) in ways.items():
                    figures.setdefault((name, way), []).append(_took(argv, tree, env))
    print(f"{'command':36} {'way':14} {'median s':>9} {'worst s':>8}")
    for (name, way), times in figures.items():
        print(f"{name:36} {way:14} {statistics.median(times):9.3f} {max(times):8.3f}")
    for name in COMMANDS:
        anew, kept = (statistics.median(figures[name, way]) for way in ("compiled anew", "compiled kept"))
        print(f"{name}: kept ÷ anew {kept / anew:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
