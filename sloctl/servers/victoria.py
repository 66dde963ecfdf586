"""VictoriaMetrics on loopback: single-node ``victoria-metrics``, ``vmagent``, ``vmauth`` and
``vmalert`` from the tool shelf (``scripts/tools.sh victoriametrics``), each on a free port.

The cluster trio (vminsert/vmselect/vmstorage) cannot be built here (the Go module proxy refuses
VictoriaMetrics' ``-cluster`` tags), so the distributed set-up is VictoriaMetrics' documented
high-availability pattern built from single-node instances: ``vmagent`` replicates every write
to each node, ``vmauth`` with ``first_available`` sends reads to the first node that answers.

>>> with start_victoria_metrics(tmp / "a") as a, start_victoria_metrics(tmp / "b") as b:  # doctest: +SKIP
...     with start_vmagent(tmp / "agent", remote_write=[a.write_url, b.write_url]) as agent:
...         with start_vmauth(tmp / "auth", backends=[a.url, b.url]) as auth:
...             urllib.request.urlopen(auth.url + "/api/v1/query?query=up")
"""

from __future__ import annotations

import abc
import re
import subprocess
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict, TypeVar, Unpack

from ._process import (
    LOOPBACK,
    HttpProcess,
    free_port,
    log_tail,
    open_direct,
    shelf_binary,
    start_on_free_port,
)

__all__ = [
    "ReplayError",
    "VictoriaMetricsServer",
    "VmagentServer",
    "VmalertServer",
    "VmauthServer",
    "replay_vmalert",
    "start_victoria_metrics",
    "start_vmagent",
    "start_vmalert",
    "start_vmauth",
]


class _Options(TypedDict, total=False):
    """What every VictoriaMetrics component takes besides its own settings."""

    extra_args: Sequence[str]
    """Last on its command line."""
    binary: str | None
    """Its executable; the tool shelf's when None or not given."""


class _VMProcess(HttpProcess):
    """Every VictoriaMetrics component answers ``/health`` once it serves requests; its
    ``extra_args`` go last on its command line."""

    startup_timeout = 60.0
    ready_path = "/health"

    def __init__(self, *, workdir: Path, port: int, **options: Unpack[_Options]) -> None:
        super().__init__(host=LOOPBACK, port=port, logfile=workdir / f"{self.name}.log", run_as=None)
        self.workdir = workdir
        self.extra_args = tuple(options.get("extra_args", ()))
        self.binary = options.get("binary") or shelf_binary(self.name)

    def _urls(self, urls: Sequence[str], what: str) -> tuple[str, ...]:
        """``urls``, of which a component needs at least one (``what`` names them)."""
        if not urls:
            raise ValueError(f"{self.name} needs at least one {what} URL")
        return tuple(urls)

    def _command(self) -> Sequence[str]:
        return [self.binary, f"-httpListenAddr={self.host}:{self.port}", *self._flags(), *self.extra_args]

    @abc.abstractmethod
    def _flags(self) -> Sequence[str]:
        """The component's own flags, between its listen address and ``extra_args``."""


_VM = TypeVar("_VM", bound=_VMProcess)


class _Ingest(_VMProcess):
    """A process that takes samples in: the single node, and vmagent in front of a pair."""

    @property
    def write_url(self) -> str:
        """The Prometheus remote-write endpoint."""
        return f"{self.url}/api/v1/write"

    @property
    def import_url(self) -> str:
        """Prometheus text format with millisecond timestamps."""
        return f"{self.url}/api/v1/import/prometheus"


