"""``sloctl gameday schedule``: the repository's schedule file becomes systemd timers
(checked by systemd-analyze when present), Kubernetes CronJobs and a GitHub workflow."""

from __future__ import annotations

import bisect
import datetime
import functools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sloctl.chaos.schedule import (
    GamedayEntry,
    Schedule,
    ScheduleError,
    _overlap,
    _shared_minute,
    check_overlaps,
    cron_to_oncalendar,
    load_schedule,
    render_cronjob,
    render_github_workflow,
    render_systemd,
)
from sloctl.cli.main import main
from sloctl.errors import SpecErrors
from tests.fixtures.experiments import CLOSED_TARGETS
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


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 10 31 4,6 *", "cron '0 10 31 4,6 *': never fires, none of its months has such a day"),
        ("0 10 30 2 *", "cron '0 10 30 2 *': never fires, none of its months has such a day"),
        ("0 10 * * 5-1", "cron '0 10 * * 5-1': weekday range 5-1 runs backwards"),
        ("0 22-6 * * *", "cron '0 22-6 * * *': hour range 22-6 runs backwards"),
    ],
)
def test_a_cron_that_never_fires_or_runs_backwards_is_refused(cron: str, message: str) -> None:
    """Both were written as timers and CronJobs, exit 0: a game day that never ran (the 31st of
    April), or whose range systemd and Kubernetes read differently."""
    with pytest.raises(ScheduleError) as info:
        cron_to_oncalendar(cron)
    assert str(info.value) == message
    assert cron_to_oncalendar("0 10 29 2 *") == "*-02-29 10:00:00 UTC"  # leap years only, but fires


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


def _service_and_cronjob(schedule: Schedule) -> tuple[str, dict[str, Any]]:
    """The first game day's systemd service and CronJob container, given ``REDIS_URL``."""
    service = next(iter(render_systemd(schedule, ["REDIS_URL"]).values()))
    job = next(d for d in yaml.safe_load_all(render_cronjob(schedule, ["REDIS_URL"])) if d)
    return service, job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize(
    "given",
    [
        {},
        {
            "workingDirectory": "/srv/sloctl",
            "environmentFile": "/etc/sloctl/staging.env",
            "secret": "gd.staging",
        },
    ],
)
def test_the_services_folder_variables_file_and_secret_are_the_schedule_s(
    tmp_path: Path, given: dict[str, str]
) -> None:
    """Defaults as before; each given in the file reaches its output (a second deployment on one
    cluster or host keeps its variables apart)."""
    path = tmp_path / "schedule.yaml"
    fields = "".join(f"  {k}: {v}\n" for k, v in given.items())
    path.write_text(SCHEDULE.read_text().replace("spec:\n", "spec:\n" + fields, 1))
    service, container = _service_and_cronjob(load_schedule(path))
    folder = given.get("workingDirectory", "%h/sloctl")
    assert f"\nWorkingDirectory={folder}\n" in service
    assert f"\nEnvironmentFile={given.get('environmentFile', '%h/.config/sloctl/gameday.env')}\n" in service
    secret = given.get("secret", "sloctl-gameday")
    assert container["env"] == [
        {"name": "REDIS_URL", "valueFrom": {"secretKeyRef": {"name": secret, "key": "REDIS_URL"}}}
    ]


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


def _schedule(tmp_path: Path, *entries: str) -> Path:
    path = tmp_path / "schedule.yaml"
    path.write_text(
        "apiVersion: sloctl/v1\nkind: GamedaySchedule\nspec:\n  gamedays:\n"
        + "".join(f"    - {{{e}}}\n" for e in entries)
    )
    return path


CONNECTION_LOSS = f"experiment: {ROOT / 'chaos' / 'connection-loss.json'}"


