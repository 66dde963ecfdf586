"""The one duration grammar of sloctl: Prometheus durations (``5m``, ``1h30m``, ``28d``, ``250ms``).

Every duration the toolkit reads goes through this module: SLO periods and alert windows,
``generate --interval``, ``loadtest --duration``, ``testbed up --for``, collector intervals and
timeouts. The grammar is Prometheus' own: one or more ``<integer><unit>`` parts, units from
largest to smallest and each at most once, units ``y w d h m s ms``. Two readings of it:

* :func:`parse_duration` gives whole seconds and refuses ``ms`` (rule files work in seconds);
* :func:`parse_seconds` gives seconds as a float, ``ms`` allowed, and takes a YAML number as a
  count of seconds (``interval: 10``) -- for timers, not for rules.

>>> parse_duration("1h30m")
5400
>>> parse_seconds("1m30s500ms")
90.5
>>> format_duration(5400)
'1h30m'
>>> format_duration(28 * 86400)
'4w'
"""

from __future__ import annotations

import functools
import re

__all__ = [
    "DAY",
    "DURATION_PATTERN",
    "HOUR",
    "MINUTE",
    "WHOLE_SECONDS_PATTERN",
    "DurationError",
    "at_least_pattern",
    "format_duration",
    "parse_duration",
    "parse_seconds",
    "spellings",
]

MINUTE = 60
HOUR = 3600
DAY = 86400
"""Seconds in a minute, an hour and a day: the one spelling of these numbers."""
# Units Prometheus accepts, largest first; a year is 365 days and a week 7, as in Prometheus.
_UNITS: tuple[tuple[str, int], ...] = (
    ("y", 365 * DAY),
    ("w", 7 * DAY),
    ("d", DAY),
    ("h", HOUR),
    ("m", MINUTE),
    ("s", 1),
)
_SECONDS = dict(_UNITS)
_PART = re.compile(r"([0-9]+)(ms|y|w|d|h|m|s)")  # ASCII digits: \d takes ３ and ٣
#: Prometheus keeps durations in nanoseconds in an int64: 106751d 23h 47m 16s at most
#: (``promtool check rules`` says "duration out of range" beyond).
MAX_SECONDS = (2**63 - 1) // 10**9
#: the grammar as a regular expression (units in order, each once, at least one part), also the
#: ``pattern`` of every duration in our JSON Schemas
DURATION_PATTERN = r"^(?=[0-9])([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"
#: the same for durations in rule files, which work in whole seconds (no ``ms`` part)
WHOLE_SECONDS_PATTERN = DURATION_PATTERN.replace("([0-9]+ms)?", "")
_GRAMMAR = re.compile(DURATION_PATTERN)
_PARTS_ONLY = re.compile(r"^(?:[0-9]+(?:ms|y|w|d|h|m|s))+$")
_EXAMPLES = "such as 500ms, 10s, 5m, 1h30m or 30d"


def at_least_pattern(seconds: int) -> str:
    """The durations of :data:`WHOLE_SECONDS_PATTERN` with a part that alone lasts ``seconds`` or
    more, as a regular expression: every positive duration for 1 second; for more, all but the
    few spellings that reach it only by adding parts (``4m60s`` for 5m).

    >>> [bool(re.match(at_least_pattern(300), t)) for t in ("5m", "0h300s", "1h", "4m", "299s")]
    [True, True, True, False, False]
    """
    units = [unit for unit, _ in _UNITS]
    spellings = []
    for i, (unit, size) in enumerate(_UNITS):
        before = "".join(f"([0-9]+{u})?" for u in units[:i])
        after = "".join(f"([0-9]+{u})?" for u in units[i + 1 :])
        spellings.append(f"{before}0*({_integers_from(-(-seconds // size))}){unit}{after}")
    return f"^({'|'.join(spellings)})$"


def _integers_from(n: int) -> str:
    """A regular expression of the decimal integers from ``n`` (at least 1) up, without leading
    zeros: longer than ``n``, or as long and greater at the first digit that differs, or ``n``."""
    digits = str(n)
    out = [f"[1-9][0-9]{{{len(digits)},}}", digits]
    for i, d in enumerate(digits):
        if d != "9":
            out.append(f"{digits[:i]}[{int(d) + 1}-9]" + "[0-9]" * (len(digits) - i - 1))
    return "|".join(out)


def spellings(seconds: int) -> list[str]:
    """The spellings of a duration in one whole-seconds unit.

    >>> spellings(300)
    ['5m', '300s']
    """
    return [f"{seconds // size}{unit}" for unit, size in _UNITS if seconds % size == 0]


class DurationError(ValueError):
    """A string that is not a Prometheus duration."""


def _milliseconds(text: object) -> int:
    """Milliseconds in a duration of the grammar; raises :class:`DurationError`."""
    if not isinstance(text, str) or not _PARTS_ONLY.fullmatch(text):
        raise DurationError(f"{text!r} is not a Prometheus duration {_EXAMPLES}")
    if not _GRAMMAR.fullmatch(text):
        raise DurationError(f"{text!r}: units must go from largest to smallest, each once")
    total = sum(
        int(number) * (1 if unit == "ms" else _SECONDS[unit] * 1000) for number, unit in _PART.findall(text)
    )
    if total <= 0:
        raise DurationError(f"{text!r} must be longer than zero")
    if total > MAX_SECONDS * 1000:
        raise DurationError(
            f"{text!r} is longer than Prometheus accepts ({format_duration(MAX_SECONDS)} at most)"
        )
    return total


def parse_duration(text: str) -> int:
    """Seconds in a Prometheus duration; sub-second parts are rejected (rules work in seconds)."""
    if isinstance(text, str) and text.endswith("ms") and _GRAMMAR.fullmatch(text):
        raise DurationError(f"{text!r}: milliseconds are not supported here; use whole seconds")
    return _milliseconds(text) // 1000


def parse_seconds(value: object) -> float:
    """Seconds in a duration (``ms`` allowed), or in a YAML number of seconds (``10``, ``0.5``).

    >>> parse_seconds("1h30m"), parse_seconds("250ms"), parse_seconds(3)
    (5400.0, 0.25, 3.0)
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not 0 < value <= MAX_SECONDS:
            raise DurationError(f"{value!r} seconds is not a positive duration")
        return float(value)
    return _milliseconds(value) / 1000


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