class VictoriaMetricsServer(_Ingest):
    """Single-node VictoriaMetrics: storage, ingestion and MetricsQL queries in one process."""

    name = "victoria-metrics"

    def __init__(
        self,
        *,
        workdir: Path,
        port: int,
        data_dir: Path,
        **options: Unpack[_Options],
    ) -> None:
        super().__init__(workdir=workdir, port=port, **options)
        self.data_dir = data_dir

    def _flags(self) -> Sequence[str]:
        return [
            f"-storageDataPath={self.data_dir}",
            # Backtests write history (2026-01-01 on): the default retention of one month
            # would drop it on arrival.
            "-retentionPeriod=100y",
            # Backfilled history lands in time ranges a query may already have cached as empty.
            # (-search.latencyOffset keeps its default, 30 s: it only hides samples of the last
            # 30 s from queries near now, which is what vmalert users run with.)
            "-search.disableCache",
        ]

    def requests_served(self, path: str) -> int:
        """How many requests to ``path`` (``/api/v1/query_range`` …) this process has served
        (``vm_http_requests_total`` on ``/metrics``)."""
        with open_direct(f"{self.url}/metrics", timeout=30) as resp:
            text = resp.read().decode()
        line = f'vm_http_requests_total{{path="{path}"}} '
        return sum(int(float(x[len(line) :])) for x in text.splitlines() if x.startswith(line))

    def force_flush(self) -> None:
        """Make every sample received so far searchable now (``/internal/force_flush``)."""
        with open_direct(f"{self.url}/internal/force_flush", timeout=30) as resp:
            resp.read()


class VmagentServer(_Ingest):
    """vmagent replicating every sample it receives to each ``remote_write`` URL; a URL that is
    down gets its samples queued on disk and delivered once it is back."""

    name = "vmagent"

    def __init__(
        self, *, workdir: Path, port: int, remote_write: Sequence[str], **options: Unpack[_Options]
    ) -> None:
        self.remote_write = self._urls(remote_write, "remote_write")
        super().__init__(workdir=workdir, port=port, **options)

    def _flags(self) -> Sequence[str]:
        return [
            *(f"-remoteWrite.url={u}" for u in self.remote_write),
            f"-remoteWrite.tmpDataPath={self.workdir / 'vmagent-queue'}",
            # Short flushes and retries: the backtest waits for each sample to land.
            "-remoteWrite.flushInterval=200ms",
            "-remoteWrite.retryMinInterval=200ms",
            "-remoteWrite.retryMaxInterval=2s",
        ]


class VmauthServer(_VMProcess):
    """vmauth proxying every request to the first of ``backends`` that answers
    (``load_balancing_policy: first_available``, VictoriaMetrics' documented hot standby)."""

    name = "vmauth"

    def __init__(
        self, *, workdir: Path, port: int, backends: Sequence[str], **options: Unpack[_Options]
    ) -> None:
        self.backends = self._urls(backends, "backend")
        super().__init__(workdir=workdir, port=port, **options)
        self.config = workdir / "vmauth.yml"
        prefixes = "".join(f"    - {b.rstrip('/')}/\n" for b in self.backends)
        # Retry on another backend when one answers 5xx, not only when it refuses connections.
        self.config.write_text(
            "unauthorized_user:\n  url_prefix:\n" + prefixes + "  load_balancing_policy: first_available\n"
            "  retry_status_codes: [500, 502, 503]\n"
        )

    def _flags(self) -> Sequence[str]:
        return [f"-auth.config={self.config}"]


class VmalertServer(_VMProcess):
    """vmalert evaluating ``rules`` live against ``datasource``, writing recordings and alert
    states to ``remote_write`` (a base URL: vmalert appends ``/api/v1/write``); no notifier, the
    ``ALERTS`` series are what the tests read."""

    name = "vmalert"

    def __init__(
        self,
        *,
        workdir: Path,
        port: int,
        rules: Sequence[Path],
        datasource: str,
        remote_write: str,
        evaluation_interval: int = 60,
        **options: Unpack[_Options],
    ) -> None:
        super().__init__(workdir=workdir, port=port, **options)
        self.rules = tuple(rules)
        self.datasource = datasource
        self.remote_write = remote_write
        self.evaluation_interval = evaluation_interval

    def _flags(self) -> Sequence[str]:
        return [
            *_vmalert_common(self.rules, self.datasource, self.remote_write, self.url),
            f"-evaluationInterval={self.evaluation_interval}s",
        ]


def _vmalert_common(rules: Sequence[Path], datasource: str, remote_write: str, external: str) -> list[str]:
    return [
        *(f"-rule={r}" for r in rules),
        f"-datasource.url={datasource}",
        f"-remoteWrite.url={remote_write}",
        # The alert source link; without it vmalert derives one from the host name.
        f"-external.url={external}",
        "-notifier.blackhole",
    ]


