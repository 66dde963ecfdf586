"""The breaker with the reliability plan's own timings, not shortened: a dependency stopped and
restarted; the breaker opens once half the calls of the window fail, fails fast for the full
30 s, then lets one trial through and closes.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from sloctl import contract
from sloctl.servers import start_redis
from tests.fixtures.metrics import value
from tests.fixtures.servers import Databases

pytestmark = [pytest.mark.servers, pytest.mark.slow, pytest.mark.waits]

PLAN_OPEN_SECONDS = 30


def test_the_redis_breaker_stays_open_30_s_then_closes_after_one_trial(
    tmp_path: Path, databases: Databases
) -> None:
    with (
        start_redis(tmp_path) as redis,
        databases._replace(redis=redis).api(tmp_path, {"breaker-minimum-calls": 4}) as api,
        httpx.Client(base_url=api.url, timeout=10) as c,
    ):
        assert c.put("/v1/cache/k", content=b"v").status_code == 204
        redis.stop()
        kinds = []
        for _ in range(10):
            r = c.get("/v1/cache/k")
            kinds.append(r.json()["type"].rsplit("/", 1)[1])
            if kinds[-1] == "circuit-open":
                break
        opened_at = time.monotonic()
        assert kinds[-1] == "circuit-open" and len(kinds) <= 6, kinds
        assert c.get("/v1/cache/k").headers["Retry-After"] in {
            str(PLAN_OPEN_SECONDS),
            str(PLAN_OPEN_SECONDS - 1),
        }
        redis.restart()
        # Redis is back, but the breaker keeps failing fast for the plan's 30 s.
        while time.monotonic() - opened_at < PLAN_OPEN_SECONDS - 2:
            r = c.get("/v1/cache/k")
            assert r.status_code == 503 and r.json()["type"].endswith("/circuit-open")
            time.sleep(2)  # real timer: probing the plan's 30 s open time every 2 s
        assert value(c, contract.BREAKER_STATE.name, dependency="redis") == 2
        # real timer: the plan's 30 s open time of the breaker is what this test measures
        time.sleep(max(0.0, opened_at + PLAN_OPEN_SECONDS + 0.5 - time.monotonic()))
        trial = c.get("/v1/cache/k")
        assert (trial.status_code, trial.content) == (200, b"v")
        assert value(c, contract.BREAKER_STATE.name, dependency="redis") == 0
