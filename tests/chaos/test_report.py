"""The figures a game-day report reads from Prometheus (time to detect, the detection deadline,
budget consumed), against a stub of the Prometheus HTTP API on loopback, and the HTML report."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from sloctl import naming
from sloctl.chaos.detection import detection_figures
from sloctl.chaos.gameday import run_gameday
from sloctl.chaos.ledger import LEDGER
from sloctl.chaos.report import write_reports
from sloctl.chaos.result import GamedayResult
from sloctl.masking import Masker
from sloctl.prometheus import Prometheus
from sloctl.reports.gameday import figure, render_html
from sloctl.serve import App, ServeConfig
from sloctl.serve.runs import find_runs
from tests.chaos.results import completed_run
from tests.fixtures.experiments import TINY
from tests.fixtures.stub_http import Answer, StubRequest, prometheus_answer, serve, vector
from tests.paths import ROOT

START = 1_800_000_000.0
ALERT = "PlatformApiPostgresAvailabilityBudgetBurn"
BUDGET = {
    "service": "platform-api",
    "slo": "availability",
    "error_query": "sum(rate(errors[{{.window}}]))",
    "total_query": "sum(rate(requests[{{.window}}]))",
}


class _Prometheus:
    """The scripted Prometheus: its ALERTS series, the budget left, every query asked."""

    #: epoch seconds at which ALERTS has a firing sample (range queries)
    firing_at: ClassVar[list[float]] = []
    queries: ClassVar[list[dict[str, str]]] = []
    #: sloctl:period_error_budget_remaining:ratio
    remaining: ClassVar[float] = 1.0


def _answer(request: StubRequest) -> Answer:
    params = request.query
    _Prometheus.queries.append(params)
    if request.path.endswith("/rules"):  # the gate reads its SLO's rules' health: all evaluate
        return prometheus_answer({"groups": []})
    query = params["query"]
    if request.path.endswith("/query_range"):
        values = [
            [t, "1"] for t in _Prometheus.firing_at if float(params["start"]) <= t <= float(params["end"])
        ]
        return prometheus_answer({"resultType": "matrix", "result": [{"metric": {}, "values": values}]})
    if query.startswith(("max by", "min by", "ALERTS")):
        # sloctl.status / sloctl gate: per-SLO series of the generated rules (the budget left by
        # its least group, the rest by the most)
        slo = {naming.LABEL_ID: "platform-api-availability", naming.LABEL_SERVICE: "platform-api",
               naming.LABEL_SLO: "availability"}  # fmt: skip
        series = {
            naming.SLO_INFO: 1.0,
            naming.BUDGET_REMAINING: _Prometheus.remaining,
            naming.NO_DATA: 0.0,
            naming.CURRENT_BURN_RATE: 0.1,
            naming.PERIOD_BURN_RATE: 1 - _Prometheus.remaining,
        }
        found = [v for name, v in series.items() if f"({name})" in query]
        return vector(*((slo, found[0]) for _ in found[:1]), at=START)
    value = {
        naming.PERIOD_SECONDS: 2592000.0,
        naming.ERROR_BUDGET: 0.001,
        naming.BUDGET_REMAINING: _Prometheus.remaining,
    }.get(query.split("{")[0])
    if value is None:
        value = 0.5 if query.startswith("sum(rate(errors") else 50.0
    return vector(({}, value), at=START)


@pytest.fixture
def prometheus() -> Iterator[str]:
    _Prometheus.queries = []
    with serve(_answer) as stub:
        yield stub.url


def result() -> GamedayResult:
    """A passed 20 s run whose fault was confirmed 4 s in."""
    return completed_run(
        "connection-loss",
        phases={"baseline": [0.0, 2.0], "inject": [2.0, 12.0], "recover": [12.0, 20.0]},
        breaker_open_s=3.0,
        time_to_recover_s=2.5,
        expected_alerts=[ALERT],
        duration_s=20.0,
        fault_at_s=4.0,
    )


def test_time_to_detect_is_the_first_firing_after_the_fault_and_budget_is_burn_times_length(
    prometheus: str,
) -> None:
    _Prometheus.firing_at = [START + 7.0, START + 8.0]
    report = result()
    detection_figures(
        report, {"prometheus_url": prometheus, "detection_deadline_seconds": 30}, {"budget": BUDGET}, START
    )
    assert report.verdict == "pass"
    assert report.time_to_detect_s == 3.0 and report.alerts[ALERT] == "fired 3.0 s after the fault"
    # 1 % errors over a 0.1 % budget (10x) for 20 s of a 30-day period
    assert report.budget_consumed_percent == pytest.approx(100 * 10 * 20 / 2592000, abs=1e-6)
    assert {"query": "sum(rate(errors[20s]))", "time": f"{START + 20:.3f}"} in _Prometheus.queries
    page = render_html(report)
    assert "fired 3.0 s after the fault" in page and ">page</text>" in page


def test_a_page_that_did_not_fire_within_the_deadline_fails_the_game_day(prometheus: str) -> None:
    _Prometheus.firing_at = [START + 19.0]  # 15 s after the fault
    report = result()
    detection_figures(report, {"prometheus_url": prometheus, "detection_deadline_seconds": 10}, {}, START)
    assert report.verdict == "fail"
    assert report.reasons == [
        f"expected alert {ALERT} did not fire within 10 s of the fault: fired 15.0 s after the fault"
    ]
    _Prometheus.firing_at = []
    report = result()
    detection_figures(report, {"prometheus_url": prometheus, "detection_deadline_seconds": 10}, {}, START)
    assert report.verdict == "fail" and report.alerts[ALERT] == "did not fire"
    assert report.time_to_detect_s is None


def test_without_a_deadline_detection_is_reported_not_judged(prometheus: str) -> None:
    _Prometheus.firing_at = []
    report = result()
    detection_figures(report, {"prometheus_url": prometheus}, {}, START)
    assert report.verdict == "pass" and report.alerts[ALERT] == "did not fire"


def test_an_alert_already_firing_before_the_fault_is_not_a_detection(prometheus: str) -> None:
    _Prometheus.firing_at = [START + 1.0, START + 5.0]
    report = result()
    detection_figures(report, {"prometheus_url": prometheus, "detection_deadline_seconds": 30}, {}, START)
    assert report.alerts[ALERT] == "was already firing before the fault"
    assert report.time_to_detect_s is None and report.verdict == "fail"


def test_without_prometheus_nothing_is_measured() -> None:
    report = result()
    detection_figures(report, {"prometheus_url": ""}, {"budget": BUDGET}, START)
    assert report.verdict == "pass" and report.budget_consumed_percent is None
    assert report.alerts == {ALERT: "not evaluated: no prometheus_url"}
    assert "not measured (no Prometheus configured)" in report.reasons[-1]


def test_a_game_day_does_not_start_when_the_slo_is_short_of_budget(prometheus: str, tmp_path: Path) -> None:
    """20 % of the budget left, under the game day's 25 % minimum: ``sloctl gate`` (what the game
    day asks) says freeze, so the run is refused before anything runs (the targets do not even
    exist), reported inconclusive, no journal."""
    _Prometheus.remaining = 0.2
    try:
        report = run_gameday(
            ROOT / "chaos" / "connection-loss.json",
            configuration={"prometheus_url": prometheus, "pgbouncer_admin_dsn": "postgresql://127.0.0.1:9/x"},
            out_dir=tmp_path,
        )
    finally:
        _Prometheus.remaining = 1.0
    assert report.verdict == "inconclusive" and report.status == "not run"
    assert report.reasons[0] == (
        "refused: sloctl gate says freeze for platform-api/availability: platform-api-availability: "
        "20.0 % of the error budget left, at or below the freeze step at 25.0 %"
    )
    assert not (tmp_path / "journal.json").exists() and not LEDGER.pending()
    assert json.loads((tmp_path / "report.json").read_text())["verdict"] == "inconclusive"


def test_a_run_does_not_inherit_the_stop_reason_of_an_earlier_run(tmp_path: Path) -> None:
    """An experiment without the sloctl control, run in a process where an earlier game day was
    aborted: its verdict is its own (CI found this: a stale reason failed a passing run)."""
    from sloctl.chaos.control import STATUS

    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    STATUS.stop_reason = "alert PlatformApiRedisAvailabilityBudgetBurn fires"
    report = run_gameday(path, out_dir=tmp_path / "report")
    assert report.verdict == "pass" and report.stop_reason is None, report.reasons


def _refusing_api(request: StubRequest) -> Answer:
    """An API that cannot create the game day's MongoDB document (its database is down); its
    reads of a document that does not exist are 404s, which a load without its document would
    count as healthy answers."""
    return Answer(b"", status=503 if request.method == "POST" else 404)


def test_a_game_day_whose_setup_fails_is_inconclusive_not_healthy(tmp_path: Path) -> None:
    with serve(_refusing_api) as api:
        result = run_gameday(_setup_experiment(tmp_path, api.url), out_dir=tmp_path / "report")
    assert result.verdict == "inconclusive", result.reasons
    assert "setup failed" in result.reasons[0] and "503" in result.reasons[0], result.reasons
    assert result.load is None  # no healthy-looking timeline of 404s


def _setup_experiment(tmp_path: Path, api_url: str) -> Path:
    experiment = {
        "version": "1.0.0",
        "title": "Game day: setup",
        "description": "The load against an API that cannot create the document it reads.",
        "configuration": {"api_url": api_url},
        "extensions": [{"name": "sloctl", "gameday": "setup", "expected_alerts": []}],
        "method": [
            {
                "type": "action",
                "name": "load: steady traffic on the MongoDB route",
                "provider": {
                    "type": "python",
                    "module": "sloctl.chaos.load",
                    "func": "generate_load",
                    "arguments": {"api_url": "${api_url}", "dependencies": ["mongodb"], "seconds": 1},
                },
            }
        ],
    }
    path = tmp_path / "setup.json"
    path.write_text(json.dumps(experiment))
    return path


def test_a_figure_names_its_unit_or_why_it_is_missing() -> None:
    before_the_fault = completed_run("connection-loss")
    after_the_fault = completed_run("connection-loss", fault_at_s=4.0, time_to_detect_s=12.5)
    assert figure(after_the_fault, "time_to_detect_s") == "12.5 s"
    assert figure(after_the_fault, "breaker_open_s") == "not seen"
    assert figure(after_the_fault, "time_to_resolve_s") == "no page to resolve"
    assert figure(before_the_fault, "time_to_detect_s") == "not measured"
    assert "None" not in render_html(before_the_fault) and "None" not in render_html(after_the_fault)
    # the settle the wait for the pages held out for, stated beside the time to resolve
    assert figure(after_the_fault, "resolve_settle_s") == "no wait for the pages"
    waited = completed_run("connection-loss", fault_at_s=4.0, time_to_resolve_s=21.1, resolve_settle_s=12.0)
    facts = dict(re.findall(r'<tr><th scope="row">([^<]*)</th><td>([^<]*)</td></tr>', render_html(waited)))
    (settle,) = [v for k, v in facts.items() if k.startswith("settle (")]
    assert settle == "12.0 s", facts


def test_an_interrupted_run_has_no_budget_figure_in_its_report_nor_in_serve(
    prometheus: str, tmp_path: Path
) -> None:
    """A run that Ctrl-C stopped 2 s in measured its cut span (0.0008 %), which sloctl serve's
    runs page showed as "0.00 %", as if the game day had cost nothing. It has no budget figure:
    not measured in the report, null in its JSON, unknown ("-") in serve. A run that ended, and
    whose wait for its pages was interrupted, ran its course: its budget is measured."""
    interrupted = {"verdict": "fail", "status": "interrupted", "interrupted": True}
    stopped = completed_run("connection-loss", expected_alerts=[ALERT], duration_s=2.0, **interrupted)
    detection_figures(stopped, {"prometheus_url": prometheus}, {"budget": BUDGET}, START)
    assert stopped.budget_consumed_percent is None
    assert figure(stopped, "budget_consumed_percent") == "not measured: interrupted"
    write_reports(stopped, None, tmp_path / "run", Masker(()))
    assert json.loads((tmp_path / "run" / "report.json").read_text())["budget_consumed_percent"] is None
    (run,) = find_runs({"gameday": (tmp_path,)}, {}).runs
    assert run.budget_spent_percent is None
    with Prometheus.connect("http://127.0.0.1:9") as closed:  # the runs page reads files only
        page = App(ServeConfig(run_dirs={"gameday": (tmp_path,)}), closed).handle("/runs/gameday", {})
    row = page.body.decode().split('<tr data-run="')[1]
    _time_to_detect, budget = re.findall(r"<td>([^<]*)</td>", row)[:2]
    assert budget == "-", row

    waited = completed_run("connection-loss", expected_alerts=[ALERT], duration_s=20.0, **interrupted)
    detection_figures(
        waited, {"prometheus_url": prometheus}, {"budget": BUDGET}, START, run_interrupted=False
    )
    assert waited.budget_consumed_percent == pytest.approx(100 * 10 * 20 / 2592000, abs=1e-6)
