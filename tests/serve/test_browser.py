"""Acceptance of ``sloctl serve`` in real headless Chromium (the system's, driven by
playwright-core from tests/browser/, never a downloaded browser): every page loads without
console errors or failed requests, the overview's figures are those of ``sloctl status -o json``
for the same Prometheus and time, charts draw, filters, sorting and links work, the tables work
without JavaScript, and axe-core finds no serious or critical violation. Screenshots are kept
under reports/serve/ (and the pytest tmp dir)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sloctl.naming import is_burn_rate_tier
from sloctl.prometheus import Prometheus
from sloctl.reports import percent, rate
from sloctl.serve import App, ServeConfig, start
from tests.backtest.pngstats import colour_stats
from tests.fixtures.browser import NEEDS_BROWSER, drive
from tests.paths import ROOT

from .conftest import Stack

pytestmark = [
    pytest.mark.slow,
    pytest.mark.promtool,
    *NEEDS_BROWSER,
]


@pytest.fixture(scope="module")
def status(serve_stack: Stack) -> dict[str, dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "sloctl.cli.main", "status", "--prometheus", serve_stack.url, "-o", "json",
         "--time", str(serve_stack.at)],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return {r["slo"]: r for r in json.loads(out.stdout)["slos"]}


@pytest.fixture(scope="module")
def seen(
    serve_stack: Stack, status: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, dict[str, Any]]]:
    """One Chromium run over every page; the snapshots by name."""
    out = tmp_path_factory.mktemp("screens")
    config = ServeConfig(
        specs=serve_stack.slos,
        run_dirs={k: (p,) for k, p in serve_stack.reports.items()},  # type: ignore[misc]
        default_range="6h",  # the demo's history: 3 hours
    )
    firing_state = next((r["state"] for r in status.values()), "ok")
    some_slo = sorted(status)[0]
    service = status[some_slo]["service"]
    steps: list[dict[str, object]] = [
        {"goto": "/"}, {"snapshot": "overview"},
        {"nojs": "/", "snapshot": "overview-nojs"},
        {"select": ["select[name=service]", service]}, {"click": "form.controls button"},
        {"snapshot": "filtered-service"},
        {"goto": f"/?state={firing_state}"}, {"snapshot": "filtered-state"},
        {"goto": "/?label=tier%3D1"}, {"snapshot": "filtered-label"},
        {"goto": "/"}, {"click": "#slos thead a:text('budget left')"}, {"snapshot": "sorted-budget"},
        {"goto": "/"}, {"click": f"#slos a[href='/slo/{some_slo}']"}, {"snapshot": "slo"},
        {"goto": "/slo/platform-api-availability?range=6h"}, {"snapshot": "slo-api"},
        {"goto": "/runs/gameday"}, {"snapshot": "gamedays"},
        {"click": "#runs a:text('HTML report')"}, {"snapshot": "gameday-report"},
        {"goto": "/runs/loadtest"}, {"snapshot": "loadtests"},
        {"goto": "/runs/backtest"}, {"snapshot": "backtests"},
        {"click": "#runs a:text('HTML report')"}, {"snapshot": "backtest-report"},
        {"goto": "/runs/backtest?slo=platform-jobs-backups"}, {"snapshot": "backtests-of-slo"},
    ]  # fmt: skip
    with Prometheus.connect(serve_stack.url) as prom:
        listener = start(App(config, prom, now=serve_stack.at), "127.0.0.1:0")
        try:
            snapshots = drive(listener.url, steps, out)
        finally:
            listener.stop()
    keep = ROOT / "reports" / "serve"
    keep.mkdir(parents=True, exist_ok=True)
    for s in snapshots.values():
        shutil.copy(s["screenshot"], keep / Path(s["screenshot"]).name)
    yield snapshots


def _rows(snapshot: dict[str, Any], table: str = "slos") -> list[dict[str, Any]]:
    return [r for r in snapshot["tables"][table] if "data-slo" in r["attrs"] or table != "slos"]


def test_every_page_loads_without_console_errors_or_failed_requests(seen: dict[str, dict[str, Any]]) -> None:
    assert len(seen) == 14
    for name, s in seen.items():
        assert s["errors"] == [] and s["failed"] == [], name


def test_the_overview_shows_the_figures_of_status_json_for_the_same_prometheus_and_time(
    seen: dict[str, dict[str, Any]], status: dict[str, dict[str, Any]], serve_stack: Stack
) -> None:
    header = [
        "SLO",
        "service",
        "objective",
        "period",
        "state",
        "SLI now",
        "SLI period",
        "budget left",
        "burn now",
        "burn period",
    ]
    rows = _rows(seen["overview"])
    assert {r["attrs"]["data-slo"] for r in rows} == set(status)
    objectives = {s.id: s.objective for s in serve_stack.slos}
    assert len(status) >= 8
    for row in rows:
        cells = dict(zip(header, row["cells"], strict=False))
        want = status[row["attrs"]["data-slo"]]
        nan = math.nan
        assert cells["budget left"] == percent(
            want["budget_remaining"] if want["budget_remaining"] is not None else nan
        )
        # No event is no burn rate of 0x (nor an SLI of 100 %): unknown, as the budget.
        burn_now = want["current_burn_rate"] if want["current_burn_rate"] is not None else nan
        assert cells["burn now"] == rate(nan if want["state"] == "no_data" else burn_now)
        assert cells["burn period"] == rate(
            want["period_burn_rate"] if want["period_burn_rate"] is not None else nan
        )
        # Pyrra's "availability": 1 − the period's error ratio, its burn rate × the error budget.
        budget = 1 - objectives[row["attrs"]["data-slo"]] / 100
        period = want["period_burn_rate"] if want["budget_remaining"] is not None else None
        assert cells["SLI period"] == percent(nan if period is None else 1 - period * budget, 3), cells
        # The burn-rate tiers: the no-data ticket is the state, a policy step the policy column.
        assert row["cells"][-3] == (", ".join(t for t in want["firing"] if is_burn_rate_tier(t)) or "-")
        assert row["cells"][-2] == (want["policy_action"] or "-")
        if want["state"] == "no_data":
            assert cells["state"] == "no_data"
    # The demo's scenarios give a spread: an overspent budget, a healthy one, burning ones.
    budgets = [r["budget_remaining"] for r in status.values() if r["budget_remaining"] is not None]
    assert min(budgets) < 0 < max(budgets)


def test_the_tables_work_without_javascript(seen: dict[str, dict[str, Any]]) -> None:
    assert [r["cells"] for r in _rows(seen["overview-nojs"])] == [r["cells"] for r in _rows(seen["overview"])]


def test_filters_by_service_state_and_label_and_sorting_by_budget_work(
    seen: dict[str, dict[str, Any]], status: dict[str, dict[str, Any]]
) -> None:
    by_service = seen["filtered-service"]
    service = status[sorted(status)[0]]["service"]
    assert "service=" + service in by_service["url"]
    assert {r["attrs"]["data-slo"] for r in _rows(by_service)} == {
        k for k, v in status.items() if v["service"] == service
    }
    state = seen["filtered-state"]
    assert {r["attrs"]["data-state"] for r in _rows(state)} == {status[sorted(status)[0]]["state"]}
    assert 0 < len(_rows(seen["filtered-label"])) < len(status)  # platform-api is tier 1, platform-jobs not
    budgets = [r["cells"][7] for r in _rows(seen["sorted-budget"])]
    known = [float(b.removesuffix(" %")) for b in budgets if b != "unknown"]
    assert known == sorted(known) and len(known) >= 2
    assert "sort=budget" in seen["sorted-budget"]["url"]


def test_the_slo_page_draws_its_three_charts_and_lists_its_alert_tiers_and_runs(
    seen: dict[str, dict[str, Any]],
) -> None:
    for name in ("slo", "slo-api"):
        page = seen[name]
        assert page["url"].startswith("/slo/")
        charts = [c for c in page["charts"] if c["label"]]
        assert len(charts) == 4, charts
        for chart in charts:
            assert chart["width"] > 300 and chart["height"] > 100
            assert max(line["points"] for line in chart["lines"]) > 10, chart
        assert any("threshold" in line["cls"] for line in charts[2]["lines"])
        # Pyrra's requests and errors: both drawn, the events over the range.
        assert [line["name"] for line in charts[3]["lines"]] == ["events/s", "errors/s"], charts[3]
        tiers = [r["cells"][0] for r in page["tables"]["tiers"]]
        assert {"page_quick", "page_slow", "ticket_quick", "ticket_slow"} <= set(tiers)
        variance, colours = colour_stats(Path(page["screenshot"]))
        assert variance > 50 and colours > 20, (variance, colours)
    runs = seen["slo-api"]["tables"]["runs"]
    assert {r["cells"][0] for r in runs} == {"Game days", "Load tests"}


def test_runs_pages_list_each_report_with_verdict_and_open_its_own_html(
    seen: dict[str, dict[str, Any]],
) -> None:
    (gameday,) = seen["gamedays"]["tables"]["runs"]
    assert gameday["cells"][1:4] == ["pass", "41s", "0.42 %"]
    assert any(link == "/slo/platform-api-availability" for link in gameday["links"])
    assert seen["gameday-report"]["title"].startswith("connection-loss")
    (load,) = seen["loadtests"]["tables"]["runs"]
    assert load["cells"][1] in ("pass", "fail") and "✔" in load["cells"][4]
    backtests = seen["backtests"]["tables"]["runs"]
    assert len(backtests) == 2
    for run in backtests:  # pass exactly when every tier's gate holds
        assert run["cells"][1] == ("fail" if "✘" in run["cells"][4] else "pass")
        assert "✔ page_quick" in run["cells"][4]
    assert (
        seen["backtest-report"]["title"] == "sloctl backtest" and len(seen["backtest-report"]["charts"]) >= 4
    )
    assert [r["cells"][0].split(" · ")[0] for r in seen["backtests-of-slo"]["tables"]["runs"]] == [
        "platform-jobs-backups"
    ]


def test_axe_core_finds_no_serious_or_critical_violation_on_any_page(seen: dict[str, dict[str, Any]]) -> None:
    for name, s in seen.items():
        if s["axe"] is None:
            continue
        bad = [v for v in s["axe"] if v["impact"] in ("serious", "critical")]
        assert bad == [], (name, bad)
