"""Every flag that names a folder a command writes into is checked before the work starts: a
folder that cannot be made is exit 2 with the flag named, never a traceback after a replay, a
load test or a server start-up ran for nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloctl.cli.main import main
from tests.fixtures.experiments import SET_TARGETS

REPO = Path(__file__).resolve().parents[2]
SLO = str(REPO / "slos" / "platform-jobs.yaml")
THRESHOLD = ["--threshold", "p(95)<200", "--host", "http://127.0.0.1:1"]

#: (the flag, the command line before it, the part of the folder after the blocked path)
CASES = [
    ("--workdir", ["backtest", SLO, "--scenario", "full_outage"], ""),
    ("--report", ["backtest", SLO, "--scenario", "full_outage"], "/r.html"),
    ("-o", ["gameday", "generate", SLO], ""),
    ("-o", ["gameday", "schedule", "--file", str(REPO / "chaos" / "schedule.yaml")], ""),
    (
        "--report-dir",
        ["gameday", "run", str(REPO / "chaos" / "connection-loss.json"), *SET_TARGETS, "--dry-run"],
        "",
    ),
    (
        "--report-dir",
        ["gameday", "suite", "--file", str(REPO / "chaos" / "schedule.yaml"), *SET_TARGETS, "--dry-run"],
        "",
    ),
    ("--workdir", ["gameday", "rig", "--slos", str(REPO / "slos" / "platform-api.yaml")], ""),
    ("--config-out", ["gameday", "rig", "--slos", str(REPO / "slos" / "platform-api.yaml")], "/rig.json"),
    ("--workdir", ["testbed", "up"], ""),
    ("--workdir", ["serve", "--demo", SLO], ""),
    ("--report-dir", ["loadtest", "steady", *THRESHOLD], ""),
    ("-o", ["convert", SLO, "--to", "native"], ""),
    # was "cannot write …: Not a directory", exit 1, naming no flag
    ("-o", ["generate", SLO, "--no-dashboards"], ""),
]


@pytest.mark.parametrize(
    ("flag", "argv", "tail"),
    CASES,
    ids=[" ".join([*(a for a in c[1][:2] if not a.startswith("/")), c[0]]) for c in CASES],
)
def test_a_folder_that_cannot_be_made_is_a_usage_error_naming_its_flag(
    flag: str, argv: list[str], tail: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("")
    folder = blocker / "reports"
    assert main([*argv, flag, f"{folder}{tail}"]) == 2
    err = capsys.readouterr().err
    assert f"{flag} {folder}: cannot make that folder (Not a directory); give a folder you can write" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("flag", "argv", "tail"),
    [c for c in CASES if not c[2]],
    ids=[" ".join([*(a for a in c[1][:2] if not a.startswith("/")), c[0]]) for c in CASES if not c[2]],
)
def test_a_file_where_the_folder_should_be_is_said_to_be_a_file(
    flag: str, argv: list[str], tail: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: "cannot make that folder (File exists)", which reads as if the folder were there."""
    taken = tmp_path / "a file"
    taken.write_text("kept")
    assert main([*argv, flag, str(taken)]) == 2
    err = capsys.readouterr().err
    assert f"{flag} {taken}: that is a file, not a folder; give a folder" in err and "Traceback" not in err
    assert taken.read_text() == "kept"


@pytest.mark.parametrize(
    ("flag", "argv"),
    [
        ("--report", ["backtest", SLO, "--scenario", "full_outage"]),
        ("--config-out", ["gameday", "rig", "--slos", str(REPO / "slos" / "platform-api.yaml")]),
    ],
)
def test_a_folder_where_a_file_flag_wants_a_file_is_refused_before_the_work(
    flag: str, argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """backtest --report DIR replayed every scenario, then failed writing: IsADirectoryError."""
    assert main([*argv, flag, str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{flag} {tmp_path}: that is a folder; give a file path" in err and "Traceback" not in err


def test_generate_says_a_project_files_output_folder_that_cannot_be_made_at_its_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The folder came from the project file, not from -o: the error names the file's setting."""
    blocker = tmp_path / "a file"
    blocker.write_text("")
    project = tmp_path / "sloctl.yaml"
    project.write_text(f"apiVersion: sloctl/v1\nkind: Project\noutput: {blocker / 'out'}\n")
    assert main(["generate", SLO, "--config", str(project), "--no-dashboards", "--no-alertmanager"]) == 2
    err = capsys.readouterr().err
    assert f"{project}: output {blocker / 'out'}: cannot make that folder (Not a directory)" in err, err
