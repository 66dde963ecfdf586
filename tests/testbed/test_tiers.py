"""Tiers: API keys name a tenant and its tier; the tier sets the rate limit (RateLimit-* and
Retry-After) and the PostgreSQL pool, breaker and PgBouncer pool, isolated from the other tiers'.
Against the real PostgreSQL, PgBouncer, Redis and SecantusDB of the session."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import math
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from psycopg.conninfo import make_conninfo

from sloctl import contract
from sloctl.contract import TIERS
from sloctl.servers import PgBouncerServer, PostgresServer
from sloctl.testbed_runner import ApiServer
from testbed.tiers import load_api_keys
from tests.fixtures.servers import api_fixture
from tests.waiting import wait_until

pytestmark = pytest.mark.servers

TIER = {t.name: t for t in TIERS}
#: the latency SLO's threshold (slos/platform-api.yaml): the enterprise tier must stay under it
LATENCY_THRESHOLD_MS = 200.0
SLEEP_MARK = "tier-isolation-test"


#: An API of its own (its buckets are fresh), with a 1 s PostgreSQL timeout so that the free
#: tier's held requests give up soon.
TIERED_OPTIONS = {"postgres-timeout": 1}
tiered_api = api_fixture("tiered-api", TIERED_OPTIONS)
#: the isolation test's own API: the rate-limit test spends the free tenant's minute of requests
isolated_api = api_fixture("isolated-api", TIERED_OPTIONS)


def auth(api: ApiServer, tier: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.api_keys[tier]}"}


def gauge(client: httpx.Client, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            if s.name == name and labels.items() <= s.labels.items():
                return float(s.value)
    raise AssertionError(f"{name}{labels} not exported")


@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.name)
def test_each_tier_s_rate_limit_is_announced_in_the_ratelimit_headers(
    tiered_api: ApiServer, tier: contract.Tier
) -> None:
    with httpx.Client(base_url=tiered_api.url, timeout=10) as c:
        r = c.get("/v1/cache/tier-headers", headers=auth(tiered_api, tier.name))
    assert r.status_code == 404, r.text
    assert r.headers["RateLimit-Limit"] == str(tier.requests_per_minute)
    assert r.headers["RateLimit-Remaining"] == str(tier.requests_per_minute - 1)
    assert r.headers["RateLimit-Policy"] == f'"{tier.name}";q={tier.requests_per_minute};w=60'
    assert r.headers["RateLimit"].startswith(f'"{tier.name}";r={tier.requests_per_minute - 1};')


def test_the_free_tier_gets_a_429_after_its_100_requests_a_minute_and_others_do_not(
    tiered_api: ApiServer,
) -> None:
    free = TIER["free"].requests_per_minute
    with httpx.Client(base_url=tiered_api.url, timeout=10) as c:
        allowed = 0
        started = time.monotonic()
        for _ in range(2 * free):  # bounded: the bucket holds one minute's requests
            refused = c.get("/v1/cache/free-burst", headers=auth(tiered_api, "free"))
            if refused.status_code != 404:
                break
            allowed += 1
        elapsed = time.monotonic() - started
        pro = c.get("/v1/cache/free-burst", headers=auth(tiered_api, "pro"))
        anonymous = c.get("/v1/cache/free-burst")
    assert refused.status_code == 429, refused.text
    # The header test spent one of the minute's 100; the bucket refills 100/60 a second meanwhile.
    assert free - 1 <= allowed <= free + math.ceil(elapsed * free / 60), (allowed, elapsed)
    assert refused.headers["content-type"] == "application/problem+json"
    assert "free tier" in refused.json()["detail"] and "100 requests per minute" in refused.json()["detail"]
    # One token comes back every 60/100 s: Retry-After says 1 s, within the reset (a full minute).
    assert refused.headers["Retry-After"] == "1"
    assert int(refused.headers["Retry-After"]) <= int(refused.headers["RateLimit-Reset"]) <= 60
    assert refused.headers["RateLimit-Remaining"] == "0"
    # Other tenants have buckets of their own, and callers without a key keep the address policy.
    assert pro.status_code == 404 and pro.headers["RateLimit-Policy"].startswith('"pro"')
    assert anonymous.status_code == 404 and anonymous.headers["RateLimit-Policy"].startswith('"default"')


def test_an_unknown_api_key_is_a_401_problem_before_any_dependency_is_called(tiered_api: ApiServer) -> None:
    with httpx.Client(base_url=tiered_api.url, timeout=10) as c:
        for header in ("Bearer not-a-key", "Basic dXNlcjpwYXNz", "Bearer"):
            r = c.get("/v1/projects", headers={"Authorization": header})
            assert r.status_code == 401, (header, r.text)
            assert r.json()["type"].endswith("/unauthorized")
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert c.get("/healthz", headers={"Authorization": "Bearer not-a-key"}).status_code == 200


def test_each_tier_has_its_scaled_pool_in_the_api_and_in_pgbouncer(
    tiered_api: ApiServer, pgbouncer_server: PgBouncerServer
) -> None:
    with httpx.Client(base_url=tiered_api.url, timeout=10) as c:
        for tier in TIERS:
            assert gauge(c, contract.TIER_POOL_SIZE.name, tier=tier.name) == tier.testbed_pool[1]
            assert gauge(c, contract.TIER_BREAKER_STATE.name, tier=tier.name) == 0
    with psycopg.connect(pgbouncer_server.admin_dsn, autocommit=True) as admin:
        cur = admin.cursor()
        cur.execute("SHOW DATABASES")
        assert cur.description is not None
        columns = [d.name for d in cur.description]
        pools = {row[0]: dict(zip(columns, row, strict=True)) for row in cur.fetchall()}
    for tier in TIERS:
        entry = pools[tier.pgbouncer_database]
        assert (entry["database"], entry["pool_size"]) == ("platform", tier.testbed_pool[1])


def test_the_plan_s_pools_are_scaled_by_the_documented_factor_and_fit_pgbouncer() -> None:
    for tier in TIERS:
        low, high = tier.pool
        scale = contract.TIER_POOL_SCALE
        assert tier.testbed_pool == (-(-low // scale), -(-high // scale))
    # every tier's API pool at its maximum, plus the unauthenticated pool, fits PgBouncer's clients
    assert sum(t.testbed_pool[1] for t in TIERS) + 5 < 200


def test_the_free_tier_exhausting_its_pool_neither_queues_nor_slows_the_enterprise_tier(
    isolated_api: ApiServer, pgbouncer_server: PgBouncerServer, postgres_server: PostgresServer
) -> None:
    free_pool = TIER["free"].testbed_pool[1]
    free_dsn = make_conninfo(pgbouncer_server.dsn, dbname=TIER["free"].pgbouncer_database)
    holders: list[psycopg.Connection[tuple[object, ...]]] = []

    def hold() -> None:
        # Slow queries of the free tier's tenant hold every server connection of its pool.
        with psycopg.connect(free_dsn, autocommit=True, prepare_threshold=None) as conn:
            holders.append(conn)
            with contextlib.suppress(psycopg.Error):  # cancelled at the end of the test
                conn.execute(f"/* {SLEEP_MARK} */ SELECT pg_sleep(60)".encode())

    def sleeping() -> int:
        with psycopg.connect(postgres_server.admin_dsn, autocommit=True) as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s",
                (f"/* {SLEEP_MARK} */%",),
            ).fetchone()
        return int(row[0]) if row else 0

    threads = [threading.Thread(target=hold, daemon=True) for _ in range(free_pool)]
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=free_pool + 3)
    try:
        for t in threads:
            t.start()
        wait_until(lambda: sleeping() == free_pool, timeout=10, what="the free tier's connections held")
        with httpx.Client(base_url=isolated_api.url, timeout=10) as c:
            free_headers = auth(isolated_api, "free")
            held = [
                pool.submit(c.get, "/v1/projects?limit=1", headers=free_headers) for _ in range(free_pool + 3)
            ]
            wait_until(
                lambda: gauge(c, contract.TIER_POOL_WAITING.name, tier="free") >= 1,
                timeout=5,
                what="free-tier callers waiting for its exhausted pool",
            )
            enterprise = []
            for _ in range(30):
                r = c.get("/v1/projects?limit=1", headers=auth(isolated_api, "enterprise"))
                assert r.status_code == 200, r.text
                enterprise.append(r.elapsed.total_seconds() * 1000)
            free_answers = [f.result(timeout=15) for f in held]
            enterprise_breaker = gauge(c, contract.TIER_BREAKER_STATE.name, tier="enterprise")
            shared_breaker = gauge(c, contract.BREAKER_STATE.name, dependency="postgres")
    finally:
        for conn in holders:
            conn.cancel_safe()
        for t in threads:
            t.join(10)
        pool.shutdown(wait=True)
    # The free tier was held for real: its calls waited out the PostgreSQL timeout.
    assert {r.status_code for r in free_answers} == {503}, [r.text for r in free_answers]
    assert {r.json()["type"].rsplit("/", 1)[1] for r in free_answers} == {"dependency-timeout"}
    enterprise.sort()
    p95 = enterprise[int(len(enterprise) * 0.95) - 1]
    assert p95 < LATENCY_THRESHOLD_MS, enterprise
    assert (enterprise_breaker, shared_breaker) == (0, 0)


def test_a_keys_file_with_a_mistake_names_the_file_and_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [{"sha256": "0" * 64, "tenant": "acme", "tier": "gold"}]}))
    with pytest.raises(ValueError, match=r"keys\.json: keys\[0\]\.tier: 'gold' is not a tier; one of free"):
        load_api_keys(path)
    path.write_text(json.dumps({"keys": [{"sha256": "secret", "tenant": "acme", "tier": "free"}]}))
    with pytest.raises(ValueError, match=r"keys\[0\]\.sha256: expected 64 lower-case hex digits"):
        load_api_keys(path)
    with pytest.raises(ValueError, match=r"missing\.json: cannot read it"):
        load_api_keys(tmp_path / "missing.json")
