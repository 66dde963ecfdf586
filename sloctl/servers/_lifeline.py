"""The servers' lifeline: a small watcher process that stops the servers a process started when
that process dies without stopping them (SIGKILL, a CI job's timeout, a crash of the interpreter).

Each server runs in its own session (``_process``), so a signal to its launcher's process group
never reaches it, and nothing else would stop it. The watcher reads registrations from a pipe
whose write end only the launcher holds. The kernel closes that end when the launcher dies,
however it dies; at the end of the pipe the watcher sends every server still registered SIGCONT
and its stop signal, waits ``GRACE_SECONDS``, then SIGKILLs the process group (what the server
forked into it; PostgreSQL's backends lead groups of their own and end with their postmaster).
A server stopped the normal way is unregistered first.

A server that needs it (SecantusDB, whose accept thread only a connection wakes once it is
told to stop) is registered with its address, and the watcher connects to it once it has closed
its listening socket, as its normal stop does (:func:`left_in_accept`, :func:`wake`).

A registration carries the process's start time (field 22 of ``/proc/PID/stat``): a pid that
the kernel has given to another process since is never signalled, nor the group it may lead.
The launcher keeps its registrations as well: a watcher that dies before it is replaced at once
by one told all of them, and a forked child never holds the pipe (see :class:`Lifeline`).

A launcher may also register directories (a PostgreSQL cluster made in /tmp because the work
directory is out of the service user's reach, a command's temporary work folder): the watcher
removes them at the end of the pipe, after the servers are stopped, so that a killed launcher
leaves no server files behind either; one the launcher decides to keep (a failed run's folder,
for its logs) is unregistered first.

The watcher runs as this file with the standard library only (``python -I _lifeline.py``), in
its own session, so that a Ctrl-C or a kill of the launcher's group leaves it to do its work.
Linux only (``/proc``), like the launchers.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import sys
import threading
import time
import weakref

__all__ = [
    "GRACE_SECONDS",
    "LIFELINE",
    "Lifeline",
    "alive",
    "left_in_accept",
    "ours_still",
    "start_time",
    "wake",
]

GRACE_SECONDS = 10.0
"""How long the watcher waits between the stop signal and SIGKILL, by default (as
``ManagedProcess.stop`` does)."""
_POLL_SECONDS = 0.05

Address = tuple[str, int]
"""A server's ``(host, port)``, for :func:`wake`."""


def wake(address: Address, timeout: float) -> None:
    """Connect to ``address`` and hang up: a server that waits in ``accept()`` for its stop to
    go on wakes (a refused connection says its socket is gone already: nothing to wake)."""
    with contextlib.suppress(OSError):
        socket.create_connection(address, timeout=timeout).close()


def left_in_accept(pid: int, port: int) -> bool:
    """Has process ``pid`` closed its socket listening on ``port`` while the kernel still keeps
    it listening? A thread of it is then still in ``accept()``, which the close did not wake
    (Linux): only a connection does. Before the close, a connection would be taken as a client's,
    so the wake waits for it (a SecantusDB connected to at the instant of its stop signal missed
    that signal now and then, and waited for SIGKILL)."""
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for row in f.read().splitlines()[1:]:
                cells = row.split()
                if cells[3] == "0A" and int(cells[1].rsplit(":", 1)[1], 16) == port:
                    listening.add(f"socket:[{cells[9]}]")
    if not listening:
        return False
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False  # gone
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in listening:
                return False
    return True


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


def ours_still(pid: int, started: str) -> bool:
    """May the process group of ``pid``, a process that started at ``started``, be signalled?
    Yes while ``pid`` is that process, or no process at all (what is left of its group may
    still run); no once the kernel has given ``pid`` to another process, which may lead a
    group of its own (a server or a watcher of another launcher)."""
    return start_time(pid) in (None, started)


