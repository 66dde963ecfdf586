"""PgBouncer's admin console failing never fails a run, but it must not be silent.

With a wrong ``adminPassword`` the ``sloctl_pgbouncer_*`` series were simply missing and nothing
said why: the run was up and no line was logged. Now one warning says what the console
answered, when it starts failing, and the right password brings the series (and a line) back.
"""

from __future__ import annotations

import json
import time

import pytest

from sloctl import contract
from sloctl.servers import PgBouncerServer
from tests.collector.helpers import collector_config, live_collector
from tests.fixtures.metrics import in_text

pytestmark = [pytest.mark.servers]


def _console_lines(logs: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in logs.splitlines()]
    return [line for line in lines if line.get("event.action") == "pgbouncer-console"]


@pytest.mark.waits  # on the collector's schedule
@pytest.mark.parametrize("admin_password", ["not-the-admin-password", None])
def test_a_console_that_refuses_the_admin_password_is_logged_once(
    pgbouncer_server: PgBouncerServer, admin_password: str | None
) -> None:
    pgb = pgbouncer_server
    config = collector_config(
        [
            f"name: pool, kind: pgbouncer, port: {pgb.port}, user: {pgb.user}, database: {pgb.database},"
            " password: {env: PW}, adminUser: pgbouncer, adminPassword: {env: ADMIN},"
            " interval: 1s, connections: [cold]"
        ],
        defaults=None,
    )
    secrets = {("pool", "password"): pgb.password, ("pool", "admin"): admin_password or pgb.admin_password}
    since = time.time()
    with live_collector(config, secrets) as live:
        for _ in range(3):  # three good runs: one line, not one a run
            since = live.wait_for("pool", lambda r: r.ok, after=since, timeout=10).started + 0.001
        _ctype, metrics = live.get("/metrics")
        logs = live.logs.getvalue()
    pools = in_text(metrics, contract.PGBOUNCER_CLIENT_ACTIVE.name, target="pool")
    said = _console_lines(logs)
    if admin_password is None:  # the right one: pools, and nothing to say
        assert pools and said == [], said
        return
    assert pools == {}
    assert [(line["log.level"], line["event.outcome"]) for line in said] == [("warning", "failure")], said
    assert "SASL authentication failed" in str(said[0]["error.message"])
    assert admin_password not in logs
