"""The scenario counters as samples, and their exposition for each engine's ingestion path."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .scenarios import Counts, Scenario

__all__ = ["EPOCH", "ERRORS", "REQUESTS", "Sample", "import_text", "openmetrics", "samples"]

EPOCH = 1767225600
"""2026-01-01T00:00:00Z: scenarios start at midnight UTC, so hours of the day mean something."""
ERRORS = "sloctl_backtest_errors_total"
REQUESTS = "sloctl_backtest_requests_total"


@dataclass(frozen=True)
class Sample:
    metric: str
    labels: str
    """In exposition syntax: ``{scenario="…",shard="0"}``."""
    value: float
    time: int
    """Unix seconds."""


def samples(items: Sequence[tuple[Scenario, Counts]], start: int = EPOCH) -> Iterator[Sample]:
    """Counter samples of every scenario, split over ``series`` shards, metric by metric."""
    for metric, pick in ((ERRORS, 0), (REQUESTS, 1)):
        for s, c in items:
            per_step = c.errors if pick == 0 else c.requests
            for shard in range(s.series):
                labels = f'{{scenario="{s.name}",shard="{shard}"}}'
                value = 0.0
                for i, inc in enumerate(per_step):
                    if c.reset[i]:
                        value = 0.0
                    value += inc / s.series
                    if c.scraped[i]:
                        yield Sample(metric, labels, value, start - c.warmup + i * c.step)


def openmetrics(items: Sequence[tuple[Scenario, Counts]], start: int = EPOCH) -> str:
    """``samples`` as OpenMetrics for ``promtool tsdb create-blocks-from openmetrics``
    (timestamps in seconds, ``# EOF``)."""
    lines: list[str] = []
    typed: set[str] = set()
    for x in samples(items, start):
        if x.metric not in typed:
            typed.add(x.metric)
            lines.append(f"# TYPE {x.metric.removesuffix('_total')} counter")
        lines.append(f"{x.metric}{x.labels} {x.value:.12g} {x.time}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def import_text(items: Sequence[Sample]) -> str:
    """Prometheus text exposition with millisecond timestamps: what VictoriaMetrics'
    ``/api/v1/import/prometheus`` takes."""
    return "".join(f"{x.metric}{x.labels} {x.value:.12g} {x.time * 1000}\n" for x in items)
