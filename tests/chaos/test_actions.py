"""Each action against real servers: it confirms its fault is active, its rollback removes the
fault, and with ``apply=False`` it raises FaultNotActive instead of pretending."""

from __future__ import annotations

import httpx
import psycopg
import pytest
import redis

from sloctl import contract
from sloctl.chaos import actions, probes
from sloctl.chaos.ledger import LEDGER
from sloctl.chaos.proxy import control
from sloctl.chaos.rig import GamedayRig
from tests.waiting import wait_until

pytestmark = [pytest.mark.servers, pytest.mark.slow, pytest.mark.xdist_group("chaos-rig")]


def test_pgbouncer_stop_refuses_clients_until_started_again(plain_rig: GamedayRig) -> None:
    cfg = plain_rig.configuration()
    assert actions.pgbouncer_stop(str(cfg["pgbouncer_admin_dsn"]))["active"]
    assert LEDGER.pending()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(plain_rig.pgbouncer.dsn, connect_timeout=2, prepare_threshold=None).close()
    actions.pgbouncer_start(str(cfg["pgbouncer_admin_dsn"]))
    assert not LEDGER.pending()
    with psycopg.connect(plain_rig.pgbouncer.dsn, connect_timeout=2, prepare_threshold=None) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(actions.FaultNotActive):
        actions.pgbouncer_stop(str(cfg["pgbouncer_admin_dsn"]), apply=False)


def test_terminating_backends_needs_sessions_to_terminate(plain_rig: GamedayRig) -> None:
    cfg = plain_rig.configuration()
    conn = psycopg.connect(plain_rig.postgres.dsn, autocommit=True)
    conn.execute("SELECT 1")
    assert actions.postgres_terminate_backends(str(cfg["postgres_admin_dsn"]))["terminated"] >= 1
    with pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT 1")
    conn.close()
    with pytest.raises(actions.FaultNotActive):
        actions.postgres_terminate_backends(str(cfg["postgres_admin_dsn"]), apply=False)


def test_redis_pause_stalls_writes_and_unpause_releases_them(plain_rig: GamedayRig) -> None:
    url = plain_rig.redis.url
    assert actions.redis_client_pause(url, seconds=10)["active"]
    client = redis.Redis.from_url(url, socket_timeout=0.3)
    with pytest.raises(redis.TimeoutError):
        client.set("k", "v")
    client.close()
    actions.redis_client_unpause(url)
    client = redis.Redis.from_url(url, socket_timeout=1)
    assert client.set("k", "v")
    client.close()
    with pytest.raises(actions.FaultNotActive):
        actions.redis_client_pause(url, apply=False)


def test_redis_maxmemory_squeeze_refuses_writes_until_restored(plain_rig: GamedayRig) -> None:
    url = plain_rig.redis.url
    assert actions.redis_maxmemory_squeeze(url)["active"]
    actions.redis_maxmemory_restore(url)
    client = redis.Redis.from_url(url, socket_timeout=1)
    assert client.set("big", b"x" * 65536)
    assert client.config_get("maxmemory")["maxmemory"] == "0"
    client.close()
    with pytest.raises(actions.FaultNotActive):
        actions.redis_maxmemory_squeeze(url, apply=False)


@pytest.mark.parametrize("mode", ["errors", "closed", "blocked"])
def test_mongodb_fail_command_hits_the_api_connections_only(plain_rig: GamedayRig, mode: str) -> None:
    uri = plain_rig.mongodb.uri
    with httpx.Client(base_url=plain_rig.api.url, timeout=5) as http:
        doc = http.post("/v1/documents", json={"a": 1}).json()["id"]
        assert actions.mongodb_fail_command(uri, mode=mode, block_ms=1500)["active"]
        try:
            assert http.get(f"/v1/documents/{doc}").status_code == 503
        finally:
            actions.mongodb_fail_command_off(uri)
        # The driver may have marked the server unknown: it rediscovers it within seconds.
        wait_until(
            lambda: http.get(f"/v1/documents/{doc}").status_code == 200,
            timeout=10,
            what="the document again",
            interval=0.2,
        )
    with pytest.raises(actions.FaultNotActive):
        actions.mongodb_fail_command(uri, mode=mode, apply=False)


def test_slow_query_storm_holds_the_pool_and_is_cancelled_by_its_rollback(plain_rig: GamedayRig) -> None:
    cfg = plain_rig.configuration()
    out = actions.postgres_slow_query_storm(
        str(cfg["pgbouncer_dsn"]), str(cfg["postgres_admin_dsn"]), connections=8, seconds=20
    )
    assert out["running"] >= 1
    with httpx.Client(base_url=plain_rig.api.url, timeout=5) as http:
        assert http.get("/v1/projects").status_code == 503  # waits for PgBouncer, times out
        stopped = actions.postgres_slow_query_storm_stop(str(cfg["postgres_admin_dsn"]))
        assert stopped["remaining"] == 0
        # The pool drains as PgBouncer hands the freed server connections to waiting clients:
        # the API answers again within seconds (immediately on a quiet machine, not under load).
        wait_until(
            lambda: http.get("/v1/projects").status_code == 200,
            timeout=10,  # the storm would hold the pool 20 s: well past this if not cancelled
            what="/v1/projects again after the storm's rollback",
            interval=0.2,
        )
    with pytest.raises(actions.FaultNotActive):
        actions.postgres_slow_query_storm(
            str(cfg["pgbouncer_dsn"]), str(cfg["postgres_admin_dsn"]), apply=False
        )


def test_proxy_latency_on_the_redis_path_times_out_the_cache_routes(plain_rig: GamedayRig) -> None:
    port = plain_rig.proxies["redis"].control_port
    with httpx.Client(base_url=plain_rig.api.url, timeout=5) as http:
        assert http.put("/v1/cache/p", content=b"v").status_code == 204
        assert actions.proxy_fault(port, "latency", latency_ms=800)["active"]
        try:
            assert http.get("/v1/cache/p").status_code == 503
            doc = http.post("/v1/documents", json={"a": 1}).json()["id"]  # MongoDB unaffected
            assert http.get(f"/v1/documents/{doc}").status_code == 200
        finally:
            actions.proxy_clear(port)
        assert control(port).fault == "none"
    with pytest.raises(actions.FaultNotActive):
        actions.proxy_fault(port, "reset", apply=False)


def test_probes_read_breaker_state_and_pool_saturation(plain_rig: GamedayRig) -> None:
    metrics = f"{plain_rig.api.url}/metrics"
    assert probes.breaker_state(metrics, "postgres") in {s.label for s in contract.BreakerState}
    pool = probes.pool_saturation(metrics, "postgres")
    assert pool["size"] >= 1 and 0 <= pool["saturation"] <= 1
    latency = probes.route_latency(f"{plain_rig.api.url}/v1/projects", requests=5)
    assert latency["codes"] == {"200": 5} and latency["p95_ms"] > 0
