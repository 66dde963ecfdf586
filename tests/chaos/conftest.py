"""A game-day rig per test module: real PostgreSQL, PgBouncer, Redis, SecantusDB (test
commands on), a fault proxy on each database path, the platform API with short breaker
timings and a Prometheus over a backfilled healthy month evaluating the rules of
slos/platform-api.yaml with their short windows divided by :data:`FAST_RESET`, so that the
pages of one game day resolve within a quarter of a minute (about a minute when a slow page
trips) and the next can start (never the shared session servers: these tests break things on purpose).
Tests of the actions and steps, which read the servers and the API and not the alerts, get the
same rig without Prometheus (:func:`plain_rig`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sloctl.chaos.ledger import LEDGER
from sloctl.chaos.profiles import PROFILES
from sloctl.chaos.rig import GamedayRig, start_rig
from sloctl.model import SLO
from sloctl.spec import load_paths
from tests.paths import ROOT

#: the rig's short windows ÷ 60: the quick page's 5 minutes become 5 s, the slow page's 30
#: minutes 30 s; the latency slices ÷ 30 only, 10 s (``sloctl.model.FAST_RESET_MIN_SLICE``: at 5 s
#: a game day's seconds of slow answers spoiled the whole API's latency slices, and a slow
#: latency page tripped in most sequences). At ÷ 20 (15 s) a game day waited about 17 s for its
#: pages after its run. A fault's seconds weigh in the long windows as before, so the expected
#: pages fire as before (docs/gameday.md, findings).
FAST_RESET = 60

#: chaostoolkit aborts a run by raising its InterruptExecution from a signal handler in the main
#: thread. Landing inside ``socket.create_connection``, which closes its socket on OSError only,
#: it leaves the unconnected socket to the garbage collector, whose finalizer closes it with a
#: ResourceWarning (seen once, CI of 2026-12-02). Not ours to fix: a test that aborts a run in
#: process ignores that one warning and calls ``gc.collect()`` before it ends, so that the
#: warning lands in it and not in whichever test runs next.
ABORT_MAY_LEAK_A_CONNECT = pytest.mark.filterwarnings(
    r"ignore:Exception ignored in.*socket\.socket:pytest.PytestUnraisableExceptionWarning"
)


def platform_slos() -> tuple[SLO, ...]:
    loaded = load_paths([ROOT / "slos" / "platform-api.yaml"])
    assert not loaded.errors, loaded.errors
    return loaded.slos


@pytest.fixture(autouse=True)
def clean_ledger() -> Iterator[None]:
    """A failed test must not leave faults, or ledger entries for servers that are gone, to
    the next one."""
    yield
    LEDGER.undo_all()
    LEDGER.forget()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GamedayRig]:
    with start_rig(
        tmp_path_factory.mktemp("gameday"), slos=platform_slos(), fast_reset=FAST_RESET
    ) as started:
        yield started


@pytest.fixture(scope="module")
def plain_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GamedayRig]:
    """The quick profile's rig without Prometheus, for tests that read the servers and the API,
    not the alerts: no healthy month to backfill and no rules to evaluate (about 5 s less to
    start than :func:`rig`)."""
    with start_rig(tmp_path_factory.mktemp("plain-rig"), profile=PROFILES["quick"]) as started:
        yield started
