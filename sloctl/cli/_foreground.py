"""Servers run in the foreground until Ctrl-C, SIGTERM or a time limit: what ``sloctl testbed
up`` and ``sloctl gameday rig`` share. "Until Ctrl-C" is bounded too: a forgotten run stops
after a week."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from sloctl.cli._common import output_dir, output_path
from sloctl.durations import DurationError, format_duration, parse_seconds
from sloctl.limits import MAX_RUN_SECONDS, MAX_START_TIMEOUT_SECONDS, START_TIMEOUT

__all__ = [
    "StopEvent",
    "add_for_argument",
    "add_start_timeout_argument",
    "add_workdir_argument",
    "duration_flag",
    "in_workdir",
    "say_start_timeout",
    "sigterm_as_ctrl_c",
    "start_failed",
    "start_interrupted",
    "stop_on_signals",
    "wait_in_foreground",
]


def duration_flag(text: str) -> float:
    """``30s``, ``5m``, ``1h30m``, ``250ms`` → seconds (argparse type; the grammar is
    :mod:`sloctl.durations`, the one every duration of the toolkit is read with)."""
    try:
        return parse_seconds(text.strip())
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _run_for(text: str) -> float:
    """``--for``: a duration of at most :data:`MAX_RUN_SECONDS` (argparse type)."""
    seconds = duration_flag(text)
    if seconds > MAX_RUN_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{text}: give at most {format_duration(int(MAX_RUN_SECONDS))}, a week"
        )
    return seconds


def add_for_argument(p: argparse.ArgumentParser, example: str) -> None:
    """``--for DURATION`` of a command that runs in the foreground (``args.duration``; None: until
    Ctrl-C or SIGTERM), bounded by :data:`MAX_RUN_SECONDS` in :func:`wait_in_foreground`."""
    p.add_argument(
        "--for",
        dest="duration",
        type=_run_for,
        metavar="DURATION",
        help=f"stop after this long (e.g. {example}; default: until Ctrl-C or SIGTERM, a week at most)",
    )


def add_start_timeout_argument(p: argparse.ArgumentParser, own: str, what: str = "each server") -> None:
    """``--start-timeout SECONDS`` of a command that starts servers (``args.start_timeout``; None:
    each server's own ``startup_timeout``, which ``own`` states for the help), bounded by
    :data:`~sloctl.limits.START_TIMEOUT`: a slow machine (a loaded CI runner, cold disk caches)
    may need longer than those, a user who wants a stuck start to fail fast less."""
    p.add_argument(
        "--start-timeout",
        metavar="SECONDS",
        type=START_TIMEOUT,
        help=f"the most seconds {what} may take to become ready (default: {own}; at most"
        f" {MAX_START_TIMEOUT_SECONDS:,.0f}); raise it on a slow machine",
    )


#: The last line of a start that failed on a server slow to answer (:func:`say_start_timeout`).
RAISE_START_TIMEOUT = "on a slow machine, give it longer with --start-timeout SECONDS"


def add_workdir_argument(p: argparse.ArgumentParser) -> None:
    """``--workdir DIR`` of a command that runs its servers in :func:`in_workdir`."""
    p.add_argument(
        "--workdir",
        metavar="DIR",
        type=output_path("folder"),
        help="data and logs here, kept (default: a temporary folder, removed after a clean stop, "
        "kept with its logs after a failure)",
    )


def in_workdir(workdir: Path | None, prefix: str, run: Callable[[Path], int], command: str) -> int:
    """``run(folder)``'s exit code, ``folder`` being ``workdir`` (the user's: kept), or a new
    temporary directory that PostgreSQL's user can traverse (mkdtemp makes it 0700): removed after
    a clean run or one a signal ended (:func:`start_failed`), kept after a failed one for its
    logs, its path said (after an exception too,
    before its traceback); removed by the servers' lifeline when this process is killed
    (:func:`sloctl.servers.remove_at_exit`). (Every run left its databases there before, 56 MB a
    testbed.) Servers that could not be stopped (:class:`~sloctl.servers.ServerStopError`, every
    other one stopped) are said, exit code 1."""
    if workdir is not None:
        return _stopped(run, output_dir(workdir, "--workdir"), command)
    from sloctl.servers import keep_at_exit, remove_at_exit

    made = Path(tempfile.mkdtemp(prefix=prefix))
    made.chmod(0o711)
    remove_at_exit(made)  # a SIGKILL leaves no databases behind either
    code = 1
    try:
        code = _stopped(run, made, command)
    finally:  # an error nobody expected (its traceback follows) keeps the logs that explain it
        if code == 0 or code > SIGNALLED:  # a clean stop, or one a signal asked for
            shutil.rmtree(made, ignore_errors=True)
        else:
            keep_at_exit(made)
            print(f"{command}: data and logs kept in {made}", file=sys.stderr, flush=True)
    return code


def _stopped(run: Callable[[Path], int], folder: Path, command: str) -> int:
    from sloctl.servers import ServerStopError

    try:
        return run(folder)
    except ServerStopError as exc:
        print(f"{command}: {exc}", file=sys.stderr, flush=True)
        return 1


#: Exit codes above this are 128 + the number of the signal that ended the command (130 for
#: SIGINT, 143 for SIGTERM), as a shell reports them: a stop that was asked for, not a failure.
SIGNALLED = 128


class StopEvent(threading.Event):
    """The event :func:`stop_on_signals` yields; ``signum`` is the first signal that set it."""

    signum: int | None = None
    #: whether the first signal raises KeyboardInterrupt as well (:meth:`interrupting`)
    raising: bool = False

    @contextlib.contextmanager
    def interrupting(self) -> Iterator[None]:
        """While inside, the first signal also raises KeyboardInterrupt where the main thread
        is (at once, if one came before), as Ctrl-C does without a handler: for a start of
        servers, which waits on each in turn (initdb, a readiness poll, a ``sleep``) and never
        looks at the event. A signal to sloctl alone (``kill -INT PID``; a terminal's Ctrl-C
        reaches initdb too, which fails the start) let every server start first, 0.8–2.2 s;
        the start now unwinds, stopping what it started. Later signals only set the event, so
        that the stop of what was started runs whole."""
        if self.is_set():
            raise KeyboardInterrupt
        self.raising = True
        try:
            yield
        finally:
            self.raising = False

    @property
    def exit_code(self) -> int:
        """128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as a shell reports a
        command a signal ended; 0 when no signal came."""
        return SIGNALLED + self.signum if self.signum is not None else 0


def start_failed(command: str, exc: BaseException, stop: StopEvent) -> int:
    """The exit code of a start of servers that raised ``exc``, said on stderr after
    ``command``. A terminal's Ctrl-C signals the whole process group, so the programs the start
    runs (initdb, psql) die of it too and the start fails; a signal to sloctl alone interrupts it
    (KeyboardInterrupt, :meth:`StopEvent.interrupting`): once ``stop`` is set, either is the
    interrupt (:func:`start_interrupted`), not a server's failure (``exc`` with its log, 1)."""
    if stop.is_set():
        return start_interrupted(command, stop)
    print(f"{command}: {exc}", file=sys.stderr, flush=True)
    say_start_timeout(command, exc)
    return 1


