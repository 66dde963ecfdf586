"""A throwaway Prometheus (2.42+ or 3.x; by default ``sloctl.shelf.default_engine``'s) on a free
loopback port.

Used by backtests, ``sloctl status`` tests and the rule-quality benchmark: start it on a data
directory that already holds backfilled blocks, query it, stop it by pid.

>>> with start_prometheus(tmp, config_text="rule_files: [rules.yml]\\n") as prom:  # doctest: +SKIP
...     urllib.request.urlopen(prom.url + "/api/v1/query?query=up")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sloctl.shelf import ToolMissing, default_engine

from ._process import LOOPBACK, HttpProcess, ServerStartError, start_on_free_port

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


class PrometheusServer(HttpProcess):
    name = "prometheus"
    startup_timeout = 60.0

    def __init__(
        self,
        *,
        workdir: Path,
        port: int,
        config: Path,
        data_dir: Path,
        extra_args: Sequence[str],
        binary: str,
    ) -> None:
        super().__init__(host=LOOPBACK, port=port, logfile=workdir / "prometheus.log", run_as=None)
        self.binary = binary
        self.config = config
        self.data_dir = data_dir
        self.extra_args = tuple(extra_args)

    def _command(self) -> Sequence[str]:
        return [
            self.binary,
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address={self.host}:{self.port}",
            "--storage.tsdb.retention.time=3650d",
            *self.extra_args,
        ]


def start_prometheus(
    workdir: Path,
    *,
    config_text: str,
    data_dir: Path | None = None,
    extra_args: Sequence[str] = (),
    binary: Path | None = None,
    start_timeout: float | None = None,
) -> PrometheusServer:
    """Write ``config_text`` to ``workdir/prometheus.yml`` (rule files are relative to it) and
    start Prometheus on it; returns once ``/-/ready`` answers, ``start_timeout`` seconds at most
    (None: its own 60 s)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(config_text)
    binary_path = str(binary) if binary else find_prometheus()
    return start_on_free_port(
        lambda port: PrometheusServer(
            workdir=workdir,
            port=port,
            config=config,
            data_dir=data_dir or workdir / "data",
            extra_args=extra_args,
            binary=binary_path,
        ),
        timeout=start_timeout,
    )
