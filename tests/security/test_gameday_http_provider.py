"""Chaos Toolkit's http provider connects where the game days' guard checked, never where a
second resolution points: ``requests`` resolved the URL's name again after the guard had
checked it, through the system's resolver (a DNS query, for a name the loopback-only guard had
read from the hosts file) and with whatever a rebinding name answered the second time.

Resolution is faked in-process (``fake_dns``: the system's resolver, whose answers point
outside) and every connection off loopback is refused by the ``tripwire`` before it leaves, and
recorded; the servers are on 127.0.0.1."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import ssl
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import chaoslib.provider.http as chaos_http
import pytest
import requests

import sloctl.chaos.providers
from sloctl.chaos.gameday import run_gameday
from sloctl.chaos.providers import http_provider_guarded
from sloctl.egress import LOOPBACK, Egress
from tests.fixtures.certs import make_cert
from tests.fixtures.experiments import TINY
from tests.fixtures.stub_http import Answer, OkHandler, StubRequest, serve, serving
from tests.security.conftest import OUTSIDE, WIDENED, FakeDNS

#: the harmless action of sloctl's every experiment here holds (a game day needs an action)
STOP = TINY["method"][0]  # type: ignore[index]


def _probes(tmp_path: Path, urls: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Run a game day of one http probe per URL; the journal's run of each, by name."""
    probes = [
        {"type": "probe", "name": name, "provider": {"type": "http", "url": url, "timeout": 5}}
        for name, url in urls.items()
    ]
    path = tmp_path / "own.json"
    path.write_text(json.dumps({**TINY, "method": [STOP, *probes]}))
    run_gameday(path, out_dir=tmp_path / "report")
    journal = json.loads((tmp_path / "report" / "journal.json").read_text())
    return {r["activity"]["name"]: r for r in journal["run"]}


def test_a_name_the_loopback_guard_read_from_the_hosts_file_is_not_looked_up_again(
    tmp_path: Path, hosts_file: Path, fake_dns: FakeDNS, tripwire: list[object]
) -> None:
    """The game days' guard (loopback only) reads ``api.localhost`` as loopback without asking
    DNS (RFC 6761); ``requests`` then asked the system's resolver, a DNS query on most
    machines, and connected to its answer."""
    fake_dns.set("api.localhost", [OUTSIDE])
    with serve(lambda _r: Answer(b"inside", "text/plain")) as api:
        runs = _probes(tmp_path, {"check: api": f"http://api.localhost:{api.port}/healthz"})
    run = runs["check: api"]
    assert "api.localhost" not in fake_dns.lookups and tripwire == [], (fake_dns.lookups, tripwire)
    assert run["status"] == "succeeded", run.get("exception")
    assert run["output"]["body"] == "inside"
    assert [(r.path, r.headers.get("Host")) for r in api.requests] == [
        ("/healthz", f"api.localhost:{api.port}")
    ]


def test_dns_rebinding_cannot_move_the_http_provider_nor_its_redirect_hops(
    tmp_path: Path, fake_dns: FakeDNS, tripwire: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guard widened past loopback asks the resolver; a rebinding name answers loopback while
    it is checked, and outside after. ``rebind.test`` is checked twice (before the run, and as
    the request is sent), ``hop.test`` (a redirect's target) once: any later lookup is
    ``requests``' own, and finds the address outside."""
    widened = (*LOOPBACK, ipaddress.ip_network(WIDENED))
    monkeypatch.setattr(
        sloctl.chaos.providers, "GUARD", Egress(allow=widened, action="reach a game-day target at")
    )
    fake_dns.set("rebind.test", ["127.0.0.1"], ["127.0.0.1"], [OUTSIDE])
    fake_dns.set("hop.test", ["127.0.0.1"], [OUTSIDE])

    def answer(request: StubRequest) -> Answer:
        if request.path == "/away":
            return Answer(b"", "text/plain", 302, (("Location", f"http://hop.test:{api.port}/moved"),))
        return Answer(request.path.encode(), "text/plain")

    with serve(answer) as api:
        runs = _probes(
            tmp_path,
            {"check: rebind": f"http://rebind.test:{api.port}/status", "check: hop": f"{api.url}/away"},
        )
    assert tripwire == [], tripwire
    assert (fake_dns.lookups.count("rebind.test"), fake_dns.lookups.count("hop.test")) == (2, 1), (
        fake_dns.lookups
    )
    for name, body in (("check: rebind", "/status"), ("check: hop", "/moved")):
        assert runs[name]["status"] == "succeeded", runs[name].get("exception")
        assert runs[name]["output"]["body"] == body
    hosts = [(r.path, r.headers.get("Host")) for r in api.requests]
    assert hosts == [
        ("/status", f"rebind.test:{api.port}"),
        ("/away", f"127.0.0.1:{api.port}"),
        ("/moved", f"hop.test:{api.port}"),
    ]


@contextlib.contextmanager
def _https(cert: Path, key: Path, names: list[str | None]) -> Iterator[int]:
    """An HTTPS server on 127.0.0.1 (its port) that records the server name (SNI) of each
    handshake in ``names`` and answers ``ok``."""

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def heard(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = heard
    server = ThreadingHTTPServer(("127.0.0.1", 0), OkHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server):
        yield int(server.server_address[1])


@pytest.mark.parametrize("certified", ["api.localhost", "other.localhost"])
def test_a_pinned_https_request_keeps_the_name_for_sni_and_the_certificate_check(
    certified: str, tmp_path: Path, hosts_file: Path, fake_dns: FakeDNS, tripwire: list[object]
) -> None:
    """Connected to 127.0.0.1, the request still tells the server the name (SNI) and checks the
    certificate against the name, not against the address: a certificate for another name
    fails. (The certificate names no IP address.)"""
    fake_dns.set("api.localhost", [OUTSIDE])
    cert, key = make_cert(tmp_path, f"DNS:{certified}")
    names: list[str | None] = []
    with _https(cert, key, names) as port, http_provider_guarded():
        # the session Chaos Toolkit's http provider makes (its verify_tls takes no CA bundle)
        session = chaos_http.requests.Session()
        url = f"https://api.localhost:{port}/"
        if certified == "api.localhost":
            assert session.get(url, verify=str(cert), timeout=5).text == "ok"
        else:
            with pytest.raises(
                requests.exceptions.SSLError,
                match=re.escape("Hostname mismatch, certificate is not valid for 'api.localhost'"),
            ):
                session.get(url, verify=str(cert), timeout=5)
    assert names == ["api.localhost"], names
    assert "api.localhost" not in fake_dns.lookups and tripwire == []


def test_each_checked_address_is_tried_in_turn_when_one_refuses_the_connection(
    tmp_path: Path, hosts_file: Path, fake_dns: FakeDNS, tripwire: list[object]
) -> None:
    """A name with two checked addresses: nothing listens on the first (::1), so the request
    goes to the second, as sloctl's own clients do; neither is looked up again."""
    hosts_file.write_text("::1 two.localhost\n127.0.0.1 two.localhost\n")
    with serve(lambda _r: Answer(b"second", "text/plain")) as api:
        runs = _probes(tmp_path, {"check: two": f"http://two.localhost:{api.port}/"})
    assert runs["check: two"]["status"] == "succeeded", runs["check: two"].get("exception")
    assert runs["check: two"]["output"]["body"] == "second" and len(api.requests) == 1
    assert "two.localhost" not in fake_dns.lookups and tripwire == []
