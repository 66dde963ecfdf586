"""Prometheus durations (``5m``, ``1h30m``, ``28d``) parsed to whole seconds and formatted back.

>>> parse_duration("1h30m")
5400
>>> format_duration(5400)
'1h30m'
>>> format_duration(28 * 86400)
'4w'
"""

from __future__ import annotations

import functools
import re

__all__ = ["DurationError", "format_duration", "parse_duration"]

# Units Prometheus accepts, largest first; a year is 365 days and a week 7, as in Prometheus.
_UNITS: tuple[tuple[str, int], ...] = (
    ("y", 365 * 86400),
    ("w", 7 * 86400),
    ("d", 86400),
    ("h", 3600),
    ("m", 60),
    ("s", 1),
)
_SECONDS = dict(_UNITS)
_PART = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
#: Prometheus keeps durations in nanoseconds in an int64: 106751d 23h 47m 16s at most
#: (``promtool check rules`` says "duration out of range" beyond).
MAX_SECONDS = (2**63 - 1) // 10**9
_WHOLE = re.compile(r"^(?:\d+(?:ms|y|w|d|h|m|s))+$")


class DurationError(ValueError):
    """A string that is not a Prometheus duration."""


def parse_duration(text: str) -> int:
    """Seconds in a Prometheus duration; sub-second parts are rejected (rules work in seconds)."""
    if not isinstance(text, str) or not _WHOLE.match(text):
        raise DurationError(f"{text!r} is not a Prometheus duration such as 5m, 1h30m or 30d")
    total = 0
    last_rank = -1
    for number, unit in _PART.findall(text):
        if unit == "ms":
            raise DurationError(f"{text!r}: milliseconds are not supported here; use whole seconds")
        rank = [u for u, _ in _UNITS].index(unit)
        if rank <= last_rank:
            raise DurationError(f"{text!r}: units must go from largest to smallest, each once")
        last_rank = rank
        total += int(number) * _SECONDS[unit]
    if total <= 0:
        raise DurationError(f"{text!r} must be longer than zero")
    if total > MAX_SECONDS:
        raise DurationError(
            f"{text!r} is longer than Prometheus accepts ({format_duration(MAX_SECONDS)} at most)"
        )
    return total


@functools.lru_cache(maxsize=4096)
def format_duration(seconds: int) -> str:
    """Prometheus' canonical spelling of a duration: years and weeks only when they divide it
    exactly (``28d`` is ``4w``, ``30d`` stays ``30d``), as Prometheus and Sloth print them."""
    if seconds <= 0:
        raise DurationError(f"{seconds} seconds is not a positive duration")
    parts: list[str] = []
    rest = seconds
    for unit, size in _UNITS:
        if unit in ("y", "w") and rest % size:
            continue
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
