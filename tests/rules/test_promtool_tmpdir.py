"""promtool keeps a storage in ``TMPDIR`` for each rule test and removes it only when it ends
on its own: ``sloctl test`` gives each promtool run a temporary folder of its own and removes
it, so a run cut short by its timeout leaves nothing behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml

from sloctl import promtool
from sloctl.promtool import run_rule_tests

pytestmark = pytest.mark.promtool


def _slow_rule_test(folder: Path) -> Path:
    """A rule test that evaluates one rule over 200 days of one-minute samples: seconds of
    promtool's time, so that a short timeout cuts it short."""
    (folder / "r.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "y", "expr": "rate(x[5m])"}]}]})
    )
    test = {
        "rule_files": ["r.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": "x", "values": "0+1x288000"}],
                "promql_expr_test": [
                    {"expr": "y", "eval_time": "200d", "exp_samples": [{"labels": "y", "value": 1 / 60}]}
                ],
            }
        ],
    }
    path = folder / "slow.test.yml"
    path.write_text(yaml.safe_dump(test))
    return path


def test_a_promtool_run_cut_short_by_its_timeout_leaves_no_storage_in_tmpdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    monkeypatch.setattr(promtool, "TIMEOUT", 1)
    test = _slow_rule_test(tmp_path)
    report = run_rule_tests([test])
    assert not report.ok
    assert [r.output for r in report.results if r.kind == "test"] == ["timed out after 1s"]
    assert list(tmpdir.iterdir()) == []
