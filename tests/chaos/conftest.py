"""A game-day rig per test module: real PostgreSQL, PgBouncer, Redis, SecantusDB (test
commands on), a fault proxy on each database path, the platform API with short breaker
timings and a Prometheus over a backfilled healthy month evaluating rules/platform-api.yml
(never the shared session servers: these tests break things on purpose)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sloctl.chaos.ledger import LEDGER
from sloctl.chaos.rig import GamedayRig, start_rig
from tests.paths import ROOT


@pytest.fixture(autouse=True)
def clean_ledger() -> Iterator[None]:
    """A failed test must not leave faults, or ledger entries for servers that are gone, to
    the next one."""
    yield
    LEDGER.undo_all()
    LEDGER.forget()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GamedayRig]:
    rules = ROOT / "rules" / "platform-api.yml"
    with start_rig(tmp_path_factory.mktemp("gameday"), rules=rules) as started:
        yield started
