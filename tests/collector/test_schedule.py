"""The scheduler's grid when the collector's loop is starved: the runs whose slots passed while
the loop was blocked are skipped, never run back to back to catch up, and are counted in
``sloctl_probe_runs_missed_total`` and logged, so that a gap in the probes shows."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sloctl import contract
from sloctl.collector import app
from sloctl.collector.probes.base import Probe
from sloctl.collector.runner import build_probe
from tests.collector.helpers import LiveCollector, collector_config, live_collector
from tests.fixtures.metrics import in_text
from tests.fixtures.stub_http import serve, text
from tests.waiting import wait_until

INTERVAL = 1.0  # the collector's floor
BLOCKED = 3.75
"""How long the test holds the collector's loop: three slots and a bit."""


@pytest.fixture
def live() -> Iterator[LiveCollector]:
    with serve(lambda _request: text("{}", "application/json")) as api:
        config = collector_config(
            [f"name: api, kind: http, url: '{api.url}/'"],
            f"interval: {INTERVAL * 1000:g}ms, timeout: 100ms, connections: [warm]",
        )
        with live_collector(config, {}) as c:
            yield c


def _missed(live: LiveCollector) -> float:
    _ctype, body = live.get("/metrics")
    return sum(in_text(body, contract.PROBE_MISSED.name, target="api", kind="http").values())


def test_runs_missed_while_the_loop_is_blocked_are_skipped_counted_and_logged(live: LiveCollector) -> None:
    wait_until(lambda: len(live.lane_starts("api", "warm")) >= 3, timeout=10, what="three runs")
    assert _missed(live) == 0.0
    blocked = threading.Event()

    def block() -> None:
        time.sleep(BLOCKED)  # real timer: holding the collector's own loop is the fault injected
        blocked.set()

    live.loop.call_soon_threadsafe(block)
    assert blocked.wait(10)
    before = len(live.lane_starts("api", "warm"))
    wait_until(
        lambda: len(live.lane_starts("api", "warm")) >= before + 3,
        timeout=10,
        what="three runs after the block",
    )
    starts = live.lane_starts("api", "warm")
    # On the grid: every scheduled start is a whole number of intervals after the first.
    slots = [(s - starts[0][0]) / INTERVAL for s, _a in starts]
    assert all(abs(k - round(k)) < 1e-6 for k in slots), slots
    # Skipped, not caught up: the slots the block swallowed were never run (the run it held up
    # starts late, the next one on its own slot), and exactly those are counted.
    skipped = sum(round(b - a) - 1 for a, b in itertools.pairwise(slots))
    assert skipped >= int(BLOCKED / INTERVAL) - 1, starts
    missed = _missed(live)
    assert missed == skipped, (missed, starts)
    # ... and logged, once per lane wake-up, with the number skipped.
    logs = [json.loads(line) for line in live.logs.getvalue().splitlines() if line.strip()]
    said = [r for r in logs if r.get("event.action") == "probe-missed"]
    assert said, logs[-3:]
    assert all(
        (r["labels.target"], r["labels.kind"], r["labels.connection"], r["log.level"])
        == ("api", "http", "warm", "warning")
        for r in said
    ), said
    assert sum(int(r["message"].split(" ", 1)[0]) for r in said) == missed


LANES = 5


def test_the_lanes_are_spread_evenly_over_the_interval() -> None:
    """As Prometheus spreads its scrapes: lane i of n starts i/n of an interval in, so that
    targets sharing an interval never queue at a server in the same instant (forty lanes used to
    start within a tenth of the interval, and the last of them timed out behind the others on a
    loaded machine)."""
    interval = 1.0
    with serve(lambda _request: text("{}", "application/json")) as api:
        config = collector_config(
            (f"name: api{i}, kind: http, url: '{api.url}/'" for i in range(LANES)),
            f"interval: {interval:g}s, timeout: 500ms, connections: [warm]",
        )
        with live_collector(config, {}) as live:
            wait_until(
                lambda: all(live.lane_starts(f"api{i}", "warm") for i in range(LANES)),
                timeout=10,
                what="a run of every lane",
            )
            starts = [live.lane_starts(f"api{i}", "warm")[0] for i in range(LANES)]
    firsts = [planned for planned, _ in starts]
    gaps = [b - a for a, b in itertools.pairwise(firsts)]
    # Planned i/n of the interval apart from one origin (each lane's own start used to be its
    # origin: on a loaded machine lane 1 was planned 0.29 of an interval after lane 0, not 0.2),
    # and none ran before its slot.
    assert all(abs(g - interval / LANES) < 1e-6 for g in gaps), gaps
    assert all(actual >= planned for planned, actual in starts), starts


def test_the_first_slots_are_planned_after_every_probe_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Probes take time to build (an HTTP probe loaded its own CA bundle then; they share one
    per TLS configuration now, and any probe may still be slow to build): with the lanes'
    origin taken before the probes were built, twenty-two of them (0.6 s here, seconds on a
    busy machine) put the first lanes' slots in the past, and those lanes all ran at once and
    timed out behind each other. The origin is taken once every probe is built."""
    built: list[float] = []

    def build_and_note(*args: Any, **kwargs: Any) -> Probe:
        """:func:`build_probe`, whatever its arguments, and the time it returned."""
        probe = build_probe(*args, **kwargs)
        built.append(time.monotonic())  # the loop's clock (asyncio's default)
        return probe

    monkeypatch.setattr(app, "build_probe", build_and_note)
    with serve(lambda _request: text("{}", "application/json")) as api:
        config = collector_config(
            (f"name: api{i}, kind: http, url: '{api.url}/'" for i in range(LANES)),
            "interval: 1s, timeout: 500ms, connections: [cold, warm]",
        )
        with live_collector(config, {}) as live:
            wait_until(
                lambda: all(live.lane_starts(f"api{i}", m) for i in range(LANES) for m in ("cold", "warm")),
                timeout=10,
                what="a run of every lane",
            )
            planned = [live.lane_starts(f"api{i}", m)[0][0] for i in range(LANES) for m in ("cold", "warm")]
    assert len(built) == 2 * LANES
    assert min(planned) >= max(built), (min(planned), max(built))
