"""The command line: exit codes, no tracebacks, and each command doing its job end to end."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from sloctl.calendars import period_bounds as calendar_bounds
from sloctl.cli import serve as serve_command
from sloctl.cli.main import main
from sloctl.durations import HOUR, parse_duration
from sloctl.model import CalendarUnit
from tests.fixtures import string_code_signal
from tests.fixtures.cli import SLOCTL, run_sloctl, sigint_as_in_a_terminal, start_sloctl
from tests.fixtures.specs import events_slo, service_doc
from tests.paths import ROOT
from tests.waiting import wait_until

SLOS = ROOT / "slos"


def test_validate_accepts_the_bundled_slos() -> None:
    proc = run_sloctl("validate", str(SLOS))
    assert proc.returncode == 0, proc.stderr
    assert "valid: 15 SLO(s) of 3 service(s) in 3 file(s)" in proc.stdout


def test_invalid_input_exits_1_with_every_error_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        service_doc(
            "x",
            [
                "- {name: a, objective: 120, sli: {events: {errorQuery: 'x', totalQuery: 'x'}}}",
                "- {name: b, objective: 99, sli: {latency: {histogram: h, threshold: 200}}}",
            ],
        )
    )
    proc = run_sloctl("validate", str(bad))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    # at the value's own line and column, not the SLO's
    column = bad.read_text().splitlines()[5].index("120") + 1
    assert f"{bad}:6:{column}: spec.slos[0].objective: objective 120 is outside (0, 100)" in proc.stderr
    assert f"{bad}:7:" in proc.stderr and "has no unit" in proc.stderr
    assert "error(s) in 1 file(s)" in proc.stderr


@pytest.mark.parametrize(
    "content", [b"\x00\xff\xfe garbage", b"", b"{{{{", b"- - - -\n  : :", "é: ü\n".encode("utf-16")]
)
def test_garbage_never_produces_a_traceback(tmp_path: Path, content: bytes) -> None:
    f = tmp_path / "g.yaml"
    f.write_bytes(content)
    proc = run_sloctl("validate", str(f))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "error:" in proc.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("argv", [["schema"], ["validate", str(SLOS)], ["explain", str(SLOS)]])
def test_output_that_cannot_be_written_is_said_once_without_a_traceback(argv: list[str]) -> None:
    """A full disk under ``> out.json``: the command says so and exits 1."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run([*SLOCTL, *argv], stdout=full, stderr=subprocess.PIPE, text=True, check=False)
    assert proc.returncode == 1
    assert proc.stderr == f"sloctl {argv[0]}: standard output: No space left on device\n"


def test_errors_at_one_place_are_listed_in_the_same_order_whatever_the_hash_seed(tmp_path: Path) -> None:
    """Two errors at ``period: 1s`` came out in either order from one run to the next (a set
    sorted by location alone): CI logs and golden files must not flap."""
    spec = tmp_path / "p.yaml"
    spec.write_text(service_doc("svc", [events_slo("avail", period="1s")]))
    outputs = {
        run_sloctl("validate", str(spec), env={**os.environ, "PYTHONHASHSEED": str(seed)}).stderr
        for seed in range(1, 7)
    }
    assert len(outputs) == 1, outputs
    assert outputs.pop().count("spec.slos[0].period:") == 2


def test_usage_errors_exit_2() -> None:
    assert run_sloctl("validate").returncode == 2
    assert run_sloctl("no-such-command").returncode == 2
    assert run_sloctl("generate", str(SLOS)).returncode == 2  # -o is required
    assert run_sloctl().returncode == 2


def test_a_missing_path_is_an_input_error() -> None:
    proc = run_sloctl("validate", "/nonexistent/slos")
    assert proc.returncode == 1 and "no such file or directory" in proc.stderr


