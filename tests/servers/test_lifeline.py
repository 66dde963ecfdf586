"""The lifeline stops the servers of a launcher that dies without stopping them, and nothing
else: not a server stopped the normal way, not a process that took a registered pid since (nor
its group); then it removes the directories registered with it, never before the servers are
stopped. A watcher killed before its launcher is replaced by one that knows every server, and a
child forked without exec does not keep the watcher waiting."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sloctl.servers import signal_group, start_redis
from sloctl.servers._lifeline import Lifeline, alive, left_in_accept, start_time, wake
from sloctl.servers._process import descendants, wait_until
from tests.fixtures.pids import ends_at_sigterm, on_pid_of
from tests.waiting import wait_until as wait_for

pytestmark = pytest.mark.servers

REPO = Path(__file__).resolve().parents[2]


def _sleeper() -> subprocess.Popen[bytes]:
    """A process in its own session, as a server is."""
    return subprocess.Popen(["sleep", "120"], start_new_session=True)


def _watcher_exited(line: Lifeline) -> bool:
    """The lifeline's watcher has ended (its launcher's side reaps it)."""
    assert line.watcher_pid is not None
    return not alive(line.watcher_pid)


def test_the_watcher_stops_only_what_is_still_registered_when_the_lifeline_ends() -> None:
    line = Lifeline()
    stopped, forgotten, reused = _sleeper(), _sleeper(), _sleeper()
    try:
        line.watch(stopped.pid)
        line.watch(forgotten.pid)
        line.forget(forgotten.pid)
        started = start_time(reused.pid)
        assert started is not None
        # The same pid, registered with another start time: a process the kernel gave it to since.
        line.watch(reused.pid, started=str(int(started) - 1))
        assert line.watcher_pid is not None
        assert stopped.poll() is None, "nothing is stopped while the lifeline holds"
        line.close()
        assert wait_until(lambda: stopped.poll() is not None, timeout=15)
        assert stopped.returncode == -signal.SIGTERM
        assert wait_until(lambda: _watcher_exited(line), timeout=15)
        assert forgotten.poll() is None
        assert reused.poll() is None
    finally:
        for p in (stopped, forgotten, reused):
            p.kill()
            p.wait()


def test_a_paused_server_that_ignores_its_stop_signal_is_killed_with_its_group() -> None:
    line = Lifeline(grace_seconds=1)
    # A group leader that ignores SIGTERM and a child in its group, the whole group paused.
    leader = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; sleep 120 & wait"], start_new_session=True, stdout=subprocess.DEVNULL
    )
    try:
        assert wait_until(lambda: len(_group(leader.pid)) == 2, timeout=10)
        members = _group(leader.pid)
        os.killpg(leader.pid, signal.SIGSTOP)
        line.watch(leader.pid)
        line.close()
        assert wait_until(lambda: leader.poll() is not None, timeout=20)
        assert leader.returncode == -signal.SIGKILL
        assert wait_until(lambda: not any(alive(p) for p in members), timeout=10)
        assert wait_until(lambda: _watcher_exited(line), timeout=15)
    finally:
        leader.kill()
        leader.wait()


def test_registered_directories_go_only_after_the_servers_are_stopped(tmp_path: Path) -> None:
    line = Lifeline(grace_seconds=5)
    files = tmp_path / "server files"  # a space: the path is the rest of its line
    files.mkdir()
    (files / "data").write_text("x")
    # A server that writes into its directory while it stops, making it again if it is gone:
    # were the directory removed before the server stopped, it would be there at the end.
    late = files / "written while stopping"
    server = subprocess.Popen(
        ["sh", "-c", f'trap \'mkdir -p "{files}"; echo late > "{late}"; exit 0\' TERM; sleep 120 & wait'],
        start_new_session=True,
    )
    try:
        assert wait_until(lambda: len(_group(server.pid)) == 2, timeout=10)
        line.watch(server.pid)
        line.remove_at_end(files)
        assert files.is_dir(), "nothing is removed while the lifeline holds"
        line.close()
        assert wait_until(lambda: _watcher_exited(line), timeout=20)
        assert server.wait(timeout=10) == 0, "the server ran its stop handler"
        assert not files.exists(), f"left behind: {sorted(p.name for p in files.iterdir())}"
    finally:
        server.kill()
        server.wait()


def test_a_directory_path_with_a_newline_is_refused() -> None:
    with pytest.raises(ValueError, match="newline"):
        Lifeline().remove_at_end("/tmp/a\nb")


def _group(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid and alive(int(entry)):
                    found.append(int(entry))
            except ProcessLookupError:
                continue
    return found


def _launch(script: str, workdir: Path, *args: str) -> subprocess.Popen[bytes]:
    """``script`` in a Python of its own, which prints what it started and waits on stdin."""
    return subprocess.Popen(
        [sys.executable, "-c", script, str(workdir), *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )


def _end(launcher: subprocess.Popen[bytes]) -> None:
    launcher.kill()
    launcher.wait()
    for stream in (launcher.stdin, launcher.stdout):
        if stream is not None:
            stream.close()


def test_the_watcher_never_kills_the_group_of_a_process_that_took_a_stopped_servers_pid() -> None:
    """A server that ends at its stop signal frees its pid while the watcher waits on a slower
    one; the SIGKILL at the end of the wait is for the servers, not for whoever has the pid by
    then (a server or watcher of another launcher leads a group of the same number)."""
    line = Lifeline(grace_seconds=5)
    quick = _sleeper()
    slow = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 120 & wait"], start_new_session=True)
    squatter = None
    try:
        line.watch(quick.pid)
        line.watch(slow.pid)
        line.close()
        squatter = on_pid_of(quick)
        assert slow.poll() is None, "the pid was taken again before the end of the grace"
        assert wait_until(lambda: _watcher_exited(line), timeout=20)
        assert slow.wait(timeout=10) == -signal.SIGKILL, "the server that ignored SIGTERM is killed"
        assert ends_at_sigterm(squatter), "the watcher killed the process that took a stopped server's pid"
    finally:
        for p in (quick, slow, *([squatter] if squatter else [])):
            p.kill()
            p.wait()


def test_stopping_a_server_that_died_leaves_the_process_that_took_its_pid_alone(tmp_path: Path) -> None:
    """A server killed from outside (a game-day fault, a crash) is reaped when its launcher
    looks at it; its ``stop()`` later must not SIGKILL the group of the process the kernel has
    given its pid to since."""
    server = start_redis(tmp_path)
    squatter = None
    try:
        os.kill(server.pid, signal.SIGKILL)
        assert server._proc is not None
        squatter = on_pid_of(server._proc)
        assert not server.running
        server.stop()
        assert ends_at_sigterm(squatter), "stop() killed the process that took the dead server's pid"
    finally:
        server.stop()
        if squatter is not None:
            squatter.kill()
            squatter.wait()


def _parent_of_a_session() -> tuple[subprocess.Popen[bytes], int]:
    """A process that has forked ``sleep 120`` into a session of its own, as PostgreSQL forks
    its backends, and that child's pid; the process waits on its stdin (:func:`_end`)."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; c = subprocess.Popen(['sleep', '120'],"
            " start_new_session=True); print(c.pid, flush=True); sys.stdin.read()",
        ],
        start_new_session=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert parent.stdout is not None
    return parent, int(parent.stdout.readline())


