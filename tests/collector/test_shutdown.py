"""`sloctl collector run` stops in bounded time whatever its OTLP endpoint does.

An endpoint that accepts connections and never answers (a frozen OpenTelemetry Collector, a
black-holed load balancer) held the stop on SIGTERM for 20 s and more: the SDK's flush ignores
its timeout and its exporter waits 10 s per request, past the stop timeouts of systemd units
and pods, which then kill the collector.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from sloctl.servers import free_port
from tests.collector.helpers import collector_process, silent_listener


@pytest.mark.waits
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_stops_in_bounded_time_while_the_otlp_endpoint_never_answers(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """SIGHUP (the terminal or the SSH session that started it went away) stops it as SIGTERM
    does, flushing what it can: it was Python's default, death on the spot, spans lost."""
    with silent_listener() as (otlp_port, exporting):
        _port, proc = collector_process(
            tmp_path,
            f"otlp: {{endpoint: 'http://127.0.0.1:{otlp_port}'}}\n"
            f"targets:\n  - {{name: cache, kind: redis, port: {free_port()}, interval: 1s}}\n",
            env={"OTEL_BSP_SCHEDULE_DELAY": "100"},  # export the first run's spans at once
        )
        try:
            assert exporting.wait(30), "the collector never exported to its OTLP endpoint"
            proc.send_signal(sig)
            sent = time.monotonic()
            out, err = proc.communicate(timeout=60)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    # the flush's 3 s budget (sloctl.collector.app.FLUSH_SECONDS) and the probes' stop, not the
    # exporter's 10 s per request
    assert took < 7, f"{sig.name} took {took:.1f} s to stop the collector"
    assert '"event.action":"otlp-flush"' in out
    assert f"http://127.0.0.1:{otlp_port} did not take them" in out
