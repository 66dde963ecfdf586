"""A peer that completes the TCP handshake and never answers (a frozen server: SIGSTOP, a
hung process, a black-holed port) is ``connect_timeout`` on a new connection, whatever the
target's authentication: docs/collector.md's fault table.

A Redis target without a password has no AUTH round trip: its first answer owed is PING's, in
the query phase, and a frozen server was reported as ``query_timeout``, the reason of a slow
one, while the same server with a password was ``connect_timeout``.
"""

from __future__ import annotations

import time

import pytest

from tests.collector.helpers import live_collector, silent_listener

HEAD = "apiVersion: sloctl/v1\nkind: CollectorConfig\nlisten: 127.0.0.1:0\n"


@pytest.mark.waits  # on the probes' real deadline
def test_a_new_connection_that_is_never_answered_is_connect_timeout_with_or_without_auth() -> None:
    with silent_listener() as (port, _accepted):
        config = (
            f"{HEAD}defaults: {{interval: 1s, timeout: 800ms, connections: [cold]}}\ntargets:\n"
            f"  - {{name: open, kind: redis, port: {port}}}\n"
            f"  - {{name: locked, kind: redis, port: {port}, password: {{env: RPW}}}}\n"
        )
        since = time.time()
        with live_collector(config, {("locked", "password"): "silent-pw"}) as live:
            runs = {
                name: live.wait_for(name, lambda r: not r.ok, after=since, timeout=10)
                for name in ("open", "locked")
            }
    assert {name: r.reason for name, r in runs.items()} == {
        "open": "connect_timeout",
        "locked": "connect_timeout",
    }
