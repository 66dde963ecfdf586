"""Backups off the request path (testbed.backups) against the real PostgreSQL: a dump that
cannot finish does not hold the POST, the queue is bounded, a failed dump says why and is
counted as a failed backup, and a cancelled one is counted apart, outside the backup SLO's
events (checked on a real Prometheus with the SLO's own queries)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sloctl import contract
from sloctl.render.promql import event_rates
from sloctl.servers import PostgresServer
from sloctl.servers.prometheus import start_prometheus
from sloctl.spec import load_paths
from sloctl.testbed_runner import ApiServer
from testbed.backups import SESSION_NAME, pg_dump
from tests.fixtures.servers import api_fixture
from tests.paths import ROOT
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
        lambda: (j := client.get(location).json())["status"] in ("done", "failed", "cancelled") and j,
        timeout=30,
        what=f"the end of {location}",
    )
    assert isinstance(job, dict)
    return job


@pytest.fixture
def client(small_queue_api: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=small_queue_api.url, timeout=10) as c:
        yield c


@contextlib.contextmanager
def stuck_backup(client: httpx.Client, admin_dsn: str, project: Mapping[str, object]) -> Iterator[str]:
    """A backup of ``project`` whose pg_dump runs and cannot finish until the block ends: its
    table is locked (pg_dump waits for its share lock behind an ACCESS EXCLUSIVE one); the
    running backup's location."""
    with psycopg.connect(admin_dsn) as locker:
        locker.execute(f"LOCK TABLE {project['schema']}.items IN ACCESS EXCLUSIVE MODE")
        started = client.post(f"/v1/projects/{project['id']}/backups")
        assert started.status_code == 202, started.text
        location = started.headers["Location"]
        wait_until(
            lambda: client.get(location).json()["status"] == "running", timeout=10, what="the dump running"
        )
        yield location
        locker.rollback()


def test_a_blocked_dump_holds_neither_the_post_nor_more_than_the_bounded_queue(
    client: httpx.Client, small_queue_api: ApiServer, postgres_server: PostgresServer
) -> None:
    project = client.post("/v1/projects", json={"name": "locked_backup"}).json()
    path = f"/v1/projects/{project['id']}/backups"
    refused_before = backups_counted(client, "failure")
    with stuck_backup(client, postgres_server.admin_dsn, project) as first:
        second = client.post(path)
        third = client.post(path)
        # Answered while the dump is stuck: the request path does not wait for pg_dump.
        assert second.status_code == 202 and second.elapsed.total_seconds() < 2
        assert client.get(second.headers["Location"]).json()["status"] == "pending"
        assert client.get(second.headers["Location"]).headers["Retry-After"] == "1"
        assert third.status_code == 503, third.text
        assert third.json()["type"].endswith("/backup-busy") and third.headers["Retry-After"] == "1"
        assert backups_counted(client, "failure") == refused_before + 1
    assert ended(client, first)["status"] == "done"
    assert ended(client, second.headers["Location"])["status"] == "done"


def test_a_dump_that_fails_says_why_and_counts_as_a_failed_backup(
    client: httpx.Client, small_queue_api: ApiServer, postgres_server: PostgresServer
) -> None:
    project = client.post("/v1/projects", json={"name": "vanished"}).json()
    failures = backups_counted(client, "failure")
    with psycopg.connect(postgres_server.admin_dsn, autocommit=True) as admin:
        admin.execute("DROP SCHEMA project_vanished CASCADE")  # the row stays, the schema goes
    r = client.post(f"/v1/projects/{project['id']}/backups")
    assert r.status_code == 202, r.text
    job = ended(client, r.headers["Location"])
    assert job["status"] == "failed" and job["file"] is None
    assert "no matching schemas were found" in str(job["error"])
    assert backups_counted(client, "failure") == failures + 1
    assert not list((small_queue_api.home / "backups").glob(f"project-{project['id']}-*"))


def _cancel(client: httpx.Client, location: str) -> httpx.Response:
    return client.post(f"{location}/cancel")


def _dumps_of(api: ApiServer) -> set[int]:
    """The pids of the API's pg_dump processes."""
    children: set[int] = set()
    for task in Path(f"/proc/{api.pid}/task").iterdir():
        with contextlib.suppress(OSError):
            children |= {int(pid) for pid in (task / "children").read_text().split()}
    dumps = set()
    for pid in children:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == "pg_dump":
                dumps.add(pid)
    return dumps


