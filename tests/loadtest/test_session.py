"""The library's load-test session (what ``sloctl loadtest`` calls): why a request aborts, and
which exit code the CLI makes of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloctl.cli.main import main


def test_slo_files_that_do_not_load_are_printed_as_every_command_prints_them_and_nothing_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: sloctl/v1\nkind: SLO\nmetadata: {}\n")
    argv = ["loadtest", "steady", "--slos", str(bad), "--host", "http://127.0.0.1:1"]
    assert main([*argv, "--report-dir", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}:") and err.endswith(" error(s) in 1 file(s)\n"), err
    assert "sloctl loadtest: steady against" not in err and not (tmp_path / "r").exists()


def test_a_locust_file_that_cannot_start_fails_the_run_with_exit_1_not_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "broken.py"
    scenario.write_text("raise SystemExit(3)\n")
    code = main(
        ["loadtest", str(scenario), "--threshold", "p(95)<200", "--host", "http://127.0.0.1:1",
         "--duration", "2s", "--report-dir", str(tmp_path / "r")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert "sloctl loadtest: broken against http://127.0.0.1:1 for 2 s (1 threshold(s))" in err
    assert "sloctl loadtest: Locust exited with code" in err
    assert not (tmp_path / "r" / "report.json").exists()
