"""Liveness is not readiness: ``/healthz`` says the API process answers (no database call),
``/readyz`` pings PostgreSQL (through PgBouncer), Redis and MongoDB, each within a short bound,
and answers 503 naming the one that does not answer. A testbed (``sloctl testbed up``, the
game-day rig) is up only once ready. Before, ``/healthz`` answered ok with Redis dead and a
testbed whose API could not reach a database came up all the same."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from sloctl.contract import LIVENESS_PATH, READINESS_PATH, READINESS_TIMEOUT_SECONDS
from sloctl.servers import ServerStartError, free_port, start_redis
from sloctl.testbed_runner import ApiServer, start_testbed
from tests.fixtures.servers import Databases

pytestmark = pytest.mark.servers


def test_a_ready_api_answers_200_with_every_database_ok(platform_api: ApiServer) -> None:
    r = httpx.get(platform_api.url + READINESS_PATH, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready" and r.json()["failing"] == []
    assert r.json()["checks"] == {"postgres": "ok", "redis": "ok", "mongodb": "ok"}


def test_with_its_redis_dead_the_api_is_alive_but_not_ready_and_says_which(
    tmp_path: Path, databases: Databases
) -> None:
    with start_redis(tmp_path / "redis") as redis, databases._replace(redis=redis).api(tmp_path) as api:
        assert httpx.get(api.url + READINESS_PATH, timeout=10).status_code == 200
        redis.stop()
        asked = time.monotonic()
        r = httpx.get(api.url + READINESS_PATH, timeout=10)
        took = time.monotonic() - asked
        assert r.status_code == 503, r.text
        assert r.json()["status"] == "not ready" and r.json()["failing"] == ["redis"], r.json()
        assert r.json()["checks"]["postgres"] == "ok" and r.json()["checks"]["mongodb"] == "ok"
        assert r.json()["checks"]["redis"] != "ok"
        assert took < READINESS_TIMEOUT_SECONDS + 2  # bounded: the checks run at once
        assert httpx.get(api.url + LIVENESS_PATH, timeout=10).status_code == 200  # alive all the same


class _Front:
    """A database path of the API that goes straight to ``port``: the server's own, or one
    nothing listens on (a dead path)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def stop(self) -> None:
        pass


def _redis_dead(name: str, target: tuple[str, int]) -> _Front:
    return _Front(free_port() if name == "redis" else target[1])


#: The testbed's start timeout (every server's, and the API's readiness, which the test waits out):
#: ten times what its slowest server, the API, takes to answer on the 2-core machine class at a
#: load average of 3 to 4 (0.4-0.5 s; docs/benchmarks.md, Start timeout). It was the readiness's
#: alone, 3 s, before ``start_timeout`` bounded every server's start.
START_TIMEOUT = 5


@pytest.mark.slow
def test_a_testbed_whose_api_cannot_reach_redis_does_not_come_up(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError) as raised:
        start_testbed(tmp_path, front=_redis_dead, start_timeout=START_TIMEOUT)
    message = str(raised.value)
    assert "platform-api" in message and f"not ready after {START_TIMEOUT} s" in message, message
    assert "databases not answering: redis)" in message, message
