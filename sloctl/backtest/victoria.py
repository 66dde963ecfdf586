"""Replay rule files on VictoriaMetrics with vmalert: a single node, or a replicated pair.

The same scenario counters as the Prometheus backtest (``run.samples``) are written through
VictoriaMetrics' import API (Prometheus text, millisecond timestamps); the rules are evaluated by
vmalert's replay mode (``-replay.timeFrom/-replay.timeTo``: one ``/api/v1/query_range`` per rule
at the group's interval, results written back by remote write, alert states as ``ALERTS``).

**Chained rules.** vmalert replays the rules of a group one after another, but writes their
results asynchronously; ``-replay.rulesDelay`` (a sleep between rules) is its only guard, so a
rule that reads a recording of the same group may read it half-written. Here the rules are
replayed one dependency level at a time, like the Prometheus backtest: each level in its own
vmalert run (``-replay.rulesDelay=0s``: no rule of a level reads another), and the next level
starts only once every sample vmalert reported is searchable on every running node (an event,
not a timer).

**Topologies.** ``single``: one ``victoria-metrics``, written and read directly. ``ha``: two
nodes behind ``vmagent`` (every write, raw series and vmalert's results alike, replicated to
both: replication factor 2) and ``vmauth`` with ``first_available`` (reads go to the first node
while it answers) — VictoriaMetrics' documented high-availability pattern for single-node
instances; the cluster trio cannot be built here (docs/compat.md). With ``NodeLoss(at)`` the
run is split at ``at``: history up to ``at`` is written and evaluated with both nodes up, then
the node vmauth prefers is stopped, and the rest of the history is written and evaluated on the
survivor alone (vmagent queues the lost node's share on disk). ``VictoriaBacktest.rejoin``
restarts it and waits until vmagent has delivered everything it missed.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from sloctl.durations import parse_duration
from sloctl.progress import Progress, silent
from sloctl.servers import open_direct
from sloctl.servers._process import wait_until
from sloctl.servers.victoria import (
    VictoriaMetricsServer,
    VmalertServer,
    replay_vmalert,
    start_victoria_metrics,
    start_vmagent,
    start_vmalert,
    start_vmauth,
)

from .engine import AlertSeries, RuleSet, query, query_range, rule_groups, split_levels
from .series import Sample, import_text

__all__ = [
    "ENGINES",
    "NodeLoss",
    "Phase",
    "Topology",
    "VictoriaBacktest",
    "VictoriaEngine",
    "count_samples",
    "export_series",
    "post_import",
    "replay_victoria",
]

Topology = Literal["single", "ha"]
TOPOLOGIES: tuple[Topology, ...] = ("single", "ha")


@dataclass(frozen=True)
class VictoriaEngine:
    """VictoriaMetrics with vmalert as a backtest engine (``--engine victoriametrics[-ha]``)."""

    name: str
    topology: Topology


ENGINES = (VictoriaEngine("victoriametrics", "single"), VictoriaEngine("victoriametrics-ha", "ha"))
VISIBLE_TIMEOUT = 120.0
"""Seconds a written batch may take to become searchable on every running node: a bound."""
_BATCH = 20_000
"""Samples per import request."""
_NO_LATENCY_OFFSET = {"latency_offset": "1ms"}
"""The least ``-search.latencyOffset`` a VictoriaMetrics query may ask for (0 is refused)."""


@dataclass(frozen=True)
class NodeLoss:
    """Stop the node vmauth prefers once the history up to ``at`` (Unix seconds, on the
    evaluation grid) is written and evaluated; the rest runs on the survivor."""

    at: int


@dataclass(frozen=True)
class Phase:
    """One step of a replay, for reports: what ran, on which segment, how long it took."""

    what: str
    start: int
    end: int
    samples: int
    seconds: float
    reads: tuple[int, ...] = ()
    """``/api/v1/query_range`` requests each node had served just before node 0 was stopped
    (recorded on that step only): where the reads went while both nodes were up."""


@dataclass
class VictoriaBacktest:
    """VictoriaMetrics holding the raw series, the recordings and the ``ALERTS`` of one rule set;
    queried at ``url`` (the node, or vmauth in front of the pair)."""

    url: str
    rules: RuleSet
    start: int
    end: int
    step: int
    topology: Topology
    nodes: tuple[VictoriaMetricsServer, ...]
    phases: list[Phase] = field(default_factory=list)
    origin: int = 0
    """The first sample's time: every count of stored samples starts here."""
    written: int = 0
    """Samples written so far: raw series, recordings and alert states."""
    names: set[str] = field(default_factory=set)
    """Their metric names (levels may share one: a raw SLI records its 5m ratio at level 0,
    an events SLI at level 1), so samples are counted over all of them together."""
    live: VmalertServer | None = None
    """vmalert evaluating ``live_rules`` from now on (cost measurements: its ``/metrics``)."""

    def query(self, expr: str, time: int | None = None) -> list[dict[str, object]]:
        return query(self.url, expr, self.end if time is None else time)

    def range(self, expr: str) -> list[dict[str, object]]:
        return query_range(self.url, expr, self.start, self.end, self.step)

    def export(self, match: str, *, url: str | None = None) -> list[dict[str, object]]:
        """Raw samples of the series matching ``match`` over ``[start, end]`` (``/api/v1/export``):
        exactly what was written, without a query's look-back filling gaps."""
        return export_series(url or self.url, match, self.start, self.end)

    def rejoin(self) -> float:
        """Restart every stopped node (same port, same data) and wait until vmagent has
        delivered all it queued for them; returns the seconds that took."""
        t0 = time.monotonic()
        stopped = [n for n in self.nodes if not n.running]
        for node in stopped:
            node.restart()
        _wait_visible(
            stopped, sorted(self.names), self.written, self.origin, self.end, "catching up after rejoining"
        )
        seconds = time.monotonic() - t0
        self.phases.append(Phase(f"{len(stopped)} node(s) rejoined and caught up", self.origin, self.end,
                                 self.written, seconds))  # fmt: skip
        return seconds

    def alerts(self) -> list[AlertSeries]:
        """Every alert series vmalert wrote (``ALERTS``): active at each sample, firing where
        ``alertstate="firing"`` (vmalert applied ``for``)."""
        active: dict[tuple[tuple[str, str], ...], list[float]] = {}
        firing: dict[tuple[tuple[str, str], ...], list[float]] = {}
        for row in self.export("ALERTS"):
            metric = row["metric"]
            stamps = row["timestamps"]
            assert isinstance(metric, dict) and isinstance(stamps, list)
            labels = tuple(
                sorted((str(k), str(v)) for k, v in metric.items() if k not in ("__name__", "alertstate"))
            )
            times = [int(t) / 1000 for t in stamps]
            active.setdefault(labels, []).extend(times)
            if metric.get("alertstate") == "firing":
                firing.setdefault(labels, []).extend(times)
        return [
            AlertSeries(
                dict(key).get("alertname", ""),
                dict(key),
                tuple(sorted(set(times))),
                tuple(sorted(set(firing.get(key, [])))),
            )
            for key, times in sorted(active.items())
        ]


