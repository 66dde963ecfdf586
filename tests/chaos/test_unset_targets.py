"""A target an experiment's activities use and the configuration leaves unset (the generated
experiments carry ``""`` and ``0`` for them) is refused before anything runs, dry runs included,
naming the key, who uses it and how to give it. Before, ``sloctl gameday run
chaos/cascading-failure.json`` without ``--config`` ran: its baseline failed, its rollbacks failed
on ``not a MongoDB URI`` and ``control port 127.0.0.1:0``, and a dry run said nothing was
missing; an empty libpq DSN reaches the local socket's PostgreSQL, whatever runs there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import sloctl.chaos.gameday
from sloctl.chaos.experiments import CONFIGURATION_HINT, NEEDED, ExperimentValueError
from sloctl.chaos.gameday import run_gameday
from sloctl.chaos.result import GamedayResult
from sloctl.chaos.targets import TARGETS
from sloctl.cli.main import main
from tests.chaos.experiments import sloctl_action
from tests.fixtures.experiments import CLOSED_TARGETS, SET_TARGETS
from tests.paths import ROOT

CASCADING = ROOT / "chaos" / "cascading-failure.json"
HOW = "give it with --config FILE or --set {key}=VALUE (`sloctl gameday rig` writes a --config file"


def _runs(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """``run_gameday`` replaced by a recorder of the experiments it was asked to run."""
    calls: list[Path] = []

    def recorded(experiment_path: Path, **_options: Any) -> GamedayResult:
        calls.append(experiment_path)
        raise AssertionError("a game day with unset targets started")

    monkeypatch.setattr(sloctl.chaos.gameday, "run_gameday", recorded)
    return calls


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry run", "real run"])
def test_a_generated_experiment_without_its_targets_is_a_usage_error_naming_each(
    dry_run: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _runs(monkeypatch)
    argv = ["gameday", "run", str(CASCADING), "--report-dir", str(tmp_path / "r"), *(["--dry-run"] * dry_run)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert [line.split(": ")[3] for line in lines[:-1]] == ["mongodb_uri", "redis_proxy_control_port"], err
    assert lines[0].startswith(
        f"sloctl gameday run: {CASCADING}: configuration: mongodb_uri: not set, and"
        " 'inject: mongodb_fail_command' and 2 more activities use it; " + HOW.format(key="mongodb_uri")
    ), err
    assert lines[-1] == f"sloctl gameday run: {CONFIGURATION_HINT}"
    assert "Traceback" not in err and calls == [] and not (tmp_path / "r").exists()


@pytest.mark.parametrize("unset", ["", " ", "0"], ids=["empty", "blank", "port zero"])
def test_a_target_set_empty_on_the_command_line_counts_as_unset(
    unset: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _runs(monkeypatch)
    key = "redis_proxy_control_port" if unset == "0" else "mongodb_uri"
    argv = ["gameday", "run", str(CASCADING), *SET_TARGETS, "--set", f"{key}={unset}", "--dry-run"]
    assert main([*argv, "--report-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert f": configuration: {key}: not set, and " in err and HOW.format(key=key) in err, err
    assert err.count("not set") == 1 and calls == []


def test_with_every_target_set_the_dry_run_plans_the_game_day(tmp_path: Path) -> None:
    result = run_gameday(CASCADING, configuration=CLOSED_TARGETS, out_dir=tmp_path / "r", dry_run=True)
    assert result.verdict == "dry-run", result.reasons


def test_the_library_refuses_as_the_cli_does(tmp_path: Path) -> None:
    with pytest.raises(ExperimentValueError) as raised:
        run_gameday(CASCADING, configuration={"api_url": "http://127.0.0.1:9"}, dry_run=True)
    assert [p.split(": ")[2] for p in raised.value.problems] == ["mongodb_uri", "redis_proxy_control_port"]


def _own(tmp_path: Path, configuration: dict[str, Any], arguments: dict[str, Any]) -> Path:
    """An experiment of one probe of ``arguments`` and one action (a method needs one)."""
    probe = sloctl_action("probe: reads", "redis_client_pause", arguments)
    probe["type"] = "probe"
    experiment = {
        "title": "own",
        "description": "own",
        "configuration": configuration,
        "steady-state-hypothesis": {"title": "t", "probes": [{**probe, "tolerance": True}]},
        "method": [
            sloctl_action("inject: pause", "redis_client_pause", {"url": "${redis_url}", "seconds": 1})
        ],
    }
    path = tmp_path / "own.json"
    path.write_text(json.dumps(experiment))
    return path


@pytest.mark.parametrize(
    ("configuration", "arguments", "unset"),
    [
        pytest.param({"redis_url": ""}, {"url": "${redis_url}"}, ["redis_url"], id="its own empty value"),
        pytest.param(
            {"redis_url": "redis://127.0.0.1:9", "mongodb_uri": ""},
            {"note": ["a list", {"deep": "reads ${mongodb_uri}/db"}]},
            ["mongodb_uri"],
            id="a key inside a string, nested in the arguments",
        ),
        pytest.param(
            {"redis_url": "redis://127.0.0.1:9", "prometheus_url": ""},
            {"url": "${prometheus_url}"},
            [],
            id="prometheus_url: empty, the alerts are not measured",
        ),
        pytest.param(
            {"redis_url": "redis://127.0.0.1:9", "own_key": ""},
            {"url": "${own_key}"},
            [],
            id="a key of the experiment's own",
        ),
    ],
)
def test_only_the_targets_an_activity_uses_and_leaves_unset_are_refused(
    configuration: dict[str, Any], arguments: dict[str, Any], unset: list[str], tmp_path: Path
) -> None:
    path = _own(tmp_path, configuration, arguments)
    try:
        result = run_gameday(path, configuration={"api_url": "http://127.0.0.1:9"}, dry_run=True)
    except ExperimentValueError as exc:
        assert [p.split(": ")[2] for p in exc.problems] == unset, exc.problems
    else:
        assert unset == [] and result.verdict == "dry-run", result.reasons


def test_the_needed_keys_are_the_targets_the_api_keys_and_the_proxies() -> None:
    assert {*TARGETS} - NEEDED == {"prometheus_url"}
    assert NEEDED - {*TARGETS} == {
        "api_keys_file",
        "redis_proxy_control_port",
        "postgres_proxy_control_port",
        "mongodb_proxy_control_port",
    }
    assert set(CLOSED_TARGETS) == NEEDED


@pytest.mark.parametrize("value", ["null", "false"])
def test_a_value_of_another_kind_is_named_once_not_also_as_unset(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["gameday", "run", str(CASCADING), *SET_TARGETS, "--set", f"mongodb_uri={value}", "--dry-run"]
    assert main([*argv, "--report-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "mongodb_uri" in err and "not set" not in err, err
