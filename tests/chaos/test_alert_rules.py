"""A game day names alerts that Prometheus must evaluate: its stop conditions' (the pages of the
dependencies it must not hurt) and its expected pages. One that Prometheus has no rule for (an
experiment generated from other SLO files, a typo in a hand-edited one) stops it before
anything runs; before, a stop condition on it could never trip, and the game day ran
unprotected and passed without a word."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sloctl.chaos.gameday import run_gameday
from sloctl.chaos.result import sloctl_extension
from sloctl.chaos.rig import start_rig_prometheus
from tests.chaos.conftest import FAST_RESET, platform_slos
from tests.fixtures.experiments import CLOSED_TARGETS
from tests.paths import ROOT

pytestmark = [pytest.mark.servers, pytest.mark.slow]

EXPERIMENT = ROOT / "chaos" / "memory-exhaustion.json"


def _closed_port() -> int:
    """A loopback port nothing listens on: the API the Prometheus scrapes, and the game day's."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus with the rules of slos/platform-api.yaml, as the rig runs them."""
    api = f"http://127.0.0.1:{_closed_port()}"
    with start_rig_prometheus(
        api, tmp_path_factory.mktemp("prometheus"), platform_slos(), 20.0, FAST_RESET
    ) as server:
        yield server.url


def _stop_conditions(experiment: dict[str, Any]) -> list[dict[str, Any]]:
    return list(experiment["controls"][0]["provider"]["arguments"]["stop_conditions"])


def _misspell_stop_condition(experiment: dict[str, Any]) -> str:
    alert = next(c for c in _stop_conditions(experiment) if c["kind"] == "alert")
    alert["alertname"] = alert["alertname"].replace("Postgres", "Postgress")
    return str(alert["alertname"])


def _misspell_expected_page(experiment: dict[str, Any]) -> str:
    ext = sloctl_extension(experiment)
    ext["expected_alerts"] = ["PlatformApiRedisAvailabilityBurn"]
    return "PlatformApiRedisAvailabilityBurn"


@pytest.mark.parametrize(
    ("misspell", "why"),
    [
        (_misspell_stop_condition, "a stop condition's alert, which could never trip"),
        (_misspell_expected_page, "an expected page"),
    ],
    ids=["stop condition", "expected page"],
)
def test_an_alert_prometheus_has_no_rule_for_stops_the_game_day_before_anything_runs(
    misspell: Any, why: str, prometheus: str, tmp_path: Path
) -> None:
    experiment = json.loads(EXPERIMENT.read_text())
    alert = misspell(experiment)
    path = tmp_path / "memory-exhaustion.json"
    path.write_text(json.dumps(experiment))
    api = f"http://127.0.0.1:{_closed_port()}"
    configuration = {
        **CLOSED_TARGETS,
        "api_url": api,
        "metrics_url": f"{api}/metrics",
        "prometheus_url": prometheus,
    }
    result = run_gameday(path, configuration=configuration, out_dir=tmp_path / "report")
    assert result.verdict == "inconclusive" and result.status == "not run", result.reasons
    assert result.reasons[0].startswith(f"refused: Prometheus evaluates no alerting rule {alert} ({why})")
    assert not (tmp_path / "report" / "journal.json").exists(), "no activity ran"


def test_the_generated_experiment_names_only_alerts_prometheus_evaluates(
    prometheus: str, tmp_path: Path
) -> None:
    """The refusal is about the alerts, not the run: with the generated file the game day
    starts (and, with no API on its port, its baseline finds nothing to compare with)."""
    api = f"http://127.0.0.1:{_closed_port()}"
    configuration = {
        **CLOSED_TARGETS,
        "api_url": api,
        "metrics_url": f"{api}/metrics",
        "prometheus_url": prometheus,
        "resolve_deadline_seconds": 0,
    }
    result = run_gameday(EXPERIMENT, configuration=configuration, out_dir=tmp_path / "report")
    assert result.status != "not run", result.reasons
    assert not any("alerting rule" in r for r in result.reasons), result.reasons