def export_series(url: str, match: str, start: int, end: int) -> list[dict[str, object]]:
    """The series matching ``match`` in ``[start, end]`` on the VictoriaMetrics at ``url``, as its
    ``/api/v1/export`` gives them (one JSON object a series), read past any proxy variable."""
    params = urllib.parse.urlencode({"match[]": match, "start": start, "end": end})
    with open_direct(f"{url}/api/v1/export?{params}", timeout=120) as resp:
        return [json.loads(line) for line in resp.read().decode().splitlines() if line.strip()]


def post_import(url: str, body: str) -> None:
    """POST ``body`` (samples in the Prometheus text format) to a VictoriaMetrics import ``url``,
    past any proxy variable."""
    req = urllib.request.Request(url, data=body.encode(), method="POST")
    with open_direct(req, timeout=120) as resp:
        resp.read()


def count_samples(node: VictoriaMetricsServer, names: Sequence[str], start: int, end: int) -> int:
    """Samples of the series named ``names`` stored on ``node`` in ``[start, end]``. Those of
    the last 30 s are counted too: VictoriaMetrics would otherwise move a query at an ``end``
    that close to now back by its ``-search.latencyOffset`` and miss them until it has passed."""
    node.force_flush()
    selector = '{__name__=~"' + "|".join(names) + '"}'  # metric names hold no regex syntax
    expr = f"sum(count_over_time({selector}[{end - start + 1}s]))"
    res = query(node.url, expr, end, extra=_NO_LATENCY_OFFSET)
    if not res:
        return 0
    value = res[0]["value"]
    assert isinstance(value, list)
    return int(float(value[1]))


def _wait_visible(
    nodes: Sequence[VictoriaMetricsServer],
    names: Sequence[str],
    expected: int,
    start: int,
    end: int,
    what: str,
) -> None:
    """Wait until every running node holds exactly ``expected`` samples of ``names``."""
    for node in nodes:
        seen: list[int] = []

        def done(node: VictoriaMetricsServer = node, seen: list[int] = seen) -> bool:
            seen[:] = [count_samples(node, names, start, end)]
            if seen[0] > expected:
                raise RuntimeError(
                    f"{node.url} holds {seen[0]} samples of {what}, more than the {expected} written"
                )
            return seen[0] == expected

        if not wait_until(done, timeout=VISIBLE_TIMEOUT, interval=0.2):
            raise RuntimeError(
                f"{what}: {node.url} holds {seen[0] if seen else 0} of {expected} samples after "
                f"{VISIBLE_TIMEOUT:.0f} s; log tail in {node.logfile}"
            )


