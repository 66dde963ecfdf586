"""``sloctl gameday schedule``: the repository's schedule file becomes systemd timers
(checked by systemd-analyze when present), Kubernetes CronJobs and a GitHub workflow."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sloctl.chaos.schedule import (
    ScheduleError,
    cron_to_oncalendar,
    load_schedule,
    render_cronjob,
    render_github_workflow,
    render_systemd,
)
from sloctl.cli.main import main
from tests.paths import ROOT

SCHEDULE = ROOT / "chaos" / "schedule.yaml"


@pytest.mark.parametrize(
    ("cron", "calendar"),
    [
        ("0 10 8 1,4,7,10 *", "*-01,04,07,10-08 10:00:00 UTC"),
        ("30 9 * * 1-5", "Mon..Fri *-*-* 09:30:00 UTC"),
        ("5 0 1 * *", "*-*-01 00:05:00 UTC"),
        ("0 12 * * 0", "Sun *-*-* 12:00:00 UTC"),
    ],
)
def test_cron_becomes_the_same_systemd_calendar(cron: str, calendar: str) -> None:
    assert cron_to_oncalendar(cron) == calendar


@pytest.mark.parametrize("cron", ["*/5 * * * *", "0 10 8 1 1", "0 25 * * *", "0 10 * *", "@daily"])
def test_cron_that_systemd_cannot_say_the_same_way_is_refused(cron: str) -> None:
    with pytest.raises(ScheduleError):
        cron_to_oncalendar(cron)


def test_the_repository_schedule_covers_the_five_game_days() -> None:
    schedule = load_schedule(SCHEDULE)
    experiments = {Path(e.experiment).name for e in schedule.gamedays}
    assert experiments == {p.name for p in (ROOT / "chaos").glob("*.json")}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_accepts_every_timer_calendar() -> None:
    files = render_systemd(load_schedule(SCHEDULE))
    assert len(files) == 10
    for name, text in files.items():
        if name.endswith(".timer"):
            calendar = next(line for line in text.splitlines() if line.startswith("OnCalendar="))
            done = subprocess.run(
                ["systemd-analyze", "calendar", calendar.split("=", 1)[1]],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert done.returncode == 0, done.stderr
        else:
            assert "KillSignal=SIGINT" in text and "ExecStart=sloctl gameday run chaos/" in text


def test_cronjobs_and_workflow_schedule_each_game_day() -> None:
    schedule = load_schedule(SCHEDULE)
    jobs = [d for d in yaml.safe_load_all(render_cronjob(schedule)) if d]
    assert [j["spec"]["schedule"] for j in jobs] == [e.cron for e in schedule.gamedays]
    for job in jobs:
        assert job["apiVersion"] == "batch/v1" and job["kind"] == "CronJob"
        assert job["spec"]["concurrencyPolicy"] == "Forbid"
        container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        assert container["args"][:2] == ["gameday", "run"]
    workflow = yaml.safe_load(render_github_workflow(schedule))
    assert [s["cron"] for s in workflow["on"]["schedule"]] == [e.cron for e in schedule.gamedays]
    pick = workflow["jobs"]["gameday"]["steps"][3]["run"]
    for entry in schedule.gamedays:
        assert f'"{entry.cron}") echo "experiment={entry.experiment}"' in pick


def test_the_cli_writes_the_three_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gameday", "schedule", "--file", str(SCHEDULE), "-o", str(tmp_path)]) == 0
    assert (tmp_path / "kubernetes" / "cronjobs.yaml").is_file()
    assert (tmp_path / "github" / "gameday.yml").is_file()
    assert len(list((tmp_path / "systemd").iterdir())) == 10
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: sloctl/v1\nkind: GamedaySchedule\nspec: {gamedays: []}\n")
    assert main(["gameday", "schedule", "--file", str(bad), "-o", str(tmp_path)]) == 1
    assert f"error: {bad}:3:18: spec.gamedays: no game day scheduled" in capsys.readouterr().err