@pytest.mark.parametrize(
    ("made", "said"),
    [
        ("loop", "cannot read: Too many levels of symbolic links"),
        ("under a file", "cannot read: Not a directory"),
    ],
)
def test_a_path_that_is_there_but_cannot_be_reached_says_why_as_a_project_file_would(
    made: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both said "no such file or directory", which sent the user looking for a typo."""
    if made == "loop":
        path = tmp_path / "a.yaml"
        path.symlink_to(tmp_path / "b.yaml")
        (tmp_path / "b.yaml").symlink_to(path)
    else:
        (tmp_path / "slo.yaml").write_text("")
        path = tmp_path / "slo.yaml" / "x.yaml"
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().err == f"error: {path}:1:1: {said}\n1 error(s) in 1 file(s)\n"
    assert main(["validate", str(SLOS), "--config", str(path)]) == 1  # worded alike
    assert f"error: {path}:1:1: {said}\n" in capsys.readouterr().err


def test_a_project_file_that_cannot_be_read_is_worded_as_an_slo_file_would_be(tmp_path: Path) -> None:
    missing = run_sloctl("validate", str(SLOS), "--config", str(tmp_path / "sloctl.yaml"))
    assert missing.returncode == 1
    assert missing.stderr.startswith(f"error: {tmp_path / 'sloctl.yaml'}:1:1: no such file or directory\n")
    folder = run_sloctl("validate", str(SLOS), "--config", str(tmp_path))  # read() fails: a directory
    assert folder.returncode == 1
    assert folder.stderr.startswith(f"error: {tmp_path}:1:1: cannot read: Is a directory\n"), folder.stderr


def test_schema_is_valid_json_schema_and_every_bundled_slo_file_validates_against_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    files = sorted(SLOS.glob("*.yaml"))
    assert files
    for f in files:
        for doc in yaml.safe_load_all(f.read_text()):
            errors = list(validator.iter_errors(doc))
            assert not errors, (f, [e.message for e in errors])
    # and the schema rejects what the loader rejects, for the common mistakes
    bad = yaml.safe_load((SLOS / "platform-api.yaml").read_text())
    bad["spec"]["slos"][0]["objectiv"] = 99
    assert list(validator.iter_errors(bad))


def test_the_checked_in_schema_matches_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    main(["schema"])
    assert (ROOT / "docs" / "sloctl-v1.schema.json").read_text() == capsys.readouterr().out


def test_explain_reports_budgets_windows_and_detection_times(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(SLOS / "platform-api.yaml"), "-o", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    availability = next(d for d in data if d["id"] == "platform-api-availability")
    assert availability["error_budget_minutes"] == pytest.approx(43.2)
    quick = availability["tiers"][0]
    assert quick["tier"] == "page_quick" and quick["burn_factor"] == 14.4
    assert quick["trips_at_error_ratio"] == pytest.approx(0.0144)
    assert quick["budget_spent_at_threshold_percent"] == 2
    # the plan's detection target: a full outage pages in under 5 minutes
    assert quick["full_outage_detection_seconds"] < 300
    # the quick page's long window is its twelve 5m tiles, no ramp: as fast as raw-window rules
    # (51.8 s of a full outage fill 1.44 % of an hour, then a scrape and an evaluation)
    assert quick["long_window_source"] == "5m tiles"
    # where a tile is older than the recordings' history, the hour's summed recordings stand in
    assert quick["long_window_fallback"] == "5m recordings"
    assert quick["full_outage_detection_seconds"] == 172
    assert availability["tiers"][1]["long_window_source"] == "5m recordings"
    assert availability["tiers"][1]["long_window_fallback"] is None
    assert availability["policy"][:2] == [
        "at or below 50% of the budget left: notify",
        "at or below 0% of the budget left: freeze",
    ]
    latency = next(d for d in data if d["id"] == "platform-api-latency")
    assert latency["budgeting"] == "timeslices"
    assert "p95 latency is at most 200ms" in latency["meaning"]
    assert latency["error_budget_slices"] == pytest.approx(43.2)
    # one bad 5m slice in an hour is 2.3 % of a 43.2-slice budget: the quick page's 2 %
    assert [t["trips_at_bad_slices"] for t in latency["tiers"]] == [1, 3, 5, 5]
    assert main(["explain", str(SLOS)]) == 0
    text = capsys.readouterr().out
    assert "platform-jobs-backups" in text and "page_slow (off)" in text
    assert "1h*/5m" in text and "Timeslices:" in text


def test_explain_gives_the_budget_in_events_at_a_traffic_and_refuses_a_traffic_that_is_not_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = str(SLOS / "platform-api.yaml")
    assert main(["explain", spec, "-o", "json", "--requests-per-second", "50"]) == 0
    explained = json.loads(capsys.readouterr().out)
    availability = next(d for d in explained if d["id"] == "platform-api-availability")
    assert availability["error_budget_events"] == round(0.001 * 50 * 30 * 86400)
    for value in ("nan", "inf", "-5", "0", "fifty"):
        with pytest.raises(SystemExit) as exited:
            main(["explain", spec, "--requests-per-second", value])
        assert exited.value.code == 2, value
        err = capsys.readouterr().err
        assert "argument --requests-per-second:" in err and "Traceback" not in err, err


CALENDARS = [
    ("month", "Europe/Paris"),
    ("month", "UTC"),
    ("week", "UTC"),
    ("week", "Asia/Kolkata"),
    ("week", "America/New_York"),
    ("quarter", "America/New_York"),
    ("quarter", "Australia/Lord_Howe"),
]


def period_lengths(unit: CalendarUnit, zone: str) -> set[int]:
    """The oracle: every period of ten years, local midnight to local midnight, from the zone
    database (a zone without DST has weeks of exactly 7 days, and Paris no DST change in
    February)."""
    lengths, t = set(), calendar_bounds(unit, zone, 1767225600)[0]  # 2026-01-01
    while t < 2082758400:  # 2036-01-01
        start, end = calendar_bounds(unit, zone, t)
        lengths.add(end - start)
        t = end
    return lengths


@pytest.mark.parametrize(("unit", "zone"), CALENDARS, ids=[f"{u}-{z}" for u, z in CALENDARS])
def test_explain_gives_a_calendar_periods_factors_for_its_shortest_and_longest_period(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], unit: CalendarUnit, zone: str
) -> None:
    spec = tmp_path / "calendar.yaml"
    calendar = f"calendar: {{unit: {unit}, timeZone: {zone}}}"
    spec.write_text(service_doc("shop", [events_slo("cal", extra=calendar)]))
    assert main(["explain", str(spec), "-o", "json"]) == 0
    (explained,) = json.loads(capsys.readouterr().out)
    assert explained["period"] == unit
    assert f"each calendar {unit} in {zone}" in explained["meaning"]
    lengths = period_lengths(unit, zone)
    quick = explained["tiers"][0]
    share = quick["budget_spent_at_threshold_percent"] / 100
    window = parse_duration(quick["long_window"])
    expected = [round(share * min(lengths) / window, 2), round(share * max(lengths) / window, 2)]
    assert quick["burn_factor_range"] == expected
    text = tmp_path / "text"
    assert main(["explain", str(spec)]) == 0
    text.write_text(capsys.readouterr().out)
    low, high = expected
    shown = f"{low:g}x" if low == high else f"{low:g}-{high:g}x"
    assert f"  {shown}  " in text.read_text().splitlines()[5], text.read_text()


@pytest.mark.parametrize(("unit", "zone"), [("month", "Europe/Paris"), ("week", "America/New_York")])
def test_explain_gives_a_calendar_tiers_trip_ratio_detection_and_budget_used_in_its_shortest_and_longest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], unit: CalendarUnit, zone: str
) -> None:
    spec = tmp_path / "calendar.yaml"
    spec.write_text(
        service_doc("shop", [events_slo("cal", extra=f"calendar: {{unit: {unit}, timeZone: {zone}}}")])
    )
    assert main(["explain", str(spec), "-o", "json"]) == 0
    (explained,) = json.loads(capsys.readouterr().out)
    budget = explained["error_budget_ratio"]
    quick = explained["tiers"][0]
    assert quick["long_window_source"] == "5m tiles" and quick["for_"] == "0s"
    share = quick["budget_spent_at_threshold_percent"] / 100
    periods = (min(period_lengths(unit, zone)), max(period_lengths(unit, zone)))
    # docs/rules.md: the quick page trips above share × period / 1h × budget, and a full outage
    # (a burn of 1 / budget) is seen after 1h × factor × budget + a 1m scrape + a 1m evaluation
    trips = [share * p / HOUR * budget for p in periods]
    detected = [math.ceil(share * p * budget + 120) for p in periods]
    used = [round(100 * d / (budget * p), 4) for d, p in zip(detected, periods, strict=True)]
    assert quick["trips_at_error_ratio_range"] == pytest.approx(trips, rel=1e-12)
    assert quick["full_outage_detection_seconds_range"] == detected
    assert quick["budget_spent_before_full_outage_alert_percent_range"] == used
    assert used[0] > used[1]  # the shorter period's smaller budget: a larger share of it
    assert main(["explain", str(spec)]) == 0
    row = capsys.readouterr().out.splitlines()[5].split()
    assert row[3:4] == [f"{trips[0] * 100:.4f}-{trips[1] * 100:.4f}%"]
    assert row[-1] == f"{used[1]:.3f}-{used[0]:.3f}%"


def test_explain_prints_a_seven_nines_objective_and_its_budget_without_rounding_them_away(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "nines.yaml"
    spec.write_text(service_doc("core", [events_slo("write", objective="99.99999", period="7d")]))
    assert main(["explain", str(spec)]) == 0
    out = capsys.readouterr().out
    # 7 d × 1e-7 = 0.06048 s of full outage
    assert "promise: 99.99999% of events over a rolling 1w are good" in out, out
    assert "error budget 0.00001% = 0.0605 s of full outage, 1 error in 10,000,000 events" in out, out
    assert main(["explain", str(spec), "-o", "json"]) == 0
    (write,) = json.loads(capsys.readouterr().out)
    assert write["error_budget_minutes"] == pytest.approx(0.001008)


def test_commands_of_uninstalled_extras_explain_themselves_instead_of_crashing() -> None:
    proc = run_sloctl("--help")
    assert proc.returncode == 0
    for command in ("validate", "generate", "collector", "gameday", "backtest"):
        assert command in proc.stdout


def test_sloctl_test_without_promtool_says_how_to_install_it(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "PROMTOOL": str(tmp_path / "missing")}
    proc = run_sloctl("test", str(ROOT / "rules"), env=env)
    assert proc.returncode == 2
    assert "apt-get install prometheus" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("promtool", "said"),
    [
        ("/bin/true", "PROMTOOL=/bin/true is not promtool (its --version does not say promtool)"),
        ("/", "PROMTOOL=/ is not an executable file"),
    ],
    ids=["an executable that is not promtool", "a folder"],
)
def test_sloctl_test_refuses_a_promtool_that_is_not_one(
    promtool: str, said: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """/bin/true passed every check and rule test ("1 passed, 0 failed", exit 0): a green CI
    with nothing checked; a folder ran, each run "Permission denied", exit 1."""
    monkeypatch.setenv("PROMTOOL", promtool)
    assert main(["test", str(ROOT / "rules" / "platform-jobs.yml")]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"sloctl test: --engine default: {said}; on Debian/Ubuntu run"), err
    assert out == ""


#: every command that runs the default Prometheus engine, with what else it needs
WITH_ENGINE = {
    "test": ["test", str(ROOT / "rules" / "platform-jobs.yml")],
    "backtest": ["backtest", str(ROOT / "slos" / "platform-jobs.yaml"), "--scenario", "full_outage"],
    "gameday rig": ["gameday", "rig", "--for", "1s", "--slos", str(ROOT / "slos" / "platform-api.yaml")],
    "serve --demo": ["serve", "--demo", "--for", "1s", str(ROOT / "slos" / "platform-api.yaml")],
}


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("PROMETHEUS", "/", "PROMETHEUS=/ is not an executable file"),
        (
            "PROMETHEUS",
            "/bin/true",
            "PROMETHEUS=/bin/true is not prometheus (its --version does not say prometheus)",
        ),
        ("PROMTOOL", "/", "PROMTOOL=/ is not an executable file"),
    ],
    ids=["PROMETHEUS a folder", "PROMETHEUS not prometheus", "PROMTOOL a folder"],
)
@pytest.mark.parametrize("command", list(WITH_ENGINE))
def test_a_prometheus_or_promtool_variable_that_names_no_such_program_is_a_usage_error_before_any_work(
    command: str,
    variable: str,
    value: str,
    said: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """$PROMETHEUS was not checked (/bin/ls failed each replay at its start, "unrecognized
    option"), and either variable wrong was a traceback from ``gameday rig`` once its testbed
    had started, and from ``serve --demo``."""
    monkeypatch.setenv(variable, value)
    monkeypatch.chdir(tmp_path)  # the work folders, were any made
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # and the temporary ones
    assert main(WITH_ENGINE[command]) == 2
    out, err = capsys.readouterr()
    prog = command.split(" --")[0]
    assert err.startswith(f"sloctl {prog}: "), err
    assert said in err and "Traceback" not in err, err
    assert not any(tmp_path.iterdir()) and out == "", "nothing started"


def test_sloctl_test_refuses_a_missing_folder_and_more_jobs_than_cores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 2 naming what to change, before any promtool runs (it said "0/0 passed", exit 1)."""
    import os

    assert main(["test", str(tmp_path / "nothing")]) == 2
    assert f"sloctl test: {tmp_path / 'nothing'}: no such file or directory" in capsys.readouterr().err
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    for jobs in ("0", "3"):
        assert main(["test", str(tmp_path), "--jobs", jobs]) == 2
        err = capsys.readouterr().err
        assert f"sloctl test: --jobs {jobs}: give 1 to 2 (this machine's CPU cores)" in err


@pytest.mark.parametrize("jobs", ["0", "-3", "3"])
def test_generate_refuses_jobs_outside_the_cpu_cores_before_reading_anything(
    jobs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``generate -j 1000`` would start 1000 worker processes on a large input; ``-j -3`` was
    taken as 1 without a word."""
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert main(["generate", str(SLOS), "-o", str(tmp_path / "out"), "--jobs", jobs]) == 2
    assert f"--jobs {jobs}: give 1 to 2 (this machine's CPU cores)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_sloctl_test_reports_a_failing_rule_test(tmp_path: Path) -> None:
    for f in (ROOT / "rules" / "tests").glob("platform-jobs--backups.*"):
        (tmp_path / f.name).write_text(f.read_text())
    for rules in tmp_path.glob("*.rules.yml"):  # the twin and the parts of it the tests load
        rules.write_text(rules.read_text().replace("> 3\n", "> 30\n"))
    proc = run_sloctl("test", str(tmp_path))
    assert proc.returncode == 1, proc.stdout
    assert "FAIL test" in proc.stdout and "passed," in proc.stdout and " failed" in proc.stdout
    # Progress on stderr while promtool runs (a minute or more for a real suite, silent before).
    files = len(list(tmp_path.glob("*.yml")))
    assert f": {files}/{files} file(s) run\n" in proc.stderr and proc.stderr.startswith("sloctl test: ")


def _promtool_runs(log: Path) -> int:
    """The rule checks and rule tests the logging promtool of the test below has started."""
    lines = log.read_text().splitlines() if log.exists() else []
    return sum(line.startswith(("check ", "test ")) for line in lines)


def _in_the_tests(log: Path, err: Path) -> bool:
    """The run of the test below is in its rule tests (its rule checks all started), and its
    progress has been said (once it has, the end of a phase is said at once)."""
    runs = log.read_text().splitlines() if log.exists() else []
    return any(line.startswith("test ") for line in runs) and "file(s) run" in err.read_text()


def test_ctrl_c_during_sloctl_test_starts_no_further_promtool_nor_counts_one(tmp_path: Path) -> None:
    """The pool's exit ran every queued file before the interrupt was said: ``sloctl test rules``
    ran on for ten seconds after Ctrl-C, its 125 files to the last; and once the queued runs
    were dropped, its progress counted them as run ("125/125 file(s) run")."""
    from sloctl.promtool import find_promtool

    log, err = tmp_path / "runs.log", tmp_path / "stderr"
    promtool = tmp_path / "promtool"  # the real promtool, each run logged first
    promtool.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{find_promtool()}" "$@"\n')
    promtool.chmod(0o755)
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [*SLOCTL, "test", str(ROOT / "rules"), "--jobs", "1"],
            env={**os.environ, "PROMTOOL": str(promtool)},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own process group, as a terminal's foreground job
            preexec_fn=sigint_as_in_a_terminal,
        )
        try:
            wait_until(lambda: _in_the_tests(log, err), timeout=120, what="a rule test, and progress")
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: promtool's run under way ends too
            at_signal = _promtool_runs(log)
            assert proc.wait(timeout=120) == 130
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    said = err.read_text()
    assert said.endswith("sloctl: interrupted\n") and "Traceback" not in said, said
    runs = _promtool_runs(log)
    assert runs <= at_signal + 1, f"{runs - at_signal} promtool runs after Ctrl-C"  # +1: one starting
    counted = [int(done) for done in re.findall(r"(\d+)/\d+ file\(s\) run", said)]
    assert counted and max(counted) <= runs, said


def test_sigterm_while_generate_stages_its_files_leaves_no_staged_file(tmp_path: Path) -> None:
    """SIGTERM (a CI job's timeout) killed generate outright while it staged its files: each one
    staged so far stayed beside its destination as a hidden .tmp file (4,578 of 21,003 once).
    It now unwinds as Ctrl-C does: staged files removed, "sloctl: interrupted", exit 130."""
    slos, out = tmp_path / "slos", tmp_path / "out"
    slos.mkdir()
    for i in range(20):  # a few thousand files to stage: a window a poll cannot miss
        (slos / f"s{i}.yaml").write_text(
            (SLOS / "platform-api.yaml").read_text().replace("platform-api", f"s{i}")
        )
    proc = start_sloctl("generate", str(slos), "-o", str(out), stdout=subprocess.DEVNULL)
    try:
        wait_until(
            lambda: proc.poll() is not None or any(out.rglob(".*.tmp")), timeout=120, what="a staged file"
        )
        assert proc.poll() is None, "generate ended before a staged file was seen"
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert (proc.returncode, err.splitlines()[-1:]) == (130, ["sloctl: interrupted"]), err
    assert list(out.rglob(".*.tmp")) == []


@pytest.mark.promtool  # serve --demo finds its Prometheus and promtool first
def test_an_interrupt_raised_in_code_run_from_a_string_is_still_exit_130(tmp_path: Path) -> None:
    """CPython records a KeyboardInterrupt that leaves code run from a string (``exec`` of
    text: the methods ``dataclasses`` makes as a lazy import defines a class) as unhandled, even
    when sloctl handles it: a ``python -m sloctl.cli.main`` process said ``sloctl: interrupted``
    and then ended itself with SIGINT (returncode -2), whatever its command. Here Ctrl-C comes
    at that instant (:mod:`tests.fixtures.string_code_signal`): ``serve --demo`` importing the
    backtest, before any server starts."""
    proc = subprocess.run(
        [
            *string_code_signal.command("SIGINT", serve_command._run.__name__),
            "serve", "--demo", str(ROOT / "slos"), "--listen", "127.0.0.1:0",
            "--workdir", str(tmp_path / "demo"), "--for", "1s",  # --for: bounds a failure only
        ],
        capture_output=True, text=True, timeout=120, preexec_fn=sigint_as_in_a_terminal, check=False,
    )  # fmt: skip
    said = proc.stderr.splitlines()
    assert (proc.returncode, said[-2:]) == (130, [string_code_signal.SAID, "sloctl: interrupted"]), (
        proc.stderr
    )


#: how soon generate's worker processes must be gone after its own process is interrupted: the
#: batch a worker was left to finish took 4 s and more for the SLOs below (15–18 s, 44–53 s for
#: larger inputs: docs/benchmarks.md); stopped, they go in 0.2 s
WORKERS_STOPPED_SECONDS = 2.0


def _children(pid: int) -> set[int]:
    """The child processes of ``pid`` (Linux: /proc/PID/task/*/children)."""
    return {int(c) for p in Path(f"/proc/{pid}/task").glob("*/children") for c in p.read_text().split()}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["kill -INT", "kill -TERM"])
def test_an_interrupt_of_generate_alone_stops_its_worker_processes_at_once(
    signum: signal.Signals, tmp_path: Path
) -> None:
    """``kill -INT`` of generate's own process (not of its group, as a terminal's Ctrl-C) let
    each worker process finish its batch before "interrupted"; ``kill -TERM`` left them
    rendering for a parent that was gone."""
    from sloctl.generate import PARALLEL_MIN_SLOS

    slos, out = tmp_path / "slos", tmp_path / "out"
    slos.mkdir()
    text = (SLOS / "platform-api.yaml").read_text()
    for i in range(PARALLEL_MIN_SLOS // text.count("\n    - name: ") + 1):  # the workers' path
        (slos / f"s{i}.yaml").write_text(text.replace("platform-api", f"s{i}"))
    proc = start_sloctl("generate", str(slos), "-o", str(out), stdout=subprocess.DEVNULL)
    workers: set[int] = set()
    try:
        wait_until(lambda: proc.poll() is not None or _children(proc.pid), timeout=120, what="its workers")
        workers = _children(proc.pid)
        assert proc.poll() is None and workers, "generate ended before its workers were seen"
        proc.send_signal(signum)
        wait_until(
            lambda: not any(Path(f"/proc/{w}").exists() for w in workers),
            timeout=WORKERS_STOPPED_SECONDS,
            what="its workers stopped",
        )
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            workers |= _children(proc.pid)
            proc.kill()
        for pid in workers:  # orphans hold its stderr open: they go too, or it never ends
            with contextlib.suppress(OSError):
                if b"generate" in Path(f"/proc/{pid}/cmdline").read_bytes():  # not a reused pid
                    os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=60)
    assert (proc.returncode, err.splitlines()[-1:]) == (130, ["sloctl: interrupted"]), err
    assert "Traceback" not in err and not out.exists(), err


def test_an_interrupt_just_after_a_file_is_staged_does_not_leave_it_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python runs a signal's handler between two bytecodes: one that came after mkstemp made
    the staged file and before generate listed it left that file behind (1 of 21,003, once in
    four SIGTERMs of a large run)."""
    import tempfile

    from sloctl.generate import write_outputs

    real = tempfile.mkstemp

    def interrupted(*args: Any, **kwargs: Any) -> tuple[int, str]:
        fd, _name = real(*args, **kwargs)  # the file is made, and the interrupt comes
        os.close(fd)
        raise KeyboardInterrupt

    monkeypatch.setattr(tempfile, "mkstemp", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_outputs(tmp_path / "out", {"rules/shop.yml": "groups: []\n"})
    assert list(tmp_path.rglob("*")) == []  # nor the folders made for it


#: a file name whose bytes are not UTF-8 (a Latin-1 "é" from an old archive), as Python holds it
NOT_UTF8 = os.fsdecode(b"caf\xe9")


def test_a_file_name_that_is_not_utf8_is_generated_from_and_tested_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """generate and gameday generate wrote the name into their headers and experiments
    (UnicodeEncodeError, nothing written), and test read promtool's output, which repeats it,
    as strict UTF-8 (UnicodeDecodeError)."""
    (tmp_path / "slos").mkdir()
    for name in ("platform-jobs", "platform-api"):
        (tmp_path / "slos" / f"{NOT_UTF8}-{name}.yaml").write_text((SLOS / f"{name}.yaml").read_text())
    assert main(["generate", str(tmp_path / "slos"), "-o", str(tmp_path / "out"), "--no-dashboards"]) == 0
    header = (tmp_path / "out" / "rules" / "platform-jobs.yml").read_text().splitlines()[0]
    assert header.endswith("from ../slos/caf\ufffd-platform-jobs.yaml. DO NOT EDIT."), (
        header
    )  # relative to -o
    assert main(["gameday", "generate", str(tmp_path / "slos"), "-o", str(tmp_path / "chaos")]) == 0
    experiment = json.loads((tmp_path / "chaos" / "connection-loss.json").read_text())
    (sloctl,) = (e for e in experiment["extensions"] if e["name"] == "sloctl")
    assert sloctl["generated_from"][0].startswith("caf\ufffd-platform-api.yaml:"), sloctl
    capsys.readouterr()
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / f"{NOT_UTF8}.yml").write_text(
        (tmp_path / "out" / "rules" / "platform-jobs.yml").read_text()
    )
    proc = run_sloctl("test", str(tmp_path / "rules"))
    assert proc.returncode == 0, proc.stderr
    assert (
        "promtool check rules --lint-fatal: 1/1 file(s) passed" in proc.stdout
        and "Traceback" not in proc.stderr
    )


def test_sloctl_test_on_the_folder_generate_wrote_reads_its_rules_alone(tmp_path: Path) -> None:
    """The dashboards' provider file and the Alertmanager configuration are YAML too: linted as
    rule files they failed ("field route not found")."""
    out = tmp_path / "out"
    assert main(["generate", str(SLOS / "platform-jobs.yaml"), "-o", str(out), "--no-tests"]) == 0
    assert (out / "alertmanager" / "sloctl.yml").is_file() and (
        out / "dashboards" / "provider.yaml"
    ).is_file()
    proc = run_sloctl("test", str(out))
    assert proc.returncode == 0, proc.stdout
    assert "1/1 file(s) passed" in proc.stdout, proc.stdout


def test_sloctl_test_checks_the_alertmanager_fragment_generate_wrote_with_every_amtool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sloctl test` proved the rules alone: the fragment, which `amtool check-config` refuses
    by itself (its route has matchers a root route may not), could only be checked from Python."""
    from sloctl.shelf import amtools

    tools = amtools()
    assert tools, "no amtool: make test installs prometheus-alertmanager"
    out = tmp_path / "out"
    assert main(["generate", str(SLOS / "platform-jobs.yaml"), "-o", str(out), "--no-tests"]) == 0
    capsys.readouterr()
    assert main(["test", str(out)]) == 0
    said = capsys.readouterr().out
    for name, path in tools:
        assert f"== {name} ({path})\nok    check-config {out / 'alertmanager' / 'sloctl.yml'}\n" in said, said
    fragment = out / "alertmanager" / "sloctl.yml"
    fragment.write_text(
        fragment.read_text().replace("receivers:\n", "receivers:\n- name: extra\n  bogus: 1\n", 1)
    )
    assert main(["test", str(out)]) == 1
    said = capsys.readouterr().out
    assert said.count(f"FAIL    check-config {fragment}\n") == len(tools), said
    assert "field bogus not found" in said and "/sloctl-am-" not in said, said
    # without an amtool the check is said to be skipped, not failed
    monkeypatch.setattr("sloctl.shelf.amtools", lambda: [])
    assert main(["test", str(out)]) == 0
    assert f"{fragment}: not checked: no amtool here" in capsys.readouterr().err


def test_sloctl_test_on_rules_without_their_tests_says_only_lint_ran(tmp_path: Path) -> None:
    for f in (ROOT / "rules").glob("*.yml"):
        (tmp_path / f.name).write_text(f.read_text())
    proc = run_sloctl("test", str(tmp_path))
    assert proc.returncode == 0, proc.stdout
    assert "note: no rule tests found, only lint ran (generate writes them to rules/tests/)" in proc.stdout
    assert "promtool test rules: 0/0 file(s) passed" in proc.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--prometheus", "http://127.0.0.1:9", "slos/"],
        ["collector", "run", "--config", "c.yaml", "--listen", "127.0.0.1:1"],
        ["gameday", "run", "x.json", "--bogus"],
        ["validate", "slos/", "--bogus"],
    ],
    ids=["status", "collector run", "gameday run", "validate"],
)
def test_an_unknown_argument_is_refused_by_its_command_with_its_usage(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Not by the top level ("sloctl: error: …" under sloctl's own usage, which names no flag
    of the command)."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    command = " ".join(a for a in argv[:2] if a in ("status", "collector", "run", "gameday", "validate"))
    assert err.startswith(f"usage: sloctl {command} "), err
    assert f"sloctl {command}: error: unrecognized arguments: " in err


def _help_paths() -> list[list[str]]:
    """Every command and sub-command, as the argv that reaches it."""
    from sloctl.cli._common import COMMANDS
    from sloctl.cli.main import build_parser

    def choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    paths: list[list[str]] = []
    for command in COMMANDS:
        paths.append([command])
        paths += [[command, name] for name in sorted(choices(choices(build_parser(command))[command]))]
    return paths


@pytest.mark.parametrize("argv", _help_paths(), ids=" ".join)
def test_every_command_and_sub_command_has_a_plain_text_help_that_says_what_it_does(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    usage, _, rest = out.partition("\n\n")
    assert usage.startswith(f"usage: sloctl {' '.join(argv)}"), out
    description = rest.split("\n\n")[0]
    assert description and not description.startswith(("options:", "positional arguments:")), out
    assert "``" not in out and ":class:" not in out and ":func:" not in out, out


@pytest.mark.parametrize("argv", _help_paths(), ids=" ".join)
def test_every_argument_of_every_command_says_what_it_is_for(argv: list[str]) -> None:
    from sloctl.cli.main import build_parser

    parser = build_parser(argv[0])
    for name in argv:  # down to the (sub-)command's own parser
        parser = next(a.choices[name] for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    bare = [
        a.option_strings or a.dest
        for a in parser._actions
        if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)) and not a.help
    ]
    assert not bare, f"sloctl {' '.join(argv)}: no help for {bare}"


def test_a_flag_is_never_taken_by_its_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    # argparse's default would read the old "--slo PATH" of gameday generate as --sloth-period.
    with pytest.raises(SystemExit) as done:
        main(["gameday", "generate", "--slo", "slos/"])
    assert done.value.code == 2
    assert "sloctl gameday generate: error: unrecognized arguments: --slo" in capsys.readouterr().err


def test_a_module_of_an_extra_that_is_not_installed_is_one_line_naming_it(tmp_path: Path) -> None:
    """generate without the dashboards extra was an import traceback: the SDK is imported only
    when dashboards are made, after the command's own modules (whose missing extras were said)."""
    module, args = "grafana_foundation_sdk", ["generate", "slos/", "-o", str(tmp_path / "out")]
    hide = (
        f"import sys; sys.modules[{module!r}] = None; from sloctl.cli.main import main;"
        " sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", hide, *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"needs the Python module {module!r}, which is not installed" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


RAW_AND_EVENTS = """\
apiVersion: sloctl/v1
kind: Service
metadata: {name: edge}
spec:
  slos:
    - name: up
      objective: 99.9
      sli: {raw: {errorRatioQuery: '1 - avg(up{job="edge"})'}}
    - name: requests
      objective: 99.9
      sli: {events: {errorQuery: 'sum(rate(e[{{.window}}]))', totalQuery: 'sum(rate(t[{{.window}}]))'}}
"""


def test_explain_says_a_raw_slis_budget_in_time_not_in_events_it_does_not_have(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A raw SLI is an error ratio with no events behind it: "1 error in 1,000 events" and a
    budget in events at a traffic said what its rules cannot measure."""
    spec = tmp_path / "edge.yaml"
    spec.write_text(RAW_AND_EVENTS)
    assert main(["explain", str(spec), "-o", "json", "--requests-per-second", "50"]) == 0
    raw, events = json.loads(capsys.readouterr().out)
    assert (raw["one_error_in_events"], raw["error_budget_events"]) == (None, None), raw
    assert raw["meaning"].startswith(
        "the error ratio, averaged over a rolling 30d by time, stays at or below 0.1000%"
    )
    assert raw["no_data"].endswith("without data"), raw["no_data"]
    assert (events["one_error_in_events"], events["error_budget_events"]) == (1000, 129600), events
    assert main(["explain", str(spec)]) == 0
    up, requests = capsys.readouterr().out.split("edge-requests")
    assert "error budget 0.1000% = 43.2 min of full outage\n" in up and "1 error in" not in up, up
    assert "43.2 min of full outage, 1 error in 1,000 events" in requests, requests
