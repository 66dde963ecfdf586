"""PromQL for calendar-aligned periods: where the current week, month or quarter started and
ends, in the SLO's time zone, from ``time()`` alone (design: docs/rules.md, "Calendar periods").

PromQL's date functions (``day_of_month``, ``day_of_week``, ``month``) work in UTC and know no
time zones. The rules therefore take four candidate period starts around now, each as UTC
midnight of its date (the previous, current, next and next-but-one UTC period), move each to
local midnight by subtracting the zone's UTC offset on that date — data from
``sloctl.model.Calendar.offsets``, derived from the zone database when the SLO is loaded — and
keep the latest boundary not after now (the start) and the first after it (the end). Offsets
are under a day, so the local period always starts at one of those candidates.

Date arithmetic without calendars: ``snap(x)`` is the first of ``x``'s month at UTC midnight;
the first of the next month is ``snap(first + 32 days)`` (any month is 28–31 days long), of the
next quarter ``snap(first + 95 days)`` (3 months are 89–92 days), of the previous quarter
``snap(first - 85 days)``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sloctl import naming
from sloctl.durations import DAY
from sloctl.model import Calendar

__all__ = ["CANDIDATES", "boundary_expr", "candidate_exprs", "offset_expr", "period_bound_exprs"]

CANDIDATES = ("previous", "current", "next", "after_next")


def _snap(x: str) -> str:
    return f"({x} - (day_of_month({x}) - 1) * {DAY})"


def candidate_exprs(calendar: Calendar, recorded: str, now: str = "time()") -> list[tuple[str, str]]:
    """``(candidate, expression)`` for UTC midnight of each candidate period's first day, in
    order; ``recorded`` selects the series recorded by the earlier candidates (the rules of one
    group run in order at one timestamp), with ``{candidate}`` left to fill in."""
    today = f"vector({now} - {now} % {DAY})"
    current = recorded.replace("CANDIDATE", "current")
    nxt = recorded.replace("CANDIDATE", "next")
    if calendar.unit == "week":
        # day_of_week: 0 is Sunday; weeks start on Monday (ISO 8601).
        start = f"{today} - ((day_of_week({today}) + 6) % 7) * {DAY}"
        return [
            ("current", start),
            ("previous", f"{current} - {7 * DAY}"),
            ("next", f"{current} + {7 * DAY}"),
            ("after_next", f"{current} + {14 * DAY}"),
        ]
    if calendar.unit == "month":
        return [
            ("current", _snap(today)),
            ("previous", _snap(f"{current} - {DAY}")),
            ("next", _snap(f"{current} + {32 * DAY}")),
            ("after_next", _snap(f"{nxt} + {32 * DAY}")),
        ]
    # The quarter's first month is r = (month - 1) % 3 months back: snap(first of this month -
    # (30 r - 15) days) lands inside it for r = 0, 1, 2.
    back = f"((month({today}) - 1) % 3 * 30 - 15) * {DAY}"
    return [
        ("current", _snap(f"{_snap(today)} - {back}")),
        ("previous", _snap(f"{current} - {85 * DAY}")),
        ("next", _snap(f"{current} + {95 * DAY}")),
        ("after_next", _snap(f"{nxt} + {95 * DAY}")),
    ]


def _ranges(values: Sequence[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for v in sorted(values):
        if out and out[-1][1] == v - 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def offset_expr(calendar: Calendar, x: str) -> str:
    """The zone's UTC offset (seconds) at local midnight of the dates in ``x`` (UTC midnights):
    the most common offset plus one term per stretch of dates with another."""
    base = Counter(off for *_days, off in calendar.offsets).most_common(1)[0][0]
    terms: list[str] = []
    by_offset: dict[int, list[tuple[int, int, int]]] = {}
    for month, first, last, off in calendar.offsets:
        if off != base:
            by_offset.setdefault(off, []).append((month, first, last))
    for off in sorted(by_offset):
        rows = by_offset[off]
        whole = [m for m, first, last in rows if first == 1 and last >= 28]
        conditions: list[str] = []
        for lo, hi in _ranges(whole):
            if lo == hi:
                conditions.append(f"(month({x}) == bool {lo})")
            else:
                conditions.append(f"(month({x}) >= bool {lo}) * (month({x}) <= bool {hi})")
        for month, first, last in rows:
            if month in whole:
                continue
            cond = f"(month({x}) == bool {month})"
            if first > 1:
                cond += f" * (day_of_month({x}) >= bool {first})"
            if last < 31:
                cond += f" * (day_of_month({x}) <= bool {last})"
            conditions.append(cond)
        terms.extend(f"{c} * {off - base}" for c in conditions)
    return " + ".join([str(base), *terms]) if terms else str(base)


def boundary_expr(calendar: Calendar, utc_starts: str) -> str:
    """Local midnight (Unix seconds) of each candidate's first day."""
    return f"{utc_starts} - ({offset_expr(calendar, utc_starts)})"


def period_bound_exprs(boundaries: str, now: str = "time()") -> tuple[str, str]:
    """The start (latest boundary not after now) and end (first boundary after now)."""
    return (
        f"max without ({naming.LABEL_CANDIDATE}) ({boundaries} <= {now})",
        f"min without ({naming.LABEL_CANDIDATE}) ({boundaries} > {now})",
    )
