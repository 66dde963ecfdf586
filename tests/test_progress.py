"""``sloctl.progress.Ticker``: long work says where it is, short work says nothing."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

from sloctl.progress import Ticker


def _clock(times: list[float]) -> Iterator[float]:
    return iter(times)


def test_work_shorter_than_the_interval_says_nothing_even_at_its_end() -> None:
    heard: list[tuple[str, int, int]] = []
    now = _clock([0.0, *(0.1 * i for i in range(1, 11))])
    tick = Ticker(lambda *a: heard.append(a), every=2.0, clock=now.__next__)
    for done in range(1, 11):
        tick("files", done, 10)
    assert heard == []


def test_long_work_speaks_at_most_once_an_interval_then_at_each_phase_and_its_end() -> None:
    heard: list[tuple[str, int, int]] = []
    # made at 0 s; 100 steps of 0.1 s, then a second phase of 3 steps.
    now = _clock([0.0, *(0.1 * i for i in range(1, 101)), 10.05, 10.1, 10.2])
    tick = Ticker(lambda *a: heard.append(a), every=2.0, clock=now.__next__)
    for done in range(1, 101):
        tick("rules", done, 100)
    tick("dashboards", 0, 2)
    tick("dashboards", 1, 2)
    tick("dashboards", 2, 2)
    rules = [done for what, done, _ in heard if what == "rules"]
    # every 2 s (20 steps of 0.1 s), the first after 2 s, and the phase's end
    assert rules[0] == 20 and rules[-1] == 100 and len(rules) in (5, 6)
    assert all(b - a >= 19 for a, b in pairwise(rules[:-1]))
    assert [h for h in heard if h[0] == "dashboards"] == [("dashboards", 0, 2), ("dashboards", 2, 2)]
