"""A throwaway Prometheus (2.42+ or 3.x; by default ``sloctl.shelf.default_engine``'s) on a free
loopback port.

Used by backtests, ``sloctl status`` tests and the rule-quality benchmark: start it on a data
directory that already holds backfilled blocks, query it, stop it by pid.

>>> with start_prometheus(tmp, config_text="rule_files: [rules.yml]\\n") as prom:  # doctest: +SKIP
...     urllib.request.urlopen(prom.url + "/api/v1/query?query=up")
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from sloctl.shelf import ToolMissing, default_engine

from ._process import LOOPBACK, ManagedProcess, ServerStartError, free_port

__all__ = ["PrometheusServer", "find_prometheus", "start_prometheus"]


def find_prometheus() -> str:
    """The default engine's server (``$PROMETHEUS``, PATH, then the tool shelf's Prometheus 3)."""
    try:
        path = default_engine().prometheus
    except ToolMissing as exc:
        raise ServerStartError(str(exc)) from None
    if not path.is_file():
        raise ServerStartError(
            f"prometheus is not installed at {path}; on Debian/Ubuntu run `apt-get install prometheus`, "
            "or build Prometheus 3 with `scripts/tools.sh prometheus`"
        )
    return str(path)


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class PrometheusServer(ManagedProcess):
    name = "prometheus"
    startup_timeout = 60.0

    def __init__(
        self,
        *,
        workdir: Path,
        config: Path,
        data_dir: Path,
        extra_args: Sequence[str],
        binary: Path | None = None,
    ) -> None:
        super().__init__(host=LOOPBACK, port=free_port(), logfile=workdir / "prometheus.log", run_as=None)
        self.binary = str(binary) if binary else find_prometheus()
        self.config = config
        self.data_dir = data_dir
        self.extra_args = tuple(extra_args)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _command(self) -> Sequence[str]:
        return [
            self.binary,
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address={self.host}:{self.port}",
            "--storage.tsdb.retention.time=3650d",
            *self.extra_args,
        ]

    def _ready(self) -> bool:
        try:
            # Our own server on loopback: never through a *_proxy of the environment.
            with _DIRECT.open(f"{self.url}/-/ready", timeout=1) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False


def start_prometheus(
    workdir: Path,
    *,
    config_text: str,
    data_dir: Path | None = None,
    extra_args: Sequence[str] = (),
    binary: Path | None = None,
) -> PrometheusServer:
    """Write ``config_text`` to ``workdir/prometheus.yml`` (rule files are relative to it) and
    start Prometheus on it; returns once ``/-/ready`` answers (at most 60 s)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(config_text)
    server = PrometheusServer(
        workdir=workdir,
        config=config,
        data_dir=data_dir or workdir / "data",
        extra_args=extra_args,
        binary=binary,
    )
    for attempt in range(3):  # the free port may be taken between probing and binding
        try:
            server.start()
            return server
        except ServerStartError:
            if attempt == 2:
                raise
            server.port = free_port()
    return server  # pragma: no cover - the loop returns or raises
