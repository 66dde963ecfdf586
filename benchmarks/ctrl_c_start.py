"""What a Ctrl-C in a command's first instants prints: a traceback, or "interrupted".

docs/benchmarks.md, "Ctrl-C as a command starts": ``sloctl validate slos/`` started, then
SIGINT to it after 0, 20, … ms, up to ``--until-ms``, ``--rounds`` times each, sorted by what
the process did: ``interrupted``
(``sloctl: interrupted``, exit 130), ``traceback`` (the interpreter's KeyboardInterrupt
traceback, or CPython's "Exception ignored" with the command going on), ``finished`` (it had
ended), or anything else by its exit code.

    .venv/bin/python benchmarks/ctrl_c_start.py [--rounds 3] [--until-ms 300] [--old DIR]

With ``--old DIR`` (a checkout of another commit, e.g. ``git worktree add /tmp/old REV``) that
checkout's ``sloctl`` (first on ``PYTHONPATH``, and ``python -P``) runs alternately with this
one's, each as the ``sloctl`` script runs it."""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the two lines of the ``sloctl`` console script
SCRIPT = "import sys; from sloctl.cli.main import main; sys.exit(main())"
STEP_MS = 20


def _once(tree: Path, delay_ms: int) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(
        [sys.executable, "-P", "-c", SCRIPT, "validate", str(ROOT / "slos")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(delay_ms / 1000)  # the instant measured
    ended = proc.poll() is not None
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if "Traceback" in err or "Exception ignored" in err:
        return "traceback"
    if proc.returncode == 130 and err.endswith("sloctl: interrupted\n"):
        return "interrupted"
    return "finished" if ended and proc.returncode == 0 else f"exit {proc.returncode}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="signals at each instant (default 3)")
    ap.add_argument("--until-ms", type=int, default=300, help="the last instant, in ms (default 300)")
    ap.add_argument("--old", type=Path, help="a checkout of another commit, run beside this one")
    args = ap.parse_args(argv)
    trees = {"this checkout": ROOT, **({"old": args.old.resolve()} if args.old else {})}
    seen: dict[str, collections.Counter[str]] = {name: collections.Counter() for name in trees}
    last_traceback: dict[str, int] = dict.fromkeys(trees, -1)
    for _ in range(args.rounds):
        for delay in range(0, args.until_ms + 1, STEP_MS):
            for name, tree in trees.items():
                what = _once(tree, delay)
                seen[name][what] += 1
                if what == "traceback":
                    last_traceback[name] = max(last_traceback[name], delay)
    for name in trees:
        counts = ", ".join(f"{what} {n}" for what, n in sorted(seen[name].items()))
        latest = f"{last_traceback[name]} ms" if last_traceback[name] >= 0 else "none"
        print(f"{name:14} {counts}; latest instant with a traceback: {latest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
