"""Backtest scenarios as data, and the per-step counts they generate.

A scenario describes traffic and errors for one SLO on a 1m grid: a base request rate, a traffic
shape (flat, diurnal, or quiet nights), a background burn (in multiples of the error budget),
incidents (intervals with a higher burn), counter resets and scrape gaps. ``counts`` turns it
into exact per-step request and error counts, from which both the counters fed to Prometheus
and the ground truth are derived.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["SCENARIOS", "Counts", "Incident", "Scenario", "counts", "scenario"]

HOUR = 3600
DAY = 86400

Shape = Literal["flat", "diurnal", "quiet_night", "busy_hour"]


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
        r = _traffic(s, t) * s.step
        burn = s.background_burn
        for inc in s.incidents:
            if inc.start < t <= inc.end:
                burn = inc.burn
        ratio = 1.0 if math.isinf(burn) else min(1.0, burn * budget)
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


def scenario(name: str) -> Scenario:
    for s in SCENARIOS:
        if s.name == name:
            return s
    raise KeyError(f"no scenario {name!r}; known: {', '.join(s.name for s in SCENARIOS)}")