def test_two_game_days_of_one_experiment_are_refused_at_the_second_unless_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """systemd kept one timer (the first cron was lost) and Kubernetes got two CronJobs of one
    name, exit 0."""
    out = tmp_path / "out"
    twice = _schedule(
        tmp_path, f"{CONNECTION_LOSS}, cron: '0 10 8 1 *'", f"{CONNECTION_LOSS}, cron: '0 10 8 7 *'"
    )
    assert main(["gameday", "schedule", "--file", str(twice), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert (
        f"error: {twice}:6:8: spec.gamedays[1]: game day name 'connection-loss' is already that of"
        " spec.gamedays[0] (line 5)"
    ) in err, err
    assert "give one of them its own 'name:'" in err and not out.exists()
    named = _schedule(
        tmp_path,
        f"{CONNECTION_LOSS}, cron: '0 10 8 1 *'",
        f"{CONNECTION_LOSS}, cron: '0 10 8 7 *', name: connection-loss-july",
    )
    assert main(["gameday", "schedule", "--file", str(named), "-o", str(out)]) == 0
    timers = sorted(p.name for p in (out / "systemd").glob("*.timer"))
    assert timers == ["sloctl-gameday-connection-loss-july.timer", "sloctl-gameday-connection-loss.timer"]
    jobs = [d for d in yaml.safe_load_all((out / "kubernetes" / "cronjobs.yaml").read_text()) if d]
    assert [(j["metadata"]["name"], j["spec"]["schedule"]) for j in jobs] == [
        ("sloctl-gameday-connection-loss", "0 10 8 1 *"),
        ("sloctl-gameday-connection-loss-july", "0 10 8 7 *"),
    ]


MEMORY = f"experiment: {ROOT / 'chaos' / 'memory-exhaustion.json'}"


@pytest.mark.parametrize(
    ("first", "second", "clash"),
    [
        # The GitHub workflow picks the game day by the cron that fired: only the first ran.
        (
            "0 10 8 1 *",
            "0 10 8 1 *",
            "cron '0 10 8 1 *' is already that of spec.gamedays[0] (line 5): two game days at once"
            " would measure each other's faults, and the GitHub workflow would run only the first",
        ),
        # Every day at 10:00 and Mondays at 10:00 were accepted: two game days at once on Mondays.
        (
            "0 10 * * *",
            "0 10 * * 1",
            "cron '0 10 * * 1' fires at Mon 1 Jan 10:00 UTC, as does spec.gamedays[0] (line 5)'s"
            " '0 10 * * *': two game days at once would measure each other's faults",
        ),
    ],
)
def test_two_game_days_in_one_minute_are_refused(tmp_path: Path, first: str, second: str, clash: str) -> None:
    both = _schedule(tmp_path, f"{CONNECTION_LOSS}, cron: '{first}'", f"{MEMORY}, cron: '{second}'")
    with pytest.raises(SpecErrors) as info:
        load_schedule(both)
    assert str(info.value) == f"{both}:6:8: spec.gamedays[1]: {clash}; move one"
    apart = _schedule(tmp_path, f"{CONNECTION_LOSS}, cron: '{first}'", f"{MEMORY}, cron: '30 10 * * 1'")
    assert len(load_schedule(apart).gamedays) == 2


def _values(field: str) -> frozenset[int] | None:
    """The values one cron field lists, range by range (None for ``*``: every value)."""
    if field == "*":
        return None
    values: set[int] = set()
    for part in field.split(","):
        low, _, high = part.partition("-")
        values.update(range(int(low), int(high or low) + 1))
    return frozenset(values)


@functools.cache
def _reading(cron: str) -> tuple[frozenset[int] | None, ...]:
    """Each field's values (minute, hour, day, month, weekday; a weekday 7 is Sunday, 0 too),
    read once a cron: the oracle below asks millions of times about a few crons."""
    minute, hour, day, month, weekday = map(_values, cron.split())
    if weekday is not None and 7 in weekday:
        weekday |= {0}
    return minute, hour, day, month, weekday


def _fires_on(cron: str, at: datetime.datetime) -> bool:
    """A brute-force reading of the cron subset, independent of the module's: the oracle."""
    minute, hour, day, month, weekday = _reading(cron)
    return (
        (minute is None or at.minute in minute)
        and (hour is None or at.hour in hour)
        and (month is None or at.month in month)
        and (day is None or at.day in day)
        and (weekday is None or at.isoweekday() % 7 in weekday)
    )


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    part = st.one_of(
        number.map(str),
        st.tuples(number, number).map(lambda ab: f"{min(ab)}-{max(ab)}"),
    )
    return st.one_of(st.just("*"), st.lists(part, min_size=1, max_size=3).map(",".join))


_CRON = st.tuples(_field(0, 2), _field(9, 10), _field(27, 31), _field(1, 3), _field(0, 7)).map(
    lambda f: " ".join(f if f[2] == "*" or f[4] == "*" else (*f[:4], "*"))
)


@settings(max_examples=60, deadline=None)
@given(a=_CRON, b=_CRON)
def test_two_crons_clash_exactly_when_a_minute_of_28_years_fires_both(a: str, b: str) -> None:
    """The analytic overlap against every minute they could share, day by day for 28 years (the
    weekday-date cycle) from a Monday 1 January: small fields so that both cases come often."""
    try:
        cron_to_oncalendar(a), cron_to_oncalendar(b)
    except ScheduleError:
        return  # never fires: refused on its own
    start = datetime.datetime(2024, 1, 1)
    first = next(
        (
            at
            for days in range(28 * 365 + 7)
            for hour in (9, 10)
            for minute in (0, 1, 2)
            if _fires_on(a, at := start + datetime.timedelta(days=days, hours=hour, minutes=minute))
            and _fires_on(b, at)
        ),
        None,
    )
    clash = _shared_minute(a, b)
    if first is None:
        assert clash is None
    else:
        assert clash is not None and clash.startswith(f"{first:%a} {first.day} {first:%b}"), (clash, first)


@pytest.mark.parametrize("command", ["schedule", "suite"])
def test_every_experiment_of_the_schedule_must_be_a_file(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """schedule wrote timers for chaos/does-not-exist.json and for 42, exit 0; suite refused."""
    bad = _schedule(
        tmp_path,
        "experiment: chaos/does-not-exist.json, cron: '0 10 8 1 *'",
        "experiment: 42, cron: '0 10 8 2 *'",
        f"experiment: {tmp_path}, cron: '0 10 8 3 *'",
    )
    out = tmp_path / "out"
    extra = ["-o", str(out)] if command == "schedule" else ["--dry-run", "--report-dir", str(out)]
    assert main(["gameday", command, "--file", str(bad), *extra]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: {bad}:5:8: spec.gamedays[0].experiment: chaos/does-not-exist.json: no such file",
        f"error: {bad}:6:8: spec.gamedays[1].experiment: 42: no such file",
        f"error: {bad}:7:8: spec.gamedays[2].experiment: {tmp_path}: a folder, not an experiment file",
        "3 error(s) in 1 file(s)",
    ]
    assert not out.exists()


@pytest.mark.parametrize("command", [["schedule"], ["suite", "--dry-run"]])
def test_a_missing_default_schedule_is_a_usage_error_saying_how_to_start_one(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a fresh folder (after `gameday generate`): `chaos/schedule.yaml:1:1: no such file or
    directory`, exit 1, no hint."""
    monkeypatch.chdir(tmp_path)
    assert main(["gameday", *command]) == 2
    err = capsys.readouterr().err
    assert f"--file: the default chaos/schedule.yaml is not in {tmp_path}" in err, err
    assert "write a GamedaySchedule there (its format: docs/gameday.md, Schedule)" in err
    assert list(tmp_path.iterdir()) == []


def test_a_game_day_that_starts_while_another_may_hold_the_targets_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """10:00 daily and 10:15 on Mondays were accepted: on Mondays the second found the targets
    held by the first (its game day, recovery and 15-minute resolve deadline: 22 minutes with
    the margin) and was refused, exit 1, the calendar saying nothing of it."""
    monkeypatch.chdir(tmp_path)  # no chaos/targets.json: a Prometheus assumed, the longest
    out = tmp_path / "out"
    both = _schedule(tmp_path, f"{CONNECTION_LOSS}, cron: '0 10 * * *'", f"{MEMORY}, cron: '15 10 * * 1'")
    assert main(["gameday", "schedule", "--file", str(both), "-o", str(out)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: {both}:6:8: spec.gamedays[1]: cron '15 10 * * 1' fires at Mon 1 Jan 10:15 UTC, 15"
        " minutes after spec.gamedays[0] (line 5) started at Mon 1 Jan 10:00 ('0 10 * * *'), while"
        " that game day may last 22 minutes (its maintenance window): two game days at once would"
        " measure each other's faults, and the later run would find the targets held and be"
        " refused; move one",
        "1 error(s) in 1 file(s)",
    ]
    assert not out.exists()
    # Without a Prometheus in the config the pages are not waited for: 7 minutes.
    (tmp_path / "targets.json").write_text(json.dumps(CLOSED_TARGETS))
    config = both.read_text().replace("spec:\n", f"spec:\n  config: {tmp_path / 'targets.json'}\n")
    both.write_text(config)
    assert main(["gameday", "schedule", "--file", str(both), "-o", str(out)]) == 0
    assert len(list(out.rglob("*"))) > 1


def test_a_config_that_leaves_a_game_day_s_target_unset_is_refused_at_its_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timers run `gameday run --config <spec.config>`, which refuses a target left unset
    (exit 2): on the day, before. `schedule` says so now, while the config file is there."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    both = _schedule(tmp_path, f"{CONNECTION_LOSS}, cron: '0 10 * * 1'", f"{MEMORY}, cron: '0 10 * * 3'")
    config = tmp_path / "targets.json"
    both.write_text(both.read_text().replace("spec:\n", f"spec:\n  config: {config}\n"))
    config.write_text(json.dumps({key: v for key, v in CLOSED_TARGETS.items() if key != "redis_url"}))
    assert main(["gameday", "schedule", "--file", str(both), "-o", str(out)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(
        f"error: {both}:7:8: spec.gamedays[1].experiment: {MEMORY.split(': ')[1]}: redis_url: not set, and"
        " 'inject: redis_maxmemory_squeeze' and 2 more activities use it; add it to spec.config"
        f" {config}, or its timer will exit 2 on the day"
    ), err
    assert err[1:] == ["1 error(s) in 1 file(s)"] and not out.exists()
    config.unlink()  # not there yet (the deployment or the rig writes it): nothing to check
    assert main(["gameday", "schedule", "--file", str(both), "-o", str(out)]) == 0


@pytest.mark.parametrize(
    ("cron", "said"),
    [
        ("0,10 10 * * *", "fires again at Mon 1 Jan 10:10 UTC, 10 minutes after it fired at Mon 1 Jan 10:00"),
        (
            "5,50 0,23 * * *",
            "fires again at Tue 2 Jan 00:05 UTC, 15 minutes after it fired at Mon 1 Jan 23:50",
        ),
        ("0,30 10 * * *", None),
        ("50 23 * * *", None),
    ],
)
def test_a_game_day_that_starts_again_before_its_last_run_may_be_over_is_refused(
    cron: str, said: str | None
) -> None:
    entry = GamedayEntry("x.json", cron, "x")
    schedule = Schedule("s", "i", "c", (entry,), "s.yaml")
    if said is None:
        check_overlaps(schedule, [22])
        return
    with pytest.raises(SpecErrors) as info:
        check_overlaps(schedule, [22])
    assert f"spec.gamedays[0]: cron {cron!r} {said}, while its game day may last 22 minutes" in str(
        info.value
    )


def _numbers(low: int, high: int) -> st.SearchStrategy[str]:
    """A cron field of numbers, lists and ranges, never ``*``: every firing stays in the
    oracle's few minutes of the day."""
    number = st.integers(low, high)
    part = st.one_of(number.map(str), st.tuples(number, number).map(lambda ab: f"{min(ab)}-{max(ab)}"))
    return st.lists(part, min_size=1, max_size=3).map(",".join)


_TIMED_CRON = st.tuples(_numbers(0, 2), _numbers(9, 10), _field(27, 31), _field(1, 3), _field(0, 7)).map(
    lambda f: " ".join(f if f[2] == "*" or f[4] == "*" else (*f[:4], "*"))
)


def _firings(cron: str) -> list[datetime.datetime]:
    """Every firing of ``cron`` (at 09:00-10:02) in 28 years from a Monday 1 January, by the
    brute-force reading: its date first, then each of the six minutes."""
    date_only = "* * " + " ".join(cron.split()[2:])
    start = datetime.datetime(2024, 1, 1)
    days = (start + datetime.timedelta(days=n) for n in range(28 * 366 + 1))
    return [
        at
        for day in days
        if _fires_on(date_only, day)
        for hour in (9, 10)
        for minute in (0, 1, 2)
        if _fires_on(cron, at := day.replace(hour=hour, minute=minute))
    ]


@settings(max_examples=40, deadline=None)
@given(a=_TIMED_CRON, b=_TIMED_CRON, length=st.integers(1, 24 * 60))
def test_two_crons_overlap_exactly_when_one_fires_within_the_others_length(
    a: str, b: str, length: int
) -> None:
    """The analytic answer against every firing of 28 years (the weekday-date cycle), whose
    nearest later firing of the other cron is measured: the same day or the next."""
    try:
        cron_to_oncalendar(a), cron_to_oncalendar(b)
    except ScheduleError:
        return
    later = _firings(b)
    expected = any(
        (later[k] - at).total_seconds() / 60 < length
        for at in _firings(a)
        if (k := bisect.bisect_left(later, at)) < len(later)
    )
    assert (_overlap(a, length, b) is not None) == expected, (a, b, length)


def test_an_experiment_that_is_not_json_is_named_at_its_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    schedule = _schedule(tmp_path, f"experiment: {broken}, cron: '0 10 8 1 *'")
    assert main(["gameday", "schedule", "--file", str(schedule), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: {schedule}:5:8: spec.gamedays[0].experiment: {broken}: not an experiment's JSON:"
    )
    assert "Traceback" not in err and not (tmp_path / "out").exists()
