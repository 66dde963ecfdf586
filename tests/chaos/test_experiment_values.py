"""The library refuses an experiment's own values that an action would clamp, as the CLI does:
``run_gameday`` (the entry every caller goes through, the CLI's and a scheduled run's) and
``run_gamedays`` (the whole sequence, before its first game day) raise, naming file, key and
bound; nothing runs and no report is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloctl.chaos.experiments import ExperimentValueError
from sloctl.chaos.gameday import run_gameday, run_gamedays
from sloctl.cli.main import main
from tests.chaos.experiments import experiment_with_own_block, sloctl_action
from tests.fixtures.experiments import CLOSED_TARGETS as TARGETS
from tests.fixtures.experiments import SET_TARGETS

PAUSE = sloctl_action(
    "inject: pause", "redis_client_pause", {"url": "${redis_url}", "seconds": "${pause_seconds}"}
)
SAID = (
    "inject: pause: seconds = 600 (configuration key pause_seconds): outside redis_client_pause's"
    " bound, 0.1 to 120"
)


def test_run_gameday_refuses_an_own_value_an_action_would_clamp_before_anything_runs(
    tmp_path: Path,
) -> None:
    """Before, only the CLI checked: a library caller's game day ran the pause clamped to 120 s
    for the 600 asked, without a word (a dry run, which checks as a real run does, so that the
    test never starts a fault on the code before the fix)."""
    path = experiment_with_own_block(tmp_path, {"pause_seconds": 600}, [PAUSE])
    with pytest.raises(ExperimentValueError) as raised:
        run_gameday(path, configuration=TARGETS, out_dir=tmp_path / "report", dry_run=True)
    assert raised.value.problems == (f"{path}: {SAID}",)
    assert str(raised.value).splitlines()[0] == f"{path}: {SAID}"
    assert not (tmp_path / "report").exists()


def test_a_value_the_caller_s_configuration_replaces_is_not_refused(tmp_path: Path) -> None:
    path = experiment_with_own_block(tmp_path, {"gameday_seconds": 900}, [])
    with pytest.raises(ExperimentValueError, match="gameday_seconds: must be between 1 and 300"):
        run_gameday(path, configuration=TARGETS, dry_run=True)
    result = run_gameday(path, configuration={**TARGETS, "gameday_seconds": 60}, dry_run=True)
    assert result.verdict == "dry-run", result.reasons


def test_run_gamedays_refuses_the_sequence_before_its_first_game_day(tmp_path: Path) -> None:
    good = experiment_with_own_block(tmp_path, {}, [], name="good")
    bad = experiment_with_own_block(tmp_path, {"pause_seconds": 600}, [PAUSE], name="bad")
    said: list[str] = []
    with pytest.raises(ExperimentValueError) as raised:
        run_gamedays(
            [good, bad],
            configuration=TARGETS,
            out_dir=tmp_path / "reports",
            dry_run=True,
            progress=said.append,
        )
    assert raised.value.problems == (f"{bad}: {SAID}",)
    assert said == [] and not (tmp_path / "reports").exists()


def test_the_cli_says_the_same_lines_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = experiment_with_own_block(tmp_path, {"pause_seconds": 600}, [PAUSE])
    argv = ["gameday", "run", str(path), *SET_TARGETS, "--dry-run"]
    assert main([*argv, "--report-dir", str(tmp_path / "report")]) == 2
    assert capsys.readouterr().err == (
        f"sloctl gameday run: {path}: {SAID}\n"
        "sloctl gameday run: (the configuration keys, their types and ranges:"
        " docs/gameday.md, Configuration)\n"
    )
    assert not (tmp_path / "report").exists()