def _names(groups: Sequence[Mapping[str, object]]) -> list[str]:
    names: set[str] = set()
    for g in groups:
        for r in g.get("rules", []):  # type: ignore[attr-defined]
            names.update([str(r["record"])] if "record" in r else ["ALERTS", "ALERTS_FOR_STATE"])
    return sorted(names)


def _interval(groups: Sequence[Mapping[str, object]], default: int) -> int:
    return min((parse_duration(str(g["interval"])) for g in groups if g.get("interval")), default=default)


def _record(
    bt: VictoriaBacktest,
    running: Sequence[VictoriaMetricsServer],
    what: str,
    names: Sequence[str],
    samples: int,
    start: int,
    end: int,
    t0: float,
) -> None:
    """Count ``samples`` more of ``what``, wait until every running node holds all written."""
    bt.names.update(names)
    bt.written += samples
    _wait_visible(running, sorted(bt.names), bt.written, bt.origin, bt.end, what)
    bt.phases.append(Phase(what, start, end, samples, time.monotonic() - t0))


def _segments(
    groups: list[dict[str, object]],
    first: int,
    start: int,
    end: int,
    step: int,
    topology: Topology,
    node_loss: NodeLoss | None,
) -> list[tuple[int, int]]:
    """The time ranges replayed one after the other: the whole range, or the two either side
    of a node loss (checked to be possible)."""
    if node_loss is None:
        return [(first, end)]
    if topology != "ha":
        raise ValueError("a node loss needs the replicated pair (topology 'ha')")
    if not start < node_loss.at < end or (node_loss.at - start) % step:
        raise ValueError(
            f"node loss at {node_loss.at} must be on the {step}s grid strictly inside ({start}, {end})"
        )
    held = [str(r["alert"]) for g in groups for r in g["rules"] if "alert" in r and r.get("for")]  # type: ignore[attr-defined]
    if held:
        # vmalert keeps an alert's pending state in memory; a second replay run starts it over.
        raise ValueError(f"alerts with `for` cannot span a node-loss split (vmalert replay state): {held}")
    return [(first, node_loss.at), (node_loss.at + step, end)]


def _start_topology(
    stack: ExitStack, workdir: Path, topology: Topology, vm_args: Sequence[str], start_timeout: float | None
) -> tuple[tuple[VictoriaMetricsServer, ...], tuple[str, str, str]]:
    """The storage nodes, and the URLs to import raw series at, to write recordings to and to
    read from: the node itself, or vmagent and vmauth in front of the replicated pair; each
    started within ``start_timeout`` seconds (None: its own)."""
    count = 2 if topology == "ha" else 1
    nodes = tuple(
        stack.enter_context(
            start_victoria_metrics(workdir / f"vm-{i}", extra_args=vm_args, start_timeout=start_timeout)
        )
        for i in range(count)
    )
    if topology != "ha":
        return nodes, (nodes[0].import_url, nodes[0].url, nodes[0].url)
    writes = [n.write_url for n in nodes]
    agent = stack.enter_context(
        start_vmagent(workdir / "vmagent", remote_write=writes, start_timeout=start_timeout)
    )
    reads = [n.url for n in nodes]
    auth = stack.enter_context(start_vmauth(workdir / "vmauth", backends=reads, start_timeout=start_timeout))
    return nodes, (agent.import_url, agent.url, auth.url)


def _replay_level(
    bt: VictoriaBacktest,
    running: list[VictoriaMetricsServer],
    workdir: Path,
    i: int,
    level: list[dict[str, object]],
    lo: int,
    hi: int,
    urls: tuple[str, str],
) -> None:
    """Replay the rules of level ``i`` over ``[lo, hi]`` with vmalert, reading from and writing
    to ``urls``, and wait until every running node holds what it wrote."""
    t0 = time.monotonic()
    path = workdir / f"level{i}.yml"
    path.write_text(yaml.safe_dump({"groups": level}, sort_keys=False))
    n = replay_vmalert(
        workdir,
        rules=path,
        datasource=urls[0],
        remote_write=urls[1],
        start=lo,
        end=hi,
        max_points=(hi - lo) // _interval(level, bt.step) + 1,
        extra_args=("-replay.rulesDelay=0s",),
    )
    _record(bt, running, f"level {i}", _names(level), n, lo, hi, t0)


