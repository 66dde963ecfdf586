"""What ``sloctl gameday rig`` watches while it runs (:func:`sloctl.servers.first_exited`):
every server it started, a dead one named in one line with its pid, exit status and log. It
watched only the API and Prometheus: with its redis-server killed it kept "running", and the
next game day ran against a broken rig."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from sloctl.servers import ManagedProcess, first_exited
from tests.waiting import wait_until


class _Sleeper(ManagedProcess):
    """A server that does nothing until it is stopped (a stand-in for redis-server)."""

    def __init__(self, name: str, logfile: Path) -> None:
        super().__init__(host="127.0.0.1", port=0, logfile=logfile, run_as=None)
        self.name = name

    def _command(self) -> Sequence[str]:
        return [sys.executable, "-c", "import signal; signal.pause()"]  # until the test stops it

    def _ready(self) -> bool:
        return True


def test_the_first_server_that_exited_is_named_with_its_pid_exit_status_and_log(tmp_path: Path) -> None:
    servers = [_Sleeper("postgres", tmp_path / "postgres.log"), _Sleeper("redis", tmp_path / "redis.log")]
    for server in servers:
        server.start()
    try:
        assert first_exited(servers) is None
        pid = servers[1].pid
        os.kill(pid, signal.SIGKILL)
        reason = wait_until(lambda: first_exited(servers), timeout=10, what="redis to be seen dead")
        assert reason == f"redis exited (pid {pid}, signal SIGKILL); log: {tmp_path / 'redis.log'}"
    finally:
        for server in servers:
            server.stop()
