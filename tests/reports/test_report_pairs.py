"""A report is a pair, a page and the JSON that ``sloctl serve`` lists it by: a write that fails
half-way (a full disk, a crash between the two files) never leaves the JSON without its page,
nor beside a page of another write. Game day, load test and backtest, each through its own
writer; the disk fills up exactly when one of the two files is written (``os.fsync`` on that
file's temporary file fails as on a full disk, the rest of the machine is real)."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from sloctl.chaos.report import write_reports as write_gameday_reports
from sloctl.cli.main import main
from sloctl.loadtest import Report, RunStats
from sloctl.loadtest.results import RouteStats, Sample
from sloctl.loadtest.session import write_reports as write_loadtest_reports
from sloctl.masking import Masker
from tests.chaos.results import completed_run
from tests.fixtures.specs import SHOP_HTTP_SPEC

OLD = {"page": "<p>the last run's page</p>\n", "record": '{"the last run": true}\n'}


def _disk_full_when_writing(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """From now on, the disk is full when ``name`` is written (its temporary file's fsync)."""
    real = os.fsync

    def fsync(fd: int) -> None:
        if Path(os.readlink(f"/proc/self/fd/{fd}")).name.startswith(f".{name}."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def _gameday(folder: Path) -> None:
    write_gameday_reports(completed_run("connection-loss"), None, folder, Masker())


def _loadtest(folder: Path) -> None:
    route = RouteStats("/v1/projects", "GET", 100, 0, 900.0, 40.0, ((5, 90), (40, 10)), 0.0, 10.0)
    run = RunStats(routes=(route,), samples=(Sample(1.0, 10, 10.0, 0.0, 5, 40, 40),))
    write_loadtest_reports(Report("steady", "http://127.0.0.1:8000", 10.0, (), (), run, ""), folder)


WRITERS: dict[str, Callable[[Path], None]] = {"gameday": _gameday, "loadtest": _loadtest}


def _no_record(folder: Path, record: str) -> None:
    """After a failed write: no record at all (the write's commit point was not reached, and the
    last run's record is not left beside a page that may be this one's), so ``sloctl serve``
    lists nothing of it; no temporary file is left."""
    assert not (folder / record).exists(), sorted(p.name for p in folder.iterdir())
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("earlier", [False, True], ids=["first run", "over the last run's pair"])
@pytest.mark.parametrize("full_at", ["report.html", "report.json"])
@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_a_report_whose_write_fails_half_way_is_never_a_json_without_its_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, full_at: str, earlier: bool
) -> None:
    folder = tmp_path / kind
    folder.mkdir()
    if earlier:
        (folder / "report.html").write_text(OLD["page"])
        (folder / "report.json").write_text(OLD["record"])
    _disk_full_when_writing(monkeypatch, full_at)
    with pytest.raises(OSError, match="No space left on device"):
        WRITERS[kind](folder)
    _no_record(folder, "report.json")


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_a_report_written_whole_is_listed_with_its_page(tmp_path: Path, kind: str) -> None:
    WRITERS[kind](tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.json"]


@pytest.mark.promtool
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool (apt-get install prometheus)")
@pytest.mark.parametrize("full_at", ["jobs.html", "jobs.json"])
def test_a_backtest_report_whose_write_fails_half_way_is_never_a_json_without_its_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], full_at: str
) -> None:
    spec = tmp_path / "shop.yaml"
    spec.write_text(SHOP_HTTP_SPEC)
    folder = tmp_path / "backtests"
    folder.mkdir()
    (folder / "jobs.html").write_text(OLD["page"])
    (folder / "jobs.json").write_text(OLD["record"])
    _disk_full_when_writing(monkeypatch, full_at)
    argv = ["backtest", str(spec), "--scenario", "full_outage", "--report", str(folder / "jobs.html")]
    assert main([*argv, "--workdir", str(tmp_path / "work")]) == 1
    assert "No space left on device" in capsys.readouterr().err
    _no_record(folder, "jobs.json")
