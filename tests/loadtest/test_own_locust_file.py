"""Your own Locust file as SCENARIO, in real runs against a loopback service: a plain Locust
file (no sloctl import) is gated like a bundled scenario, its report counting what the service
served, its users sending the host name given and reaching only checked addresses; the gates
over all requests leave out the operational routes it polls; a file that does not compile is a
usage error at its line, before any request."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sloctl.cli.main import main
from sloctl.contract import OPERATIONAL_PATHS, READINESS_PATH
from sloctl.loadtest import LoadtestError, RunOptions, run_scenario
from tests.fixtures.locust_files import locust_file, real_locust_run, run_locust_file
from tests.fixtures.stub_http import Answer, StubRequest, serve, text

PLAIN_LOCUST_FILE = """
from locust import HttpUser, constant, task


class Plain(HttpUser):
    wait_time = constant(0.05)

    @task
    def ok(self) -> None:
        self.client.get("/ok")
"""


@real_locust_run
def test_a_plain_locust_file_is_gated_and_its_report_counts_what_the_service_served(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plain.py").write_text(PLAIN_LOCUST_FILE)
    report_dir = tmp_path / "report"
    with serve(lambda _request: text("ok")) as stub:
        host = f"http://localhost:{stub.port}"
        argv = ["loadtest", str(tmp_path / "plain.py"), "--host", host, "--duration", "20s"]
        argv += ["--users", "2", "--max-requests", "30", "--report-dir", str(report_dir)]
        code = main([*argv, "--threshold", "failure_ratio<0.01", "--threshold", "p(95)<1000"])
        served = sum(1 for r in stub.requests if r.path == "/ok")
        hosts = {r.headers.get("Host") for r in stub.requests if r.path == "/ok"}
    captured = capsys.readouterr()
    # Before, Locust ran the whole file and sloctl found no results: "Locust exited with code 0
    # without results; log tail: (empty)", exit 1.
    assert code == 0, captured.err
    report = json.loads((report_dir / "report.json").read_text())
    assert report["stopped_by"] == "max_requests", report
    assert report["total"]["requests"] == served >= 30, (report["total"], served)
    assert all(t["passed"] for t in report["thresholds"]), report["thresholds"]
    # The plain HttpUser sends the name given, as FastHttpUser and sloctl's own users do. Before:
    # 'Host: 127.0.0.1:PORT', the address the guard checked and pinned.
    assert hosts == {f"localhost:{stub.port}"}, hosts


def test_a_locust_file_that_does_not_compile_is_a_usage_error_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from locust import HttpUser\n\nclass Broken(HttpUser:\n    pass\n")
    with serve(lambda _request: text("ok")) as stub:
        argv = ["loadtest", str(bad), "--host", stub.url, "--threshold", "p(95)<200"]
        code = main([*argv, "--report-dir", str(tmp_path / "report")])
    err = capsys.readouterr().err
    # Before: exit 1 after Locust started, with its traceback.
    assert code == 2, err
    assert f"{bad}:3:" in err and "SyntaxError" not in err.split(f"{bad}:3:")[0], err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert stub.requests == [] and not (tmp_path / "report").exists()


OPERATIONAL_LOCUST_FILE = locust_file("/slow", *OPERATIONAL_PATHS, wait="constant(0.01)")


def _slow_api(request: StubRequest) -> Answer:
    if request.path == "/slow":
        time.sleep(0.03)  # real timer: the API's own 30 ms; its operational routes answer at once
    return Answer(b"ok", status=503 if request.path == READINESS_PATH else 200)


@real_locust_run
def test_gates_over_all_requests_leave_out_the_operational_routes_a_locust_file_polls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--duration", "20s", "--users", "2", "--max-requests", "120"]
    flags += [
        "--threshold",
        "p(50)<=20",
        "--threshold",
        "failure_ratio<=0",
        "--threshold",
        "/healthz:p(50)<=20",
    ]
    code, report = run_locust_file(tmp_path, OPERATIONAL_LOCUST_FILE, _slow_api, *flags)
    out = capsys.readouterr().out
    gates = {t["expression"] + " " + t["scope"]: t for t in report["thresholds"]}
    # Three requests of four went to /healthz, /readyz (503: the databases are "down") and
    # /metrics: before, they made the all-requests p50 a few ms and their 503s failures.
    assert not gates["p(50) <= 20 all requests"]["passed"], gates
    assert gates["p(50) <= 20 all requests"]["value"] > 30, gates
    assert gates["failure_ratio <= 0 all requests"]["passed"], gates
    assert gates["p(50) <= 20 /healthz"]["passed"], gates  # a gate on one of them by name judges it
    routes = {r["name"]: r["requests"] for r in report["routes"]}
    left_out = sum(routes[p] for p in OPERATIONAL_PATHS)
    assert report["total"]["requests"] == routes["/slow"] > 0, (report["total"], routes)
    assert report["aggregate_leaves_out"] == {"routes": list(OPERATIONAL_PATHS), "requests": left_out}
    assert left_out > routes["/slow"], routes
    assert f"leave out /healthz, /readyz, /metrics ({left_out} requests)" in out, out
    assert code == 1, out


def test_the_guard_in_locust_s_process_checks_every_address_the_host_resolves_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plain file run with a hosts file (test scaffolding, read in Locust's process alone)
    where ``localhost`` is loopback and 192.0.2.7 too: the run is refused there, no user sends
    a request, though the CLI's own check (the real hosts file) passed."""
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n192.0.2.7 localhost\n")
    monkeypatch.setenv("SLOCTL_TEST_HOSTS", str(hosts))
    scaffold = "import os, pathlib, sloctl.egress\n"
    scaffold += "sloctl.egress.HOSTS_FILE = pathlib.Path(os.environ['SLOCTL_TEST_HOSTS'])\n"
    (tmp_path / "plain.py").write_text(scaffold + PLAIN_LOCUST_FILE)
    with serve(lambda _request: text("ok")) as stub:
        options = RunOptions(host=f"http://localhost:{stub.port}", duration=10, users=1, max_requests=5)
        with pytest.raises(LoadtestError, match=r"refusing to load-test localhost \(192\.0\.2\.7\)"):
            run_scenario(tmp_path / "plain.py", options, workdir=tmp_path / "run")
        assert [r.path for r in stub.requests] == []


