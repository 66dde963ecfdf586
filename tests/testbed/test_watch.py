"""``sloctl testbed up`` watches every server it started: one killed (a database, PgBouncer)
stops the run with one line naming it, its pid, how it ended and its log, and exit code 1, the
others stopped. Before, only the API was watched: with Redis or PgBouncer killed the testbed
kept "running" until --for and exited 0."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.fixtures.cli import SLOCTL, stopped_on_failure

pytestmark = [pytest.mark.servers, pytest.mark.slow]


def _children(pid: int) -> dict[int, str]:
    """pid -> command line of the processes whose parent is ``pid``."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
                cmdline = (stat.parent / "cmdline").read_bytes()
                found[int(stat.parent.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
    return found


def _listening(address: str) -> bool:
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    assert parts.hostname and parts.port
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((parts.hostname, parts.port)) == 0


@pytest.mark.parametrize(("name", "program"), [("redis", "redis-server"), ("pgbouncer", "pgbouncer")])
def test_a_killed_server_stops_testbed_up_with_its_name_pid_and_log(
    name: str, program: str, tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [*SLOCTL, "testbed", "up", "--workdir", str(tmp_path), "--for", "120s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    urls: dict[str, str] = {}
    with stopped_on_failure(proc, signal.SIGTERM):
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        while len(urls) < 6 and time.monotonic() < deadline:  # the six addresses it prints
            line = proc.stdout.readline()
            if not line:
                break
            key, _, url = line.strip().partition(" ")
            urls[key] = url.strip()
        assert len(urls) == 6, urls
        (pid,) = [p for p, cmd in _children(proc.pid).items() if program in cmd.split(" ", 1)[0]]
        os.kill(pid, signal.SIGKILL)
        _out, err = proc.communicate(timeout=90)
    assert proc.returncode == 1, err
    said = re.search(
        rf"^sloctl testbed: {name} exited \(pid {pid}, signal SIGKILL\); log: (.+); stopping", err, re.M
    )
    assert said, err
    assert said.group(1).endswith(f"{name}.log")
    assert "Traceback" not in err
    for key, url in urls.items():
        assert not _listening(url), f"{key} still listening at {url}"
