"""A platform API of the test's own (real databases, fresh breakers and rate limits), and readers
of what it exports."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sloctl import contract
from sloctl.servers import MongoServer, PgBouncerServer, PostgresServer, RedisServer
from sloctl.testbed_runner import ApiServer, start_api

PROBLEM = "application/problem+json"


@contextmanager
def own_api(
    workdir: Path,
    postgres: PostgresServer,
    pgbouncer: PgBouncerServer,
    redis: RedisServer,
    mongodb: MongoServer,
    options: Mapping[str, str | int | float] | None = None,
) -> Iterator[ApiServer]:
    api = start_api(
        workdir, postgres=postgres, pgbouncer=pgbouncer, redis=redis, mongodb=mongodb, options=options
    )
    try:
        yield api
    finally:
        api.stop()


def module_api(name: str, options: Mapping[str, str | int | float] | None = None) -> Any:
    """A module-scoped fixture ``api``: a platform API of the module's own (so that what its
    tests do to breakers and limits stays theirs), on the session's database servers."""

    @pytest.fixture(scope="module")
    def api(
        tmp_path_factory: pytest.TempPathFactory,
        postgres_server: PostgresServer,
        pgbouncer_server: PgBouncerServer,
        redis_server: RedisServer,
        mongodb_server: MongoServer,
    ) -> Iterator[ApiServer]:
        servers = (postgres_server, pgbouncer_server, redis_server, mongodb_server)
        with own_api(tmp_path_factory.mktemp(name), *servers, options=options) as server:
            yield server

    return api


def breaker_figures(client: httpx.Client) -> dict[str, float]:
    """Breaker states (``state:<dep>``, 0 closed, 2 open), failed or timed-out calls
    (``failure:<dep>``, ``timeout:<dep>``) and transitions (``opened:<dep>``) from /metrics."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            dep = s.labels.get("dependency", "")
            if s.name == contract.BREAKER_STATE.name:
                out[f"state:{dep}"] = s.value
            elif s.name == contract.BREAKER_CALLS.name and s.labels["result"] in (
                "failure",
                "timeout",
            ):
                out[f"{s.labels['result']}:{dep}"] = s.value
            elif s.name == contract.BREAKER_TRANSITIONS.name and s.labels["to_state"] == "open":
                out[f"opened:{dep}"] = out.get(f"opened:{dep}", 0.0) + s.value
    return out


def is_problem(response: httpx.Response) -> bool:
    """An RFC 9457 problem document: the media type, a JSON object with a title or type and
    the response's own status."""
    if response.headers.get("content-type", "").split(";")[0] != PROBLEM:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and ("title" in body or "type" in body)
        and body.get("status") == response.status_code
    )