def test_a_group_signal_reaches_the_forked_sessions_and_never_a_pid_gone_to_another_process() -> None:
    """``signal_group`` (servers' pause, resume and stop; the load test's end of Locust): the
    group of a process and of every process it forked into a session of its own (PostgreSQL's
    backends), and nothing once the process has ended and its pid has gone to another."""
    parent, child = _parent_of_a_session()
    squatter = None
    try:
        assert os.getpgid(child) == child != parent.pid
        started = start_time(parent.pid)
        signal_group(parent.pid, started, signal.SIGKILL)
        assert parent.wait(timeout=10) == -signal.SIGKILL
        wait_for(lambda: not alive(child), timeout=10, what=f"the forked session {child} to be killed")
        squatter = on_pid_of(parent)
        signal_group(parent.pid, started, signal.SIGKILL)
        assert ends_at_sigterm(squatter), "signal_group killed the process that took an ended process's pid"
    finally:
        _end(parent)
        if squatter is not None:
            squatter.kill()
            squatter.wait()


def test_a_process_that_ends_while_its_children_are_listed_stops_no_group_signal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A PostgreSQL backend whose client disconnects as its server stops ends while
    ``signal_group`` lists the processes its server forked: its ``/proc`` folder goes between
    the check and the listing. That raised out of ``stop()``, the testbed's stop went on to the
    next server, and PostgreSQL ran on (pytest later warned of its unwaited process). The
    listing is made to fail as the folder goes."""
    parent, child = _parent_of_a_session()
    try:
        glob = Path.glob

        def vanishing(self: Path, pattern: str) -> Iterator[Path]:
            if self == Path(f"/proc/{child}/task"):
                raise FileNotFoundError(2, "No such file or directory", str(self))
            return glob(self, pattern)

        monkeypatch.setattr(Path, "glob", vanishing)
        assert descendants(parent.pid) == [child]
        signal_group(parent.pid, start_time(parent.pid), signal.SIGKILL)
        assert parent.wait(timeout=10) == -signal.SIGKILL
        wait_for(lambda: not alive(child), timeout=10, what=f"the forked session {child} to be killed")
    finally:
        _end(parent)


def test_a_watcher_killed_before_its_launcher_is_replaced_by_one_told_every_registration() -> None:
    line = Lifeline(grace_seconds=1)
    kept, forgotten = _sleeper(), _sleeper()
    try:
        line.watch(kept.pid)
        line.watch(forgotten.pid)
        line.forget(forgotten.pid)
        first = line.watcher_pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        replaced = wait_for(
            lambda: line.watcher_pid != first and line.watcher_pid, timeout=15, what="a new watcher"
        )
        line.close()
        wait_for(lambda: kept.poll() is not None, timeout=15, what="the registered server stopped")
        assert kept.returncode == -signal.SIGTERM
        wait_for(lambda: not alive(replaced), timeout=15, what="the new watcher's exit")
        assert forgotten.poll() is None, "a server forgotten before the watcher died is left alone"
    finally:
        for p in (kept, forgotten):
            p.kill()
            p.wait()


ALL_SERVERS_LAUNCHER = """
import json, os, sys
from pathlib import Path
from sloctl.servers import start_mongodb, start_pgbouncer, start_postgres, start_redis
from sloctl.servers._lifeline import LIFELINE
workdir = Path(sys.argv[1])
pg = start_postgres(workdir)
servers = [pg, start_pgbouncer(workdir, upstream=pg), start_redis(workdir), start_mongodb(workdir)]
# A child forked without exec (a fork pool's worker) that outlives this process: it reads
# stdin, as this process does, until the test closes it.
child = os.fork() if sys.argv[2] == "forked child" else None
if child == 0:
    sys.stdin.read()
    os._exit(0)
