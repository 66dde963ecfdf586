"""A filled Prometheus for the UI tests: ``sloctl serve --demo``'s own builder (the backtest's
scenarios for two of the bundled SLO files, backfilled with their generated rules, evaluated
live), plus one report of each kind on disk for the runs pages."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from sloctl.backtest.output import render_json as backtest_json
from sloctl.backtest.report import render_html as backtest_html
from sloctl.backtest.run import run_many
from sloctl.backtest.scenarios import scenario
from sloctl.chaos.result import GamedayResult
from sloctl.loadtest import Report, RunStats, evaluate
from sloctl.loadtest.report import render_html as loadtest_html
from sloctl.loadtest.report import render_json as loadtest_json
from sloctl.loadtest.results import RouteStats, Sample
from sloctl.loadtest.thresholds import thresholds_from_slos
from sloctl.model import SLO
from sloctl.reports.gameday import render_html
from sloctl.serve.demo import STEP, demo
from sloctl.shelf import default_engine
from sloctl.spec import load_paths
from tests.paths import ROOT

SPAN = 3 * 3600
#: The demo's rules are evaluated every 5 s here, not every minute: the stack is up after a
#: scrape and an evaluation, and ``ALERTS`` is written from a group's third evaluation on
#: (tests/serve/test_demo.py), about 15 s where it took about three minutes. At 10 s the
#: set-up waited 8-10 s more for the groups' first live evaluation (docs/benchmarks.md); the
#: five groups take under 0.1 s an evaluation, 3 % of a core at this interval.
LIVE_INTERVAL = 5
FILES = ("slos/platform-api.yaml", "slos/platform-jobs.yaml")
#: A spread of kinds and scenarios, few enough for a quick backfill: a full outage, a
#: timeslice SLO, a 14x burn, a composite with its components, a slow burn and a night spike.
CHOSEN = (
    "platform-api-availability",
    "platform-api-latency",
    "platform-api-postgres-availability",
    "platform-api-redis-availability",
    "platform-api-mongodb-availability",
    "platform-api-availability-by-dependency",
    "platform-jobs-provisioning",
    "platform-jobs-backups",
)


@dataclass(frozen=True)
class Stack:
    url: str
    at: float
    """The time the pages and ``status --time`` read (the demo's "now")."""
    slos: tuple[SLO, ...]
    reports: dict[str, Path]
    workdir: Path
    """The demo's Prometheus: its data and ``prometheus.log``."""


def _gameday(out: Path, slos: tuple[SLO, ...]) -> None:
    api = next(s for s in slos if s.id == "platform-api-availability")
    result = GamedayResult(
        experiment="Game day: connection loss",
        gameday="connection-loss",
        verdict="pass",
        reasons=["every check held"],
        status="completed",
        phases={"baseline": [0.0, 20.0], "inject": [20.0, 80.0], "recover": [80.0, 120.0]},
        time_to_detect_s=41.0,
        breaker_open_s=3.0,
        time_to_recover_s=2.5,
        expected_alerts=[api.alerting.name],
        alerts={api.alerting.name: "fired 41.0 s after the fault"},
        budget_consumed_percent=0.42,
        checks=[{"name": "check: postgres breaker open", "status": "succeeded", "output": True}],
        duration_s=120.0,
        fault_at_s=20.0,
    )
    out.mkdir(parents=True)
    (out / "report.json").write_text(json.dumps(result.to_json()))
    (out / "report.html").write_text(render_html(result))


def _loadtest(out: Path, slos: tuple[SLO, ...]) -> None:
    route = RouteStats("/v1/projects", "GET", 100, 0, 900.0, 40.0, ((5, 90), (40, 10)), 0.0, 10.0)
    run = RunStats(
        routes=(route,), samples=tuple(Sample(float(t), 10, 10.0, 0.0, 5, 40, 40) for t in range(1, 11))
    )
    thresholds, skipped = thresholds_from_slos(slos)
    report = Report("steady", "http://127.0.0.1:8000", 10.0, evaluate(thresholds, run), skipped, run, "")
    out.mkdir(parents=True)
    (out / "report.json").write_text(loadtest_json(report))
    (out / "report.html").write_text(loadtest_html(report))


def _backtest(out: Path, slos: list[SLO], workdir: Path) -> None:
    """What ``sloctl backtest --report`` writes (the page and its JSON), for a full outage
    without the scenario's 3-day warm-up (a quicker replay)."""
    short = replace(scenario("full_outage"), warmup=0)
    results = [r for i, s in enumerate(slos) for r in run_many([(s, [short])], workdir / str(i))]
    out.mkdir()
    (out / "jobs.html").write_text(backtest_html(results))
    (out / "jobs.json").write_text(json.dumps(backtest_json(results)))


@pytest.fixture(scope="session")
def serve_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("serve")
    loaded = load_paths([ROOT / f for f in FILES])
    assert not loaded.errors
    slos = tuple(s for s in loaded.slos if s.id in CHOSEN)
    reports = {k: tmp / k for k in ("gameday", "loadtest", "backtest")}
    _gameday(reports["gameday"] / "connection-loss", slos)
    _loadtest(reports["loadtest"] / "steady", slos)
    _backtest(reports["backtest"], [s for s in slos if s.service == "platform-jobs"], tmp / "backtest-work")
    now = time.time()
    with demo(
        slos, workdir=tmp / "demo", now=now, span=SPAN, engine=default_engine(), live_interval=LIVE_INTERVAL
    ) as url:
        # The pages and status read one time: the end of the backfill, whose recordings and
        # alerts are all written by then. Read later, at the moment the demo is up, the rows
        # depended on how far the live evaluations had got (under load one SLO was missing).
        at = float(int(now // STEP * STEP))
        yield Stack(url, at, slos, reports, tmp / "demo")