class Lifeline:
    """The launcher's side: one watcher per process, started at the first :meth:`watch`.

    The launcher keeps every registration too, so that a watcher that dies before it (killed
    from outside: a stale signal to a reused pid) is replaced at once by a new one that is told
    all of them; a registration is never lost with the watcher that held it. A forked child
    closes its copy of the pipe at once (``os.register_at_fork``): a child that outlives the
    launcher (a worker of a fork pool) would otherwise hold the pipe open, and the watcher would
    wait on it instead of stopping the launcher's servers; the child starts a watcher of its own
    should it start servers."""

    def __init__(self, grace_seconds: float = GRACE_SECONDS) -> None:
        self.grace_seconds = grace_seconds
        self._reset()
        _LINES.add(self)

    def _reset(self) -> None:
        """No watcher and nothing registered (a new lifeline, or a forked child's copy)."""
        self._lock = threading.Lock()
        self.watcher_pid: int | None = None
        self._fd: int | None = None
        self._servers: dict[int, tuple[int, str, Address | None]] = {}
        self._directories: list[str] = []
        self._closed = False
        self._replacements = 0

    def watch(
        self,
        pid: int,
        stop_signal: int = signal.SIGTERM,
        *,
        started: str | None = None,
        wake: Address | None = None,
    ) -> None:
        """Stop the process group of ``pid`` (its leader first, with ``stop_signal``) if this
        process dies before :meth:`forget`. ``started`` defaults to the process's start time;
        ``wake``, the server's address, is connected to once the stopping server has closed its
        listening socket (:func:`left_in_accept`, :func:`wake`)."""
        started = started or start_time(pid)
        if started is None:
            return  # already gone
        with self._lock:
            self._servers[pid] = (int(stop_signal), started, wake)
            self._send(_registration(pid, int(stop_signal), started, wake))

    def remove_at_end(self, path: str | os.PathLike[str]) -> None:
        """Remove the directory tree ``path`` when the lifeline ends, once the servers still
        registered are stopped (a launcher's normal exit removes it first: then nothing is
        left to do)."""
        where = os.path.abspath(path)
        if "\n" in where:
            raise ValueError(f"a directory the lifeline removes has no newline in its path: {where!r}")
        with self._lock:
            self._directories.append(where)
            self._send(f"d {where}\n")

    def keep(self, path: str | os.PathLike[str]) -> None:
        """Leave the directory tree ``path`` in place after all (a failed run's folder, kept
        for its logs): undoes :meth:`remove_at_end`."""
        where = os.path.abspath(path)
        with self._lock:
            if where in self._directories:
                self._directories = [d for d in self._directories if d != where]
                self._send(f"k {where}\n")

    def forget(self, pid: int) -> None:
        """``pid`` has been stopped the normal way."""
        with self._lock:
            if self._servers.pop(pid, None) is not None:
                self._send(f"- {pid}\n")

    def close(self) -> None:
        """End the lifeline now: the watcher stops what is still registered and exits."""
        with self._lock:
            self._closed = True
            if self._fd is not None:
                os.close(self._fd)
            self._fd = None

    def _send(self, line: str) -> None:
        """``line`` to the watcher (the lock held), to a new one told every registration when
        there is none or it is gone."""
        if self._fd is not None:
            try:
                _write_all(self._fd, line.encode())
                return
            except OSError:
                self._drop_watcher()  # killed from outside
        self._spawn()

    def _drop_watcher(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None

    def _spawn(self) -> None:
        """A new watcher, told every registration kept here, and a thread that replaces it
        should it die before this process (at most ``_REPLACEMENTS`` times).

        The registrations go into the pipe before the watcher starts, when the pipe's buffer
        holds them (it always has: some 50 bytes a registration, 64 KiB): were this process
        killed the instant after the spawn, before telling them, the new watcher would read the
        end of the pipe knowing nothing, and stop no server (seen once in a suite run, a test
        killing the launcher as soon as the replaced watcher appeared)."""
        self._closed = False
        read, write = os.pipe()  # both ends close on exec: no other child holds the write end
        told = [_registration(p, *how) for p, how in self._servers.items()]
        told += [f"d {where}\n" for where in self._directories]
        data = "".join(told).encode()
        early = bool(data) and len(data) <= fcntl.fcntl(write, fcntl.F_GETPIPE_SZ)
        if early:
            _write_all(write, data)  # into the buffer: no reader needed yet
        try:
            pid = os.posix_spawn(
                sys.executable,
                [sys.executable, "-I", os.path.abspath(__file__), str(self.grace_seconds)],
                os.environ,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, read, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                ],
                setsid=True,
            )
        except BaseException:
            os.close(write)
            raise
        finally:
            os.close(read)
        self._fd, self.watcher_pid = write, pid
        if data and not early:
            # A failure here leaves the new watcher to its guard, which replaces it.
            with contextlib.suppress(OSError):
                _write_all(write, data)
        threading.Thread(target=self._guard, args=(pid,), name="sloctl-lifeline", daemon=True).start()

    def _guard(self, pid: int) -> None:
        """Wait for watcher ``pid`` to end (and reap it); replace it when it ended before
        :meth:`close` and this process still has something registered."""
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        with self._lock:
            if self._closed or self.watcher_pid != pid:
                return  # closed on purpose, or replaced already (a failed write saw it gone)
            self._drop_watcher()
            if (self._servers or self._directories) and self._replacements < _REPLACEMENTS:
                self._replacements += 1
                self._spawn()