def say_start_timeout(command: str, exc: BaseException) -> None:
    """After the error of a start that failed because a server was slow to answer (``exc`` or
    its cause a :class:`~sloctl.servers.ServerNotReady`), the remedy in the last line: the flag
    of :func:`add_start_timeout_argument`, which every command that calls this one has."""
    from sloctl.servers import ServerNotReady

    if isinstance(exc, ServerNotReady) or isinstance(exc.__cause__, ServerNotReady):
        print(f"{command}: {RAISE_START_TIMEOUT}", file=sys.stderr, flush=True)


def start_interrupted(command: str, stop: StopEvent) -> int:
    """The exit code of a start that a signal (``stop``) came during, said in one line after
    ``command``: 130 or 143 (the temporary folder removed, :func:`in_workdir`), whether the
    start failed of it or finished first; never addresses of servers about to stop."""
    print(f"{command}: interrupted while starting; everything started is stopped", file=sys.stderr)
    return stop.exit_code


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopEvent]:
    """An event that SIGINT and SIGTERM set (instead of killing the process) while inside, so
    that whatever was started is stopped cleanly; the previous handlers come back after."""
    stop = StopEvent()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.signum is None:
            stop.signum = signum
        stop.set()
        if stop.raising:
            stop.raising = False
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt while inside, as Ctrl-C does: ``kill -TERM`` takes
    Ctrl-C's path (everything unwinds, what was started is stopped, ``sloctl: interrupted``),
    never a silent death nor a signal noted and acted on minutes later."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def wait_in_foreground(
    stop: threading.Event, duration: float | None, broken: Callable[[], str | None]
) -> str | None:
    """Wait until ``stop`` is set or ``duration`` seconds (a week at most) have passed; checks
    ``broken()`` once a second and returns its reason as soon as it gives one (None: a normal
    stop)."""
    deadline = time.monotonic() + min(duration or MAX_RUN_SECONDS, MAX_RUN_SECONDS)
    for _ in range(int(MAX_RUN_SECONDS) + 2):  # one wake-up per second at most
        remaining = deadline - time.monotonic()
        if stop.is_set() or remaining <= 0:
            return None
        stop.wait(min(1.0, remaining))
        reason = broken()
        if reason:
            return reason
    return None
