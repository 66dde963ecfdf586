"""The status and gate tests' Prometheus: a real throwaway one that holds scenarios' series,
backfilled to end at the current minute, and evaluates rule files over them every second."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from sloctl.backtest.engine import backfill_openmetrics
from sloctl.backtest.scenarios import Counts, Scenario
from sloctl.backtest.series import openmetrics
from sloctl.servers._process import wait_until
from sloctl.servers.prometheus import PrometheusServer, start_prometheus
from sloctl.shelf import PrometheusEngine

__all__ = ["backfilled_prometheus"]


@contextlib.contextmanager
def backfilled_prometheus(
    workdir: Path,
    engine: PrometheusEngine,
    items: Sequence[tuple[Scenario, Counts]],
    rule_files: Mapping[str, str],
    ready: Callable[[str], bool],
) -> Iterator[PrometheusServer]:
    """``engine``'s Prometheus in ``workdir`` over ``items``' series (the longest scenario's
    duration back from the current minute), evaluating ``rule_files`` (name → text); yielded
    once ``ready(its url)`` holds (60 s at most, else the tail of its log), stopped after."""
    end = int(time.time()) // 60 * 60
    start = end - max(s.duration for s, _ in items)
    backfill_openmetrics(
        openmetrics(items, start=start), workdir, workdir / "data", promtool=str(engine.promtool)
    )
    for name, text in rule_files.items():
        (workdir / name).write_text(text)
    server = start_prometheus(
        workdir,
        config_text="global:\n  evaluation_interval: 1s\n"
        f"rule_files: [{', '.join(rule_files)}]\nscrape_configs: []\n",
        binary=engine.prometheus,
    )
    try:
        assert wait_until(lambda: ready(server.url), timeout=60, interval=0.25), (
            workdir / "prometheus.log"
        ).read_text()[-3000:]
        yield server
    finally:
        server.stop()
