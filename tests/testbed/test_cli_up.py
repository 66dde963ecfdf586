"""``sloctl testbed up`` starts everything on loopback and stops everything on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

pytestmark = [pytest.mark.servers, pytest.mark.slow]


def listening(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def test_testbed_up_serves_the_api_and_stops_every_server_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sloctl.cli.main",
            "testbed",
            "up",
            "--workdir",
            str(tmp_path),
            "--for",
            "120s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    urls: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while len(urls) < 7 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            name, _, url = line.strip().partition(" ")
            urls[name] = url.strip()
        assert set(urls) == {"api", "metrics", "postgres", "pgbouncer", "pgbouncer_admin", "redis", "mongodb"}
        for url in urls.values():
            assert urlsplit(url).hostname == "127.0.0.1"
        r = httpx.post(f"{urls['api']}/v1/documents", json={"hello": "world"}, timeout=10)
        assert r.status_code == 201
        assert httpx.get(f"{urls['api']}/v1/projects", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopping" in err
    for url in urls.values():
        parts = urlsplit(url)
        assert parts.hostname and parts.port
        assert not listening(parts.hostname, parts.port), url