def test_a_cancelled_backup_frees_its_place_stops_its_dump_and_is_counted_cancelled_not_failed(
    client: httpx.Client, small_queue_api: ApiServer, postgres_server: PostgresServer
) -> None:
    project = client.post("/v1/projects", json={"name": "cancelled_backup"}).json()
    path = f"/v1/projects/{project['id']}/backups"
    counted = {o: backups_counted(client, o) for o in ("success", "failure", "cancelled")}
    with stuck_backup(client, postgres_server.admin_dsn, project) as running:
        dump = wait_until(lambda: _dumps_of(small_queue_api), timeout=10, what="pg_dump started")
        pending = client.post(path).headers["Location"]
        assert client.post(path).status_code == 503  # the queue (1) is full
        r = _cancel(client, pending)
        assert (r.status_code, r.json()["status"]) == (200, "cancelled"), r.text
        assert "Retry-After" not in client.get(pending).headers
        # its place in the queue is free at once, though no worker has reached it
        replacement = client.post(path)
        assert replacement.status_code == 202, replacement.text
        r = _cancel(client, running)
        assert (r.status_code, r.json()["status"]) == (200, "cancelled"), r.text
        # its pg_dump is gone (the replacement's, behind the same lock, may have come)
        wait_until(lambda: not dump & _dumps_of(small_queue_api), timeout=10, what="pg_dump stopped")
        assert _cancel(client, running).status_code == 200  # cancelling twice is no error
    assert ended(client, replacement.headers["Location"])["status"] == "done"
    done = _cancel(client, replacement.headers["Location"])
    assert done.status_code == 409 and done.json()["detail"].startswith("the backup has ended (done)")
    assert (
        client.get(running).json()["status"] == "cancelled"
        and client.get(pending).json()["status"] == "cancelled"
    )
    wait_until(
        lambda: backups_counted(client, "cancelled") == counted["cancelled"] + 2,
        timeout=10,
        what="two cancelled backups counted",
    )
    # the one failure is the backup refused by the full queue; cancelled ones are not failures
    assert backups_counted(client, "failure") == counted["failure"] + 1
    assert backups_counted(client, "success") == counted["success"] + 1
    assert _cancel(client, f"{path}/0123456789abcdef").status_code == 404
    files = list((small_queue_api.home / "backups").glob(f"project-{project['id']}-*"))
    assert [f.name for f in files] == [client.get(replacement.headers["Location"]).json()["file"]]


def _sessions(admin: psycopg.Connection[tuple[object, ...]], application_name: str) -> list[object]:
    """The backends of PostgreSQL named ``application_name``."""
    return [
        pid
        for (pid,) in admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        ).fetchall()
    ]


