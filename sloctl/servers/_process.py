"""Process plumbing shared by every local server launcher.

A server runs in its own session (``start_new_session=True``) so that its process group id
equals its pid. PostgreSQL forks one backend per connection, and each backend makes itself the
leader of a session of its own, so a signal to the postmaster's group does not reach them:
freezing only the postmaster leaves every open connection answering. ``pause()``, ``resume()``
and the SIGKILL escalation therefore signal the group of the server and of every process it
forked (``/proc/PID/task/*/children``). Every server is registered with this process's lifeline
(``_lifeline``), which stops it if this process dies without doing so.
"""

from __future__ import annotations

import abc
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from sloctl.shelf import ToolMissing, require

from ._lifeline import LIFELINE, ours_still, start_time

__all__ = [
    "HttpProcess",
    "ManagedProcess",
    "ServerStartError",
    "ServerStopError",
    "Stoppable",
    "first_exited",
    "free_port",
    "http_ok",
    "service_user",
    "shelf_binary",
    "start_on_free_port",
    "wait_until",
]

#: Loopback only: every launcher binds here, never to a routable address.
LOOPBACK = "127.0.0.1"


class ServerStartError(RuntimeError):
    """A server did not become ready; the message carries the tail of its log."""


class ServerNotReady(ServerStartError):
    """A server that runs but did not answer within its start timeout: a slow machine (a loaded
    CI runner, cold disk caches) may need longer, which a command that starts servers lets its
    user give (``--start-timeout``; the library names no flag: not every command has it)."""


class ServerStopError(RuntimeError):
    """Servers whose stop raised (:func:`stop_all`); every other one was stopped all the same."""


def stop_all(stops: Sequence[tuple[str, Callable[[], None]]]) -> None:
    """Call each ``(name, stop)`` in order, each even when one before it raised; then raise
    :class:`ServerStopError` naming every one that raised and what it raised, if any did: a stop
    cut short must not leave the next servers running, nor pass unsaid.

    >>> stopped = []
    >>> def broken() -> None:
    ...     raise OSError("no such process")
    >>> stop_all([("api", broken), ("redis", lambda: stopped.append("redis"))])
    Traceback (most recent call last):
    sloctl.servers._process.ServerStopError: could not stop api: OSError: no such process
    >>> stopped
    ['redis']
    """
    failed: list[str] = []
    for name, stop in stops:
        try:
            stop()
        except ServerStopError as exc:  # a nested stop_all's: its own names
            failed.append(str(exc).removeprefix(_COULD_NOT))
        except Exception as exc:  # any: the next servers are stopped first, then it is raised
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    if failed:
        raise ServerStopError(_COULD_NOT + "; ".join(failed))


_COULD_NOT = "could not stop "


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free on ``host`` a moment ago (the kernel picks it).

    There is a small race between closing this socket and the server binding the port; the
    launchers retry start-up on another port when the bind fails.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def shelf_binary(name: str) -> str:
    """The tool shelf's ``name`` (``scripts/tools.sh``); ServerStartError says how to build it."""
    try:
        return str(require(name))
    except ToolMissing as exc:
        raise ServerStartError(str(exc)) from None


