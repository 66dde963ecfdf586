"""A MongoDB target pointed at a port where another server listens (a copy-paste slip, or a
MongoDB that wants TLS while the target's ``tls`` is off): the peer hangs up on the handshake,
which is reason ``protocol``, as the other kinds say it.

pymongo's server selection retries such a peer until the run's deadline, and the run used to
say ``connect_timeout``, "no answer within the deadline": a frozen or firewalled server.
"""

from __future__ import annotations

import time

import pytest

from sloctl.collector.runner import RunResult
from sloctl.servers import MongoServer, PostgresServer
from tests.collector.helpers import collector_config, live_collector

pytestmark = [pytest.mark.servers]


def _first_failure(target: str) -> RunResult:
    """The first failed run of ``target`` (a flow mapping's inside, named ``docs``), alone in a
    collector."""
    config = collector_config([target], "interval: 2s, timeout: 1s, connections: [cold]")
    since = time.time()
    with live_collector(config, {}) as live:
        return live.wait_for("docs", lambda r: not r.ok, after=since, timeout=10)


@pytest.mark.waits  # on the probe's real deadline
def test_a_mongodb_target_on_a_postgresql_port_is_protocol_not_a_timeout(
    postgres_server: PostgresServer,
) -> None:
    run = _first_failure(f"name: docs, kind: mongodb, port: {postgres_server.port}")
    assert run.reason == "protocol", run
    assert run.error is not None and "hangs up on the MongoDB handshake" in run.error


@pytest.mark.waits  # on the collector's schedule
def test_an_http_target_on_a_mongodb_port_says_the_peer_reset_it(
    mongodb_server: MongoServer,
) -> None:
    """MongoDB resets an HTTP request's connection; httpx's ReadError says nothing of it (the
    reset is two causes down), and the run's error read ``ProbeFailure: `` and no more (then
    ``ProbeFailure: ConnectionResetError: …``, our class's name first)."""
    run = _first_failure(f"name: docs, kind: http, url: 'http://127.0.0.1:{mongodb_server.port}/'")
    assert run.reason == "protocol", run
    assert run.error == "ConnectionResetError: [Errno 104] Connection reset by peer"
