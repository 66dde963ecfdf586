"""Acceptance: Sloth's own validation fixtures behave here as the issue requires."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloctl.cli.main import main
from tests.paths import SLOTH_TESTDATA

GOOD = sorted((SLOTH_TESTDATA / "validate" / "good").glob("*.yaml"))
BAD = sorted((SLOTH_TESTDATA / "validate" / "bad").glob("*.yaml"))
INPUTS = sorted(SLOTH_TESTDATA.glob("in-*.yaml"))
DUPLICATES = SLOTH_TESTDATA / "validate_with_duplicates"


def test_the_fixtures_are_present() -> None:
    assert len(GOOD) == 7 and len(BAD) == 7 and len(INPUTS) == 6


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_each_good_file_validates(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(path)]) == 0
    assert "valid:" in capsys.readouterr().out


@pytest.mark.parametrize("path", [p for p in BAD if p.name != "bad-openslo.yaml"], ids=lambda p: p.name)
def test_each_bad_file_fails_with_a_located_error(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"error: {path}:" in err
    assert "Traceback" not in err


def test_bad_openslo_with_a_28d_window_is_accepted_today() -> None:
    assert main(["validate", str(SLOTH_TESTDATA / "validate" / "bad" / "bad-openslo.yaml")]) == 0


@pytest.mark.parametrize("case", ["k8s", "openslo", "prom", "bad-prom-multi-duplicates.yaml"])
def test_duplicates_across_files_fail_as_duplicates(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DUPLICATES / case)]) == 1
    err = capsys.readouterr().err
    assert "duplicate SLO" in err and "first defined at" in err


@pytest.mark.parametrize(
    "path", [p for p in INPUTS if p.name != "in-invalid-version.yaml"], ids=lambda p: p.name
)
def test_every_sloth_input_loads(path: Path) -> None:
    assert main(["validate", str(path)]) == 0


def test_an_invalid_version_fails_with_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SLOTH_TESTDATA / "in-invalid-version.yaml")]) == 1
    err = capsys.readouterr().err
    assert "in-invalid-version.yaml:1:10: version: unsupported version 'prometheus/v999'" in err
