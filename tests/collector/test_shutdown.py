"""`sloctl collector run` stops in bounded time whatever its OTLP endpoint does.

An endpoint that accepts connections and never answers (a frozen OpenTelemetry Collector, a
black-holed load balancer) held the stop on SIGTERM for 20 s and more: the SDK's flush ignores
its timeout and its exporter waits 10 s per request, past the stop timeouts of systemd units
and pods, which then kill the collector.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sloctl.servers import free_port
from tests.collector.helpers import ROOT, collector_process, silent_listener
from tests.waiting import wait_until


def _stopped(proc: subprocess.Popen[str], sig: signal.Signals) -> tuple[str, str, float]:
    """Send ``sig`` and wait for the end: stdout, stderr and the seconds it took (killed, and
    said on stderr, when it outlives 20 s)."""
    proc.send_signal(sig)
    sent = time.monotonic()
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        err += f"\nstill running 20 s after {sig.name}: killed"
    return out, err, time.monotonic() - sent


def _killed(proc: subprocess.Popen[str]) -> None:
    """A test that failed before the stop leaves no collector behind."""
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


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
            out, err, took = _stopped(proc, sig)
        finally:
            _killed(proc)
    assert proc.returncode == 0, err
    # the flush's 3 s budget (sloctl.collector.app.FLUSH_SECONDS) and the probes' stop, not the
    # exporter's 10 s per request
    assert took < 7, f"{sig.name} took {took:.1f} s to stop the collector"
    assert '"event.action":"otlp-flush"' in out
    assert f"http://127.0.0.1:{otlp_port} did not take them" in out


#: ``sloctl collector run`` with a resolver that never answers for ``hang.test`` (and says so in
#: the file named by argv[1] when asked): faked in the child's own process, so no real name
#: is ever resolved; every other name goes to the real resolver (the test gives only literals).
_HANGING_RESOLVER = """
import socket, sys, threading
from pathlib import Path
marker, real, never = Path(sys.argv[1]), socket.getaddrinfo, threading.Event()
def getaddrinfo(host, *args, **kwargs):
    if host == "hang.test":
        marker.write_text("asked")
        never.wait()
    return real(host, *args, **kwargs)
socket.getaddrinfo = getaddrinfo
from sloctl.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.waits
def test_a_stop_signal_stops_in_bounded_time_while_a_targets_name_resolution_hangs(tmp_path: Path) -> None:
    """With a widened allow-list names go to the system's resolver, in a thread: a resolution
    that never returns (a DNS server that swallows queries, no timeout in the resolver's
    configuration) held SIGTERM for as long, because the exit waited on that thread."""
    marker = tmp_path / "asked"
    port = free_port()
    config = tmp_path / "targets.yaml"
    config.write_text(
        "apiVersion: sloctl/v1\nkind: CollectorConfig\n"
        f"listen: 127.0.0.1:{port}\n"
        "allowNetworks: ['127.0.0.0/8', '::1/128', '192.0.2.0/24']\n"  # widened: not hosts-file only
        "targets:\n  - {name: slow-dns, kind: redis, host: hang.test, interval: 1s}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", _HANGING_RESOLVER, str(marker), "collector", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        wait_until(marker.exists, timeout=30, what="the probe asking the resolver for hang.test")
        _out, err, took = _stopped(proc, signal.SIGTERM)
    finally:
        _killed(proc)
    assert proc.returncode == 0, err
    assert took < 7, f"SIGTERM took {took:.1f} s to stop the collector: {err}"
