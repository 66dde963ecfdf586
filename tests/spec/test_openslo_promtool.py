"""An OpenSLO thresholdMetric compiled and run by the real promtool: the recorded error ratio is
the share of samples that miss ``metric op value``."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloctl import naming
from sloctl.generate import GenerateOptions, plan_outputs
from sloctl.render.rules import render_rule_file
from sloctl.spec import load_paths, load_text
from tests.fixtures.promtool import assert_promtool_passes, assert_unit_test_passes

pytestmark = pytest.mark.promtool

FIXTURES = Path(__file__).parent / "fixtures" / "openslo"

SLO = """\
apiVersion: openslo/v1
kind: DataSource
metadata: {name: prom}
spec: {type: Prometheus}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: search}
spec:
  service: shop
  indicator:
    spec:
      thresholdMetric:
        metricSource: {metricSourceRef: prom, spec: {query: 'max(search_latency_ms)'}}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{op: lt, value: 500, target: 0.99}]
"""


def test_a_threshold_metric_records_the_share_of_samples_missing_the_objective(tmp_path: Path) -> None:
    result = load_text(SLO, "search.yaml")
    assert result.ok, [str(e) for e in result.errors]
    ratio = f"sum({naming.error_ratio(naming.BASE_WINDOW)})"
    # 20 minutes at 100 ms (good: below 500), then 20 at 900 ms (bad), then 20 at exactly 500
    # (bad too: lt is strict).
    assert_unit_test_passes(
        tmp_path,
        {"rules.yml": render_rule_file(result.slos, ["search.yaml"], "test")},
        [{"series": "search_latency_ms", "values": "100x19 900x19 500x19"}],
        [
            {"expr": ratio, "eval_time": "15m", "exp_samples": [{"labels": "{}", "value": 0}]},
            {"expr": ratio, "eval_time": "30m", "exp_samples": [{"labels": "{}", "value": 1}]},
            {"expr": ratio, "eval_time": "50m", "exp_samples": [{"labels": "{}", "value": 1}]},
            # Across the change, 3 bad samples of the window's 5 (Prometheus 3) or 6
            # (Prometheus 2 closes ranges on both ends).
            {
                "expr": f"({ratio} >= bool 0.5) * ({ratio} <= bool 0.6)",
                "eval_time": "22m",
                "exp_samples": [{"labels": "{}", "value": 1}],
            },
        ],
    )


def test_an_openslo_service_with_every_compiled_feature_generates_rules_promtool_lints(
    tmp_path: Path,
) -> None:
    """A data source, an alert policy with a referenced condition and an inline target, a
    multi-valued label, a thresholdMetric, and a calendar week in New York counted in 5m slices."""
    result = load_paths([FIXTURES / "shop.yaml"])
    assert result.ok, [str(e) for e in result.errors]
    assert [s.name for s in result.slos] == ["search", "availability"]
    outputs = plan_outputs(result.slos, GenerateOptions(dashboards=False, alertmanager=False))
    rules = []
    for name, text in outputs.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
        if name.endswith((".yml", ".yaml")) and "test.yml" not in name:
            rules.append(tmp_path / name)
    search = (tmp_path / "rules" / "shop.yml").read_text()
    assert "notification_target: oncall" in search and "for: 2m" in search
    assert len(rules) >= 1
    assert_promtool_passes(*rules)


RATIO_TIMESLICES = """\
apiVersion: openslo/v1
kind: SLO
metadata: {name: checkout}
spec:
  service: shop
  indicator:
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(ok_total[{{.window}}]))'}}}
        total: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(all_total[{{.window}}]))'}}}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: RatioTimeslices
  objectives: [{target: 0.99, timeSliceWindow: 5m}]
"""


def test_ratio_timeslices_average_slice_ratios_however_many_events_each_slice_holds(tmp_path: Path) -> None:
    result = load_text(RATIO_TIMESLICES, "checkout.yaml")
    assert result.ok, [str(e) for e in result.errors]
    assert any("RatioTimeslices is compiled as a raw SLI" in str(w) for w in result.warnings)
    ratio = f"sum({naming.error_ratio(1800)})"
    # 15 minutes at 1000 requests a minute without an error, then 15 at 10 a minute, half failing:
    # events-weighted, 75 errors in 15,150 requests (0.5 %); slice by slice, about a third of the
    # 30 minutes' slices are at 50 %.
    assert_unit_test_passes(
        tmp_path,
        {"rules.yml": render_rule_file(result.slos, ["checkout.yaml"], "test")},
        [
            {"series": "ok_total", "values": "0+1000x15 15005+5x14"},
            {"series": "all_total", "values": "0+1000x15 15010+10x14"},
        ],
        [
            {
                "expr": f"({ratio} >= bool 0.15) * ({ratio} <= bool 0.3)",
                "eval_time": "30m",
                "exp_samples": [{"labels": "{}", "value": 1}],
            },
        ],
    )
