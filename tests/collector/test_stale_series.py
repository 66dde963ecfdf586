"""A target that goes down takes its saturation and role series with it.

They stayed at what the last good run read: a stopped Redis showed its connections in use, its
memory and its role ``primary``, flat, beside ``sloctl_probe_up 0``, for as long as it was down.
A failed run now removes them (Prometheus marks them stale at its next scrape: the panels show a
gap), and the next good run exports them again.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sloctl import contract
from sloctl.servers import MongoServer, PostgresServer, RedisServer, start_redis
from tests.collector.helpers import LiveCollector, collector_config, live_collector
from tests.fixtures.metrics import in_text

pytestmark = [pytest.mark.servers]

SERIES = (contract.PROBE_CONNECTIONS_USED, contract.PROBE_CONNECTIONS_MAX, contract.PROBE_MEMORY_USED)


def _exported(live: LiveCollector) -> dict[str, int]:
    """How many series of the saturation and role families the cache target has."""
    _ctype, text = live.get("/metrics")
    return {m.name: len(in_text(text, m.name, target="cache")) for m in (*SERIES, contract.PROBE_ROLE)}


@pytest.mark.waits  # on the collector's schedule
def test_a_failed_run_removes_the_targets_saturation_and_role_series(tmp_path: Path) -> None:
    with start_redis(tmp_path) as redis:
        config = collector_config([f"name: cache, kind: redis, port: {redis.port}, password: {{env: RPW}}"])
        with live_collector(config, {("cache", "password"): redis.password}) as live:
            live.wait_for("cache", lambda r: r.ok, after=time.time(), timeout=10)
            up = _exported(live)
            assert up == {**{m.name: 1 for m in SERIES}, contract.PROBE_ROLE.name: 2}, up
            redis.stop()
            live.wait_for("cache", lambda r: r.reason == "refused", after=time.time(), timeout=10)
            assert _exported(live) == dict.fromkeys(up, 0)
            redis.start()
            live.wait_for("cache", lambda r: r.ok, after=time.time(), timeout=10)
            assert _exported(live) == up


@pytest.mark.waits  # on the collector's schedule
def test_a_run_on_a_kept_connection_exports_the_role_of_every_kind_that_has_one(
    postgres_server: PostgresServer, redis_server: RedisServer, mongodb_server: MongoServer
) -> None:
    """MongoDB told its role only in the handshake of a new connection: a warm lane's runs on its
    kept connection removed the series the first run had exported, so that the role panel was
    empty but for the instant after a reconnect (Prometheus, scraping every 5 s a collector
    probing every 10 s on two lanes, saw no MongoDB role in 5 minutes)."""
    config = collector_config(
        [
            f"name: pg, kind: postgres, port: {postgres_server.port}, user: platform, database: platform,"
            " password: {env: PG}",
            f"name: rd, kind: redis, port: {redis_server.port}, password: {{env: RD}}",
            f"name: mg, kind: mongodb, port: {mongodb_server.port}",
        ],
        "interval: 1s, timeout: 800ms, connections: [warm]",
    )
    secrets = {("pg", "password"): postgres_server.password, ("rd", "password"): redis_server.password}
    with live_collector(config, secrets) as live:
        for target in ("pg", "rd", "mg"):
            # a run that reused the connection its lane opened before: no auth phase
            kept = live.wait_for(target, lambda r: r.ok and "auth" not in r.durations, after=0, timeout=10)
            assert "auth" in live.history(target)[0].durations, "the lane's first run opened it"
            _ctype, text = live.get("/metrics")
            series = in_text(text, contract.PROBE_ROLE.name, target=target)
            roles = {dict(labels)["role"]: value for labels, value in series.items()}
            assert roles == {"primary": 1.0, "replica": 0.0}, (target, kept, roles)
