"""Real Locust runs against the testbed with its real databases, gated by the SLOs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sloctl.cli.main import main
from sloctl.servers import PostgresServer
from sloctl.testbed_runner import ApiServer

SLOS = str(Path(__file__).parent / "slos")
PLATFORM_SLOS = str(Path(__file__).resolve().parents[2] / "slos")

pytestmark = [pytest.mark.servers, pytest.mark.slow, pytest.mark.waits]


#: ``run(scenario, **flags)``: the exit code, what it printed and the report it wrote
LoadTest = Callable[..., tuple[int, str, dict[str, Any]]]


@pytest.fixture
def loadtest(platform_api: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> LoadTest:
    """``sloctl loadtest <scenario> --host <the platform API> --<flag> <value>… --report-dir
    <tmp_path>``."""

    def run(scenario: str, **flags: object) -> tuple[int, str, dict[str, Any]]:
        argv = ["loadtest", scenario, "--host", platform_api.url, "--report-dir", str(tmp_path)]
        for flag, value in flags.items():
            argv += [f"--{flag}", str(value)]
        code = main(argv)
        out = capsys.readouterr().out
        assert (tmp_path / "report.json").is_file(), out
        return code, out, json.loads((tmp_path / "report.json").read_text())

    return run


def _load_test_schemas(postgres: PostgresServer) -> list[str]:
    with psycopg.connect(postgres.dsn) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'project_lt%' ORDER BY 1"
        ).fetchall()
    return [str(r[0]) for r in rows]


def test_a_30_second_steady_load_test_holds_the_slos_and_leaves_nothing_behind(
    platform_api: ApiServer,
    postgres_server: PostgresServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = _load_test_schemas(postgres_server)
    # The default report folder, from where the user ran the command (not Locust's folder).
    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "loadtest",
            "steady",
            "--slos",
            PLATFORM_SLOS,
            "--slos",
            SLOS,
            "--host",
            platform_api.url,
            "--duration",
            "30s",
            "--users",
            "10",
            "--user-rps",
            "5",
        ]
    )
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, out
    _assert_progress_with_figures(captured.err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loadtest-report"]
    assert not list((tmp_path / "loadtest-report").glob("*.live*"))  # the progress file is gone
    report = json.loads((tmp_path / "loadtest-report" / "report.json").read_text())
    assert report["passed"] is True
    # slos/ (per dependency and per operation) and the route-level fixture
    assert len(report["thresholds"]) == 15
    scopes = {t["route"] or t["dependency"] or "all" for t in report["thresholds"]}
    assert scopes >= {"all", "postgres", "redis", "mongodb", "/v1/projects"}
    assert {t["source"] for t in report["thresholds"]} >= {
        "SLO platform-api-availability",
        "SLO platform-api-latency",
    }
    # ~50 req/s offered for 30 s; every route was exercised
    assert 900 <= report["total"]["requests"] <= 1800
    assert len(report["routes"]) == 8
    assert report["total"]["failures"] == 0
    assert len(report["timeseries"]) >= 20
    assert {g["name"] for g in report["groups"]} == {"postgres", "redis", "mongodb"}
    assert "<svg" in (tmp_path / "loadtest-report" / "report.html").read_text()
    assert "PASSED" in out
    # each of the 10 users provisioned at least one project; every one was deprovisioned
    created = [r for r in report["routes"] if (r["method"], r["name"]) == ("POST", "/v1/projects")]
    assert created[0]["requests"] >= 10
    assert _load_test_schemas(postgres_server) == before


def test_distributed_mode_with_two_workers_and_a_violated_gate_exits_1(loadtest: LoadTest) -> None:
    # 4 users at 10 requests/s each: the 200 requests in some 5 s (at the default 5/s, 10 s)
    flags = {"slos": SLOS, "duration": "20s", "processes": 2, "users": 4, "user-rps": 10, "max-requests": 200}
    code, out, report = loadtest("steady", threshold="max<0.5", **flags)
    assert code == 1, out
    assert report["run"] == {"distributed": "True", "workers": "2"}
    assert report["stopped_by"] == "max_requests"
    assert 200 <= report["total"]["requests"] < 400
    failed = [t for t in report["thresholds"] if not t["passed"]]
    assert [t["expression"] for t in failed] == ["max < 0.5"]
    assert "FAIL    max < 0.5" in out


def test_breakpoint_steps_up_until_a_gate_breaks(loadtest: LoadTest) -> None:
    # p(50) <= 1 ms breaks at once: the shape must stop at the first measured step, and the
    # search found its point (exit 0; before, exit 1 as for a violated gate). Steps of 2 s: the
    # first step's some 50 requests judge p(50) as 5 s of them would.
    flags = {"duration": "30s", "users": 5, "threshold": "p(50)<=1", "breakpoint-step": "2s"}
    code, out, report = loadtest("breakpoint", **flags)
    assert code == 0, out
    assert report["breakpoint"]["broke_at_users"] == 5
    assert report["total"]["requests"] > 0


def test_spike_scenario_runs_five_times_the_users_in_the_middle(loadtest: LoadTest) -> None:
    code, out, report = loadtest("spike", duration="10s", users=2, threshold="failure_ratio<=0.001")
    assert code == 0, out
    users = [s["users"] for s in report["timeseries"]]
    assert max(users) == 10
    assert users[0] == 2


def test_the_constant_rate_scenario_offers_its_rate_and_tells_server_time_from_client_delay(
    loadtest: LoadTest,
) -> None:
    code, out, report = loadtest("constant", rate=40, threshold="failure_ratio<0.01", duration="8s")
    assert code == 0, out
    # the open model: 40 arrivals/s for 8 s whatever the latency (plus the user's start-up calls)
    assert 280 <= report["total"]["requests"] <= 360, report["total"]
    assert report["arrivals"]["dropped"] == 0
    # The arrivals start with the run: before, after the first backup's dump had ended, and the
    # first second offered one request (the run then overran its 8 s by as much).
    assert report["timeseries"][0]["rps"] >= 20, report["timeseries"][:2]
    lag, server = report["arrivals"]["lag_ms"], report["server_side_ms"]
    assert lag["p50"] <= lag["p95"] <= lag["p99"]
    # the API's own time is part of what the client waited for
    assert server["p50"] <= report["total"]["p50_ms"]
    assert "server-side (Server-Timing): p50" in out and "arrival lag" in out


def _assert_progress_with_figures(err: str) -> None:
    """The time run, every 10 s while Locust runs (30 s passed in silence before), with the
    figures so far (it said the time alone): 10 users at 5 rps each, some hundreds of requests."""
    said = re.search(r"running: 20 of 30 s, ([\d,]+) requests, ([\d.]+)% failed, p95 (\d+) ms", err)
    assert said is not None, err
    requests, failed, p95 = int(said[1].replace(",", "")), float(said[2]), int(said[3])
    assert 100 <= requests <= 1_500 and failed < 1 and 0 < p95 < 200, said[0]
