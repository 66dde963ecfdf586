"""``listen: localhost:0`` where localhost is both 127.0.0.1 and ::1: one port on both, and the
start's log line names every address bound. Each bind picked a port of its own, and the line
named one of them. Resolution is faked in-process (no name is looked up)."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import urllib.request
from typing import Any

import pytest

from sloctl.servers import free_port
from tests.collector.helpers import quiet_collector


def _healthz(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/healthz", timeout=5) as resp:
        return str(resp.read().decode())


def test_listen_on_port_0_of_a_name_with_two_addresses_binds_one_port_on_both_and_logs_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        if host != "localhost":
            return real(host, port, family, type, proto, flags)
        numeric = flags | socket.AI_NUMERICHOST
        return [
            *real("127.0.0.1", port, socket.AF_INET, type, proto, numeric),
            *real("::1", port, socket.AF_INET6, type, proto, numeric),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    logs = io.StringIO()
    config = (
        "apiVersion: sloctl/v1\nkind: CollectorConfig\nlisten: localhost:0\n"
        f"targets:\n  - {{name: cache, kind: redis, port: {free_port()}, interval: 30s}}\n"
    )

    async def main() -> tuple[list[str], list[str]]:
        collector = quiet_collector(
            config, "listen.yaml", logger="sloctl.collector.listentest", log_stream=logs
        )
        async with collector:
            (started,) = [json.loads(line) for line in logs.getvalue().splitlines() if '"start"' in line]
            listening = [str(a) for a in started.get("labels.listen", [])]
            answers = [await asyncio.to_thread(_healthz, address) for address in listening]
        return listening, answers

    listening, answers = asyncio.run(main())
    ports = {address.rpartition(":")[2] for address in listening}
    assert len(ports) == 1, f"one port on every address: {listening}"
    (port,) = ports
    assert sorted(listening) == sorted([f"127.0.0.1:{port}", f"[::1]:{port}"])
    assert answers == ["ok\n", "ok\n"]
    assert f"listening on 127.0.0.1:{port}, [::1]:{port}" in logs.getvalue()