def service_user(name: str = "postgres") -> str | None:
    """The user that PostgreSQL and PgBouncer must run as: ``name`` when we are root (both
    refuse to run as root), nobody in particular otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(name)
    except KeyError as exc:
        raise ServerStartError(
            f"running as root, but there is no {name!r} user to run the server as; "
            "install the Debian postgresql package (scripts/install-debian-packages)"
        ) from exc
    return name


def as_user(argv: Sequence[str], user: str | None) -> list[str]:
    """``argv`` run as ``user`` (when one is in use) through setpriv(1) of util-linux.

    The switch of user happens in the new program, so Python spawns the child with vfork.
    Python's own ``user=`` forces a plain fork(), which runs the at-fork handlers of every
    library loaded in this process: gRPC's (the OpenTelemetry exporter) crash the child with
    SIGSEGV before it reaches exec.
    """
    if user is None:
        return list(argv)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise ServerStartError(
            f"running as root, but setpriv (util-linux) is missing to run {argv[0]} as {user}"
        )
    entry = pwd.getpwnam(user)
    return [setpriv, f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups", "--", *argv]


def chown_to(path: Path, user: str | None) -> None:
    """Give ``path`` (recursively) to ``user`` when a service user is in use."""
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in (*dirs, *files):
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def reachable_by_others(path: Path) -> bool:
    """True when a different user can traverse every ancestor of ``path``.

    pytest's temporary directories (``/tmp/pytest-of-root``) are mode 0700: the postgres user
    cannot reach a data directory inside them.
    """
    return all(not (parent.exists() and not os.stat(parent).st_mode & 1) for parent in [path, *path.parents])


def wait_until(check: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``check`` until it returns True or ``timeout`` seconds pass (bounded loop)."""
    deadline = time.monotonic() + timeout
    attempts = max(1, int(timeout / interval) + 1)
    for _ in range(attempts):
        if check():
            return True
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    return False


#: How long a program a start runs to its end (initdb) has to end after an interrupt is passed
#: to its process group, before the group is killed: initdb ends its step and removes its data
#: directory in well under a second (docs/benchmarks.md, "Ctrl-C during long commands").
INTERRUPT_GRACE_SECONDS = 5.0
#: How often :func:`run_in_own_group` looks whether its program has ended.
_RUN_POLL_SECONDS = 0.01


def run_in_own_group(argv: Sequence[str], *, log: Path, timeout: float) -> int:
    """The exit code of ``argv`` run to its end in a process group of its own, its output appended
    to ``log``; :class:`ServerStartError` when it runs longer than ``timeout`` seconds (then
    killed). Interrupted (KeyboardInterrupt: a command's Ctrl-C, or ``kill -INT`` of sloctl
    alone), it passes SIGINT to that whole group, as a terminal's Ctrl-C does, and waits for the
    group's leader to end before going on: ``subprocess.run`` killed initdb alone, and the
    ``postgres`` it had forked went on in the data directory about to be removed."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        ended = wait_until(lambda: proc.poll() is not None, timeout=timeout, interval=_RUN_POLL_SECONDS)
    except BaseException:
        _end_group(proc, signal.SIGINT)
        raise
    if not ended:
        _end_group(proc, signal.SIGKILL)
        raise ServerStartError(f"{argv[0]} did not end in {timeout:g} s; log tail ({log}):\n{log_tail(log)}")
    return proc.returncode


def _end_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """``sig`` to the process group ``proc`` leads; once ``proc`` has ended (SIGKILL to the group
    after :data:`INTERRUPT_GRACE_SECONDS`), the group is killed, whatever of it is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=INTERRUPT_GRACE_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def open_direct(request: str | urllib.request.Request, timeout: float) -> Any:
    """``urlopen`` for sloctl's own servers on loopback: never through a ``*_proxy`` of the
    environment (urllib's default opener follows them), so a request to 127.0.0.1 stays on it."""
    return _DIRECT.open(request, timeout=timeout)


