"""Backtests on the real Prometheus engine: synthetic scenarios backfilled with promtool into a
throwaway Prometheus, the generated rules' recordings backfilled level by level, alerts
evaluated by the same server (sloctl.backtest.engine)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from sloctl.backtest import SCENARIOS, ScenarioResult, run_many, scenario
from sloctl.backtest.scenarios import counts
from sloctl.cli.main import main
from sloctl.model import SLO
from sloctl.shelf import PrometheusEngine
from sloctl.spec import load_text
from tests.backtest.pngstats import colour_stats
from tests.fixtures.engines import compat
from tests.fixtures.specs import SHOP_HTTP_SPEC

PROMTOOL = shutil.which("promtool")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

needs_prometheus = pytest.mark.skipif(PROMTOOL is None, reason="no promtool (apt-get install prometheus)")
SCRAPE = 60


def _slo() -> SLO:
    (slo,) = load_text(SHOP_HTTP_SPEC, "shop.yaml").slos
    return slo


def test_scenarios_cover_the_issue_list_and_their_counts_hold_the_ground_truth() -> None:
    names = {s.name for s in SCENARIOS}
    assert {"full_outage", "burn_14x", "burn_6x", "slow_burn_1x", "night_spike", "diurnal_incident"} <= names
    assert {"counter_resets", "scrape_gaps"} <= names
    c = counts(scenario("full_outage"), 0.001)
    start = c.warmup // c.step
    # Before the outage 0.01 % of requests fail (0.1x the budget), during it all of them.
    assert c.truth_ratio(0, start + 60) == pytest.approx(0.0001)
    assert c.truth_ratio(start + 60, start + 80) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def results(
    tmp_path_factory: pytest.TempPathFactory, prometheus_engine: PrometheusEngine
) -> dict[str, ScenarioResult]:
    chosen = [scenario(n) for n in ("full_outage", "burn_14x", "burn_6x")]
    out = run_many([(_slo(), chosen)], tmp_path_factory.mktemp("backtest"), engine=prometheus_engine)
    return {r.scenario.name: r for r in out}


@needs_prometheus
@pytest.mark.promtool
@pytest.mark.slow
class TestScenariosOnTheRealEngine:
    def test_a_full_outage_pages_in_under_five_minutes(self, results: dict[str, ScenarioResult]) -> None:
        tier = next(t for t in results["full_outage"].tiers if t.tier == "page_quick")
        assert tier.detection_seconds is not None
        assert tier.detection_seconds < 300

    def test_every_tier_fires_in_at_least_one_scenario(self, results: dict[str, ScenarioResult]) -> None:
        fired = {t.tier for r in results.values() for t in r.tiers if t.detection_seconds is not None}
        assert fired == {"page_quick", "page_slow", "ticket_quick", "ticket_slow"}

    def test_each_scenarios_designed_tier_fires_within_its_designed_time_and_one_scrape(
        self,
        results: dict[str, ScenarioResult],
        prometheus_engine: PrometheusEngine,
        request: pytest.FixtureRequest,
    ) -> None:
        compat(request, prometheus_engine.name, "backtest alerts at designed time")
        # The designed time (sloctl.render.ruletests.designed_detection) models scrapes aligned
        # with the 5m base window; with 1m scrapes rate() extrapolates over windows that do not
        # start on a sample, which can add up to one scrape interval (measured: +4 s).
        checked = 0
        for r in results.values():
            for t in r.tiers:
                if t.expected:
                    assert t.designed_seconds is not None, (r.scenario.name, t)
                    assert t.detection_seconds is not None, (r.scenario.name, t)
                    assert t.detection_seconds <= t.designed_seconds + SCRAPE, (r.scenario.name, t)
                    checked += 1
        assert checked == 3

    def test_no_alert_fires_outside_an_incident(self, results: dict[str, ScenarioResult]) -> None:
        assert [(r.scenario.name, t.tier) for r in results.values() for t in r.tiers if t.false_alerts] == []

    def test_pages_reset_within_their_short_window_after_the_incident(
        self, results: dict[str, ScenarioResult]
    ) -> None:
        outage = next(t for t in results["full_outage"].tiers if t.tier == "page_quick")
        assert outage.reset_seconds is not None and outage.reset_seconds <= 5 * 60 + 2 * SCRAPE

    def test_budget_left_matches_the_ground_truth_from_the_raw_series(
        self, results: dict[str, ScenarioResult]
    ) -> None:
        for r in results.values():
            assert r.period_ratio == pytest.approx(r.period_ratio_truth, rel=0.01), r.scenario.name
            # The budget spent is the period ratio over the budget: the same 1 % bound (an outage
            # overspends it several times, so an absolute bound on what is left would be tighter).
            assert 1 - r.budget_left == pytest.approx(1 - r.budget_left_truth, rel=0.01), r.scenario.name


@needs_prometheus
@pytest.mark.promtool
@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_cli_backtest_writes_json_and_an_html_report_that_renders_in_headless_chromium(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "shop.yaml"
    spec.write_text(SHOP_HTTP_SPEC)
    report = tmp_path / "report.html"
    code = main(
        ["backtest", str(spec), "--scenario", "full_outage", "-o", "json", "--report", str(report),
         "--workdir", str(tmp_path / "work")]
    )  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    (row,) = out
    assert row["slo"] == "shop-availability" and row["scenario"] == "full_outage"
    page = next(t for t in row["tiers"] if t["tier"] == "page_quick")
    assert page["detection_seconds"] < 300

    text = report.read_text()
    assert text.count("<svg") == 2 and text.count("<polyline") >= 8
    assert 'class="threshold"' in text

    png = tmp_path / "report.png"
    assert CHROMIUM is not None
    subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium'}", f"--screenshot={png}", "--window-size=1200,1600",
            report.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    variance, colours = colour_stats(png)
    # A blank page has one colour; the plots add the tier colours and anti-aliased lines.
    assert variance > 50 and colours > 20, (variance, colours)
