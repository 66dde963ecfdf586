"""A full disk is said with the file that could not be written, never as "standard output"
when standard output was fine: ``sloctl loadtest … --report-dir /full/lt`` and ``sloctl
gameday run … --dry-run --report-dir /full/g`` said ``standard output: No space left on
device`` (a ``write()`` error names no file)."""

from __future__ import annotations

import errno
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sloctl.files import write_text
from tests.fixtures.cli import run_sloctl
from tests.fixtures.experiments import SET_TARGETS
from tests.fixtures.stub_http import STOP_POLL_SECONDS
from tests.paths import ROOT


def test_a_write_that_fails_names_the_file_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left on device") as raised:
        write_text(tmp_path / "report.json", "{}")
    assert raised.value.filename == str(tmp_path / "report.json")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 64 KiB tmpfs, filled up (root, where mount(8) may mount one; skipped otherwise);
    unmounted after."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tiny tmpfs needs root and mount(8)")
    where = tmp_path_factory.mktemp("full")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        fd = os.open(where / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            with pytest.raises(OSError, match="No space left"):
                for _ in range(64):  # bounded: 64 × 4 KiB is more than the whole file system
                    os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)
        yield where
    finally:
        subprocess.run(["umount", str(where)], capture_output=True, check=False)


def test_a_game_day_report_on_a_full_disk_names_its_file(full_disk: Path) -> None:
    report_dir = full_disk / "g"
    done = run_sloctl(
        "gameday",
        "run",
        str(ROOT / "chaos" / "connection-loss.json"),
        *SET_TARGETS,
        "--dry-run",
        "--report-dir",
        str(report_dir),
    )
    assert done.returncode == 1
    # the page is written first, its JSON (what `sloctl serve` lists) last
    assert done.stderr.endswith(f": {report_dir}/report.html: No space left on device\n"), done.stderr
    assert not (report_dir / "report.json").exists()
    assert "standard output" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.servers
def test_load_test_results_on_a_full_disk_name_their_file(full_disk: Path) -> None:
    """Locust runs (against a loopback server that answers 404 to anything: past the pre-flight
    request) and cannot write its results."""
    report_dir = full_disk / "lt"
    flags = ("--threshold", "p(95)<200", "--duration", "1s", "--users", "1", "--report-dir", str(report_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, args=(STOP_POLL_SECONDS,), daemon=True).start()
    try:
        done = run_sloctl(
            "loadtest", "steady", "--host", f"http://127.0.0.1:{server.server_address[1]}", *flags
        )
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 1
    assert f"sloctl loadtest: {report_dir}/locust-final.json: No space left on device" in done.stderr
    assert "standard output" not in done.stderr and "Traceback" not in done.stderr
    assert [p.name for p in report_dir.iterdir()] == ["locust.log"], "no half-written results"
