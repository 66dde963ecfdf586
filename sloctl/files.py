"""Atomic file writes, private when the file holds a secret; JSON read without a traceback.

A report or a journal is written next to its destination and moved into place, so that a crash
never leaves half a file; ``private=True`` files are created 0600 from the start (never
readable by others, not even for a moment), as files that hold passwords must be.

>>> write_text(Path("targets.json"), "{}", private=True)     # doctest: +SKIP

A report is a pair, a page and the JSON that ``sloctl serve`` lists it by: :func:`write_pair`
writes them so that a reader never finds the JSON without its page of the same write.

:func:`parse_json` is ``json.loads`` for text sloctl did not write (a user's experiment, a
runs folder's reports, a probed target's answer): a document nested past the decoder's depth
is a ``ValueError`` like any malformed one, not a ``RecursionError``; :func:`json_kind` names
what a decoded value is, for the message that refuses it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["json_kind", "parse_json", "write_pair", "write_text"]


def parse_json(text: str | bytes) -> Any:
    """``json.loads(text)``; :class:`ValueError` for text that is not JSON, nested too deep
    included.

    >>> parse_json("[" * 100_000 + "]" * 100_000)
    Traceback (most recent call last):
    ValueError: nested more deeply than a JSON reader follows (about 1,000 levels)
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested more deeply than a JSON reader follows (about 1,000 levels)") from None


def json_kind(value: object) -> str:
    """What a decoded JSON value is, in words, for a message that expected another kind.

    >>> json_kind([1]), json_kind(None), json_kind({"a": 1})
    ('a list', 'null', 'an object')
    """
    if value is None:
        return "null"
    for types, name in ((bool, "a boolean"), (int | float, "a number"), (str, "a string"), (list, "a list")):
        if isinstance(value, types):
            return name
    return "an object"


def write_text(path: Path, text: str, *, private: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically: mode 0600 when ``private``, else 0644 less the umask.

    An :class:`OSError` names ``path`` (its ``filename``) whatever step failed: a full disk
    fails in ``write()`` or ``fsync()``, whose errors name no file, and a message would otherwise
    have to guess which one it was."""
    try:
        return _write_text(path, text, private=private)
    except OSError as exc:
        if exc.filename is None or Path(exc.filename).name.startswith(f".{path.name}."):
            exc.filename = str(path)  # none, or the temporary file beside it: the file meant
        raise


def write_pair(page: Path, page_text: str, record: Path, record_text: str, *, private: bool = False) -> None:
    """Write a report's ``page`` (HTML) and its ``record`` (the JSON that lists it), each
    atomically, as a pair: the old record removed first, the page written, the record last, as
    the commit point. A crash or a full disk at any step leaves the old pair, or no record (a
    page alone is listed nowhere), never a record beside a page of another write: a record
    written first was listed without its page, and a page written over an old one showed the
    old record's run another run's page."""
    record.unlink(missing_ok=True)
    write_text(page, page_text, private=private)
    write_text(record, record_text, private=private)


def _write_text(path: Path, text: str, *, private: bool) -> Path:
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
