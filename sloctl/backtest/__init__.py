"""Backtests of generated alerts on the real Prometheus engine (docs/backtest.md).

>>> from sloctl.backtest import SCENARIOS, run_many                # doctest: +SKIP
>>> results = run_many([(slo, SCENARIOS[:2])], Path("/tmp/bt"))   # doctest: +SKIP
>>> results[0].tiers[0].detection_seconds                         # doctest: +SKIP
207
"""

from .engine import AlertSeries, Backtest, RuleSet, replay
from .report import render_html
from .run import ScenarioResult, TierResult, our_rules, run_many, scenario_slo
from .scenarios import SCENARIOS, Counts, Incident, Scenario, counts, scenario

__all__ = [
    "SCENARIOS",
    "AlertSeries",
    "Backtest",
    "Counts",
    "Incident",
    "RuleSet",
    "Scenario",
    "ScenarioResult",
    "TierResult",
    "counts",
    "our_rules",
    "render_html",
    "replay",
    "run_many",
    "scenario",
    "scenario_slo",
]
