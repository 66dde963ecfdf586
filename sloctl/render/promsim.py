"""An exact model of the PromQL range functions the generated rules use, on both engines.

Prometheus 2 selects a range ``[t - W, t]`` (the samples at both ends); Prometheus 3 selects
``(t - W, t]`` (left-open: the sample at ``t - W`` is out). With a scrape every 60 s a ``[5m]``
selector therefore holds 6 samples on 2.x and 5 on 3.x, and ``rate()`` extrapolates the 3.x
increase to the full window. ``ruletests`` computes what each engine returns and asserts only
at moments where both agree, so the generated tests pass on both.

Pure functions over sample times (seconds) and values; no I/O.

>>> ts, vs = [0, 60, 120, 180, 240, 300], [0, 6, 12, 18, 24, 30]
>>> rate(ts, vs, 300, 300, PROMETHEUS_2), rate(ts, vs, 300, 300, PROMETHEUS_3)
(0.1, 0.1)
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ENGINES",
    "LOOKBACK",
    "PROMETHEUS_2",
    "PROMETHEUS_3",
    "RangeSemantics",
    "in_range",
    "latest",
    "rate",
]

LOOKBACK = 300
"""Prometheus' default lookback delta: how far back an instant selector finds a sample."""


@dataclass(frozen=True)
class RangeSemantics:
    """How an engine selects the samples of a range ``[W]`` evaluated at ``t``."""

    name: str
    left_open: bool


PROMETHEUS_2 = RangeSemantics("prometheus 2", left_open=False)
PROMETHEUS_3 = RangeSemantics("prometheus 3", left_open=True)
ENGINES = (PROMETHEUS_2, PROMETHEUS_3)


def in_range(ts: Sequence[int], t: int, window: int, sem: RangeSemantics) -> tuple[int, int]:
    """Indices ``lo:hi`` of the (sorted) sample times inside the range ending at ``t``."""
    start = t - window
    lo = bisect.bisect_right(ts, start) if sem.left_open else bisect.bisect_left(ts, start)
    hi = bisect.bisect_right(ts, t)
    return lo, max(lo, hi)


def latest(ts: Sequence[int], t: int, sem: RangeSemantics) -> int | None:
    """Index of the sample an instant selector returns at ``t``: the latest within the lookback
    delta, which is a range like any other (closed on 2.x, left-open on 3.x); None if absent.

    >>> latest([0, 300], 600, PROMETHEUS_2), latest([0, 300], 600, PROMETHEUS_3)
    (1, None)
    """
    lo, hi = in_range(ts, t, LOOKBACK, sem)
    return hi - 1 if hi > lo else None


def rate(ts: Sequence[int], vs: Sequence[float], t: int, window: int, sem: RangeSemantics) -> float | None:
    """``rate(counter[window])`` at ``t`` as Prometheus computes it: counter resets corrected,
    the increase extrapolated towards the range's ends (by at most half an average sample
    interval past the first and last samples, and never below zero), divided by the window.
    None when the range holds fewer than two samples (the series is absent from the result)."""
    lo, hi = in_range(ts, t, window, sem)
    if hi - lo < 2:
        return None
    first, last = vs[lo], vs[hi - 1]
    increase = last - first
    for i in range(lo + 1, hi):
        if vs[i] < vs[i - 1]:
            increase += vs[i - 1]  # a reset: the counter restarted from zero
    sampled = float(ts[hi - 1] - ts[lo])
    to_start = float(ts[lo] - (t - window))
    to_end = float(t - ts[hi - 1])
    average = sampled / (hi - lo - 1)
    if increase > 0 and first >= 0:
        # A counter cannot have been below zero: extrapolate at most to where it was zero.
        to_start = min(to_start, sampled * (first / increase))
    threshold = average * 1.1
    if to_start >= threshold:
        to_start = average / 2
    if to_end >= threshold:
        to_end = average / 2
    return increase * (sampled + to_start + to_end) / sampled / window