POLLING_LOCUST_FILE = """
from locust import FastHttpUser, constant, task


class Poller(FastHttpUser):
    wait_time = constant(0.25)

    @task
    def visit(self) -> None:
        for path in ("/ok", "/healthz", "/readyz", "/metrics"):
            self.client.get(path)
"""


@real_locust_run
def test_max_requests_counts_what_the_aggregate_counts_not_the_operational_routes(tmp_path: Path) -> None:
    flags = ["--duration", "20s", "--users", "1", "--max-requests", "12", "--threshold", "failure_ratio<=0"]
    code, report = run_locust_file(tmp_path, POLLING_LOCUST_FILE, lambda _request: text("ok"), *flags)
    assert report["stopped_by"] == "max_requests", report
    # Before: it stopped once all four routes together made 12, about 4 of them to /ok.
    assert report["total"]["requests"] >= 12, report["total"]
    assert report["aggregate_leaves_out"]["requests"] >= 3 * (report["total"]["requests"] - 1)
    assert code == 0


@real_locust_run
def test_max_requests_stops_the_run_at_its_bound_not_a_second_of_load_later(tmp_path: Path) -> None:
    """Users without a wait against a service answering at once (hundreds of requests a second):
    before, the bound was checked once a second with the samples, and the run went on hundreds of
    requests past it."""
    flags = ["--duration", "20s", "--users", "2", "--max-requests", "50", "--threshold", "failure_ratio<=0"]
    code, report = run_locust_file(tmp_path, locust_file("/ok"), lambda _request: text("ok"), *flags)
    assert code == 0 and report["stopped_by"] == "max_requests", report["stopped_by"]
    # the bound, and what the other user finished before the quit took effect
    assert 50 <= report["total"]["requests"] <= 55, report["total"]
