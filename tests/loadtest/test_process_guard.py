"""What Locust's process may reach, whoever asks: an absolute URL or a redirect outside the
allow-list fails its request with the address and ``--allow-host`` named, and never connects,
from ``HttpUser`` (requests) and ``FastHttpUser`` (geventhttpclient) alike. The run's
allow-list leaves 127.0.0.2 out (``RunOptions.allow``), where a second stub stands for a host
outside: loopback, so that nothing leaves the machine even on the old code."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
from pathlib import Path

import pytest

from sloctl.cli.main import main
from sloctl.egress import Egress, hosts_names
from sloctl.loadtest import RunOptions, run_scenario
from sloctl.loadtest.netguard import ProcessGuard, Refused
from sloctl.loadtest.runner import locust_command
from tests.fixtures.locust_files import real_locust_run
from tests.fixtures.stub_http import Answer, StubRequest, serve, text

#: the run's allow-list: 127.0.0.1 alone (and ::1), so that 127.0.0.2 is "outside"
INSIDE = ("127.0.0.1/32", "::1/128")

#: how every Locust file here ends: its task ``visit`` run by each of Locust's HTTP clients,
#: ``FastHttpUser`` (geventhttpclient) and ``HttpUser`` (requests), as the users ``Fast`` and
#: ``Plain``; ``visit`` names its requests after the user's class
BOTH_CLIENTS = """

class Fast(FastHttpUser):
    wait_time = constant(0.05)
    tasks = [visit]


class Plain(HttpUser):
    wait_time = constant(0.05)
    tasks = [visit]
"""

ESCAPING_LOCUST_FILE = (
    """
import os

from locust import FastHttpUser, HttpUser, constant

OUTSIDE = os.environ["SLOCTL_TEST_OUTSIDE"]


def visit(user) -> None:
    client = type(user).__name__.lower()
    user.client.get("/ok", name=f"{client} /ok")
    user.client.get(OUTSIDE + "/absolute", name=f"{client} absolute")
    user.client.get("/redirect", name=f"{client} redirect")
"""
    + BOTH_CLIENTS
)


@real_locust_run
def test_an_absolute_url_or_a_redirect_outside_the_allow_list_fails_and_never_connects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "escaping.py").write_text(ESCAPING_LOCUST_FILE)
    with serve(lambda _request: text("elsewhere"), host="127.0.0.2") as outside:
        monkeypatch.setenv("SLOCTL_TEST_OUTSIDE", outside.url)

        def inside(request: StubRequest) -> Answer:
            if request.path == "/redirect":
                return Answer(b"", status=302, headers=(("Location", f"{outside.url}/moved"),))
            return text("ok")

        with serve(inside) as stub:
            options = RunOptions(host=stub.url, duration=10, users=2, max_requests=60, allow=INSIDE)
            stats = run_scenario(tmp_path / "escaping.py", options, workdir=tmp_path / "run")
    routes = {r.name: r for r in stats.routes}
    for client in ("fast", "plain"):
        assert routes[f"{client} /ok"].num_failures == 0 < routes[f"{client} /ok"].num_requests, routes
        for escape in ("absolute", "redirect"):
            route = routes[f"{client} {escape}"]
            # Before: every one answered 200 by the stub on 127.0.0.2.
            assert route.num_failures == route.num_requests > 0, (client, escape, route)
    assert outside.requests == [], [r.path for r in outside.requests]
    errors = " ".join(error for error, _ in stats.errors)
    assert "refusing to load-test 127.0.0.2: it is outside the allow-list" in errors, stats.errors
    assert "--allow-host" in errors, stats.errors


BOTH_CLIENTS_LOCUST_FILE = (
    """
from locust import FastHttpUser, HttpUser, constant


def visit(user) -> None:
    user.client.get("/ok", name=type(user).__name__.lower())
