"""Backtest scenarios as data, and the per-step counts they generate.

A scenario describes traffic and errors for one SLO on a 1m grid: a base request rate, a traffic
shape (flat, diurnal, or quiet nights), a background burn (in multiples of the error budget, or
as an error ratio), incidents (intervals with a higher burn), intervals without traffic, counter
resets and scrape gaps. ``counts`` turns it into exact per-step request and error counts, from
which both the counters fed to Prometheus and the ground truth are derived.

Scenarios are for a kind of SLO: ``occurrences`` (a rolling period counting events),
``timeslices``, ``calendar`` (built per calendar by ``calendar_scenarios``, at the dates where its
zone changes its period or its clock) and ``composite`` (one component fails).
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from dataclasses import dataclass, field
from typing import Literal

from sloctl import naming
from sloctl.calendars import period_bounds
from sloctl.durations import DAY, HOUR, format_duration
from sloctl.model import SLO, CompositeSLI

__all__ = [
    "CALENDAR_SCENARIOS",
    "SCENARIOS",
    "Counts",
    "Incident",
    "Scenario",
    "applies",
    "calendar_scenarios",
    "counts",
    "designed_no_data",
    "fitted",
    "meant_for",
    "scenario",
    "scenarios_for",
    "slice_truth",
]


Shape = Literal["flat", "diurnal", "quiet_night", "busy_hour"]
Kind = Literal["occurrences", "timeslices", "calendar", "composite"]


@dataclass(frozen=True)
class Incident:
    start: int
    """Seconds from the start of the scenario."""
    end: int
    burn: float
    """Error ratio in multiples of the error budget; ``math.inf`` means every request fails."""


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    duration: int
    incidents: tuple[Incident, ...] = ()
    expect: tuple[str, ...] = ()
    """Tiers designed to fire; any other firing is a false alert."""
    rps: float = 20.0
    shape: Shape = "flat"
    background_burn: float = 0.1
    resets: tuple[int, ...] = ()
    gaps: tuple[tuple[int, int], ...] = ()
    step: int = 60
    series: int = 1
    """Raw series the counters are split into (label ``shard``): cost, not behaviour."""
    labels: tuple[tuple[str, str], ...] = field(default=())
    warmup: int = 3 * DAY
    """Healthy history before the scenario, at least the longest alert window: windows longer
    than the history would otherwise see only the scenario (a freshly deployed SLO)."""
    kind: Kind = "occurrences"
    quiet: tuple[tuple[int, int], ...] = ()
    """Intervals (seconds from the start) without any traffic: the SLI's series go flat."""
    epoch: int | None = None
    """Unix seconds of the scenario's start; None: the run's (2026-01-01T00:00Z)."""
    ratio: bool = False
    """Burns are error ratios (0.15 = 15 % of requests fail or are slow), not budget multiples."""


@dataclass(frozen=True)
class Counts:
    """Per-step counts from ``-warmup``: ``requests[i]``/``errors[i]`` happened in
    ``(t_i - step, t_i]`` with ``t_i = i * step - warmup``; ``scraped[i]`` is False inside a
    scrape gap; ``reset[i]`` restarts the counters at ``t_i``."""

    step: int
    warmup: int
    requests: tuple[float, ...]
    errors: tuple[float, ...]
    scraped: tuple[bool, ...]
    reset: tuple[bool, ...]

    def truth_ratio(self, start_index: int = 0, end_index: int | None = None) -> float:
        """Σerrors / Σrequests over steps ``(start_index, end_index]`` — the ground truth."""
        end = len(self.requests) if end_index is None else end_index + 1
        req = sum(self.requests[start_index + 1 : end])
        return sum(self.errors[start_index + 1 : end]) / req if req else 0.0


