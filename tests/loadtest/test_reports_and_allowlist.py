"""Reports (table, JSON, self-contained HTML with SVG plots) and the host allow-list."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from sloctl.cli.main import main
from sloctl.egress import EgressDenied
from sloctl.loadtest import Report, RunOptions, RunStats, evaluate, parse_threshold
from sloctl.loadtest.report import render_html, render_json, render_table
from sloctl.loadtest.results import Breakpoint, RouteStats, Sample
from sloctl.loadtest.runner import check_host, parse_results
from tests.fixtures.random_specs import user_catalog


def sample_report() -> Report:
    route = RouteStats("/v1/projects", "GET", 100, 1, 900.0, 40.0, ((5, 90), (40, 10)), 0.0, 10.0)
    run = RunStats(
        routes=(route,),
        samples=tuple(Sample(float(t), 10, 10.0, 0.1, 5, 40, 40) for t in range(1, 11)),
    )
    gates = evaluate([parse_threshold("p(95)<50"), parse_threshold("failure_ratio<0.001")], run)
    return Report("steady", "http://127.0.0.1:8000", 10.0, gates, (), run, "sloctl loadtest steady")


def test_table_marks_each_threshold_and_the_verdict() -> None:
    text = render_table(sample_report())
    assert "PASS    p(95) < 50 ms" in text
    assert "FAIL    failure_ratio < 0.001" in text
    assert text.rstrip().endswith("FAILED: at least one threshold was violated")


def test_json_report_has_thresholds_routes_and_timeseries() -> None:
    data = json.loads(render_json(sample_report()))
    assert data["passed"] is False
    assert [t["passed"] for t in data["thresholds"]] == [True, False]
    assert data["routes"][0]["p95_ms"] == 40
    assert len(data["timeseries"]) == 10


def test_the_report_merges_routes_per_dependency_with_their_own_percentiles() -> None:
    routes = (
        RouteStats("/v1/projects", "GET", 10, 0, 100.0, 30.0, ((5, 9), (30, 1)), 0.0, 10.0),
        RouteStats("/v1/projects/{project_id}", "GET", 10, 0, 100.0, 50.0, ((8, 8), (50, 2)), 0.0, 10.0),
        RouteStats("/v1/cache/{key}", "GET", 20, 0, 40.0, 3.0, ((2, 20),), 0.0, 10.0),
    )
    report = Report("steady", "http://127.0.0.1:8000", 10.0, (), (), RunStats(routes=routes), "")
    groups = {g["name"]: g for g in json.loads(render_json(report))["groups"]}
    assert set(groups) == {"postgres", "redis"}
    # 20 PostgreSQL requests: 9 at 5 ms, 8 at 8 ms, 1 at 30 ms, 2 at 50 ms
    assert (groups["postgres"]["requests"], groups["postgres"]["p50_ms"]) == (20, 8)
    assert (groups["postgres"]["p95_ms"], groups["postgres"]["p99_ms"]) == (50, 50)
    assert groups["redis"]["p99_ms"] == 2
    assert "postgres: 20 requests, p50 8 ms, p95 50 ms, p99 50 ms" in render_table(report)
    assert "<h2>Per dependency</h2>" in render_html(report)


def test_the_report_s_latency_figures_are_the_successes_the_gates_read_with_failures_as_counts() -> None:
    """Before, every route, group and total figure was Locust's over every request: the page
    said p95 200 ms (the failures' time) beside a passed ``p(95) < 50`` on the same run."""
    every = (
        RouteStats("/v1/projects", "GET", 20, 10, 2100.0, 200.0, ((10, 10), (200, 10)), 0.0, 10.0),
        RouteStats("/v1/cache/{key}", "GET", 5, 5, 1000.0, 200.0, ((200, 5),), 0.0, 10.0),
    )
    ok = (RouteStats("/v1/projects", "GET", 10, 0, 100.0, 10.0, ((10, 10),), 0.0, 10.0),)
    run = RunStats(routes=every, succeeded=ok)
    gates = evaluate([parse_threshold("p(95)<50")], run)
    report = Report("steady", "http://127.0.0.1:8000", 10.0, gates, (), run, "")
    data = json.loads(render_json(report))
    assert data["latency_over"] == "successful requests"
    assert (data["total"]["p95_ms"], data["total"]["max_ms"]) == (gates[0].value, 10) == (10, 10)
    assert (data["total"]["requests"], data["total"]["successes"], data["total"]["failures"]) == (25, 10, 15)
    routes = {r["name"]: r for r in data["routes"]}
    assert routes["/v1/projects"]["p95_ms"] == 10 and routes["/v1/projects"]["failure_ratio"] == 0.5
    assert routes["/v1/cache/{key}"]["p95_ms"] is None and routes["/v1/cache/{key}"]["failures"] == 5
    groups = {g["name"]: g for g in data["groups"]}
    assert groups["postgres"]["avg_ms"] == 10 and groups["redis"]["avg_ms"] is None
    text = render_table(report)
    assert "p95 10 ms, p99 10 ms over the 10 successful requests" in text
    assert "redis: 5 requests, 5 failures, p50 -, p95 -, p99 -" in text
    assert "are over the successful requests, as the latency gates read them (10 of 25)" in render_html(
        report
    )
    # Results written before successes were recorded apart: every request, and said so.
    old = json.loads(render_json(Report("steady", "", 10.0, (), (), RunStats(routes=every), "")))
    assert (old["latency_over"], old["total"]["p95_ms"]) == ("every request", 200)


def test_html_report_is_self_contained_with_svg_plots() -> None:
    page = render_html(sample_report())
    assert page.count("<svg") == 2
    assert "Latency percentiles" in page and "Request rate" in page
    assert "<script" not in page
    assert "http://" not in page.replace("http://127.0.0.1:8000", "").replace(
        "http://www.w3.org/2000/svg", ""
    )


def test_results_file_from_locust_is_parsed() -> None:
    data = {
        "stats": [
            {
                "name": "/v1/projects",
                "method": "GET",
                "num_requests": 3,
                "num_failures": 0,
                "total_response_time": 30,
                "max_response_time": 12,
                "response_times": {"9": 1, "10": 1, "12": 1},
                "start_time": 1.0,
                "last_request_timestamp": 2.0,
            }
        ],
        "samples": [
            {"t": 1, "users": 1, "rps": 3, "failures_per_s": 0, "p50_ms": 10, "p95_ms": 12, "p99_ms": 12}
        ],
        "breakpoint": {
            "steps": [{"users": 10, "rps": 50}, {"users": 20, "rps": 95}],
            "broken": {"users": 30, "rps": 99},
        },
        "stopped_by": "max_requests",
    }
    run = parse_results(data)
    assert run.total.percentile(95) == 12
    assert run.breakpoint == Breakpoint(
        held_users=20, held_rps=95, steps=2, broke_at_users=30, broke_at_rps=99
    )
    assert run.stopped_by == "max_requests"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:1", "http://[::1]:80/x"])
def test_loopback_is_allowed_by_default(url: str) -> None:
    assert check_host(url, RunOptions.allow).addresses


@pytest.mark.parametrize(
    "url", ["http://192.0.2.1:80", "http://10.1.2.3", "ftp://127.0.0.1", "127.0.0.1:8000"]
)
def test_anything_else_is_refused_by_default(url: str) -> None:
    with pytest.raises(EgressDenied):
        check_host(url, RunOptions.allow)


def test_an_explicit_allow_list_extends_the_reach() -> None:
    assert check_host("http://192.0.2.1:80", ("192.0.2.0/24",)).addresses == ("192.0.2.1",)


def test_cli_refuses_a_non_loopback_host_with_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(
        [
            "loadtest",
            "steady",
            "--threshold",
            "p(95)<200",
            "--host",
            "http://192.0.2.1:80",
            "--report-dir",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "allow-list" in capsys.readouterr().err


def test_cli_refuses_bad_thresholds_and_unknown_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["loadtest", "steady", "--threshold", "p95<200", "--host", "http://127.0.0.1:1"]) == 2
    assert "cannot parse threshold" in capsys.readouterr().err
    assert main(["loadtest", "nope", "--threshold", "p(95)<200", "--host", "http://127.0.0.1:1"]) == 2
    assert "unknown scenario" in capsys.readouterr().err
    assert main(["loadtest", "steady", "--host", "http://127.0.0.1:1"]) == 2
    assert "no thresholds" in capsys.readouterr().err


def test_cli_refuses_more_workers_than_cores_and_a_report_folder_it_cannot_make(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both before any load is sent: the flag named, exit 2, no traceback."""
    flags = ["loadtest", "steady", "--threshold", "p(95)<200", "--host", "http://127.0.0.1:1"]
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert main([*flags, "--processes", "3", "--report-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "--processes 3: give 0 to 2, this machine's CPU cores (0: one process)" in err
    blocker = tmp_path / "a file"
    blocker.write_text("")
    assert main([*flags, "--report-dir", str(blocker / "reports")]) == 2
    err = capsys.readouterr().err
    assert f"--report-dir {blocker / 'reports'}: cannot make that folder (Not a directory)" in err
    assert "Traceback" not in err and "against" not in err, "refused before the run's banner"


def test_cli_names_every_load_flag_out_of_bounds_at_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Before: "users, spawn rate and per-user rate must be positive", one problem a run, no flag
    (and the default report folder was left behind, empty)."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.chdir(tmp_path)
    flags = ["loadtest", "steady", "--threshold", "p(95)<200", "--host", "http://127.0.0.1:1"]
    bad = {
        "--duration": ("99d", "more than 0 and at most 1d"),
        "--users": ("0", "1 to 1,000 (what one machine's Locust drives"),
        "--spawn-rate": ("inf", "a number above 0 and at most 1,000,000"),
        "--user-rps": ("-2", "a number above 0 and at most 1,000,000"),
        "--rate": ("nan", "a number from 0 to 1,000,000"),
        "--max-requests": ("-5", "0 to 86,400,000,000 (0: no limit; the most a run sends"),
        "--processes": ("3", "0 to 2, this machine's CPU cores"),
    }
    assert main([*flags, *(x for flag, (value, _) in bad.items() for x in (flag, value))]) == 2
    err = capsys.readouterr().err
    for flag, (value, expected) in bad.items():
        assert f"{flag} {value}: give {expected}" in err, flag
    assert "Traceback" not in err and "against" not in err, "refused before the run's banner"
    assert not (tmp_path / "loadtest-report").exists()


def test_the_slos_of_a_load_test_are_read_with_the_project_file_beside_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    slos = tmp_path / "slos"
    (slos / "drafts").mkdir(parents=True)
    (slos / "gates.yaml").write_text((Path(__file__).parent / "slos" / "gates.yaml").read_text())
    (slos / "drafts" / "wip.yaml").write_text("kind: Service\n")  # not an SLO file yet
    argv = ["loadtest", "steady", "--slos", str(slos), "--host", "http://192.0.2.1:80"]
    assert main([*argv, "--report-dir", str(tmp_path / "r1")]) == 1  # the draft is read, as generate would
    assert f"{slos / 'drafts' / 'wip.yaml'}:1:1" in capsys.readouterr().err
    (slos / "sloctl.yaml").write_text("apiVersion: sloctl/v1\nkind: Project\nexclude: ['drafts/**']\n")
    # Past the SLO files now: the thresholds they give are there, and the host is what is refused.
    assert main([*argv, "--report-dir", str(tmp_path / "r2")]) == 2
    assert "allow-list" in capsys.readouterr().err


def test_the_slos_of_a_load_test_may_need_a_window_catalog_from_windows(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    slos, catalogs = tmp_path / "slos", tmp_path / "catalogs"
    slos.mkdir()
    catalogs.mkdir()
    gates = (Path(__file__).parent / "slos" / "gates.yaml").read_text()
    assert gates.count("period: 30d") > 1
    (slos / "gates.yaml").write_text(gates.replace("period: 30d", "period: 10d"))
    (catalogs / "10d.yaml").write_text(yaml.safe_dump(user_catalog("10d")))
    argv = ["loadtest", "steady", "--slos", str(slos), "--host", "http://192.0.2.1:80"]
    assert main([*argv, "--report-dir", str(tmp_path / "r1")]) == 1
    assert "no burn-rate windows catalog for a 10d" in capsys.readouterr().err
    assert main([*argv, "--windows", str(catalogs), "--report-dir", str(tmp_path / "r2")]) == 2
    assert "allow-list" in capsys.readouterr().err  # past the SLO files: the host is what is refused
