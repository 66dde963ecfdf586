"""Calendar-aligned periods: where a week, month or quarter starts in a time zone.

Two independent ways, on purpose:

- ``boundary_offsets`` turns the IANA zone database into data for the rules: the zone's UTC
  offset at the local midnights where a period can start, as ``(month, first_day, last_day,
  seconds)`` rows (``sloctl.model.Calendar.offsets``). The generated PromQL computes a
  boundary as UTC midnight of that date minus the offset (``sloctl.render.calendar``).
- ``period_bounds`` answers the same question for one instant straight from ``zoneinfo``: the
  oracle the tests and backtests compare the rules with.

>>> start, end = period_bounds("month", "Europe/Paris", 1775001600)   # 2026-04-01T00:00Z
>>> start, end                                   # local midnights, CEST (UTC+2)
(1774994400, 1777586400)
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo

from sloctl.durations import DAY
from sloctl.model import CalendarUnit, next_period_first_day, period_first_day

__all__ = [
    "NOMINAL_SECONDS",
    "ZONE_NAME",
    "CalendarError",
    "boundary_offsets",
    "period_bounds",
    "zone",
]

NOMINAL_SECONDS: dict[CalendarUnit, int] = {"week": 7 * DAY, "month": 30 * DAY, "quarter": 90 * DAY}
"""The length that picks a windows catalog for a calendar period (a 30d month uses the 30d
catalog); burn-rate thresholds use the current period's real length (docs/rules.md)."""

YEARS = range(2025, 2076)
"""Years over which a zone's offsets must repeat: fixed, so output does not depend on today."""
_QUARTER_MONTHS = (1, 4, 7, 10)
ZONE_NAME = re.compile(r"^[A-Z][A-Za-z0-9_+-]*(/[A-Z0-9][A-Za-z0-9_+-]*)*$")
"""How the IANA zone names are spelt (``UTC``, ``Etc/GMT+5``, ``America/Port-au-Prince``): not
``utc`` (found on a case-insensitive file system only), nor the files beside the database
(``localtime``: the machine's own zone, which would make the rules depend on the machine)."""


class CalendarError(ValueError):
    """A time zone the rules cannot follow."""


def zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        if not ZONE_NAME.fullmatch(name):
            raise ValueError(name)
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarError(
            f"unknown time zone {name!r}; use an IANA name such as UTC, Europe/Paris or America/New_York"
        ) from exc


def _offset(tz: zoneinfo.ZoneInfo, day: dt.date) -> int:
    local = dt.datetime(day.year, day.month, day.day, tzinfo=tz)
    offset = local.utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def _starts(unit: CalendarUnit, year: int) -> list[dt.date]:
    if unit == "month":
        return [dt.date(year, m, 1) for m in range(1, 13)]
    if unit == "quarter":
        return [dt.date(year, m, 1) for m in _QUARTER_MONTHS]
    first = dt.date(year, 1, 1)
    monday = first + dt.timedelta(days=(7 - first.weekday()) % 7)
    return [
        monday + dt.timedelta(weeks=k) for k in range(53) if (monday + dt.timedelta(weeks=k)).year == year
    ]


@functools.lru_cache(maxsize=256)
def boundary_offsets(unit: CalendarUnit, time_zone: str) -> tuple[tuple[int, int, int, int], ...]:
    """``(month, first_day, last_day, seconds)``: the UTC offset of ``time_zone`` at local
    midnight of every date a period of ``unit`` can start on. Raises ``CalendarError`` when a
    date's offset differs between years (the rules could not follow the zone) or is not a whole
    number of 5 minutes (the rules' slice grid)."""
    tz = zone(time_zone)
    seen: dict[tuple[int, int], int] = {}
    for year in YEARS:
        for day in _starts(unit, year):
            off = _offset(tz, day)
            if off % 300:
                raise CalendarError(
                    f"time zone {time_zone!r} has a UTC offset of {off} s, not whole 5 minutes"
                )
            key = (day.month, day.day)
            if seen.setdefault(key, off) != off:
                raise CalendarError(
                    f"time zone {time_zone!r}: the UTC offset at midnight on {day.month:02}-{day.day:02} "
                    "changes from year to year, which calendar rules cannot follow; use a rolling period "
                    "or a zone with fixed rules"
                )
    rows: list[tuple[int, int, int, int]] = []
    for month in range(1, 13):
        for dom in sorted(d for m, d in seen if m == month):
            off = seen[(month, dom)]
            if rows and rows[-1][0] == month and rows[-1][3] == off:
                rows[-1] = (month, rows[-1][1], dom, off)
            else:
                rows.append((month, dom, dom, off))
    return tuple(rows)


def period_bounds(unit: CalendarUnit, time_zone: str, t: float) -> tuple[int, int]:
    """Unix seconds of the start and end of the period of ``unit`` holding instant ``t``:
    local midnights in ``time_zone``, straight from the zone database."""
    tz = zone(time_zone)
    local = dt.datetime.fromtimestamp(t, tz)
    start = period_first_day(unit, local.date())
    end = next_period_first_day(unit, start)

    def at_midnight(day: dt.date) -> int:
        return int(dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())

    return at_midnight(start), at_midnight(end)