def _traffic(s: Scenario, t: int) -> float:
    if s.shape == "diurnal":
        # Peak at 14:00, trough at 02:00, ten to one.
        return s.rps * (0.55 + 0.45 * math.cos(2 * math.pi * (t / DAY - 14 / 24)))
    if s.shape == "busy_hour":
        # Ten times the traffic from 14:00 to 15:00.
        return s.rps * (10.0 if (t - 1) // HOUR % 24 == 14 else 1.0)
    if s.shape == "quiet_night":
        hour = (t // HOUR) % 24
        return s.rps * (0.02 if hour < 6 else 1.0)
    return s.rps


def counts(s: Scenario, budget: float) -> Counts:
    """Exact per-step counts of ``s`` for an SLO whose error budget is ``budget``."""
    n = (s.warmup + s.duration) // s.step
    req: list[float] = [0.0]
    err: list[float] = [0.0]
    for i in range(1, n + 1):
        t = i * s.step - s.warmup
        r = 0.0 if any(a < t <= b for a, b in s.quiet) else _traffic(s, t) * s.step
        burn = s.background_burn
        for inc in s.incidents:
            if inc.start < t <= inc.end:
                burn = inc.burn
        ratio = 1.0 if math.isinf(burn) else min(1.0, burn * (1.0 if s.ratio else budget))
        req.append(r)
        err.append(r * ratio)
    times = [i * s.step - s.warmup for i in range(n + 1)]
    scraped = tuple(not any(a < t <= b for a, b in s.gaps) for t in times)
    reset = tuple(t in s.resets for t in times)
    return Counts(s.step, s.warmup, tuple(req), tuple(err), scraped, reset)


def _outage() -> Scenario:
    return Scenario(
        "full_outage",
        "every request fails for 20 minutes after a healthy hour (1m scrape and evaluation)",
        2 * HOUR,
        (Incident(HOUR, HOUR + 20 * 60, math.inf),),
        ("page_quick",),
    )


SCENARIOS: tuple[Scenario, ...] = (
    _outage(),
    Scenario(
        "burn_14x",
        "14.4x is the page_quick factor: a 16.6x burn (1.15x the factor) for 2 hours",
        4 * HOUR,
        (Incident(HOUR, 3 * HOUR, 14.4 * 1.15),),
        ("page_quick",),
    ),
    Scenario(
        "burn_6x",
        "6x is the page_slow factor: a 6.9x burn (1.15x the factor) for 8 hours",
        10 * HOUR,
        (Incident(HOUR, 9 * HOUR, 6 * 1.15),),
        ("page_slow",),
    ),
    Scenario(
        "burn_3x",
        "3x is the ticket_quick factor: a 3.45x burn (1.15x the factor) for a day",
        30 * HOUR,
        (Incident(2 * HOUR, 26 * HOUR, 3 * 1.15),),
        ("ticket_quick",),
    ),
    Scenario(
        "slow_burn_1x",
        "1x spends exactly the budget in 30 days; a 1.15x burn for 2.75 days trips ticket_slow",
        3 * DAY,
        (Incident(HOUR, 3 * DAY, 1.15),),
        ("ticket_slow",),
    ),
    Scenario(
        "night_spike",
        "a 10-minute spike of 20 % errors at 03:00 on 72 requests an hour: under the guard, no page",
        12 * HOUR,
        (Incident(3 * HOUR, 3 * HOUR + 600, 200.0),),
        (),
        rps=1.0,
        shape="quiet_night",
    ),
    Scenario(
        "diurnal_incident",
        "diurnal traffic (10:1) with a 30-minute 50x incident at the afternoon peak",
        24 * HOUR,
        (Incident(14 * HOUR, 14 * HOUR + 1800, 50.0),),
        ("page_quick",),
        shape="diurnal",
    ),
    Scenario(
        "counter_resets",
        "healthy traffic with a counter reset every 2 hours: no alert, budget as computed",
        8 * HOUR,
        resets=(2 * HOUR, 4 * HOUR, 6 * HOUR),
    ),
    Scenario(
        "scrape_gaps",
        "healthy traffic with 3- and 10-minute scrape gaps: no alert",
        8 * HOUR,
        gaps=((2 * HOUR, 2 * HOUR + 180), (5 * HOUR, 5 * HOUR + 600)),
    ),
)


def _slice_breaches() -> Scenario:
    # 1 % of requests slow in the background; breaches of 15 % slow requests on whole 5m slices
    # (15 % keeps a slice shifted by up to a minute on the same side of a 95 % target).
    breaches = (
        Incident(3 * HOUR, 3 * HOUR + 900, 0.15),
        Incident(9 * HOUR, 9 * HOUR + 900, 0.15),
        Incident(15 * HOUR, 15 * HOUR + 900, 0.15),
        Incident(20 * HOUR, 20 * HOUR + 300, 0.15),
    )
    return Scenario(
        "slice_breaches",
        "p95 breaches (15 % of requests slow) on 10 whole 5m slices in a day: 3 × 15 min and 5 min",
        DAY,
        breaches,
        ("page_quick", "page_slow"),
        background_burn=0.01,
        kind="timeslices",
        ratio=True,
    )


NO_DATA_HEALTHY = 2 * HOUR
"""Healthy traffic before the no_data scenario's series go flat, and again after."""
NO_DATA_FLAT = 2 * HOUR
"""How long the no_data scenario's series stay flat at least (the catalogue's scenario)."""
NO_DATA_HOLD = 30 * 60
"""Flat time the no_data scenario keeps after the no-data ticket's designed detection: the
ticket is seen firing, not only its first evaluation."""
NO_DATA_LONGEST_FLAT = DAY
"""The longest the no_data scenario stays flat for an SLO whose ticket waits long (its
``noData.for``): each hour more is an hour more of 1m evaluations of every window in the replay.
A ticket that needs longer is expected silent, and the report says why."""


def designed_no_data(slo: SLO, step: int) -> int:
    """Designed time from the last event to the no-data alert: the 5m rate reaches zero one
    base window after it, then ``for`` of zeros, then a scrape and an evaluation."""
    return slo.alerting.no_data.for_seconds + naming.BASE_WINDOW + 2 * step


def _no_data(flat: int) -> Scenario:
    return Scenario(
        "no_data",
        f"the SLI's series go flat for {format_duration(flat)} after {format_duration(NO_DATA_HEALTHY)} "
        "healthy: the no-data ticket, then back"
        + (
            ""
            if flat != NO_DATA_FLAT
            else f"; flat longer when noData.for needs it, up to {format_duration(NO_DATA_LONGEST_FLAT)}"
        ),
        2 * NO_DATA_HEALTHY + flat,
        expect=("no_data",),
        quiet=((NO_DATA_HEALTHY, NO_DATA_HEALTHY + flat),),
    )


SCENARIOS += (
    _no_data(NO_DATA_FLAT),
    _slice_breaches(),
    Scenario(
        "dependency_fails",
        "the heaviest component of a composite fails completely for 20 minutes after a healthy hour",
        2 * HOUR,
        (Incident(HOUR, HOUR + 20 * 60, math.inf),),
        ("page_quick", "ticket_quick"),
        kind="composite",
    ),
)


def applies(s: Scenario, slo: SLO) -> bool:
    """Whether scenario ``s`` is meant for ``slo``'s kind."""
    if isinstance(slo.sli, CompositeSLI):
        return s.kind == "composite"
    if s.kind == "calendar":
        return slo.calendar is not None and s.epoch is not None
    if slo.timeslices is not None:
        return s.kind == "timeslices"
    return s.kind == "occurrences" and slo.calendar is None


def fitted(s: Scenario, slo: SLO) -> Scenario:
    """``s`` as replayed against ``slo``: the no_data scenario stays flat long enough for the
    SLO's no-data ticket to fire and hold (its designed detection plus :data:`NO_DATA_HOLD`),
    up to :data:`NO_DATA_LONGEST_FLAT`; every other scenario as it is."""
    if s.name != "no_data" or not slo.alerting.no_data.enabled:
        return s
    need = designed_no_data(slo, s.step) + NO_DATA_HOLD
    return _no_data(min(max(NO_DATA_FLAT, need), NO_DATA_LONGEST_FLAT))


def scenarios_for(slo: SLO) -> list[Scenario]:
    """The scenarios meant for ``slo``'s kind, fitted to it, then its calendar scenarios."""
    return [fitted(s, slo) for s in SCENARIOS if applies(s, slo)] + list(calendar_scenarios(slo))


def meant_for(name: str) -> str:
    """The SLOs scenario ``name`` is meant for, in words (as :func:`applies` and
    :func:`calendar_scenarios` decide)."""
    if name == "dst_change":
        return "calendar-period SLOs in a time zone that changes clocks"
    kind = next((s.kind for s in SCENARIOS if s.name == name), "calendar")
    return {
        "occurrences": "rolling-period SLOs over events (not timeslices, not composites)",
        "timeslices": "timeslice SLOs",
        "composite": "composite SLOs",
        "calendar": "calendar-period SLOs",
    }[kind]


def _after(unit: str, zone: str, t: int) -> int:
    return period_bounds(unit, zone, t)[1]  # type: ignore[arg-type]


def _transition(zone: str, after: int) -> int | None:
    """The zone's first change of UTC offset after ``after`` within a year (hourly scan)."""
    tz = zoneinfo.ZoneInfo(zone)
    t = after - after % HOUR
    before = dt.datetime.fromtimestamp(t, tz).utcoffset()
    for _ in range(366 * 24):
        t += HOUR
        if dt.datetime.fromtimestamp(t, tz).utcoffset() != before:
            return t
    return None


CALENDAR_SCENARIOS = ("period_boundary", "dst_change")


def calendar_scenarios(slo: SLO) -> tuple[Scenario, ...]:
    """The calendar scenarios of a calendar SLO: ``period_boundary`` (the period that ends
    after 2026-02-27, a 28-day February for months) and ``dst_change`` (its zone's first clock
    change of 2026, then its next period boundary; none in a zone without one).

    The boundary's burn sits between the quick page's factors in the periods before and after
    it when they differ (it fires before the boundary and stops at it: a 31-day month allows
    more than February), and 15 % above the factor otherwise."""
    calendar = slo.calendar
    if calendar is None:
        return ()
    unit, zone = calendar.unit, calendar.time_zone
    quick = slo.windows.window("page", "quick")
    out: list[Scenario] = []
    boundary = _after(unit, zone, 1772150400)  # 2026-02-27T00:00Z
    lengths = (
        boundary - period_bounds(unit, zone, boundary - 1)[0],
        _after(unit, zone, boundary) - boundary,
    )
    before, after = (quick.budget_percent / 100 * n / quick.long_window for n in lengths)
    burn = (before + after) / 2 if after > before * 1.01 else before * 1.15
    out.append(
        Scenario(
            "period_boundary",
            f"a burn of {burn:.2f}x across the {unit} boundary in {zone}: the budget restarts there, "
            "and the quick page's factor follows the period's length",
            40 * HOUR,
            (Incident(27 * HOUR, 33 * HOUR, burn),),
            ("page_quick",),
            kind="calendar",
            epoch=boundary - 30 * HOUR,
        )
    )
    change = _transition(zone, 1772323200)  # 2026-03-01T00:00Z
    if change is not None:
        end = _after(unit, zone, change)
        start = change - 30 * HOUR
        out.append(
            Scenario(
                "dst_change",
                f"the clock change of {zone} then its {unit} boundary: a full outage of 20 minutes "
                "from the change, and a budget that restarts at local midnight",
                end - start + 12 * HOUR - (end - start) % 60,
                (Incident(30 * HOUR, 30 * HOUR + 1200, math.inf),),
                ("page_quick",),
                kind="calendar",
                epoch=start,
            )
        )
    return tuple(out)


def slice_truth(c: Counts, allowed: float, start_index: int, end_index: int, per: int = 5) -> float | None:
    """Share of bad slices among the ``per``-step slices ending in ``(start_index, end_index]``
    with traffic (a slice is bad when its error ratio exceeds ``allowed``)."""
    first = start_index + 1
    bad = total = 0
    for last in range(first + per - 1, end_index + 1, per):
        req = sum(c.requests[last - per + 1 : last + 1])
        if req <= 0:
            continue
        total += 1
        bad += sum(c.errors[last - per + 1 : last + 1]) / req > allowed
    return bad / total if total else None


def scenario(name: str) -> Scenario:
    for s in SCENARIOS:
        if s.name == name:
            return s
    raise KeyError(f"no scenario {name!r}; known: {', '.join(s.name for s in SCENARIOS)}")
