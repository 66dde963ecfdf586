"""Atomic file writes, private when the file holds a secret.

A report or a journal is written next to its destination and moved into place, so that a crash
never leaves half a file; ``private=True`` files are created 0600 from the start (never
readable by others, not even for a moment), as files that hold passwords must be.

>>> write_text(Path("targets.json"), "{}", private=True)     # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_text"]


def write_text(path: Path, text: str, *, private: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically: mode 0600 when ``private``, else 0644 less the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if not private:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o644 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
