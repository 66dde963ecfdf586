"""The OpenTelemetry SDK's own warnings (its exporter cannot reach the OTLP endpoint) come out as
the collector's JSON log lines, naming the endpoint, and bounded: they were plain-text lines on
stderr, one per retry, for as long as the endpoint stayed away."""

from __future__ import annotations

import json
import signal
import socket
import threading
from pathlib import Path

import pytest

from tests.collector.helpers import collector_process


@pytest.mark.waits
def test_otlp_exporter_warnings_are_json_log_lines_naming_the_endpoint_and_said_once_per_kind(
    tmp_path: Path,
) -> None:
    closed = socket.socket()  # bound and never listening: every connection to it is refused
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    _listen, proc = collector_process(
        tmp_path,
        f"otlp: {{endpoint: '{endpoint}'}}\n"
        f"targets:\n  - {{name: cache, kind: redis, port: {port}, interval: 1s}}\n",
        env={"OTEL_BSP_SCHEDULE_DELAY": "100"},  # export the first run's spans at once
    )
    lines: list[str] = []
    gave_up = threading.Event()  # the exporter gave up on its first batch, after its retries

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if '"event.action":"otlp-export"' in line and "Failed to export" in line:
                gave_up.set()

    errors: list[str] = []
    readers = [
        threading.Thread(target=read, daemon=True),
        threading.Thread(target=lambda: errors.extend(proc.stderr or ()), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        assert gave_up.wait(60), f"no JSON line said the exporter gave up; stdout: {lines[-5:]}"
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        closed.close()
    for reader in readers:
        reader.join(10)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    err = "".join(errors)
    assert proc.returncode == 0, err
    assert "exporting" not in err and "Transient error" not in err, f"plain-text SDK lines: {err}"
    said = [json.loads(line) for line in lines if '"event.action":"otlp-export"' in line]
    assert said and all(d["log.level"] == "warning" and d["url.full"] == endpoint for d in said), said
    assert all(endpoint in d["message"] for d in said), said
    retries = [d for d in said if "Transient error" in d["message"]]
    # the first retry said at once, the others (at least the first batch's two more) held back
    # and counted in one line at the stop: two lines, where each retry was a line
    assert len(retries) == 2, [(d["message"][-60:], d["labels.repeated"]) for d in said]
    assert retries[0]["labels.repeated"] == 0
    assert retries[1]["labels.repeated"] >= 2, retries[1]
