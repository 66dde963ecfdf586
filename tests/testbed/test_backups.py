"""Backups off the request path (testbed.backups) against the real PostgreSQL: a dump that
cannot finish does not hold the POST, the queue is bounded, and a failed dump says why and is
counted as a failed backup."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sloctl import contract
from sloctl.servers import PostgresServer
from sloctl.testbed_runner import ApiServer
from tests.fixtures.servers import api_fixture
from tests.waiting import wait_until

pytestmark = pytest.mark.servers


#: One dump at a time and one job waiting at most.
small_queue_api = api_fixture("backups-api", {"backup-workers": 1, "backup-queue": 1})


def backups_counted(client: httpx.Client, outcome: str) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            if s.name == contract.API_OPERATIONS.name and s.labels == {
                "operation": "backup",
                "outcome": outcome,
            }:
                return float(s.value)
    raise AssertionError("no backup counter")


def ended(client: httpx.Client, location: str) -> dict[str, object]:
    job = wait_until(
        lambda: (j := client.get(location).json())["status"] in ("done", "failed") and j,
        timeout=30,
        what=f"the end of {location}",
    )
    assert isinstance(job, dict)
    return job


def test_a_blocked_dump_holds_neither_the_post_nor_more_than_the_bounded_queue(
    small_queue_api: ApiServer, postgres_server: PostgresServer
) -> None:
    with httpx.Client(base_url=small_queue_api.url, timeout=10) as c:
        project = c.post("/v1/projects", json={"name": "locked_backup"}).json()
        path = f"/v1/projects/{project['id']}/backups"
        refused_before = backups_counted(c, "failure")
        with psycopg.connect(postgres_server.admin_dsn) as locker:
            # pg_dump waits for its share lock behind this one: the dump cannot finish.
            locker.execute("LOCK TABLE project_locked_backup.items IN ACCESS EXCLUSIVE MODE")
            first = c.post(path)
            assert first.status_code == 202, first.text
            wait_until(
                lambda: c.get(first.headers["Location"]).json()["status"] == "running",
                timeout=10,
                what="the first dump running",
            )
            second = c.post(path)
            third = c.post(path)
            # Answered while the dump is stuck: the request path does not wait for pg_dump.
            assert second.status_code == 202 and second.elapsed.total_seconds() < 2
            assert c.get(second.headers["Location"]).json()["status"] == "pending"
            assert c.get(second.headers["Location"]).headers["Retry-After"] == "1"
            assert third.status_code == 503, third.text
            assert third.json()["type"].endswith("/backup-busy") and third.headers["Retry-After"] == "1"
            assert backups_counted(c, "failure") == refused_before + 1
            locker.rollback()
        assert ended(c, first.headers["Location"])["status"] == "done"
        assert ended(c, second.headers["Location"])["status"] == "done"


def test_a_dump_that_fails_says_why_and_counts_as_a_failed_backup(
    small_queue_api: ApiServer, postgres_server: PostgresServer
) -> None:
    with httpx.Client(base_url=small_queue_api.url, timeout=10) as c:
        project = c.post("/v1/projects", json={"name": "vanished"}).json()
        failures = backups_counted(c, "failure")
        with psycopg.connect(postgres_server.admin_dsn, autocommit=True) as admin:
            admin.execute("DROP SCHEMA project_vanished CASCADE")  # the row stays, the schema goes
        r = c.post(f"/v1/projects/{project['id']}/backups")
        assert r.status_code == 202, r.text
        job = ended(c, r.headers["Location"])
        assert job["status"] == "failed" and job["file"] is None
        assert "no matching schemas were found" in str(job["error"])
        assert backups_counted(c, "failure") == failures + 1
        assert not list((small_queue_api.home / "backups").glob(f"project-{project['id']}-*"))