def http_ok(url: str) -> bool:
    """True when ``url`` answers 200 within a second (a readiness or health check)."""
    try:
        with open_direct(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


class Stoppable(abc.ABC):
    """Something that runs until :meth:`stop`; as a context manager it stops on the way out,
    whatever happened inside."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop; idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ManagedProcess(Stoppable):
    """One server process: start, readiness, stop, pause/resume, restart on the same port.

    Subclasses implement ``_command()`` and ``_ready()``; ``_stop_signal`` is the signal that
    asks the server for a fast, clean shutdown.
    """

    name = "server"
    _stop_signal: int = signal.SIGTERM
    _woken_to_stop = False
    """Whether a stopping server waits for a connection to go on (:func:`~._lifeline.wake`)."""
    startup_timeout: float = 30.0
    stop_timeout: float = 10.0

    def __init__(self, *, host: str, port: int, logfile: Path, run_as: str | None) -> None:
        self.host = host
        self.port = port
        self.logfile = logfile
        self.run_as = run_as
        self._proc: subprocess.Popen[bytes] | None = None
        self._started: str | None = None  # the process's start time: its pid may be reused

    # -- to implement ----------------------------------------------------------------------
    @abc.abstractmethod
    def _command(self) -> Sequence[str]:
        """The server's command line."""

    @abc.abstractmethod
    def _ready(self) -> bool:
        """True once the server accepts clients."""

    def _env(self) -> dict[str, str] | None:
        return None

    # -- life cycle ------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        if self._proc is None:
            raise ServerStartError(f"{self.name} is not running")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float | None = None) -> None:
        """Start the process and wait until it is ready, ``timeout`` seconds at most (None: the
        server's own ``startup_timeout``; a command's ``--start-timeout``); on failure stop it
        and raise :class:`ServerStartError` with the tail of its log. Interrupted once the
        process runs (KeyboardInterrupt: a command's Ctrl-C), it stops it before going on."""
        limit = self.startup_timeout if timeout is None else timeout
        log = open(self.logfile, "ab")  # noqa: SIM115 - the child keeps the descriptor
        try:
            self._proc = subprocess.Popen(
                as_user(self._command(), self.run_as),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self._env(),
            )
        finally:
            log.close()
        try:
            self._started = start_time(self._proc.pid)
            wake = (self.host, self.port) if self._woken_to_stop else None
            LIFELINE.watch(self._proc.pid, self._stop_signal, started=self._started, wake=wake)
            ready = wait_until(lambda: not self.running or self._ready(), timeout=limit)
        except BaseException:  # an interrupt: no caller holds the server yet to stop it
            self.stop()
            raise
        if not ready:
            self.stop()
            raise ServerNotReady(
                f"{self.name} on {self.host}:{self.port} was not ready after {limit:g} s;"
                f" log tail ({self.logfile}):\n{log_tail(self.logfile)}"
            )
        if not self.running:
            code = self._proc.returncode if self._proc else None
            if self._proc is not None:
                LIFELINE.forget(self._proc.pid)
            self._proc = None
            raise ServerStartError(
                f"{self.name} exited with code {code} during start-up on {self.host}:{self.port}; "
                f"log tail ({self.logfile}):\n{log_tail(self.logfile)}"
            )

    def _signal_group(self, sig: int) -> None:
        if self._proc is not None:
            signal_group(self._proc.pid, self._started, sig)

    def stop(self) -> None:
        """Terminate by pid, wait, escalate to SIGKILL of the process group. Idempotent."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self._signal_group(signal.SIGCONT)  # a paused server cannot handle SIGTERM
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(self._stop_signal)
            try:
                self._wait_stopped(proc)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                proc.wait(timeout=10)
        # What is left in its group goes with it. A killed postmaster's backends, each in a
        # session of its own and no longer its children, end when they see it gone.
        self._signal_group(signal.SIGKILL)
        LIFELINE.forget(proc.pid)
        self._proc = None

    def _wait_stopped(self, proc: subprocess.Popen[bytes]) -> None:
        """Wait for ``proc`` to exit after the stop signal, ``stop_timeout`` seconds at most
        (``TimeoutExpired`` after: :meth:`stop` kills it)."""
        proc.wait(timeout=self.stop_timeout)

    def pause(self) -> None:
        """SIGSTOP the server and every process it forked: the port stays open, nothing
        answers, not even a connection opened before (PostgreSQL's backends)."""
        self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_group(signal.SIGCONT)

    def restart(self) -> None:
        """Stop and start again on the same port with the same data."""
        self.stop()
        # The old socket may linger briefly; the servers set SO_REUSEADDR, but wait for the
        # port to be free of listeners before binding again.
        wait_until(lambda: not tcp_open(self.host, self.port, 0.2), timeout=5)
        self.start()


def signal_group(pid: int, started: str | None, sig: int) -> None:
    """``sig`` to the process group ``pid`` leads and to the group of every process it forked
    (``pid`` first, so that it forks no more while its children are signalled), unless ``pid``
    has gone to another process since the one that started at ``started`` ended (a reaped
    process's pid is free for the kernel to reuse; None: never known, nothing is sent)."""
    if started is None or not ours_still(pid, started):
        return
    children = descendants(pid)  # before: a killed process's children are no longer its own
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    children += [c for c in descendants(pid) if c not in children]  # forked in the meantime
    for child in children:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(child) == child:  # a session leader: PostgreSQL's backends
                os.killpg(child, sig)
            else:
                os.kill(child, sig)


def descendants(pid: int, *, most: int = 10_000) -> list[int]:
    """The processes ``pid`` forked, and theirs, from ``/proc`` (every thread's ``children``),
    parents before their children; at most ``most`` of them. Empty where ``/proc`` has no such
    file (another kernel) or ``pid`` is gone."""
    found: list[int] = []
    queue = [pid]
    while queue and len(found) < most:
        children = _children(queue.pop(0))
        found += children
        queue += children
    return found[:most]


def _children(parent: int) -> list[int]:
    """The processes ``parent``'s threads forked; what could be read of them when ``parent``,
    or one of its threads, ends while they are listed (its ``/proc`` entry goes with it:
    a PostgreSQL backend whose client disconnects as its server stops)."""
    out: list[int] = []
    try:
        tasks = list((Path("/proc") / str(parent) / "task").glob("*/children"))
    except OSError:  # the folder went between its check and its listing
        return out
    for task in tasks:
        with contextlib.suppress(OSError):
            out += [int(c) for c in task.read_text().split()]
    return out


class HttpProcess(ManagedProcess):
    """A server that speaks HTTP on ``host:port`` and answers 200 on ``ready_path`` once it
    serves requests."""

    ready_path = "/-/ready"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _ready(self) -> bool:
        return http_ok(self.url + self.ready_path)


def first_exited(servers: Iterable[ManagedProcess]) -> str | None:
    """One line for the first of ``servers`` whose process has ended without :meth:`stop
    <ManagedProcess.stop>` (killed, crashed): ``redis exited (pid 4242, code 1); log: <path>``
    (``signal SIGKILL`` for one a signal ended); None while every one that was started runs. A
    server stopped on purpose (``stop()``, the gap of a ``restart()``) is not reported. What a
    command that runs servers in the foreground polls (``sloctl testbed up``, the game-day
    rig), so that a dead database stops the run instead of leaving it up and "running"."""
    for server in servers:
        proc = server._proc
        if proc is None:
            continue
        code = proc.poll()
        if code is not None:
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"code {code}"
            return f"{server.name} exited (pid {proc.pid}, {how}); log: {server.logfile}"
    return None


_Server = TypeVar("_Server", bound=ManagedProcess)


def start_on_free_port(
    make: Callable[[int], _Server],
    *,
    port: int | None = None,
    attempts: int = 3,
    timeout: float | None = None,
) -> _Server:
    """``make(port)`` started on ``port``, or on a free port when None; returns once it is ready,
    ``timeout`` seconds at most (None: the server's own, :meth:`ManagedProcess.start`).

    A free port may be taken by another process between probing and binding: when the start
    fails for that reason ("address already in use" in the log), build and start again on
    another free port, ``attempts`` times at most. Any other failure, or a failure on a port
    the caller chose, raises at once.
    """
    for _ in range(attempts - 1):
        server = make(port or free_port())
        try:
            server.start(timeout)
            return server
        except ServerStartError as exc:
            if port is not None or "in use" not in str(exc).lower():
                raise
    server = make(port or free_port())
    server.start(timeout)
    return server
