"""The lifeline stops the servers of a launcher that dies without stopping them, and nothing
else: not a server stopped the normal way, not a process that took a registered pid since; then
it removes the directories registered with it, never before the servers are stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sloctl.servers._lifeline import Lifeline, alive, start_time
from sloctl.servers._process import wait_until

pytestmark = pytest.mark.servers

REPO = Path(__file__).resolve().parents[2]


def _sleeper() -> subprocess.Popen[bytes]:
    """A process in its own session, as a server is."""
    return subprocess.Popen(["sleep", "120"], start_new_session=True)


def _watcher_exited(line: Lifeline) -> bool:
    assert line.watcher_pid is not None
    return os.waitpid(line.watcher_pid, os.WNOHANG)[0] == line.watcher_pid


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


LAUNCHER = """
import sys
from pathlib import Path
from sloctl.servers import start_redis
server = start_redis(Path(sys.argv[1]))
print(server.pid, flush=True)
sys.stdin.read()
"""

PG_LAUNCHER = """
import sys
from pathlib import Path
from sloctl.servers import start_postgres
server = start_postgres(Path(sys.argv[1]))
print(server.pid, (Path(sys.argv[1]) / "postgres").resolve(), flush=True)
sys.stdin.read()
"""


def _launch(script: str, workdir: Path) -> subprocess.Popen[bytes]:
    """``script`` in a Python of its own, which prints what it started and waits on stdin."""
    return subprocess.Popen(
        [sys.executable, "-c", script, str(workdir)],
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


def test_the_servers_of_a_killed_launcher_stop(tmp_path: Path) -> None:
    launcher = _launch(LAUNCHER, tmp_path)
    try:
        assert launcher.stdout is not None
        line = launcher.stdout.readline()
        assert line.strip().isdigit(), f"the launcher did not start Redis: {line!r}"
        redis_pid = int(line)
        assert alive(redis_pid)
        launcher.kill()  # SIGKILL: no finally, no atexit, no fixture teardown runs in it
        launcher.wait()
        assert wait_until(lambda: not alive(redis_pid), timeout=20), "Redis outlived its launcher"
    finally:
        _end(launcher)


@pytest.mark.skipif(os.geteuid() != 0, reason="PostgreSQL runs as its service user only when started as root")
def test_a_killed_launcher_leaves_no_postgresql_cluster_in_tmp(tmp_path: Path) -> None:
    """As root, PostgreSQL runs as its own user, which cannot reach pytest's 0700 folders: the
    cluster is made in /tmp. A launcher killed before its exit handlers run must not leave it."""
    os.chmod(tmp_path, 0o700)
    launcher = _launch(PG_LAUNCHER, tmp_path)
    try:
        assert launcher.stdout is not None
        line = launcher.stdout.readline().decode()
        pid, _, cluster = line.strip().partition(" ")
        assert pid.isdigit(), f"the launcher did not start PostgreSQL: {line!r}"
        home = Path(cluster)
        assert home.is_dir() and not home.is_relative_to(tmp_path), f"not a cluster in /tmp: {home}"
        launcher.kill()  # SIGKILL: no atexit runs in it
        launcher.wait()
        assert wait_until(lambda: not alive(int(pid)), timeout=30), "PostgreSQL outlived its launcher"
        assert wait_until(lambda: not home.exists(), timeout=15), f"{home} outlived its launcher"
    finally:
        _end(launcher)
