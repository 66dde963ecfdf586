"""The Alertmanager launcher: a real Alertmanager (0.35 from the shelf, 0.25 from Debian) on a
free loopback port, without a cluster (gossip) port, stopped by pid."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from sloctl.servers import ServerStartError
from sloctl.servers._process import tcp_open
from sloctl.servers.alertmanager import start_alertmanager
from tests.servers.ports import listening_ports

CONFIG = "route: {receiver: default}\nreceivers: [{name: default}]\n"


@pytest.fixture
def binary(alertmanager_binary: tuple[str, Path]) -> Path:
    """Each Alertmanager of the matrix (tests/fixtures/engines.py)."""
    return alertmanager_binary[1]


def test_alertmanager_listens_on_its_loopback_port_only_and_stops_by_pid(
    tmp_path: Path, binary: Path
) -> None:
    am = start_alertmanager(tmp_path, config_text=CONFIG, binary=binary)
    try:
        with urllib.request.urlopen(f"{am.url}/api/v2/status", timeout=5) as resp:
            status = json.load(resp)
        assert status["cluster"]["status"] == "disabled"
        assert listening_ports(am.pid) == {am.port}, "a gossip (cluster) port is open"
    finally:
        am.stop()
    assert not am.running and not tcp_open(am.host, am.port)


def test_a_config_alertmanager_refuses_is_a_start_error_with_its_log(tmp_path: Path, binary: Path) -> None:
    with pytest.raises(ServerStartError, match="alertmanager"):
        start_alertmanager(tmp_path, config_text="route: {receiver: nobody}\n", binary=binary)
