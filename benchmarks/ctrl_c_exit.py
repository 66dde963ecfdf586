"""How long a long command takes to exit after an interrupt (docs/benchmarks.md, "Ctrl-C during
long commands"): ``sloctl test rules --engine all`` after a terminal's Ctrl-C, ``sloctl
generate`` of a large fleet after ``kill -INT`` of its own process while its workers render, or
``sloctl testbed up`` after ``kill -INT`` of its own process while its servers start, or
``sloctl serve --demo`` after ``kill -INT`` of its own process while its demo Prometheus is made.

    .venv/bin/python benchmarks/ctrl_c_exit.py
        [--command test|generate|testbed|serve-demo|serve-demo-live] [--rounds 3] [--after 3]
        [--working SECONDS] [--old DIR]

Each round starts the command in a session of its own (as a terminal starts a job) and signals
it: ``test``, SIGINT to its whole process group ``--after`` seconds later (a terminal's Ctrl-C
reaches every process of the job: promtool's runs too); ``generate``, SIGINT to the ``sloctl``
process alone (``kill -INT PID``: its worker processes hear nothing) a second after its worker
processes appear, for 9,900 SLOs (1,100 copies of slos/platform-api.yaml), enough for them to
run; ``testbed``, SIGINT to the ``sloctl`` process alone :data:`STARTING_SECONDS` after its
first child process appears (its servers' lifeline, then initdb), while PostgreSQL is made and
started, its temporary work folder in the round's folder (``TMPDIR``); ``serve-demo``, SIGINT
to the ``sloctl`` process alone a second after it says it backfills (promtool's backfill under
way), and ``serve-demo-live`` :data:`LIVE_SECONDS` after it says it waits for the rules' first
live evaluation (its Prometheus running: a minute of the start). It takes the time until
every process of the job has exited (the servers, each in a session of its own, included: every
process whose command line names the round's folder), and the command's exit code; a round that
leaves a file in its folder says so. With ``--old DIR`` (a
checkout of another commit, e.g. ``git worktree add /tmp/old REV``) the same rounds run that
checkout's ``sloctl`` (first on ``PYTHONPATH``) alternately with this one, side by side in one
run. Both read this checkout's ``rules/`` and ``slos/``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = "import sys; from sloctl.cli.main import main; sys.exit(main(sys.argv[1:]))"
#: Bounds a round: the old code took about 24 s to exit after the signal.
GIVE_UP_SECONDS = 120.0
#: copies of slos/platform-api.yaml (9 SLOs each) ``generate`` reads: 9,900 SLOs, above
#: sloctl.generate.PARALLEL_MIN_SLOS, so that its worker processes render them
GENERATE_COPIES = 1100
#: how long after its worker processes appear ``generate`` is signalled: mid-batch, for both the
#: old code and the new (a batch of 4,950 SLOs takes several seconds on 2 cores)
WORKING_SECONDS = 1.0
#: how long after its first child appears ``testbed up`` is signalled: initdb's run or
#: PostgreSQL's start under way (the whole start takes about 2.5 s on 2 cores, idle), with servers still
#: to start
STARTING_SECONDS = 1.0
#: how long after ``serve --demo`` says it waits for the first live evaluation it is signalled:
#: its Prometheus up and polled, the minute's wait under way
LIVE_SECONDS = 5.0
#: the demo's SLOs, on a loopback port of its own
DEMO = ("serve", "--demo", "slos", "--listen", "127.0.0.1:0", "--for", "300s")


@dataclass(frozen=True)
class Case:
    """A command to interrupt: its arguments (``{input}``, ``{out}``: a temporary folder's), and
    whether the signal goes to the whole process group ``--after`` seconds from the start (a
    terminal's Ctrl-C), or to the command alone ``working`` seconds after its first child
    process appears (or, given ``said``, after its stderr says that)."""

    argv: tuple[str, ...]
    group: bool
    working: float = WORKING_SECONDS
    said: str | None = None


CASES = {
    "test": Case(("test", "rules", "--engine", "all"), group=True),
    "generate": Case(("generate", "{input}", "-o", "{out}"), group=False),
    "testbed": Case(("testbed", "up", "--for", "120s"), group=False, working=STARTING_SECONDS),
    "serve-demo": Case(DEMO, group=False, said="demo: backfilling"),
    "serve-demo-live": Case(DEMO, group=False, working=LIVE_SECONDS, said="demo: waiting for the rules"),
}


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


def _fleet(folder: Path) -> Path:
    """``GENERATE_COPIES`` copies of the platform API's SLOs, each its own service, in ``folder``."""
    text = (ROOT / "slos" / "platform-api.yaml").read_text()
    slos = folder / "slos"
    slos.mkdir()
    for i in range(GENERATE_COPIES):
        (slos / f"s{i}.yaml").write_text(text.replace("platform-api", f"s{i}"))
    return slos


def _start(tree: Path, case: Case, folder: Path) -> subprocess.Popen[bytes]:
    """The command of ``case`` run by ``tree``'s sloctl, its stderr going to a file (a pipe no
    one reads would block it)."""
    argv = [a.format(input=folder / "slos", out=folder / "out") for a in case.argv]
    err = folder / "stderr"
    with err.open("wb") as stderr:
        job = subprocess.Popen(
            [sys.executable, "-P", "-c", RUN, *argv],
            cwd=ROOT,
            env={**_env(tree), "TMPDIR": str(folder / "tmp")},
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    return job


def _until(condition: Callable[[], bool], job: subprocess.Popen[bytes], what: str) -> None:
    """Poll ``condition`` every 10 ms for ``GIVE_UP_SECONDS`` at most; the job must not end first."""
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while not condition():
        if job.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the command ended, or {GIVE_UP_SECONDS:g} s passed, before {what}")
        time.sleep(0.01)


def _has_children(pid: int) -> bool:
    """Whether process ``pid`` has child processes (Linux: /proc/PID/task/*/children)."""
    return any(p.read_text().strip() for p in Path(f"/proc/{pid}/task").glob("*/children"))


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def _running_under(folder: Path) -> bool:
    """Whether a process's command line names ``folder`` (a server started in it, in a session
    of its own: the group's end does not say it ended), from /proc."""
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # one that ended meanwhile
            continue
        if str(folder) in line:
            return True
    return False


def _job_gone(job: subprocess.Popen[bytes], folder: Path) -> bool:
    """Whether every process of the job has ended: its process group, and its servers."""
    return _group_gone(job.pid) and not _running_under(folder / "tmp")


def _round(tree: Path, case: Case, after: float, folder: Path) -> tuple[float, int]:
    shutil.rmtree(folder / "out", ignore_errors=True)
    (folder / "tmp").mkdir(mode=0o711)  # PostgreSQL's user traverses it to its data
    job = _start(tree, case, folder)
    try:
        wait = after
        if case.said is not None:
            said = case.said
            _until(lambda: said in (folder / "stderr").read_text(), job, f"it said {said!r}")
            wait = case.working
        elif not case.group:
            _until(lambda: _has_children(job.pid), job, "its child processes started")
            wait = case.working
        deadline = time.monotonic() + wait
        _until(lambda: time.monotonic() >= deadline, job, f"the signal ({wait:g} s)")
        signalled = time.monotonic()
        if case.group:
            os.killpg(job.pid, signal.SIGINT)
        else:
            os.kill(job.pid, signal.SIGINT)
        try:
            code = job.wait(timeout=GIVE_UP_SECONDS)
        except subprocess.TimeoutExpired:
            return GIVE_UP_SECONDS, -signal.SIGKILL  # killed below: it never exited by itself
        while not _job_gone(job, folder) and time.monotonic() < signalled + GIVE_UP_SECONDS:
            time.sleep(0.01)  # its workers or servers, orphaned or being stopped
        return time.monotonic() - signalled, code
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGKILL)
        job.wait()
        left = sorted(str(p.relative_to(folder)) for p in (folder / "tmp").iterdir())
        if left:
            print(f"{tree}: left behind in its TMPDIR: {', '.join(left)}", file=sys.stderr)
        shutil.rmtree(folder / "tmp", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--command", choices=sorted(CASES), default="test", help="what to interrupt")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--after", type=float, default=3.0, help="seconds from the start to the signal")
    parser.add_argument(
        "--working",
        type=float,
        help="for generate and testbed: seconds from the first child process to the signal "
        f"(default {WORKING_SECONDS:g} and {STARTING_SECONDS:g}); for serve-demo and serve-demo-live, "
        f"from the line it waits for (default {WORKING_SECONDS:g} and {LIVE_SECONDS:g})",
    )
    parser.add_argument("--old", type=Path, help="a checkout of another commit, measured alternately")
    args = parser.parse_args()
    trees = {"this": ROOT, **({"old": args.old.resolve()} if args.old else {})}
    taken: dict[str, list[tuple[float, int]]] = {name: [] for name in trees}
    case = CASES[args.command]
    if args.working is not None:
        case = replace(case, working=args.working)
    with tempfile.TemporaryDirectory(prefix="sloctl-ctrl-c-") as tmp:
        folder = Path(tmp)
        folder.chmod(0o711)  # for PostgreSQL's user too (testbed)
        if "{input}" in case.argv:
            _fleet(folder)
        for _ in range(args.rounds):
            for name, tree in trees.items():
                taken[name].append(_round(tree, case, args.after, folder))
    for name, rounds in taken.items():
        figures = ", ".join(f"{t:.2f} s (exit {c})" for t, c in rounds)
        print(f"{name:5} {trees[name]}: {args.command}: signal to exit {figures}")


if __name__ == "__main__":
    main()
