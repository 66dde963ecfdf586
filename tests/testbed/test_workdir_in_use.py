"""A second ``sloctl testbed up`` on the work folder of a running one is refused up front in
one line naming the folder and the pid that holds it, the first left running. Before, it
started PostgreSQL on the same data and failed after 26 lines of postgres.log, the cause
(``lock file "postmaster.pid" already exists``) last."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.cli import SLOCTL, run_sloctl

pytestmark = [pytest.mark.servers, pytest.mark.slow]


def test_a_second_testbed_on_a_work_folder_in_use_is_refused_in_one_line(tmp_path: Path) -> None:
    first = subprocess.Popen(
        [*SLOCTL, "testbed", "up", "--workdir", str(tmp_path), "--for", "120s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout is not None
        api = ""
        deadline = time.monotonic() + 90
        while not api and time.monotonic() < deadline:  # its first line is the API's address
            line = first.stdout.readline()
            if not line:
                break
            if line.startswith("api "):
                api = line.split()[1]
        assert api, "the first testbed did not start"
        second = run_sloctl("testbed", "up", "--workdir", str(tmp_path), "--for", "5s", timeout=60)
        assert second.returncode == 1, second.stderr
        refusal = (
            f"sloctl testbed up: work dir {tmp_path} is in use by a running testbed (pid {first.pid}); "
            "stop it or use another --workdir\n"
        )
        assert second.stderr.endswith(refusal), second.stderr
        assert len(second.stderr.splitlines()) <= 2, second.stderr  # "starting in …", then that
        # the first one untouched
        assert first.poll() is None
        assert httpx.get(f"{api}/healthz", timeout=10).status_code == 200
    finally:
        first.send_signal(signal.SIGTERM)
        _out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
