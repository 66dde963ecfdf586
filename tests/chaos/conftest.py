"""A game-day rig per test module: real PostgreSQL, PgBouncer, Redis, SecantusDB (test
commands on), a fault proxy on each database path and the platform API with short breaker
timings (never the shared session servers: these tests break things on purpose)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sloctl.chaos.ledger import LEDGER
from sloctl.chaos.rig import GamedayRig, start_rig

#: Breakers tuned for game days of ≤ 60 s: 3 s open, a 5 s window, 10 calls minimum.
RIG_OPTIONS: dict[str, str | int | float] = {
    "breaker-open-seconds": 3,
    "breaker-window-seconds": 5,
    "breaker-minimum-calls": 10,
    "postgres-timeout": 1,
    "redis-timeout": 0.5,
    "mongodb-timeout": 1,
    "rate-limit": 100000,
    "rate-burst": 100000,
}


@pytest.fixture(autouse=True)
def clean_ledger() -> Iterator[None]:
    """A failed test must not leave faults, or ledger entries for servers that are gone, to
    the next one."""
    yield
    LEDGER.undo_all()
    LEDGER.forget()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GamedayRig]:
    with start_rig(tmp_path_factory.mktemp("gameday"), options=RIG_OPTIONS) as started:
        yield started
