"""A peer that completes the TCP handshake and never answers (a frozen server: SIGSTOP, a
hung process, a black-holed port) is ``connect_timeout`` on a new connection, whatever the
target's authentication: docs/collector.md's fault table.

A Redis target without a password has no AUTH round trip: its first answer owed is PING's, in
the query phase, and a frozen server was reported as ``query_timeout``, the reason of a slow
one, while the same server with a password was ``connect_timeout``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from sloctl.collector.runner import RunResult
from sloctl.servers import free_port
from tests.collector.helpers import collector_config, live_collector, silent_listener


def _first_failures(
    targets: Callable[[int], dict[str, str]], secrets: dict[tuple[str, str], str]
) -> tuple[dict[str, RunResult], tuple[ReadableSpan, ...]]:
    """Each target's first failed run, and the spans finished by the last of them, from a live
    collector whose targets are ``targets(port)`` (name → the rest of its entry), ``port`` a
    loopback port whose connections are accepted and never answered."""
    with silent_listener() as (port, _accepted):
        entries = targets(port)
        config = collector_config([f"name: {name}, {entry}" for name, entry in entries.items()])
        since = time.time()
        with live_collector(config, secrets) as live:
            runs = {
                name: live.wait_for(name, lambda r: not r.ok, after=since, timeout=10) for name in entries
            }
            return runs, live.spans.get_finished_spans()


@pytest.mark.waits  # on the probes' real deadline
def test_a_new_connection_that_is_never_answered_is_connect_timeout_with_or_without_auth() -> None:
    runs, _spans = _first_failures(
        lambda port: {
            "open": f"kind: redis, port: {port}",
            "locked": f"kind: redis, port: {port}, password: {{env: RPW}}",
            # its plaintext PING (tests/collector/test_tls.py) is not answered either
            "tls": f"kind: redis, port: {port}, tls: {{insecureSkipVerify: true}}",
        },
        {("locked", "password"): "silent-pw"},
    )
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
    runs, spans = _first_failures(
        lambda port: {
            "frozen": f"kind: redis, port: {port}, password: {{env: RPW}}",
            "stopped": f"kind: redis, port: {free_port()}",
        },
        {("frozen", "password"): "silent-pw"},
    )
    failed = {
        run.target: [
            (s.name, s.status.description)
            for s in spans
            if format(s.context.trace_id, "032x") == run.trace_id and s.status.status_code is StatusCode.ERROR
        ]
        for run in runs.values()
    }
    assert failed == {
        "frozen": [("auth", "connect_timeout"), ("probe redis", "connect_timeout")],
        "stopped": [("connect", "refused"), ("probe redis", "refused")],
    }
