"""Pooled PostgreSQL connections that something between the API and PgBouncer closed while they
sat idle (a NAT's or a load balancer's idle timeout; on a game-day rig, its fault proxy's 10
minutes) are replaced before a request gets one: no request fails for them. Found by `make
drills`, where game days run 10 minutes apart: the enterprise tier's five pooled connections
had been closed by the rig's proxy, and the first five requests of the isolation check got 503.
Redis likewise (redis-py checks a pooled connection itself; this holds it to that). Not MongoDB
at a 1 s idle timeout: PyMongo's monitor heartbeats every 10 s on a connection of its own, so a
middlebox that ends connections idle for less than that ends the monitor's, and the client
marks the server unknown and clears its pool, again and again (measured here: 80 connections
in 15 s); the rig's 10 minutes let the heartbeat keep it open, and `make drills` runs the
MongoDB game day 10 minutes after the one before. Against the session's real servers, through
real fault proxies."""

from __future__ import annotations

import concurrent.futures
from collections import Counter
from pathlib import Path

import httpx
import pytest

from sloctl.chaos.proxy import FaultProxy
from sloctl.contract import TIERS
from sloctl.testbed_runner import start_api
from tests.fixtures.servers import Databases
from tests.waiting import wait_until

pytestmark = pytest.mark.servers

#: the proxy ends a connection that carried nothing for this long (the rig's: 600 s)
IDLE_TIMEOUT_S = 1.0
ROUTE = "/v1/projects?limit=1"


def test_connections_closed_while_idle_in_the_pool_are_replaced_before_a_request_gets_one(
    databases: Databases, tmp_path: Path
) -> None:
    pgbouncer = databases.pgbouncer
    enterprise = next(t for t in TIERS if t.name == "enterprise")
    low, _high = enterprise.testbed_pool
    with (
        FaultProxy((pgbouncer.host, pgbouncer.port), idle_timeout=IDLE_TIMEOUT_S) as proxy,
        start_api(tmp_path, **databases._asdict(), through={"postgres": proxy.port}) as api,
        httpx.Client(base_url=api.url, timeout=10.0) as client,
        concurrent.futures.ThreadPoolExecutor(8) as pool,
    ):
        headers = {"Authorization": f"Bearer {api.api_keys['enterprise']}"}
        # Both pools open their connections: the shared one (no key) and the enterprise tier's.
        first = [client.get(ROUTE).status_code, client.get(ROUTE, headers=headers).status_code]
        assert first == [200, 200]
        wait_until(lambda: proxy.state().connections >= 2 * (low + 1), timeout=10.0, what="both pools open")
        # The proxy ends every connection once it has been idle for its timeout: the pools do
        # not know it.
        wait_until(
            lambda: proxy.state().connections == 0,
            timeout=IDLE_TIMEOUT_S + 10.0,
            what="the proxy ending the pooled connections left idle",
            interval=0.1,
        )
        # More concurrent requests than the enterprise tier's pooled connections, then as many
        # without a key: every one is served.
        answers = Counter(
            pool.map(
                lambda h: client.get(ROUTE, headers=h).status_code, [headers] * (2 * low) + [{}] * (2 * low)
            )
        )
        assert answers == {200: 4 * low}, answers
        assert proxy.state().accepted > 2 * (low + 1)  # the pools opened new connections


def test_redis_connections_closed_while_idle_are_replaced_before_a_request_gets_one(
    databases: Databases, tmp_path: Path
) -> None:
    redis = databases.redis
    with (
        FaultProxy((redis.host, redis.port), idle_timeout=IDLE_TIMEOUT_S) as proxy,
        start_api(tmp_path, **databases._asdict(), through={"redis": proxy.port}) as api,
        httpx.Client(base_url=api.url, timeout=10.0) as client,
        concurrent.futures.ThreadPoolExecutor(8) as pool,
    ):

        def write(n: int) -> int:
            return client.put(f"/v1/cache/idle-{n}", content=b"v").status_code

        # Several connections open in the pool (concurrent calls), then sit idle.
        assert set(pool.map(write, range(8))) == {204}
        opened = proxy.state().accepted
        assert opened >= 2
        wait_until(
            lambda: proxy.state().connections == 0,
            timeout=IDLE_TIMEOUT_S + 10.0,
            what="the proxy ending the pooled connections left idle",
            interval=0.1,
        )
        # As many concurrent calls again: every one is served, on connections opened anew.
        assert Counter(pool.map(write, range(8, 16))) == {204: 8}
        assert proxy.state().accepted > opened
