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
from opentelemetry.trace import StatusCode

from sloctl.servers import free_port
from tests.collector.helpers import collector_config, live_collector, silent_listener


@pytest.mark.waits  # on the probes' real deadline
def test_a_new_connection_that_is_never_answered_is_connect_timeout_with_or_without_auth() -> None:
    with silent_listener() as (port, _accepted):
        config = collector_config(
            [
                f"name: open, kind: redis, port: {port}",
                f"name: locked, kind: redis, port: {port}, password: {{env: RPW}}",
                # its plaintext PING (tests/collector/test_tls.py) is not answered either
                f"name: tls, kind: redis, port: {port}, tls: {{insecureSkipVerify: true}}",
            ]
        )
        since = time.time()
        with live_collector(config, {("locked", "password"): "silent-pw"}) as live:
            runs = {
                name: live.wait_for(name, lambda r: not r.ok, after=since, timeout=10)
                for name in ("open", "locked", "tls")
            }
    assert {name: r.reason for name, r in runs.items()} == {
        "open": "connect_timeout",
        "locked": "connect_timeout",
        "tls": "connect_timeout",
    }
    assert runs["tls"].error is not None and "(phase tls)" in runs["tls"].error


@pytest.mark.waits  # on the probes' real deadline
def test_the_failed_phase_span_says_the_runs_reason() -> None:
    """The phase a run failed in is the span an SRE opens in the trace store: its status said
    ``CancelledError`` (the deadline) or ``ConnectionRefusedError``, Python's names, where the
    run's span and metrics say ``connect_timeout`` or ``refused``."""
    with silent_listener() as (port, _accepted):
        config = collector_config(
            [
                f"name: frozen, kind: redis, port: {port}, password: {{env: RPW}}",
                f"name: stopped, kind: redis, port: {free_port()}",
            ]
        )
        since = time.time()
        with live_collector(config, {("frozen", "password"): "silent-pw"}) as live:
            runs = [
                live.wait_for(name, lambda r: not r.ok, after=since, timeout=10)
                for name in ("frozen", "stopped")
            ]
            spans = live.spans.get_finished_spans()
    failed = {
        run.target: [
            (s.name, s.status.description)
            for s in spans
            if format(s.context.trace_id, "032x") == run.trace_id and s.status.status_code is StatusCode.ERROR
        ]
        for run in runs
    }
    assert failed == {
        "frozen": [("auth", "connect_timeout"), ("probe redis", "connect_timeout")],
        "stopped": [("connect", "refused"), ("probe redis", "refused")],
    }
