"""Game-day results the tests hand to report and CLI code instead of running a game day."""

from __future__ import annotations

from typing import Any

from sloctl.chaos.result import GamedayResult

__all__ = ["completed_run"]


def completed_run(gameday: str, **fields: Any) -> GamedayResult:
    """A completed run of ``gameday`` whose every check held (a pass), with ``fields`` set, e.g.
    ``completed_run("connection-loss", duration_s=20.0, fault_at_s=4.0)``."""
    title = "Game day: " + gameday.replace("-", " ")
    passed = {"verdict": "pass", "reasons": ["every check held"], "status": "completed"}
    return GamedayResult(**{"experiment": title, "gameday": gameday, **passed, **fields})
