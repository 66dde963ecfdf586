"""Your own Locust file as SCENARIO, in real runs against a loopback service: a plain Locust
file (no sloctl import) is gated like a bundled scenario, its report counting what the service
served; a file that does not compile is a usage error at its line, before any request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sloctl.cli.main import main
from tests.fixtures.stub_http import serve, text

PLAIN_LOCUST_FILE = """
from locust import HttpUser, constant, task


class Plain(HttpUser):
    wait_time = constant(0.05)

    @task
    def ok(self) -> None:
        self.client.get("/ok")
"""


@pytest.mark.slow
@pytest.mark.waits
def test_a_plain_locust_file_is_gated_and_its_report_counts_what_the_service_served(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plain.py").write_text(PLAIN_LOCUST_FILE)
    report_dir = tmp_path / "report"
    with serve(lambda _request: text("ok")) as stub:
        argv = ["loadtest", str(tmp_path / "plain.py"), "--host", stub.url, "--duration", "20s"]
        argv += ["--users", "2", "--max-requests", "30", "--report-dir", str(report_dir)]
        code = main([*argv, "--threshold", "failure_ratio<0.01", "--threshold", "p(95)<1000"])
        served = sum(1 for r in stub.requests if r.path == "/ok")
    captured = capsys.readouterr()
    # Before, Locust ran the whole file and sloctl found no results: "Locust exited with code 0
    # without results; log tail: (empty)", exit 1.
    assert code == 0, captured.err
    report = json.loads((report_dir / "report.json").read_text())
    assert report["stopped_by"] == "max_requests", report
    assert report["total"]["requests"] == served >= 30, (report["total"], served)
    assert all(t["passed"] for t in report["thresholds"]), report["thresholds"]


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
