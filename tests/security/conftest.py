"""Fakes that keep the security tests on this machine: resolution is faked in-process (no DNS
query ever leaves), and a tripwire refuses, locally and without sending a packet, every TCP
connection to an address off loopback, recording it so that a test can say "nothing tried"."""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sloctl import egress, naming
from tests.fixtures.stub_http import serving

#: An address off loopback that the tests point names at. Nothing ever connects to it: the
#: tripwire refuses the connection inside this process.
OUTSIDE = "10.9.9.9"

_real_getaddrinfo = socket.getaddrinfo


@dataclass
class FakeDNS:
    """Names → answers. A name with several answers gives them in turn (the last one repeats):
    that is a DNS rebinding. Every lookup of a name is recorded."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def set(self, name: str, *answers: list[str]) -> None:
        self.answers[name] = list(answers)

    def getaddrinfo(
        self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(name.split("%", 1)[0])
        except ValueError:
            pass
        else:  # a literal: no lookup at all
            return _real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        self.lookups.append(name)
        queue = self.answers.get(name)
        if not queue:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        out = []
        for address in answer:
            out += _real_getaddrinfo(address, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        return out


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    dns = FakeDNS()
    dns.set("localhost", ["127.0.0.1"])
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    return dns


#: networks that put a guard in DNS mode (names go to the resolver) without allowing OUTSIDE
WIDENED = "192.0.2.0/24"


@pytest.fixture
def hosts_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty hosts file in place of /etc/hosts for the guard (lines appended by the test)."""
    path = tmp_path / "hosts"
    path.write_text("")
    monkeypatch.setattr(egress, "HOSTS_FILE", path)
    return path


def _loopback(address: object) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX
    ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


@pytest.fixture
def tripwire(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Addresses off loopback that something tried to connect to (refused here, never sent)."""
    tried: list[object] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if not _loopback(address):
            tried.append(address)
            raise ConnectionRefusedError(111, "refused by the test's tripwire (off loopback)")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _loopback(address):
            tried.append(address)
            return 111
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return tried


ONE_SLO = {naming.LABEL_ID: "api-availability", naming.LABEL_SERVICE: "api", naming.LABEL_SLO: "availability"}


@dataclass
class FakeHttp:
    """A loopback HTTP server: Prometheus' query API (one SLO's series), a redirect, or the
    testbed's /metrics, per path; records the Host header of every request."""

    port: int
    hosts: list[str]
    redirect_to: str = ""

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}"


@pytest.fixture
def fake_http() -> Iterator[FakeHttp]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.hosts.append(self.headers.get("Host", ""))
            if fake.redirect_to:
                self.send_response(302)
                self.send_header("Location", fake.redirect_to + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path.startswith("/metrics"):
                body = b'platform_circuit_breaker_state{dependency="redis"} 0\n'
                ctype = "text/plain"
            elif self.path.startswith("/api/v1/rules"):  # status reads its rules' health
                body, ctype = b'{"status": "success", "data": {"groups": []}}', "application/json"
            else:  # every query answered with one SLO's series, so that status has a row to show
                one = {"metric": ONE_SLO, "value": [0, "1"]}
                body = json.dumps(
                    {"status": "success", "data": {"resultType": "vector", "result": [one]}}
                ).encode()
                ctype = "application/json"
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    class DualStack(ThreadingHTTPServer):
        address_family = socket.AF_INET6
        daemon_threads = True

        def server_bind(self) -> None:
            # Bound to 127.0.0.1 through an IPv6 socket: reached as 127.0.0.1 and as
            # [::ffff:127.0.0.1], and by nothing off loopback.
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            super().server_bind()

    server = DualStack(("::ffff:127.0.0.1", 0), Handler)
    fake = FakeHttp(port=server.server_address[1], hosts=[])
    with serving(server):
        yield fake
