"""The game day's tier-isolation check (chaos/slow-query-storm.json): its two steps, as
generated, run by Chaos Toolkit's own activity runner against a rig (real PostgreSQL,
PgBouncer with a pool per tier, the API with a pool and breaker per tier)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import psycopg
import pytest
from chaoslib.activity import run_activity
from chaoslib.exceptions import ActivityFailed

from sloctl import contract
from sloctl.chaos.actions import STORM_MARK, postgres_slow_query_storm_stop
from sloctl.chaos.load import STOP
from sloctl.chaos.probes import parse_metrics
from sloctl.chaos.result import verdict_of
from sloctl.chaos.rig import GamedayRig
from sloctl.contract import TIERS
from tests.paths import ROOT
from tests.waiting import wait_until

pytestmark = [pytest.mark.servers, pytest.mark.xdist_group("chaos-rig")]

FREE, ENTERPRISE = TIERS[0], TIERS[-1]


@pytest.fixture(autouse=True)
def unstopped() -> None:
    """A game day's control clears the stop event when its run starts (it is set when a run in
    this process ends); these tests run the two steps without that control."""
    STOP.clear()


def isolation_steps() -> tuple[dict[str, Any], dict[str, Any]]:
    method = json.loads((ROOT / "chaos" / "slow-query-storm.json").read_text())["method"]
    database = FREE.pgbouncer_database
    inject = next(a for a in method if a["provider"]["arguments"].get("database") == database)
    check = next(a for a in method if a["provider"]["func"] == "expect_tier_isolation")
    return inject, check


def storm_queries(rig: GamedayRig) -> int:
    with psycopg.connect(rig.postgres.admin_dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s",
            (f"%{STORM_MARK}%SELECT pg_sleep%",),
        ).fetchone()
    return int(row[0]) if row else 0


def wait_until_free_tier_served(rig: GamedayRig) -> None:
    """The free tier's breaker closed again (the previous test opened it: its half-open trial
    closes it once its queries run again), so that its callers reach its pool."""
    keys = json.loads(rig.api.client_keys_file.read_text())
    metrics = f"{rig.api.url}/metrics"

    def served() -> bool:
        with httpx.Client(base_url=rig.api.url, timeout=10) as c:
            answer = c.get("/v1/projects?limit=1", headers={"Authorization": f"Bearer {keys[FREE.name]}"})
            state = parse_metrics(c.get(metrics).text)
        closed = state[(contract.TIER_BREAKER_STATE.name, frozenset({("tier", FREE.name)}))] == 0
        return answer.status_code == 200 and closed

    wait_until(served, timeout=30, what="the free tier served again", interval=0.5)


def test_the_enterprise_tier_keeps_its_latency_slo_while_the_free_tier_s_pool_is_exhausted(
    plain_rig: GamedayRig,
) -> None:
    inject, check = isolation_steps()
    configuration = plain_rig.configuration()
    wait_until_free_tier_served(plain_rig)
    try:
        held = run_activity(inject, configuration, {})
        # The fault is real: every server connection of the free tier's PgBouncer pool sleeps
        # (the action is confirmed by the first; the others follow within moments).
        assert held["running"] >= 1
        wait_until(
            lambda: storm_queries(plain_rig) == FREE.testbed_pool[1],
            timeout=5,
            what="the storm holds the pool",
        )
        figures = run_activity(check, configuration, {})
    finally:
        postgres_slow_query_storm_stop(plain_rig.postgres.admin_dsn)
    # The free tier's callers queued in the API and were answered 503 (timeout, or its own
    # breaker open).
    assert figures["exhausted_waiting_before"] >= 1
    assert figures["exhausted_answers"] and set(figures["exhausted_answers"]) == {"503"}
    # The promise: enterprise requests answered, p95 under the latency SLO's threshold.
    threshold = check["provider"]["arguments"]["max_p95_ms"]
    assert threshold == 200.0
    assert figures["protected_failed"] == 0
    assert sum(figures["protected_answers"].values()) == figures["protected_requests"]
    assert figures["protected_p95_ms"] < threshold
    assert storm_queries(plain_rig) == 0


def test_the_isolation_check_fails_when_the_tier_it_protects_is_the_exhausted_one(
    plain_rig: GamedayRig,
) -> None:
    inject, check = isolation_steps()
    check["provider"]["arguments"].update(protected=FREE.name, requests=5)
    configuration = plain_rig.configuration()
    wait_until_free_tier_served(plain_rig)
    try:
        run_activity(inject, configuration, {})
        wait_until(
            lambda: storm_queries(plain_rig) == FREE.testbed_pool[1],
            timeout=5,
            what="the storm holds the pool",
        )
        # the failure names the condition that broke: each request waited for the held pool
        with pytest.raises(
            ActivityFailed,
            match=r"the free tier suffered from the free tier's exhausted pool"
            r" \(5 of 5 answered 5xx, 429 or not at all[;)]",
        ):
            run_activity(check, configuration, {})
    finally:
        postgres_slow_query_storm_stop(plain_rig.postgres.admin_dsn)
    assert storm_queries(plain_rig) == 0


def test_an_isolation_fault_that_did_not_hold_makes_the_game_day_inconclusive_not_failed() -> None:
    journal = {
        "status": "completed",
        "steady_states": {"before": {"steady_state_met": True}},
        "run": [
            {"activity": {"name": "inject: postgres_slow_query_storm"}, "status": "succeeded"},
            {
                "activity": {"name": f"isolation: slow queries hold the {FREE.name} tier's PgBouncer pool"},
                "status": "failed",
                "exception": ["Traceback …\n", "FaultNotActive: no slow query of the storm is running\n"],
            },
        ],
    }
    verdict, reasons = verdict_of(journal)
    assert verdict == "inconclusive"
    assert reasons == [
        f"fault not confirmed active: isolation: slow queries hold the {FREE.name} tier's PgBouncer pool:"
        " FaultNotActive: no slow query of the storm is running"
    ]


def test_the_isolation_fault_comes_after_the_game_day_s_own_and_is_not_its_fault() -> None:
    """The game day times detection from the end of its last ``inject:`` action: the isolation
    fault, injected after the checks, must not move the fault's time (a first run reported the
    page "already firing before the fault")."""
    method = json.loads((ROOT / "chaos" / "slow-query-storm.json").read_text())["method"]
    names = [a["name"] for a in method]
    injects = [n for n in names if n.startswith("inject:")]
    isolation = next(n for n in names if n.startswith("isolation:"))
    assert injects == ["inject: postgres_slow_query_storm"]
    assert names.index(isolation) > names.index(injects[-1])