def _lock_waiters(admin: psycopg.Connection[tuple[object, ...]], table: str) -> int:
    """How many backends wait for a lock on ``table``."""
    row = admin.execute(
        "SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND NOT granted", (table,)
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


def test_a_cancelled_dump_waiting_on_a_lock_leaves_no_session_behind(
    small_queue_api: ApiServer, postgres_server: PostgresServer
) -> None:
    """Killing pg_dump left its backend waiting on the lock for as long as the lock was held
    (a connection slot and a place in the lock queue): the cancel ends it too, found by the
    application_name the dump runs under."""
    table = "project_stuck_backup.items"
    with (
        httpx.Client(base_url=small_queue_api.url, timeout=10) as c,
        psycopg.connect(postgres_server.admin_dsn, autocommit=True) as admin,
    ):
        project = c.post("/v1/projects", json={"name": "stuck_backup"}).json()
        with psycopg.connect(postgres_server.admin_dsn) as locker:
            locker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            job = c.post(f"/v1/projects/{project['id']}/backups")
            session = SESSION_NAME % job.json()["id"]
            wait_until(lambda: _lock_waiters(admin, table) == 1, timeout=10, what="the dump waiting")
            assert len(_sessions(admin, session)) == 1, "the dump runs under its backup's name"
            r = _cancel(c, job.headers["Location"])
            assert (r.status_code, r.json()["status"]) == (200, "cancelled"), r.text
            # the lock is still held: only the cancel can have ended the session
            wait_until(lambda: not _sessions(admin, session), timeout=15, what="the dump's session ended")
            assert _lock_waiters(admin, table) == 0
            locker.rollback()


def test_a_dump_timed_out_on_a_lock_leaves_no_session_behind(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """The same for a dump killed at its timeout (``pg_dump`` called alone, on the real server)."""
    with psycopg.connect(postgres_server.dsn, autocommit=True) as owner:
        owner.execute("CREATE SCHEMA timed_out_dump; CREATE TABLE timed_out_dump.items (id int)")
    try:
        with (
            psycopg.connect(postgres_server.admin_dsn, autocommit=True) as admin,
            psycopg.connect(postgres_server.admin_dsn) as locker,
        ):
            locker.execute("LOCK TABLE timed_out_dump.items IN ACCESS EXCLUSIVE MODE")
            said = asyncio.run(pg_dump(postgres_server.dsn, "timed_out_dump", tmp_path / "d.sql", 2.0, "t1"))
            assert said == "pg_dump timed out"
            # pg_terminate_backend waited for its exit: nothing left to wait for
            assert (
                _sessions(admin, SESSION_NAME % "t1") == []
                and _lock_waiters(admin, "timed_out_dump.items") == 0
            )
            locker.rollback()
    finally:
        with psycopg.connect(postgres_server.dsn, autocommit=True) as owner:
            owner.execute("DROP SCHEMA timed_out_dump CASCADE")


#: an API of its own, so that its backup counters hold this test's backups alone
slo_api = api_fixture("backup-slo-api", {"backup-workers": 1, "backup-queue": 4})


def _instant(prometheus_url: str, query: str) -> float | None:
    """The one sample of ``query`` now; None before it has one."""
    answer = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": query}, timeout=10).json()
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


def test_a_cancelled_backup_leaves_the_backup_slos_ratio_as_it_was_on_a_real_prometheus(
    slo_api: ApiServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """The SLO's own queries (slos/platform-jobs.yaml), on a Prometheus scraping the API: one
    backup done and one failed are an error ratio of 1/2, and a cancelled one leaves it at 1/2
    (counted in its total, it would be 1/3)."""
    (slo,) = [s for s in load_paths([ROOT / "slos" / "platform-jobs.yaml"]).slos if s.name == "backups"]
    rates = event_rates(slo.sli, 600)
    assert rates is not None
    ratio = f"({rates.errors}) / ({rates.total})"
    scrape = (
        "scrape_configs:\n  - job_name: platform-api\n    scrape_interval: 1s\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{slo_api.port}']\n"
    )

    def scraped(outcome: str, count: int) -> bool:
        query = f'{contract.API_OPERATIONS.name}{{operation="backup", outcome="{outcome}"}}'
        return _instant(prometheus.url, query) == count

    with (
        start_prometheus(tmp_path / "prometheus", config_text=scrape) as prometheus,
        httpx.Client(base_url=slo_api.url, timeout=10) as c,
    ):
        # the counters' first samples are their zeros: every series' rate is taken alike
        wait_until(lambda: scraped("success", 0), timeout=30, what="the first scrape", interval=0.5)
        kept = c.post("/v1/projects", json={"name": "slo_kept"}).json()
        lost = c.post("/v1/projects", json={"name": "slo_lost"}).json()
        assert ended(c, c.post(f"/v1/projects/{kept['id']}/backups").headers["Location"])["status"] == "done"
        with psycopg.connect(postgres_server.admin_dsn, autocommit=True) as admin:
            admin.execute("DROP SCHEMA project_slo_lost CASCADE")
        assert (
            ended(c, c.post(f"/v1/projects/{lost['id']}/backups").headers["Location"])["status"] == "failed"
        )
        wait_until(lambda: scraped("failure", 1), timeout=30, what="the failure scraped", interval=0.5)
        assert _instant(prometheus.url, ratio) == pytest.approx(0.5, abs=1e-9)

        with stuck_backup(c, postgres_server.admin_dsn, kept) as location:
            assert _cancel(c, location).json()["status"] == "cancelled"
        wait_until(lambda: scraped("cancelled", 1), timeout=30, what="the cancellation scraped", interval=0.5)
        assert _instant(prometheus.url, ratio) == pytest.approx(0.5, abs=1e-9)
