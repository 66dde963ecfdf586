"""The allow-list holds against DNS, redirects, proxy variables and connection-string tricks.

Resolution is faked in-process (``fake_dns``) and every connection off loopback is refused by
the ``tripwire`` before it leaves, and recorded: "nothing tried to leave" is an assertion, not
a hope. ``OUTSIDE`` is where the tricks point.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from sloctl.cli.main import main
from sloctl.egress import Egress, EgressDenied
from sloctl.testbed_runner import ApiServer
from tests.collector.helpers import live_collector
from tests.security.conftest import OUTSIDE, WIDENED, FakeDNS, FakeHttp


def _http_target(url: str) -> str:
    # Widened past loopback (not to OUTSIDE): a loopback-only guard asks no DNS server at all,
    # and these tests are about what a DNS answer can and cannot do.
    return f"""\
apiVersion: sloctl/v1
kind: CollectorConfig
listen: 127.0.0.1:0
allowNetworks: [127.0.0.0/8, "{WIDENED}"]
defaults: {{interval: 1s, timeout: 800ms}}
targets:
  - {{name: api, kind: http, url: "{url}/metrics"}}
"""


def test_a_name_with_one_address_outside_the_allow_list_is_refused_whole(
    fake_dns: FakeDNS, tripwire: list[object], fake_http: FakeHttp
) -> None:
    fake_dns.set("multi.test", ["127.0.0.1", OUTSIDE])
    with live_collector(_http_target(fake_http.url("multi.test")), {}) as c:
        run = c.wait_for("api", lambda r: True, after=0, timeout=10)
    assert not run.ok and run.reason == "dns", run
    assert OUTSIDE in (run.error or "") and "allowNetworks" in (run.error or "")
    assert fake_http.hosts == [] and tripwire == []


def test_dns_rebinding_cannot_move_a_probe_after_the_check(
    fake_dns: FakeDNS, tripwire: list[object], fake_http: FakeHttp
) -> None:
    # The first answer is loopback, every later one points outside: a rebinding name.
    fake_dns.set("rebind.test", ["127.0.0.1"], [OUTSIDE])
    with live_collector(_http_target(fake_http.url("rebind.test")), {}) as c:
        first = c.wait_for("api", lambda r: True, after=0, timeout=10)
        later = c.wait_for("api", lambda r: r.started > first.started, after=0, timeout=10)
    assert first.ok, first  # connected to the address it checked, and sent the name in Host
    assert fake_http.hosts[0] == f"rebind.test:{fake_http.port}"
    assert not later.ok and later.reason == "dns"  # the next run checks the new answer: refused
    assert tripwire == []


def test_redirects_are_not_followed_to_an_unchecked_address(
    fake_dns: FakeDNS, tripwire: list[object], fake_http: FakeHttp, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_dns.set("evil.test", [OUTSIDE])
    fake_http.redirect_to = "http://evil.test:9090"
    assert main(["status", "--prometheus", fake_http.url()]) == 1
    err = capsys.readouterr().err
    assert "redirect" in err and "not followed" in err
    assert "evil.test" not in fake_dns.lookups and tripwire == []


@pytest.mark.parametrize("command", ["status", "gameday-probe"])
def test_proxy_variables_in_the_environment_are_ignored(
    command: str,
    fake_dns: FakeDNS,
    tripwire: list[object],
    fake_http: FakeHttp,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_dns.set("proxy.test", [OUTSIDE])
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://proxy.test:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    if command == "status":
        assert main(["status", "--prometheus", fake_http.url()]) == 0, capsys.readouterr().err
    else:
        from sloctl.chaos.probes import breaker_state

        assert breaker_state(f"{fake_http.url()}/metrics", "redis") == "closed"
    assert fake_http.hosts and tripwire == [] and "proxy.test" not in fake_dns.lookups


@pytest.mark.parametrize(
    "dsn",
    [
        f"host={OUTSIDE} dbname=postgres user=postgres",
        f"postgresql://postgres@127.0.0.1:5432/postgres?host={OUTSIDE}",
        f"postgresql://postgres@127.0.0.1:5432/postgres?hostaddr={OUTSIDE}",
        f"postgresql://postgres@127.0.0.1:5432,{OUTSIDE}:5432/postgres",
        "host=127.0.0.1,evil.test port=5432 dbname=postgres",
    ],
)
@pytest.mark.parametrize("action", ["postgres_terminate_backends", "pgbouncer_stop"])
def test_libpq_connection_string_tricks_are_refused_before_the_driver_connects(
    dsn: str, action: str, fake_dns: FakeDNS, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    from sloctl.chaos import actions

    fake_dns.set("evil.test", [OUTSIDE])
    handed: list[str] = []

    def record(conninfo: str = "", **kwargs: object) -> None:
        handed.append(conninfo)  # libpq would connect on its own, past any tripwire: stop here
        raise psycopg.OperationalError("recorded, not connected")

    monkeypatch.setattr(psycopg, "connect", record)
    run = getattr(actions, action)
    with pytest.raises(ValueError, match="allow-list"):
        run(dsn, apply=False)
    assert handed == []


def test_redis_urls_and_mongodb_seed_lists_are_checked_host_by_host(
    fake_dns: FakeDNS, tripwire: list[object]
) -> None:
    from sloctl.chaos import actions

    fake_dns.set("evil.test", [OUTSIDE])
    # redis-py takes the host from the query when the URL has none.
    with pytest.raises(ValueError, match="allow-list"):
        actions.redis_client_pause(f"redis://:pw@/0?host={OUTSIDE}", apply=False)
    # A seed list whose first host is loopback, and a check that reads only the first host.
    with pytest.raises(ValueError, match="allow-list"):
        actions.mongodb_fail_command("mongodb://127.0.0.1:27017,evil.test:27017/", apply=False)
    assert tripwire == []


def test_every_client_tries_the_checked_addresses_in_turn_and_raises_the_last_failure(
    hosts_file: Path, fake_dns: FakeDNS, tripwire: list[object], fake_http: FakeHttp
) -> None:
    # Nothing listens on 127.0.0.2 at the fake's port: the first address refuses. A loopback-only
    # guard reads the names from the hosts file, in its order, and asks no DNS server.
    hosts_file.write_text(
        "127.0.0.2 two.test\n127.0.0.1 two.test\n127.0.0.2 none.test\n127.0.0.3 none.test\n"
    )
    egress = Egress()
    url = fake_http.url("two.test") + "/metrics"

    async def asynchronous(url: str) -> httpx.Response:
        async with egress.async_http_client() as client:
            return await client.get(url)

    async def open_connection() -> str:
        address, _, writer = await egress.open_connection("two.test", fake_http.port)
        writer.close()
        await writer.wait_closed()
        return address

    with egress.http_client() as client:
        responses = [client.get(url), asyncio.run(asynchronous(url))]
        with pytest.raises(httpx.ConnectError):
            client.get(fake_http.url("none.test"))
    assert [r.status_code for r in responses] == [200, 200]
    # Sent to the second address, with the name in Host and put back in the request's URL.
    assert fake_http.hosts == [f"two.test:{fake_http.port}"] * 2
    assert [r.request.url.host for r in responses] == ["two.test"] * 2
    with pytest.raises(httpx.ConnectError):
        asyncio.run(asynchronous(fake_http.url("none.test")))
    with egress.connect("two.test", fake_http.port, timeout=5) as sock:
        assert sock.getpeername()[1] == fake_http.port
    assert asyncio.run(open_connection()) == "127.0.0.1"
    with pytest.raises(ConnectionRefusedError):
        egress.connect("none.test", fake_http.port, timeout=5)
    assert tripwire == [] and fake_dns.lookups == []


def test_a_loopback_only_guard_asks_no_dns_server(hosts_file: Path, fake_dns: FakeDNS) -> None:
    """A DNS query leaves the machine, for a name a loopback-only list would refuse anyway: such
    a guard reads the hosts file alone. Before, it asked the system's resolver for any name."""
    fake_dns.set("db.internal", ["127.0.0.9"])
    guard = Egress(action="probe", widen="--allow-host")
    with pytest.raises(EgressDenied) as denied:
        guard.check("db.internal", 5432)
    message = str(denied.value)
    assert f"looked up in {hosts_file} alone" in message and "--allow-host" in message, message
    hosts_file.write_text(
        "# comment\n127.0.0.5  other db.internal  # the API's database\n10.9.9.9 far.internal\n"
    )
    assert guard.check("DB.internal", 5432).addresses == ("127.0.0.5",)
    with pytest.raises(EgressDenied, match=r"far.internal \(10.9.9.9\): it is outside the allow-list"):
        guard.check("far.internal", 5432)
    # localhost is loopback without the file's word (RFC 6761)
    assert guard.check("localhost", 80).addresses == ("127.0.0.1", "::1")
    assert asyncio.run(guard.check_async("api.localhost", 80)).addresses == ("127.0.0.1", "::1")
    assert fake_dns.lookups == []
    # Once a network is added, names go to the resolver (and each address is checked).
    assert Egress.of([WIDENED]).check("db.internal", 5432).addresses == ("127.0.0.9",)
    assert fake_dns.lookups == ["db.internal"]


