"""``sloctl gameday generate`` and ``run --dry-run`` through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sloctl.cli.main import main
from tests.paths import ROOT


def test_generate_writes_the_five_experiments_of_chaos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gameday", "generate", "--slo", str(ROOT / "slos"), "--out", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.glob("*.json"))
    assert written == sorted(p.name for p in (ROOT / "chaos").glob("*.json"))
    for name in written:
        assert (tmp_path / name).read_bytes() == (ROOT / "chaos" / name).read_bytes()
    assert len(capsys.readouterr().out.splitlines()) == 5


def test_dry_run_validates_and_reports_without_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "gameday",
            "run",
            str(ROOT / "chaos" / "slow-query-storm.json"),
            "--set",
            "api_url=http://127.0.0.1:9",
            "--dry-run",
            "--report-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    assert "slow-query-storm: dry-run" in capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["verdict"] == "dry-run" and report["status"] == "not run"
    assert not (tmp_path / "journal.json").exists()


def test_usage_errors_exit_with_2(tmp_path: Path) -> None:
    assert main(["gameday", "run", str(tmp_path / "missing.json")]) == 2
    assert main(["gameday", "run", str(ROOT / "chaos" / "slow-query-storm.json"), "--set", "novalue"]) == 2
