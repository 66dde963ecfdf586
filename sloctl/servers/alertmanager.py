"""A throwaway Alertmanager (the shelf's 0.3x, else Debian's 0.25) on a free loopback port.

Clustering is off (``--cluster.listen-address=`` empty): a lone test instance must not open a
gossip port on every interface (the default is ``0.0.0.0:9094``) nor wait for peers before it
sends notifications.

>>> with start_alertmanager(tmp, config_text=text) as am:  # doctest: +SKIP
...     urllib.request.urlopen(am.url + "/api/v2/status")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sloctl.shelf import find

from ._process import LOOPBACK, HttpProcess, ServerStartError, start_on_free_port

__all__ = ["DEBIAN_ALERTMANAGER", "AlertmanagerServer", "find_alertmanager", "start_alertmanager"]

DEBIAN_ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")
"""Debian 12's Alertmanager 0.25 (package ``prometheus-alertmanager``)."""


def find_alertmanager() -> Path:
    """The tool shelf's Alertmanager (0.3x) when it is built, else Debian's 0.25."""
    for candidate in (find("alertmanager"), DEBIAN_ALERTMANAGER):
        if candidate is not None and candidate.is_file():
            return candidate
    raise ServerStartError(
        "alertmanager is not installed: build Alertmanager 0.35 with `scripts/tools.sh alertmanager`, "
        "or on Debian/Ubuntu run `apt-get install prometheus-alertmanager`"
    )


class AlertmanagerServer(HttpProcess):
    name = "alertmanager"

    def __init__(
        self, *, workdir: Path, port: int, config: Path, binary: Path, extra_args: Sequence[str]
    ) -> None:
        super().__init__(host=LOOPBACK, port=port, logfile=workdir / "alertmanager.log", run_as=None)
        self.binary = binary
        self.config = config
        self.data_dir = workdir / "data"
        self.extra_args = tuple(extra_args)

    def _command(self) -> Sequence[str]:
        return [
            str(self.binary),
            f"--config.file={self.config}",
            f"--storage.path={self.data_dir}",
            f"--web.listen-address={self.host}:{self.port}",
            "--cluster.listen-address=",
            *self.extra_args,
        ]


def start_alertmanager(
    workdir: Path, *, config_text: str, binary: Path | None = None, extra_args: Sequence[str] = ()
) -> AlertmanagerServer:
    """Write ``config_text`` to ``workdir/alertmanager.yml`` and start Alertmanager on it;
    returns once ``/-/ready`` answers (at most 30 s)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "alertmanager.yml"
    config.write_text(config_text)
    binary = binary or find_alertmanager()
    return start_on_free_port(
        lambda port: AlertmanagerServer(
            workdir=workdir, port=port, config=config, binary=binary, extra_args=extra_args
        )
    )