def test_a_name_on_the_command_line_is_not_looked_up_in_dns_by_default(
    hosts_file: Path, fake_dns: FakeDNS, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--prometheus", "http://prometheus.internal:9090"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sloctl status: cannot query Prometheus at prometheus.internal:"), err
    assert "--allow-host" in err and fake_dns.lookups == []


def test_an_ipv4_mapped_loopback_address_is_loopback(
    tripwire: list[object], fake_http: FakeHttp, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--prometheus", fake_http.url("[::ffff:127.0.0.1]")]) == 0, capsys.readouterr()
    assert fake_http.hosts == [f"[::ffff:127.0.0.1]:{fake_http.port}"] * len(fake_http.hosts)
    assert tripwire == []


def test_status_refusals_name_status_and_its_own_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--prometheus", "ftp://127.0.0.1:9090"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sloctl status: --prometheus must be an http(s) URL") and "--host" not in err
    assert main(["status", "--prometheus", "http://192.0.2.7:9090"]) == 2
    err = capsys.readouterr().err
    assert "refusing to query Prometheus at 192.0.2.7" in err and "load-test" not in err
    assert "--allow-host" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--prometheus", "http://127.0.0.1:9", "--for", "1s"],
        ["status", "--prometheus", "http://127.0.0.1:9"],
        ["loadtest", "steady", "--host", "http://127.0.0.1:9", "--duration", "1s"],
    ],
    ids=lambda argv: argv[0],
)
def test_an_allow_host_that_is_not_a_network_is_a_usage_error_before_any_work(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``serve --allow-host zz`` was an EgressDenied traceback once the server was being built."""
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--allow-host", "zz"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --allow-host: 'zz' is not a network; give a CIDR such as 10.0.0.0/8" in err


LOCUSTFILE = '''\
"""A Locust scenario with fake DNS and a tripwire in the Locust process itself (the test's
own fakes do not cross into it). Gevent's resolver and sockets are what the users use."""
import ipaddress, json, os, socket

import gevent.socket

ANSWERS = json.loads(os.environ["SLOCTL_TEST_FAKE_DNS"])
_real = gevent.socket.getaddrinfo


def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    name = host.decode() if isinstance(host, bytes) else str(host)
    queue = ANSWERS.get(name)
    if queue is None:  # literals only: a name not in the table fails, it is never looked up
        return _real(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
    answer = queue.pop(0) if len(queue) > 1 else queue[0]
    return [r for a in answer for r in _real(a, port, family, type, proto, flags | socket.AI_NUMERICHOST)]


socket.getaddrinfo = gevent.socket.getaddrinfo = getaddrinfo
_connect = gevent.socket.socket.connect


def connect(self, address):
    if isinstance(address, tuple) and not ipaddress.ip_address(address[0].split("%")[0]).is_loopback:
        with open(os.environ["SLOCTL_TEST_TRIPWIRE"], "a") as fh:
            fh.write(address[0] + "\\n")
        raise ConnectionRefusedError(111, "refused by the test's tripwire (off loopback)")
    return _connect(self, address)


gevent.socket.socket.connect = connect

from sloctl.loadtest.locustlib import PlatformUser  # noqa: E402,F401  (the user and the hooks)
'''


@pytest.mark.servers
@pytest.mark.slow
def test_dns_rebinding_cannot_move_the_locust_users(
    fake_dns: FakeDNS, tmp_path: Path, platform_api: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sloctl.loadtest import RunOptions, run_scenario

    port = urlsplit(platform_api.url).port
    fake_dns.set("rebind.test", ["127.0.0.1"])  # what the CLI's own check sees
    # In the Locust process: loopback first, then outside for every later lookup.
    monkeypatch.setenv("SLOCTL_TEST_FAKE_DNS", json.dumps({"rebind.test": [["127.0.0.1"], [OUTSIDE]]}))
    tripwire = tmp_path / "tripwire.txt"
    monkeypatch.setenv("SLOCTL_TEST_TRIPWIRE", str(tripwire))
    scenario = tmp_path / "rebind.py"
    scenario.write_text(LOCUSTFILE)
    options = RunOptions(
        host=f"http://rebind.test:{port}",
        duration=6,
        users=2,
        user_rps=5,
        max_requests=40,
        allow=("127.0.0.0/8", "::1/128", WIDENED),  # past loopback: names go to the resolver
    )
    stats = run_scenario(scenario, options, workdir=tmp_path / "run")
    answered = sum(r.num_requests - r.num_failures for r in stats.routes)
    assert answered > 0, stats  # the users reached the API at the address checked at start
    assert not tripwire.exists(), tripwire.read_text()
