"""The servers' lifeline: a small watcher process that stops the servers a process started when
that process dies without stopping them (SIGKILL, a CI job's timeout, a crash of the interpreter).

Each server runs in its own session (``_process``), so a signal to its launcher's process group
never reaches it, and nothing else would stop it. The watcher reads registrations from a pipe
whose write end only the launcher holds. The kernel closes that end when the launcher dies,
however it dies; at the end of the pipe the watcher sends every server still registered SIGCONT
and its stop signal, waits ``GRACE_SECONDS``, then SIGKILLs the process group (a PostgreSQL
postmaster's backends with it). A server stopped the normal way is unregistered first.

A registration carries the process's start time (field 22 of ``/proc/PID/stat``): a pid that
the kernel has given to another process since is never signalled.

A launcher may also register directories (a PostgreSQL cluster made in /tmp because the work
directory is out of the service user's reach): the watcher removes them at the end of the pipe,
after the servers are stopped, so that a killed launcher leaves no server files behind either.

The watcher runs as this file with the standard library only (``python -I _lifeline.py``), in
its own session, so that a Ctrl-C or a kill of the launcher's group leaves it to do its work.
Linux only (``/proc``), like the launchers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import time

__all__ = ["GRACE_SECONDS", "LIFELINE", "Lifeline", "alive", "start_time"]

GRACE_SECONDS = 10.0
"""How long the watcher waits between the stop signal and SIGKILL, by default (as
``ManagedProcess.stop`` does)."""
_POLL_SECONDS = 0.05


def _stat(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first), None when no
    such process exists."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after its end.
    return stat[stat.rindex(b")") + 2 :].split()


def start_time(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (``/proc/PID/stat`` field 22), None
    when no such process exists."""
    fields = _stat(pid)
    return None if fields is None else fields[19].decode()


def alive(pid: int, started: str | None = None) -> bool:
    """True while ``pid`` runs (a zombie has ended), and is the process that started at
    ``started`` when that is given."""
    fields = _stat(pid)
    if fields is None or fields[0] in (b"Z", b"X"):
        return False
    return started is None or fields[19].decode() == started


class Lifeline:
    """The launcher's side: one watcher per process (started at the first :meth:`watch`, and
    again in a forked child, which must not share its parent's)."""

    def __init__(self, grace_seconds: float = GRACE_SECONDS) -> None:
        self.grace_seconds = grace_seconds
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._fd: int | None = None
        self.watcher_pid: int | None = None

    def watch(self, pid: int, stop_signal: int = signal.SIGTERM, *, started: str | None = None) -> None:
        """Stop the process group of ``pid`` (its leader first, with ``stop_signal``) if this
        process dies before :meth:`forget`. ``started`` defaults to the process's start time."""
        started = started or start_time(pid)
        if started is None:
            return  # already gone
        self._send(f"+ {pid} {int(stop_signal)} {started}\n")

    def remove_at_end(self, path: str | os.PathLike[str]) -> None:
        """Remove the directory tree ``path`` when the lifeline ends, once the servers still
        registered are stopped (a launcher's normal exit removes it first: then nothing is
        left to do)."""
        where = os.path.abspath(path)
        if "\n" in where:
            raise ValueError(f"a directory the lifeline removes has no newline in its path: {where!r}")
        self._send(f"d {where}\n")

    def forget(self, pid: int) -> None:
        """``pid`` has been stopped the normal way."""
        self._send(f"- {pid}\n")

    def close(self) -> None:
        """End the lifeline now: the watcher stops what is still registered and exits."""
        with self._lock:
            if self._fd is not None and self._owner == os.getpid():
                os.close(self._fd)
            self._fd = self._owner = None

    def _send(self, line: str) -> None:
        with self._lock:
            if self._owner != os.getpid():
                self._spawn()
            assert self._fd is not None
            try:
                os.write(self._fd, line.encode())
            except OSError:
                # The watcher is gone (killed from outside): a new one for what comes next.
                os.close(self._fd)
                self._fd = self._owner = None

    def _spawn(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # a forked child's copy of its parent's end: the parent's to hold
        read, write = os.pipe()  # both ends close on exec: no other child holds the write end
        try:
            self.watcher_pid = os.posix_spawn(
                sys.executable,
                [sys.executable, "-I", os.path.abspath(__file__), str(self.grace_seconds)],
                os.environ,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, read, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                ],
                setsid=True,
            )
        finally:
            os.close(read)
        self._fd, self._owner = write, os.getpid()


LIFELINE = Lifeline()
"""This process's lifeline; ``ManagedProcess`` registers every server it starts."""


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _reap(watched: dict[int, tuple[int, str]], grace: float) -> None:
    """Stop every watched process that is still the one registered: SIGCONT (a paused server
    cannot handle its stop signal) and the stop signal, then SIGKILL of each group after at
    most ``grace`` seconds."""
    ours = {pid: how for pid, how in watched.items() if alive(pid, how[1])}
    for pid, (sig, _started) in ours.items():
        _signal_group(pid, signal.SIGCONT)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    deadline = time.monotonic() + grace
    for _ in range(int(grace / _POLL_SECONDS) + 1):
        if time.monotonic() >= deadline or not any(alive(p, s) for p, (_, s) in ours.items()):
            break
        time.sleep(_POLL_SECONDS)
    for pid in ours:
        _signal_group(pid, signal.SIGKILL)


def _main() -> None:
    # A Ctrl-C at the terminal reaches the launcher, which stops its servers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watched: dict[int, tuple[int, str]] = {}
    directories: list[bytes] = []
    # One line per registration; the loop ends at the end of the pipe (the launcher is gone).
    for line in sys.stdin.buffer:
        if line.startswith(b"d /"):
            directories.append(line[2:].rstrip(b"\n"))
            continue
        op, *args = line.split()
        if op == b"+" and len(args) == 3:
            watched[int(args[0])] = (int(args[1]), args[2].decode())
        elif op == b"-" and args:
            watched.pop(int(args[0]), None)
    _reap(watched, float(sys.argv[1]))
    # After the servers: a PostgreSQL still writing its files would race the removal.
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    _main()
