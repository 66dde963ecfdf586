"""One game day at a time on a target: two runs at once measure each other's faults (the second
one's time to detect was the first one's page, and both passed).

``sloctl gameday run`` and ``suite`` hold an exclusive ``flock`` on a lock file for the whole
run: beside the ``--config`` file (``targets.json`` → ``targets.json.lock``: the file that
names the targets), or, when the targets come from ``--set`` alone, ``.sloctl-gameday.lock`` in
the folder the reports go to. A second run is refused before anything runs, naming the other
run's pid and start time and the lock file. The kernel drops the lock with the process,
however it ends (SIGKILL included): the file stays, and an unlocked file blocks nothing.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     lock = Path(folder) / "targets.json.lock"
    ...     with gameday_lock(lock):
    ...         try:
    ...             with gameday_lock(lock):
    ...                 pass
    ...         except GamedayLocked as exc:
    ...             print(str(exc).split(" (pid")[0])
    another game day holds these targets
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["LOCK_NAME", "GamedayLocked", "LockFileError", "gameday_lock", "lock_path"]

#: the lock file's name when no ``--config`` file names the targets
LOCK_NAME = ".sloctl-gameday.lock"


class GamedayLocked(RuntimeError):
    """Another game day holds the lock: its pid, its start time and the lock file, in one line."""


class LockFileError(RuntimeError):
    """The lock file cannot be opened (a folder this user cannot write): the file and why."""


def lock_path(config: Path | None, reports: Path) -> Path:
    """The lock file of a run: ``<config>.lock`` beside the ``--config`` file, else
    :data:`LOCK_NAME` in ``reports`` (the folder the reports go to)."""
    if config is not None:
        return config.with_name(config.name + ".lock")
    return reports / LOCK_NAME


@contextlib.contextmanager
def gameday_lock(path: Path) -> Iterator[Path]:
    """Hold an exclusive, non-blocking ``flock`` on ``path`` while inside, with this process's
    pid and start time written in it; :class:`GamedayLocked` at once when another process holds
    it, :class:`LockFileError` when the file cannot be opened."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise LockFileError(f"lock file {path}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            raise GamedayLocked(
                f"another game day holds these targets ({holder}; lock file {path}):"
                " wait for it to end, two at once would measure each other's faults"
            ) from None
        started = datetime.now(UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {started}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # the lock goes with the descriptor


def _holder(fd: int) -> str:
    """What the holder wrote (``pid N, started …``); it writes right after it locks, so a
    moment's wait (bounded) lets a run that has just started be named."""
    for _ in range(10):
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
        if text:
            return text
        time.sleep(0.05)
    return "pid unknown: it has just started"