@contextmanager
def replay_victoria(
    rules: RuleSet,
    series: Sequence[Sample],
    workdir: Path,
    *,
    start: int,
    end: int,
    step: int = 60,
    warmup_start: int | None = None,
    topology: Topology = "single",
    node_loss: NodeLoss | None = None,
    live_rules: str | None = None,
    progress: Progress = silent,
    start_timeout: float | None = None,
) -> Iterator[VictoriaBacktest]:
    """Write ``series`` and replay ``rules`` over ``[start, end]`` on VictoriaMetrics with
    vmalert; yields the running set-up, stopped on exit. Recordings that read only raw series
    start at ``warmup_start`` (long windows see a full history, as in the Prometheus backtest).
    With ``live_rules`` (a rule file), a vmalert then evaluates those rules live at their
    groups' intervals against the same storage (``bt.live``; cost measurements). ``progress``
    hears ``replay`` steps: per segment, the raw series imported, then each rule level.
    ``start_timeout``: the most seconds each server start may take to be ready (None: its own)."""
    if topology not in TOPOLOGIES:
        raise ValueError(f"unknown topology {topology!r}; expected one of {', '.join(TOPOLOGIES)}")
    if warmup_start is not None and warmup_start > start:
        raise ValueError(f"warm-up start {warmup_start} is after the start {start}")
    groups = rule_groups(rules.text)
    levels = split_levels(groups)
    first = start if warmup_start is None else warmup_start
    if (start - first) % step:
        raise ValueError(f"warm-up start {first} is not on the {step}s grid of start {start}")
    segments = _segments(groups, first, start, end, step, topology, node_loss)
    points = (end - first) // _interval(groups, step) + 1
    vm_args = (f"-search.maxPointsPerTimeseries={max(30_000, points + 1)}",)
    raw_names = sorted({x.metric for x in series})
    origin = min([first, *(x.time for x in series)])
    with ExitStack() as stack:
        nodes, (import_url, write_url, read_url) = _start_topology(
            stack, workdir, topology, vm_args, start_timeout
        )
        bt = VictoriaBacktest(read_url, rules, start, end, step, topology, nodes, origin=origin)
        running = list(nodes)
        steps = len(segments) * (len(levels) + 1)
        progress("replay", 0, steps)
        for k, (a, b) in enumerate(segments):
            if k == 1:
                running = _stop_first_node(bt, nodes, a, b)
            batch = [x for x in series if a <= x.time <= b or (k == 0 and x.time < a)]
            _import_raw(bt, running, import_url, batch, raw_names, a, b)
            progress("replay", k * (len(levels) + 1) + 1, steps)
            for i, level in enumerate(levels):
                lo = max(a, first if i == 0 else start)
                if level and lo <= b:
                    _replay_level(bt, running, workdir, i, level, lo, b, (read_url, write_url))
                progress("replay", k * (len(levels) + 1) + i + 2, steps)
        if live_rules is not None:
            live = _start_live(workdir, live_rules, (read_url, write_url), step, start_timeout)
            bt.live = stack.enter_context(live)
        yield bt


def _stop_first_node(
    bt: VictoriaBacktest, nodes: tuple[VictoriaMetricsServer, ...], a: int, b: int
) -> list[VictoriaMetricsServer]:
    """Node loss between two segments: stop node 0, keeping the reads each node had served."""
    t0 = time.monotonic()
    reads = tuple(n.requests_served("/api/v1/query_range") for n in nodes)
    nodes[0].stop()
    bt.phases.append(Phase("node 0 stopped", a, b, 0, time.monotonic() - t0, reads))
    return [n for n in nodes if n.running]


def _import_raw(
    bt: VictoriaBacktest,
    running: list[VictoriaMetricsServer],
    import_url: str,
    batch: Sequence[Sample],
    raw_names: Sequence[str],
    a: int,
    b: int,
) -> None:
    """Import the raw samples of a segment, and wait until every running node holds them."""
    t0 = time.monotonic()
    for i in range(0, len(batch), _BATCH):
        post_import(import_url, import_text(batch[i : i + _BATCH]))
    _record(bt, running, "raw series", raw_names, len(batch), a, b, t0)


def _start_live(
    workdir: Path, live_rules: str, urls: tuple[str, str], step: int, start_timeout: float | None
) -> VmalertServer:
    """A vmalert evaluating ``live_rules`` at their groups' intervals (cost measurements), reading
    from and writing to ``urls``."""
    path = workdir / "live.yml"
    path.write_text(live_rules)
    return start_vmalert(
        workdir / "vmalert-live",
        rules=[path],
        datasource=urls[0],
        remote_write=urls[1],
        evaluation_interval=_interval(rule_groups(live_rules), step),
        start_timeout=start_timeout,
    )
