"""The scenario counters as samples, and their exposition for each engine's ingestion path."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .scenarios import Counts, Scenario

__all__ = [
    "EPOCH",
    "ERRORS",
    "HISTOGRAM",
    "REQUESTS",
    "Feed",
    "Sample",
    "import_text",
    "labels",
    "openmetrics",
    "samples",
]

EPOCH = 1767225600
"""2026-01-01T00:00:00Z: scenarios start at midnight UTC, so hours of the day mean something."""
ERRORS = "sloctl_backtest_errors_total"
REQUESTS = "sloctl_backtest_requests_total"
HISTOGRAM = "sloctl_backtest_duration_seconds"
"""Latency SLIs are replayed as a classic histogram: the slow requests are those above the
SLO's threshold bucket."""
_MEAN_SECONDS = 0.05
"""The ``_sum`` of the histogram: no rule reads it, it only makes the family complete."""


@dataclass(frozen=True)
class Feed:
    """The counters of one SLI in a run: a scenario's counts, for an SLO or one component of
    a composite, as event counters or (``le``: the threshold bucket) a latency histogram;
    ``slo`` names the SLO they are for when a run replays several (:func:`labels`)."""

    scenario: Scenario
    counts: Counts
    component: str | None = None
    le: float | None = None
    slo: str | None = None


@dataclass(frozen=True)
class Sample:
    metric: str
    labels: str
    """In exposition syntax: ``{scenario="…",shard="0"}``."""
    value: float
    time: int
    """Unix seconds."""


def labels(s: Scenario, component: str | None, slo: str | None = None) -> str:
    """A feed's labels, as OpenMetrics writes them (no spaces) and PromQL reads them: the
    scenario, the component of a composite, and the SLO when one run replays the same scenario
    for several."""
    extra = f',component="{component}"' if component else ""
    extra += f',slo="{slo}"' if slo else ""
    return f'scenario="{s.name}"{extra}'


def _feeds(items: Sequence[tuple[Scenario, Counts] | Feed]) -> list[Feed]:
    return [i if isinstance(i, Feed) else Feed(i[0], i[1]) for i in items]


def _histogram(f: Feed, start: int) -> Iterator[Sample]:
    """One unsharded histogram: the threshold bucket counts the fast requests."""
    c, base = f.counts, labels(f.scenario, f.component, f.slo)
    fast = total = 0.0
    for i in range(len(c.requests)):
        if c.reset[i]:
            fast = total = 0.0
        total += c.requests[i]
        fast += c.requests[i] - c.errors[i]
        if not c.scraped[i]:
            continue
        t = start - c.warmup + i * c.step
        yield Sample(f"{HISTOGRAM}_bucket", f'{{{base},le="{f.le:g}"}}', fast, t)
        yield Sample(f"{HISTOGRAM}_bucket", f'{{{base},le="+Inf"}}', total, t)
        yield Sample(f"{HISTOGRAM}_count", f"{{{base}}}", total, t)
        yield Sample(f"{HISTOGRAM}_sum", f"{{{base}}}", total * _MEAN_SECONDS, t)


def samples(items: Sequence[tuple[Scenario, Counts] | Feed], start: int = EPOCH) -> Iterator[Sample]:
    """Samples of every feed, metric by metric: counters split over the scenario's ``series``
    shards, then the histograms (a family's samples stay together, as OpenMetrics requires)."""
    feeds = _feeds(items)
    counters = [f for f in feeds if f.le is None]
    for metric, pick in ((ERRORS, 0), (REQUESTS, 1)):
        for f in counters:
            s, c = f.scenario, f.counts
            per_step = c.errors if pick == 0 else c.requests
            base = labels(s, f.component, f.slo)
            for shard in range(s.series):
                shard_labels = f'{{{base},shard="{shard}"}}'
                value = 0.0
                for i, inc in enumerate(per_step):
                    if c.reset[i]:
                        value = 0.0
                    value += inc / s.series
                    if c.scraped[i]:
                        yield Sample(metric, shard_labels, value, start - c.warmup + i * c.step)
    for f in feeds:
        if f.le is not None:
            yield from _histogram(f, start)


def _family(metric: str) -> str:
    if metric.startswith(HISTOGRAM):
        return f"{HISTOGRAM} histogram"
    return f"{metric.removesuffix('_total')} counter"


def openmetrics(
    items: Sequence[tuple[Scenario, Counts] | Feed], start: int = EPOCH, until: int | None = None
) -> str:
    """``samples`` as OpenMetrics for ``promtool tsdb create-blocks-from openmetrics``
    (timestamps in seconds, ``# EOF``); those after ``until`` left out when given."""
    lines: list[str] = []
    typed: set[str] = set()
    for x in samples(items, start):
        if until is not None and x.time > until:
            continue
        family = _family(x.metric)
        if family not in typed:
            typed.add(family)
            lines.append(f"# TYPE {family}")
        lines.append(f"{x.metric}{x.labels} {x.value:.12g} {x.time}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def import_text(items: Sequence[Sample]) -> str:
    """Prometheus text exposition with millisecond timestamps: what VictoriaMetrics'
    ``/api/v1/import/prometheus`` takes."""
    return "".join(f"{x.metric}{x.labels} {x.value:.12g} {x.time * 1000}\n" for x in items)
