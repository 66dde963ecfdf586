"""Waiting on a condition, never for a fixed time: the suite's waits, on the library's one
bounded poll loop (:func:`sloctl.servers._process.wait_until`), failing with what was awaited.
A test inside an event loop waits with ``await asyncio.to_thread(wait_until, …)``, so that the
loop keeps running.

Tests wait for what they need (a listener that answers, a run recorded, a fault reached), with a
deadline that only bounds a failure; a fixed ``sleep()`` is kept only where a real server's own
timer is the thing tested, and says so with ``# real timer``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sloctl.servers._process import wait_until as poll

__all__ = ["wait_until"]

T = TypeVar("T")

#: how often a condition is looked at; short, so that a wait ends soon after the event
POLL_SECONDS = 0.05


def wait_until(
    check: Callable[[], T | None], *, timeout: float, what: str, interval: float = POLL_SECONDS
) -> T:
    """The first truthy value of ``check()`` (never None, so a check may return ``X | None``);
    AssertionError naming ``what`` when ``timeout`` seconds pass first. ``check`` is called at
    least once."""
    seen: list[T | None] = []

    def holds() -> bool:
        seen.append(check())
        return bool(seen[-1])

    if not poll(holds, timeout=timeout, interval=interval):
        raise AssertionError(f"{what}: not within {timeout:g} s")
    found = seen[-1]
    assert found is not None  # holds() saw it truthy
    return found