def _registration(pid: int, stop_signal: int, started: str, wake: Address | None) -> str:
    """The line that registers a server with the watcher (:func:`_main` reads it)."""
    address = "" if wake is None else f" {wake[0]} {wake[1]}"
    return f"+ {pid} {stop_signal} {started}{address}\n"


def _write_all(fd: int, data: bytes) -> None:
    """All of ``data`` to ``fd`` (a write to a pipe may take part of it when a signal comes)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_LINES: weakref.WeakSet[Lifeline] = weakref.WeakSet()
_REPLACEMENTS = 100
"""How many times a lifeline replaces a watcher that died before it: a bound for a watcher that
cannot start; the watchers that a stale signal kills come one in a long while."""


def _forked_child() -> None:
    """In a forked child: close the copies of the parent's pipes and forget its registrations
    (the parent's watchers keep them)."""
    for line in list(_LINES):
        if line._fd is not None:
            with contextlib.suppress(OSError):
                os.close(line._fd)
        line._reset()


os.register_at_fork(after_in_child=_forked_child)


LIFELINE = Lifeline()
"""This process's lifeline; ``ManagedProcess`` registers every server it starts."""


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _reap(watched: dict[int, tuple[int, str, Address | None]], grace: float) -> None:
    """Stop every watched process that is still the one registered: SIGCONT (a paused server
    cannot handle its stop signal) and the stop signal, then SIGKILL of each group after at
    most ``grace`` seconds, unless its leader's pid has gone to another process meanwhile.
    Meanwhile the servers registered with an address are woken at every poll (:func:`wake`)."""
    ours = {pid: how for pid, how in watched.items() if alive(pid, how[1])}
    for pid, (sig, _started, _wake) in ours.items():
        _signal_group(pid, signal.SIGCONT)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    deadline = time.monotonic() + grace
    for _ in range(int(grace / _POLL_SECONDS) + 1):
        running = [(pid, address) for pid, (_, began, address) in ours.items() if alive(pid, began)]
        if time.monotonic() >= deadline or not running:
            break
        for pid, address in running:
            if address is not None and left_in_accept(pid, address[1]):
                wake(address, _POLL_SECONDS)
        time.sleep(_POLL_SECONDS)
    for pid, (_sig, started, _wake) in ours.items():
        if ours_still(pid, started):
            _signal_group(pid, signal.SIGKILL)


def _main() -> None:
    # A Ctrl-C at the terminal reaches the launcher, which stops its servers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watched: dict[int, tuple[int, str, Address | None]] = {}
    directories: list[bytes] = []
    # One line per registration; the loop ends at the end of the pipe (the launcher is gone).
    for line in sys.stdin.buffer:
        if line.startswith(b"d /"):
            directories.append(line[2:].rstrip(b"\n"))
            continue
        if line.startswith(b"k /"):
            kept = line[2:].rstrip(b"\n")
            directories = [d for d in directories if d != kept]
            continue
        op, *args = line.split()
        if op == b"+" and len(args) in (3, 5):
            address = (args[3].decode(), int(args[4])) if len(args) == 5 else None
            watched[int(args[0])] = (int(args[1]), args[2].decode(), address)
        elif op == b"-" and args:
            watched.pop(int(args[0]), None)
    _reap(watched, float(sys.argv[1]))
    # After the servers: a PostgreSQL still writing its files would race the removal.
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    _main()
