"""The library's load-test session (what ``sloctl loadtest`` calls): why a request aborts, and
which exit code the CLI makes of it."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import sloctl.loadtest.runner
from sloctl.cli.main import main
from sloctl.loadtest.results import RouteStats, RunStats, evaluate
from sloctl.loadtest.thresholds import parse_threshold
from tests.fixtures.stub_http import STOP_POLL_SECONDS


@pytest.fixture
def answering() -> Iterator[str]:
    """A loopback HTTP server that answers anything (404): something listens at --host."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, args=(STOP_POLL_SECONDS,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_slo_files_that_do_not_load_are_printed_as_every_command_prints_them_and_nothing_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: sloctl/v1\nkind: SLO\nmetadata: {}\n")
    argv = ["loadtest", "steady", "--slos", str(bad), "--host", "http://127.0.0.1:1"]
    assert main([*argv, "--report-dir", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}:") and err.endswith(" error(s) in 1 file(s)\n"), err
    assert "sloctl loadtest: steady against" not in err and not (tmp_path / "r").exists()


def test_a_locust_file_that_cannot_start_fails_the_run_with_exit_1_not_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], answering: str
) -> None:
    scenario = tmp_path / "broken.py"
    scenario.write_text("raise SystemExit(3)\n")
    code = main(
        ["loadtest", str(scenario), "--threshold", "p(95)<200", "--host", answering,
         "--duration", "2s", "--report-dir", str(tmp_path / "r")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert f"sloctl loadtest: broken against {answering} for 2 s (1 threshold(s))" in err
    assert "sloctl loadtest: Locust exited with code" in err
    assert not (tmp_path / "r" / "report.json").exists()


@pytest.fixture
def silent() -> Iterator[str]:
    """A loopback port that takes connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("where", ["refused", "silent"])
def test_a_host_where_nothing_answers_stops_before_any_load_with_a_usage_error(
    where: str,
    silent: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It ran the whole load before (335 requests, 335 failures, the latency gates PASS)."""
    monkeypatch.setattr(sloctl.loadtest.runner, "PREFLIGHT_TIMEOUT", 0.5)
    host = _closed_port() if where == "refused" else silent
    argv = ["loadtest", "steady", "--threshold", "p(95)<200", "--host", host, "--duration", "2s"]
    assert main([*argv, "--report-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    (line,) = err.splitlines()
    said = "nothing listens there" if where == "refused" else "no answer within 0.5 s"
    assert line.startswith(f"sloctl loadtest: --host {host}: {said}"), err
    assert not (tmp_path / "r" / "report.json").exists() and "against" not in err


@pytest.mark.parametrize(
    ("threshold", "hint"),
    [
        ("/v1/project:p(99)<300", "did you mean /v1/projects?"),
        ("GET /v1/documents:failure_ratio<0.01", "did you mean POST /v1/documents?"),
    ],
)
def test_a_threshold_on_a_route_the_bundled_scenarios_never_request_is_refused_before_any_load(
    threshold: str, hint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], answering: str
) -> None:
    """Before, the whole run went (a soak's 10 minutes) to end in FAIL 'no requests to …'."""
    argv = ["loadtest", "steady", "--threshold", "p(95)<200", "--threshold", threshold]
    code = main([*argv, "--host", answering, "--duration", "2s", "--report-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2, err
    (line,) = err.splitlines()
    assert line.startswith(f"sloctl loadtest: --threshold '{threshold}': the steady scenario sends no "), err
    assert line.endswith(hint), err
    assert "against" not in err and not (tmp_path / "r").exists()


def test_latency_gates_are_not_measured_when_no_request_succeeded() -> None:
    """A failed connection's time is not the API's latency: such gates never pass on it."""
    failed = RouteStats("/v1/projects", "GET", 335, 335, 335.0, 2.0, ((1, 335),), 0.0, 30.0)
    gates = evaluate(
        [parse_threshold(t) for t in ("p(95)<200", "avg<50", "max<1000", "failure_ratio<0.01")],
        RunStats((failed,)),
    )
    assert [(g.passed, g.value, g.note) for g in gates[:3]] == [
        (False, None, "not measured: no request succeeded")
    ] * 3
    assert gates[3].value == 1.0 and not gates[3].passed
