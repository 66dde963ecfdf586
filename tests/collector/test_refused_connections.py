"""A PostgreSQL or PgBouncer that answers a new connection with an error is ``server_error``.

libpq reports those errors in text alone (psycopg's ``OperationalError`` has no SQLSTATE for
them), and the runs were classified ``protocol``, "the peer broke the protocol", for a server
that answered exactly as the protocol says: out of connection slots (``remaining connection
slots are reserved``), no such database, shutting down. Here a database that does not exist, on
the session's real servers; the slots message is in ``test_units``.
"""

from __future__ import annotations

import pytest

from sloctl.servers import PgBouncerServer, PostgresServer
from tests.collector.helpers import collector_config, live_collector

pytestmark = [pytest.mark.servers]


@pytest.mark.waits  # on the collector's schedule
def test_a_database_that_does_not_exist_is_server_error_direct_and_through_pgbouncer(
    postgres_server: PostgresServer, pgbouncer_server: PgBouncerServer
) -> None:
    common = "user: platform, database: no_such_db, password: {env: PG}"
    config = collector_config(
        [
            f"name: pg, kind: postgres, port: {postgres_server.port}, {common}",
            f"name: pgb, kind: pgbouncer, port: {pgbouncer_server.port}, {common}",
        ]
    )
    secrets = {("pg", "password"): postgres_server.password, ("pgb", "password"): pgbouncer_server.password}
    with live_collector(config, secrets) as live:
        for target, says in (("pg", 'database "no_such_db" does not exist'), ("pgb", "no such database")):
            run = live.wait_for(target, lambda r: not r.ok, after=0, timeout=10)
            assert (run.reason, run.error is not None and says in run.error) == ("server_error", True), run
