"""An SLO kept per group (Pyrra's ``grouping``) is its worst group on every page, as in ``sloctl
status``: its SLO page's burn-down drew the best group's budget (``max``) under a header that
said the worst group's, on a real Prometheus evaluating the generated rules."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sloctl import naming
from sloctl.backtest.engine import backfill_openmetrics
from sloctl.prometheus import Prometheus
from sloctl.render.rules import render_rule_file
from sloctl.serve.data import slo_series
from sloctl.servers._process import wait_until
from sloctl.servers.prometheus import start_prometheus
from sloctl.spec import load_text
from sloctl.status import collect_from
from tests.fixtures.histories import two_routes

SPEC = """\
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: errors, namespace: shop}
spec:
  target: "99.5"
  window: 4w
  indicator:
    ratio:
      errors: {metric: 'http_requests_total{code=~"5.."}'}
      total: {metric: http_requests_total}
      grouping: [route]
"""


@pytest.mark.promtool
def test_a_grouped_slos_burn_down_is_its_worst_groups_budget_as_its_header_says(tmp_path: Path) -> None:
    (slo,) = load_text(SPEC, "grouped.yaml").slos
    assert slo.grouping == ("route",)
    end = int(time.time())
    backfill_openmetrics(two_routes(end - 3600, end), tmp_path, tmp_path / "data")
    (tmp_path / "rules.yml").write_text(render_rule_file([slo], ["tests"], "test"))
    config = "global:\n  evaluation_interval: 1s\nrule_files:\n  - rules.yml\nscrape_configs: []\n"
    with start_prometheus(tmp_path, config_text=config) as server, Prometheus.connect(server.url) as prom:
        assert wait_until(lambda: len(prom.query(naming.BUDGET_REMAINING)) == 2, timeout=60, interval=0.25)
        at = time.time()
        budgets = {
            r["metric"]["route"]: float(r["value"][1]) for r in prom.query(naming.BUDGET_REMAINING, at)
        }
        (row,) = collect_from(prom, at).rows
        series = slo_series(prom, slo.id, 0.005, at - 600, at)
    # The failing group has overspent its budget, the healthy one has it nearly whole.
    assert budgets["/b"] < 0 < budgets["/a"], budgets
    assert row.budget_remaining == pytest.approx(budgets["/b"], rel=1e-4)
    drawn = series.budget[-1][1]
    assert drawn == pytest.approx(budgets["/b"], rel=1e-3), (drawn, budgets)
