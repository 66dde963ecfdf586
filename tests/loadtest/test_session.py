"""The library's load-test session (what ``sloctl loadtest`` calls): why a request aborts, and
which exit code the CLI makes of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloctl.cli.main import main
from sloctl.loadtest.session import LoadtestAborted, LoadtestRequest, run_loadtest


def test_slo_files_that_do_not_load_abort_as_usage_with_every_error_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: sloctl/v1\nkind: SLO\nmetadata: {}\n")
    heard: list[str] = []
    request = LoadtestRequest(
        "steady", "http://127.0.0.1:1", slo_paths=(str(bad),), report_dir=tmp_path / "r"
    )
    with pytest.raises(LoadtestAborted) as caught:
        run_loadtest(request, progress=heard.append)
    assert caught.value.usage
    assert "error(s) in the SLO files" in str(caught.value)
    assert caught.value.details and all(str(bad) in d for d in caught.value.details)
    assert heard == [] and not (tmp_path / "r").exists()


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
