"""Errors that point at the input: every problem names ``file:line:column`` and a field path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

__all__ = ["Location", "SpecError", "SpecErrors", "unreadable"]


@dataclass(frozen=True, order=True)
class Location:
    """A place in an input file; line and column count from 1."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class SpecError:
    """One problem in the input: where, which field, what was found and what was expected."""

    location: Location
    path: str
    message: str

    def __str__(self) -> str:
        where = f" {self.path}:" if self.path else ""
        return f"{self.location}:{where} {self.message}"


def unreadable(file: str | Path, exc: OSError | None = None) -> SpecError:
    """An input file that is missing (``exc`` None or FileNotFoundError) or cannot be read, at
    its first line: worded alike for every file the toolkit reads.

    >>> str(unreadable("slos/api.yaml"))
    'slos/api.yaml:1:1: no such file or directory'
    >>> str(unreadable("p.yaml", PermissionError(13, "Permission denied")))
    'p.yaml:1:1: cannot read: Permission denied'
    """
    where = Location(str(file), 1, 1)
    if exc is None or isinstance(exc, FileNotFoundError):
        return SpecError(where, "", "no such file or directory")
    return SpecError(where, "", f"cannot read: {exc.strerror or exc}")


class SpecErrors(Exception):
    """Every error of one input the user gave: SLO files, the project file, a collector config,
    a game-day schedule. The CLI prints them one per line (``error: file:line:column: field:
    message``) with their count, and exits 1."""

    def __init__(self, errors: Sequence[SpecError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.location, e.path))
        super().__init__("\n".join(str(e) for e in self.errors))

    @classmethod
    def at(cls, location: Location, message: str, path: str = "") -> Self:
        """One error at ``location`` (``path``: the field, when there is one)."""
        return cls([SpecError(location, path, message)])