"""
    + BOTH_CLIENTS
)

PASSWORD = "s3cret-hunter2"


@real_locust_run
def test_pinning_the_host_keeps_its_basic_authentication_and_never_prints_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = "Basic " + base64.b64encode(f"tester:{PASSWORD}".encode()).decode()

    def protected(request: StubRequest) -> Answer:
        if request.headers.get("Authorization") != expected:
            return Answer(b"", status=401, headers=(("WWW-Authenticate", 'Basic realm="staging"'),))
        return text("ok")

    (tmp_path / "both.py").write_text(BOTH_CLIENTS_LOCUST_FILE)
    report_dir = tmp_path / "report"
    with serve(protected) as stub:
        host = f"http://tester:{PASSWORD}@localhost:{stub.port}"
        argv = ["loadtest", str(tmp_path / "both.py"), "--host", host, "--duration", "10s", "--users", "2"]
        code = main(
            [
                *argv,
                "--max-requests",
                "30",
                "--threshold",
                "failure_ratio<=0",
                "--report-dir",
                str(report_dir),
            ]
        )
        load = [r for r in stub.requests if r.path == "/ok"]
    captured = capsys.readouterr()
    # Before: the pinned URL had lost 'tester:…@', every request was a 401 (exit 1).
    assert {r.headers.get("Authorization") for r in load} == {expected}, captured.out
    assert {r.headers.get("Host") for r in load} == {f"localhost:{stub.port}"}
    assert code == 0, captured.out + captured.err
    report = json.loads((report_dir / "report.json").read_text())
    assert {r["name"] for r in report["routes"]} == {"fast", "plain"}, report["routes"]
    assert report["host"] == f"http://tester:[secret]@localhost:{stub.port}", report["host"]
    written = [p.read_text(errors="replace") for p in report_dir.rglob("*") if p.is_file()]
    # nor on Locust's command line, which any user of the machine reads (ps)
    written.append(" ".join(locust_command(tmp_path / "both.py", RunOptions(host=host, duration=10))))
    assert not [text for text in (captured.out, captured.err, *written) if PASSWORD in text]


DATAGRAMS_AND_REVERSE_LOOKUPS_LOCUST_FILE = '''
"""Datagrams and reverse lookups from a Locust file. Beneath gevent's resolver (its thread
pool calls the C module's functions), the system's reverse resolver is replaced by one that
records what reaches it and answers nothing: on a real machine each of those is a PTR query to
DNS; here none leaves."""
import json
import os
import socket
import time

import _socket
from locust import User, constant, task

OUTSIDE, INSIDE = (("127.0.0.2", int(os.environ["SLOCTL_TEST_OUTSIDE_PORT"])),
                   ("127.0.0.1", int(os.environ["SLOCTL_TEST_INSIDE_PORT"])))
ASKED, OUTCOMES = os.environ["SLOCTL_TEST_RESOLVER_LOG"], os.environ["SLOCTL_TEST_OUTCOMES"]
_real_getnameinfo = _socket.getnameinfo


def _ask(kind, query):
    with open(ASKED, "a") as fh:
        fh.write(f"{kind} {query}\\n")
    raise _socket.herror(1, "Unknown host (the test's resolver, which asks no server)")


def gethostbyaddr(address):
    _ask("gethostbyaddr", address)


def getnameinfo(sockaddr, flags):
    if flags & socket.NI_NUMERICHOST:  # formatting an address: no query
        return _real_getnameinfo(sockaddr, flags)
    _ask("getnameinfo", sockaddr[0])


_socket.gethostbyaddr, _socket.getnameinfo = gethostbyaddr, getnameinfo
UDP = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
CALLS = {
    "sendto outside": lambda: UDP.sendto(b"out", OUTSIDE),
    "sendto outside with flags": lambda: UDP.sendto(b"out", 0, OUTSIDE),
    "sendmsg outside": lambda: UDP.sendmsg([b"out"], [], 0, OUTSIDE),
    "sendto inside": lambda: UDP.sendto(b"in", INSIDE),
    "sendto a name": lambda: UDP.sendto(b"name", ("localhost", INSIDE[1])),
    "gethostbyaddr allowed": lambda: socket.gethostbyaddr("127.0.0.1"),
    "gethostbyaddr a name": lambda: socket.gethostbyaddr("localhost"),
    "gethostbyaddr allowed, not in the hosts file": lambda: socket.gethostbyaddr("127.0.0.9"),
    "gethostbyaddr outside": lambda: socket.gethostbyaddr("127.0.0.2"),
    "getfqdn allowed": lambda: socket.getfqdn("127.0.0.1"),
    "getnameinfo allowed": lambda: socket.getnameinfo(("127.0.0.1", 80), 0),
    "getnameinfo outside": lambda: socket.getnameinfo(("127.0.0.2", 80), 0),
    "getnameinfo outside, numeric": lambda: socket.getnameinfo(("127.0.0.2", 80), socket.NI_NUMERICHOST),
}


class Network(User):
    wait_time = constant(0.05)

    @task
    def everything(self):
        outcomes = {}
        for name, call in CALLS.items():
            started = time.perf_counter()
            try:
                outcomes[name] = ["ok", repr(call())]
                error = None
            except OSError as exc:
                outcomes[name] = [type(exc).__name__, str(exc)]
                error = exc
            elapsed = (time.perf_counter() - started) * 1000
            self.environment.events.request.fire(
                request_type="NET", name=name, response_time=elapsed, response_length=0,
                exception=error, context={},
            )
        with open(OUTCOMES, "w") as fh:
            json.dump(outcomes, fh)
'''


def _udp(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.setblocking(False)
    return sock


def _received(sock: socket.socket) -> list[bytes]:
    out = []
    with contextlib.suppress(BlockingIOError):
        while True:
            out.append(sock.recv(64))
    return out


@real_locust_run
def test_datagrams_and_reverse_lookups_are_guarded_like_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """UDP ``sendto``/``sendmsg`` name their destination per datagram, on a socket never
    connected: they went wherever the Locust file said. Reverse lookups went to the system's
    resolver (a PTR query to DNS) for any address; now they are of allowed addresses only, and a
    loopback address's is answered from the hosts file alone."""
    (tmp_path / "net.py").write_text(DATAGRAMS_AND_REVERSE_LOOKUPS_LOCUST_FILE)
    asked, outcomes = tmp_path / "asked.txt", tmp_path / "outcomes.json"
    outside, inside = _udp("127.0.0.2"), _udp("127.0.0.1")
    with outside, inside, serve(lambda _request: text("ok")) as stub:
        for name, value in {
            "OUTSIDE_PORT": outside.getsockname()[1],
            "INSIDE_PORT": inside.getsockname()[1],
            "RESOLVER_LOG": asked,
            "OUTCOMES": outcomes,
        }.items():
            monkeypatch.setenv(f"SLOCTL_TEST_{name}", str(value))
        allow = (*INSIDE, "127.0.0.9/32")  # allowed, and not in the hosts file
        options = RunOptions(host=stub.url, duration=10, users=1, max_requests=26, allow=allow)
        stats = run_scenario(tmp_path / "net.py", options, workdir=tmp_path / "run")
        sent_out, sent_in = _received(outside), _received(inside)
    # Before: 3 datagrams a round reached 127.0.0.2, and 7 reverse lookups a round the resolver.
    assert sent_out == [], sent_out
    assert set(sent_in) == {b"in", b"name"}, sent_in
    assert not asked.exists(), asked.read_text()
    said = json.loads(outcomes.read_text())
    refusal = "refusing to load-test 127.0.0.2: it is outside the allow-list"
    for name in ("sendto outside", "sendto outside with flags", "sendmsg outside", "gethostbyaddr outside"):
        assert said[name][0] == "Refused" and said[name][1].startswith(refusal), (name, said[name])
    assert said["getnameinfo outside"][0] == "Refused", said
    hosts = tuple(hosts_names("127.0.0.1"))
    expected = repr((hosts[0], list(hosts[1:]), ["127.0.0.1"]))
    assert said["gethostbyaddr allowed"] == said["gethostbyaddr a name"] == ["ok", expected], said
    assert said["getfqdn allowed"] == ["ok", repr(next((n for n in hosts if "." in n), hosts[0]))], said
    assert said["getnameinfo allowed"] == ["ok", repr((hosts[0], "http"))], said
    assert said["getnameinfo outside, numeric"] == ["ok", repr(("127.0.0.2", "http"))], said
    not_in_hosts = said["gethostbyaddr allowed, not in the hosts file"]
    assert not_in_hosts[0] == "herror" and "127.0.0.9: not in /etc/hosts" in not_in_hosts[1], not_in_hosts
    assert {r.name for r in stats.routes} >= set(said), stats.routes


def test_a_reverse_lookup_goes_to_the_resolver_only_for_an_allowed_address_off_loopback() -> None:
    """With a network added (``--allow-host``), names go to the resolver, and so do reverse
    lookups of that network's addresses; a loopback address's never does, and one outside the
    list is refused. The resolver here is a fake beneath the guard (nothing is installed, no
    query sent)."""
    guard = ProcessGuard(Egress.of(["192.0.2.0/24"], action="load-test", widen="--allow-host"))
    asked: list[str] = []

    def resolver(address: str) -> tuple[str, list[str], list[str]]:
        asked.append(address)
        return "api.example", [], [address]

    reverse = guard._by_address(resolver)
    assert reverse("192.0.2.7") == ("api.example", [], ["192.0.2.7"])
    assert reverse("127.0.0.1")[2] == ["127.0.0.1"]
    with pytest.raises(Refused, match=r"refusing to load-test 198\.51\.100\.1: it is outside the allow-list"):
        reverse("198.51.100.1")
    assert asked == ["192.0.2.7"]
