"""SLO-gated load tests: thresholds from the SLO model, Locust runs, reports.

``locustlib`` (imported by the Locust files in ``loadtests/``) is the only module that imports
Locust; the rest is importable without the ``load`` extra.
"""

from .report import Report, render_html, render_json, render_table
from .results import GateResult, RouteStats, RunStats, evaluate
from .runner import SCENARIOS, LoadShape, LoadtestError, RunOptions, resolve_scenario, run_scenario
from .thresholds import Skipped, Threshold, ThresholdError, parse_threshold, thresholds_from_slos

__all__ = [
    "SCENARIOS",
    "GateResult",
    "LoadShape",
    "LoadtestError",
    "Report",
    "RouteStats",
    "RunOptions",
    "RunStats",
    "Skipped",
    "Threshold",
    "ThresholdError",
    "evaluate",
    "parse_threshold",
    "render_html",
    "render_json",
    "render_table",
    "resolve_scenario",
    "run_scenario",
    "thresholds_from_slos",
]
