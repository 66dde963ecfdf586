"""What Locust's process may reach, whoever asks: an absolute URL or a redirect outside the
allow-list fails its request with the address and ``--allow-host`` named, and never connects,
from ``HttpUser`` (requests) and ``FastHttpUser`` (geventhttpclient) alike. The run's
allow-list leaves 127.0.0.2 out (``RunOptions.allow``), where a second stub stands for a host
outside: loopback, so that nothing leaves the machine even on the old code."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from sloctl.cli.main import main
from sloctl.loadtest import RunOptions, run_scenario
from sloctl.loadtest.runner import _locust_command
from tests.fixtures.stub_http import Answer, StubRequest, serve, text

#: the run's allow-list: 127.0.0.1 alone (and ::1), so that 127.0.0.2 is "outside"
INSIDE = ("127.0.0.1/32", "::1/128")

ESCAPING_LOCUST_FILE = """
import os

from locust import FastHttpUser, HttpUser, constant, task

OUTSIDE = os.environ["SLOCTL_TEST_OUTSIDE"]


class Fast(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def visit(self) -> None:
        self.client.get("/ok", name="fast /ok")
        self.client.get(OUTSIDE + "/absolute", name="fast absolute")
        self.client.get("/redirect", name="fast redirect")


class Plain(HttpUser):
    wait_time = constant(0.05)

    @task
    def visit(self) -> None:
        self.client.get("/ok", name="plain /ok")
        self.client.get(OUTSIDE + "/absolute", name="plain absolute")
        self.client.get("/redirect", name="plain redirect")
"""


@pytest.mark.slow
@pytest.mark.waits
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


BOTH_CLIENTS_LOCUST_FILE = """
from locust import FastHttpUser, HttpUser, constant, task


class Fast(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def ok(self) -> None:
        self.client.get("/ok", name="fast")


class Plain(HttpUser):
    wait_time = constant(0.05)

    @task
    def ok(self) -> None:
        self.client.get("/ok", name="plain")
"""

PASSWORD = "s3cret-hunter2"


@pytest.mark.slow
@pytest.mark.waits
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
    written.append(" ".join(_locust_command(tmp_path / "both.py", RunOptions(host=host, duration=10))))
    assert not [text for text in (captured.out, captured.err, *written) if PASSWORD in text]
