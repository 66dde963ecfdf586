"""The Alertmanager launcher: a real Alertmanager (0.35 from the shelf, 0.25 from Debian) on a
free loopback port, without a cluster (gossip) port, stopped by pid."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from sloctl.servers import ServerStartError
from sloctl.servers._process import tcp_open
from sloctl.servers.alertmanager import DEBIAN_ALERTMANAGER, start_alertmanager
from sloctl.shelf import find
from tests.servers.ports import listening_ports

CONFIG = "route: {receiver: default}\nreceivers: [{name: default}]\n"
_BINARIES = {
    "alertmanager-0.35": (lambda: find("alertmanager"), "scripts/tools.sh alertmanager"),
    "alertmanager-0.25": (
        lambda: DEBIAN_ALERTMANAGER if DEBIAN_ALERTMANAGER.is_file() else None,
        "apt-get install prometheus-alertmanager",
    ),
}


@pytest.fixture(params=sorted(_BINARIES))
def binary(request: pytest.FixtureRequest) -> Path:
    locate, how = _BINARIES[request.param]
    path = locate()
    if path is None:
        pytest.skip(f"{request.param} is not on this machine: {how}")
    return path


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
