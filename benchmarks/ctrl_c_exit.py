"""How long ``sloctl test rules --engine all`` takes to exit after a terminal's Ctrl-C
(docs/benchmarks.md, "Ctrl-C during long commands").

    .venv/bin/python benchmarks/ctrl_c_exit.py [--rounds 3] [--after 3] [--old DIR]

Each round starts the command in a session of its own (as a terminal starts a job), sends SIGINT
to its whole process group ``--after`` seconds later (a terminal's Ctrl-C reaches every process
of the job: promtool's runs too) and takes the time until the command has exited, and its exit
code. With ``--old DIR`` (a checkout of another commit, e.g. ``git worktree add /tmp/old REV``)
the same rounds run that checkout's ``sloctl`` (first on ``PYTHONPATH``) alternately with this
one, side by side in one run. Both read this checkout's ``rules/``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ("test", "rules", "--engine", "all")
RUN = "import sys; from sloctl.cli.main import main; sys.exit(main(sys.argv[1:]))"
#: Bounds a round: the old code took about 24 s to exit after the signal.
GIVE_UP_SECONDS = 120.0


def _env(tree: Path) -> dict[str, str]:
    """The environment that makes ``tree``'s ``sloctl`` the one imported (with ``-P``: the
    working folder, this checkout, is not put first on the path), checked before it is used."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    where = subprocess.run(
        [sys.executable, "-P", "-c", "import sloctl; print(sloctl.__file__)"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(where).is_relative_to(tree):
        raise SystemExit(f"{tree}: its sloctl is not the one imported ({where})")
    return env


def _round(tree: Path, after: float) -> tuple[float, int]:
    env = _env(tree)
    job = subprocess.Popen(
        [sys.executable, "-P", "-c", RUN, *COMMAND],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        job.wait(timeout=after)
        raise SystemExit(f"{tree}: the command ended before the signal ({after:g} s): nothing to time")
    except subprocess.TimeoutExpired:
        pass
    signalled = time.monotonic()
    os.killpg(job.pid, signal.SIGINT)
    try:
        code = job.wait(timeout=GIVE_UP_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
        code = -signal.SIGKILL
    return time.monotonic() - signalled, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--after", type=float, default=3.0, help="seconds from the start to the signal")
    parser.add_argument("--old", type=Path, help="a checkout of another commit, measured alternately")
    args = parser.parse_args()
    trees = {"this": ROOT, **({"old": args.old.resolve()} if args.old else {})}
    taken: dict[str, list[tuple[float, int]]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            taken[name].append(_round(tree, args.after))
    for name, rounds in taken.items():
        figures = ", ".join(f"{t:.2f} s (exit {c})" for t, c in rounds)
        print(f"{name:5} {trees[name]}: signal to exit {figures}")


if __name__ == "__main__":
    main()
