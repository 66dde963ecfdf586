"""sloctl's OpenTelemetry Collector (the tool shelf's ``otelcol-sloctl``) on free loopback ports.

``collector/otelcol.yaml`` reads every address from an environment variable with a loopback
default (``${env:NAME:-default}``); this launcher sets all of them, so that a collector started
here listens only on ports the kernel just handed out and sends only where the caller says (an
exporter the caller does not name points at a free loopback port where nothing listens).

>>> with start_otelcol(tmp, config=ROOT / "collector/otelcol.yaml",
...                    exporters={"traces": "127.0.0.1:4417"}) as col:  # doctest: +SKIP
...     col.otlp_http  # 'http://127.0.0.1:…'
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from ._process import LOOPBACK, ManagedProcess, free_port, http_ok, shelf_binary, start_on_free_port

__all__ = ["EXPORTER_VARIABLES", "LISTEN_VARIABLES", "OtelCollector", "start_otelcol", "validate_otelcol"]

LISTEN_VARIABLES = {
    "otlp_grpc": "SLOCTL_OTELCOL_OTLP_GRPC",
    "otlp_http": "SLOCTL_OTELCOL_OTLP_HTTP",
    "health": "SLOCTL_OTELCOL_HEALTH",
    "telemetry": "SLOCTL_OTELCOL_TELEMETRY_PORT",
}
"""What the collector listens on → the variable ``collector/otelcol.yaml`` reads it from."""
EXPORTER_VARIABLES = {
    "traces": ("SLOCTL_OTELCOL_TRACES_ENDPOINT", "{host}:{port}"),
    "remote_write": ("SLOCTL_OTELCOL_REMOTE_WRITE_URL", "http://{host}:{port}/api/v1/write"),
    "logs": ("SLOCTL_OTELCOL_LOGS_ENDPOINT", "http://{host}:{port}/otlp"),
}
"""Where the collector sends → (variable, the shape of a value for a loopback port)."""


def validate_otelcol(config: Path) -> list[str]:
    """``otelcol-sloctl validate --config=…``: its complaints, empty when the file is valid."""
    done = subprocess.run(
        [shelf_binary("otelcol-sloctl"), "validate", f"--config={config}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode == 0:
        return []
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


class OtelCollector(ManagedProcess):
    name = "otelcol-sloctl"

    def __init__(self, *, workdir: Path, port: int, config: Path, exporters: Mapping[str, str]) -> None:
        super().__init__(host=LOOPBACK, port=port, logfile=workdir / "otelcol.log", run_as=None)
        unknown = sorted(set(exporters) - set(EXPORTER_VARIABLES))
        if unknown:
            raise ValueError(f"unknown exporter(s) {unknown}; known: {sorted(EXPORTER_VARIABLES)}")
        self.binary = shelf_binary(self.name)
        self.config = config
        self.exporters = dict(exporters)
        # ``port`` (ManagedProcess's) is the OTLP/HTTP receiver: the one a retry moves.
        others = {k: free_port() for k in LISTEN_VARIABLES if k != "otlp_http"}
        self.ports = {"otlp_http": self.port, **others}
        self._nowhere = {k: free_port() for k in EXPORTER_VARIABLES}

    @property
    def otlp_grpc(self) -> str:
        """``host:port`` of the OTLP/gRPC receiver."""
        return f"{self.host}:{self.ports['otlp_grpc']}"

    @property
    def otlp_http(self) -> str:
        """Base URL of the OTLP/HTTP receiver (``/v1/traces`` … below it)."""
        return f"http://{self.host}:{self.ports['otlp_http']}"

    @property
    def health_url(self) -> str:
        return f"http://{self.host}:{self.ports['health']}/"

    @property
    def telemetry_url(self) -> str:
        """The collector's own Prometheus metrics (``otelcol_*``)."""
        return f"http://{self.host}:{self.ports['telemetry']}/metrics"

    def environment(self) -> dict[str, str]:
        """The variables ``collector/otelcol.yaml`` reads, as this collector sets them."""
        env = {
            var: str(self.ports[k]) if k == "telemetry" else f"{self.host}:{self.ports[k]}"
            for k, var in LISTEN_VARIABLES.items()
        }
        for k, (var, shape) in EXPORTER_VARIABLES.items():
            env[var] = self.exporters.get(k) or shape.format(host=self.host, port=self._nowhere[k])
        return env

    def _env(self) -> dict[str, str]:
        return {**os.environ, **self.environment()}

    def _command(self) -> Sequence[str]:
        return [self.binary, f"--config={self.config}"]

    def _ready(self) -> bool:
        return http_ok(self.health_url)


def start_otelcol(
    workdir: Path, *, config: Path, exporters: Mapping[str, str] | None = None
) -> OtelCollector:
    """Start ``otelcol-sloctl`` on ``config`` with every listen address on a free loopback port;
    returns once its health check answers (30 s at most).

    ``exporters`` maps ``traces`` (``host:port``, OTLP/gRPC), ``remote_write`` and ``logs`` (URLs)
    to where they should send."""
    workdir.mkdir(parents=True, exist_ok=True)
    return start_on_free_port(
        lambda port: OtelCollector(workdir=workdir, port=port, config=config, exporters=exporters or {})
    )