def _start(make: Callable[..., _VM], workdir: Path, start_timeout: float | None, **kwargs: Any) -> _VM:
    """The component ``make`` (its class) on a free port, its log in ``workdir``; returns once
    ``/health`` answers, ``start_timeout`` seconds at most (None: its own 60 s). Every ``start_*``
    of this module takes ``start_timeout=`` for that (a command's ``--start-timeout``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    return start_on_free_port(lambda port: make(workdir=workdir, port=port, **kwargs), timeout=start_timeout)


def start_victoria_metrics(
    workdir: Path, *, start_timeout: float | None = None, **options: Unpack[_Options]
) -> VictoriaMetricsServer:
    """Single-node VictoriaMetrics with its data in ``workdir/data``."""
    return _start(VictoriaMetricsServer, workdir, start_timeout, data_dir=workdir / "data", **options)


def start_vmagent(
    workdir: Path,
    *,
    remote_write: Sequence[str],
    start_timeout: float | None = None,
    **options: Unpack[_Options],
) -> VmagentServer:
    return _start(VmagentServer, workdir, start_timeout, remote_write=remote_write, **options)


def start_vmauth(
    workdir: Path, *, backends: Sequence[str], start_timeout: float | None = None, **options: Unpack[_Options]
) -> VmauthServer:
    return _start(VmauthServer, workdir, start_timeout, backends=backends, **options)


def start_vmalert(
    workdir: Path,
    *,
    rules: Sequence[Path],
    datasource: str,
    remote_write: str,
    evaluation_interval: int = 60,
    start_timeout: float | None = None,
    **options: Unpack[_Options],
) -> VmalertServer:
    return _start(
        VmalertServer,
        workdir,
        start_timeout,
        rules=rules,
        datasource=datasource,
        remote_write=remote_write,
        evaluation_interval=evaluation_interval,
        **options,
    )


class ReplayError(RuntimeError):
    """vmalert's replay failed; the message carries the tail of its output."""


_GENERATED = re.compile(r"replay evaluation finished, generated (\d+) samples")


def _rfc3339(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def replay_vmalert(
    workdir: Path,
    *,
    rules: Path,
    datasource: str,
    remote_write: str,
    start: int,
    end: int,
    max_points: int,
    timeout: float = 600,
    **options: Unpack[_Options],
) -> int:
    """Evaluate ``rules`` at every group interval of ``[start, end]`` (Unix seconds) with
    vmalert's replay mode (``/api/v1/query_range`` against ``datasource``, results written to
    ``remote_write``); returns the number of samples vmalert wrote. vmalert exits non-zero when a
    sample could not be delivered, which raises ReplayError.

    ``max_points`` bounds the points of one range query: with at least the points of the whole
    range, each rule is one query, and no evaluation sits on the boundary of two queries (vmalert
    would evaluate it twice)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"vmalert-replay-{rules.stem}-{start}.log"
    command = [
        options.get("binary") or shelf_binary("vmalert"),
        f"-httpListenAddr={LOOPBACK}:{free_port()}",
        *_vmalert_common([rules], datasource, remote_write, f"http://{LOOPBACK}"),
        f"-replay.timeFrom={_rfc3339(start)}",
        f"-replay.timeTo={_rfc3339(end)}",
        f"-replay.maxDatapointsPerQuery={max_points}",
        "-replay.disableProgressBar",
        *options.get("extra_args", ()),
    ]
    with open(log, "wb") as out:
        try:
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ReplayError(f"vmalert replay of {rules} took more than {timeout:.0f} s; log tail ({log}):\n"
                              f"{log_tail(log)}") from None  # fmt: skip
    text = log.read_text(errors="replace")
    found = _GENERATED.search(text)
    if done.returncode != 0 or found is None:
        raise ReplayError(
            f"vmalert replay of {rules} exited with code {done.returncode}; "
            f"log tail ({log}):\n{log_tail(log)}"
        )
    return int(found.group(1))