print(json.dumps({"servers": {s.name: s.pid for s in servers}, "watcher": LIFELINE.watcher_pid,
                  "child": child}), flush=True)
sys.stdin.read()
"""


def _family(pid: int) -> list[tuple[int, str]]:
    """``pid`` and its children (a postmaster's backends lead groups of their own), each with
    its start time."""
    pids = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rindex(b")") + 2 :].split()[1]) == pid:
                pids.append(int(entry))
    return [(p, s) for p in pids if (s := start_time(p)) is not None]


def _kill_left(processes: list[tuple[int, str]]) -> None:
    for pid, started in processes:
        if alive(pid, started):
            os.kill(pid, signal.SIGKILL)


def _new_watcher(launcher: int, old: int) -> int | None:
    """A lifeline watcher of ``launcher`` other than ``old``."""
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != old:
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read()
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
            if ppid == launcher and b"_lifeline.py" in cmdline and alive(int(entry)):
                return int(entry)
    return None


@pytest.mark.parametrize("before", ["nothing", "watcher killed", "forked child"])
def test_every_server_of_a_killed_launcher_stops_and_its_files_go(tmp_path: Path, before: str) -> None:
    """PostgreSQL (and its backends), PgBouncer, Redis and MongoDB started by a process that is
    SIGKILLed: all stop within the watcher's grace, and the /tmp folders made for the service
    user go, also when the watcher was killed before the launcher (a stale signal to a reused
    pid: its replacement must know the servers) and when a child forked without exec outlives
    the launcher (it must not hold the watcher's pipe open)."""
    os.chmod(tmp_path, 0o700)  # pytest's folders are: as root, PostgreSQL's files go to /tmp
    launcher = _launch(ALL_SERVERS_LAUNCHER, tmp_path, before)
    processes: list[tuple[int, str]] = []
    outside: list[Path] = []
    try:
        assert launcher.stdout is not None
        started = launcher.stdout.readline().decode()
        assert started.startswith("{"), f"the launcher did not start its servers: {started!r}"
        told = json.loads(started)
        servers: dict[str, int] = told["servers"]
        processes = [p for pid in servers.values() for p in _family(pid)]
        assert len(processes) > len(servers), "PostgreSQL's own processes are counted"
        if told["child"]:
            processes += _family(told["child"])
        homes = [(tmp_path / name).resolve() for name in ("postgres", "pgbouncer")]
        outside = [home for home in homes if not home.is_relative_to(tmp_path)]
        if before == "watcher killed":
            os.kill(told["watcher"], signal.SIGKILL)
            wait_until(lambda: _new_watcher(launcher.pid, told["watcher"]) is not None, timeout=10)
        launcher.kill()  # SIGKILL: no finally, no atexit runs in it
        launcher.wait()
        of_servers = [(pid, began) for pid, began in processes if pid != told["child"]]
        wait_for(
            lambda: not [pid for pid, began in of_servers if alive(pid, began)],
            timeout=30,
            what=f"every server process gone ({servers}, PostgreSQL's backends with them)",
        )
        wait_for(lambda: not any(h.exists() for h in outside), timeout=15, what=f"{outside} removed")
    finally:
        _end(launcher)
        _kill_left(processes)
        wait_until(lambda: not any(alive(pid, began) for pid, began in processes), timeout=15)
        for home in outside:
            shutil.rmtree(home, ignore_errors=True)


def test_a_new_watcher_knows_every_registration_before_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The launcher may die the instant after starting a watcher (a replacement of a killed
    one, seen once in a suite run): the registrations are in the pipe before the watcher runs,
    so that even with nothing told after the spawn it stops the server. Before, they were
    written after the spawn, and such a watcher read the end of the pipe knowing nothing."""
    import sloctl.servers._lifeline as lifeline

    spawned: list[int] = []
    spawn, write_all = os.posix_spawn, lifeline._write_all

    def spawn_and_mark(*args: object, **kwargs: object) -> int:
        spawned.append(spawn(*args, **kwargs))  # type: ignore[arg-type]
        return spawned[-1]

    def dead_after_the_spawn(fd: int, data: bytes) -> None:
        if spawned:
            raise OSError("the launcher is gone: nothing it writes now arrives")
        write_all(fd, data)

    monkeypatch.setattr(os, "posix_spawn", spawn_and_mark)
    monkeypatch.setattr(lifeline, "_write_all", dead_after_the_spawn)
    line = Lifeline(grace_seconds=5)
    server = _sleeper()
    try:
        line.watch(server.pid)
        assert spawned, "the watch started a watcher"
        line.close()
        assert wait_until(lambda: server.poll() is not None, timeout=15), "the watcher stopped the server"
        assert server.returncode == -signal.SIGTERM
    finally:
        server.kill()
        server.wait()


MONGODB_LAUNCHER = """
import sys
import time
from pathlib import Path
from sloctl.servers import start_mongodb
server = start_mongodb(Path(sys.argv[1]))
print(server.pid, flush=True)
sys.stdin.read()
"""

#: SecantusDB's stop waits this long for its accept thread when nothing connects to it: a stop
#: without the wake takes longer (2.04-2.32 s measured), one with it 0.05-0.5 s.
SECANTUSDB_ACCEPT_WAIT = 2.0


def test_the_watcher_wakes_a_stopping_mongodb_as_its_normal_stop_does(tmp_path: Path) -> None:
    """SecantusDB ends its accept() only when a connection comes: a killed launcher's MongoDB
    took SecantusDB's own 2 s wait (2.1-2.4 s) to stop, where a normal stop takes 0.1 s."""
    launcher = _launch(MONGODB_LAUNCHER, tmp_path)
    try:
        assert launcher.stdout is not None
        pid = int(launcher.stdout.readline())
        began = start_time(pid)
        killed = time.monotonic()
        launcher.kill()
        wait_for(lambda: not alive(pid, began), timeout=15, what="MongoDB's stop")
        took = time.monotonic() - killed
        assert took < SECANTUSDB_ACCEPT_WAIT, f"MongoDB stopped {took:.2f} s after its launcher was killed"
    finally:
        _end(launcher)


def test_a_socket_closed_while_a_thread_is_in_its_accept_is_told_and_woken() -> None:
    """What the wake reads: before the close the socket is this process's (a connection would
    be a client's); after it, the kernel keeps it listening for the thread still in accept()."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = threading.Event()

    def accept() -> None:
        with contextlib.suppress(OSError):
            server.accept()[0].close()
        accepted.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    wait_for(lambda: _in_accept(thread), timeout=10, what="the thread in accept()")
    assert not left_in_accept(os.getpid(), port)
    server.close()  # Linux: the thread stays in accept()
    assert left_in_accept(os.getpid(), port)
    assert not accepted.wait(0.2)
    wake(("127.0.0.1", port), timeout=5)
    assert accepted.wait(10)
    assert not left_in_accept(os.getpid(), port)


def _in_accept(thread: threading.Thread) -> bool:
    """``thread`` sleeps in the kernel's accept (a sleeping state alone may be a wait for the
    interpreter's lock, before the call: the close would then come first)."""
    with open(f"/proc/self/task/{thread.native_id}/wchan") as f:
        return f.read() == "inet_csk_accept"
