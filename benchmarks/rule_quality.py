"""Rule-quality benchmark: our rules, the real Sloth's (v0.16.0 from the tool shelf) and
raw-window rules (Pyrra style: a rate over the raw series for every window and the period), on
the same SLO and the same series, all evaluated by a real Prometheus (2.42, 3.x) or by vmalert on
VictoriaMetrics (docs/benchmarks.md, "Rule quality").

    .venv/bin/python benchmarks/rule_quality.py [--series 1000] [--cost-hours 6] [--engine all]
        [--cost-interval 1] [--cost-evaluations 60] [--vmalert-concurrency 1]

(a) period error ratio against the ground truth under uneven traffic; (b) detection times per
scenario and tier; (c) evaluation cost measured by the engine itself with ``--series`` raw series
per SLO, each rule set evaluated live every ``--cost-interval`` seconds, two ways:

- *duration*, the wall time of one evaluation: on Prometheus,
  ``prometheus_rule_group_last_duration_seconds`` (median of several evaluations); on vmalert,
  each group's iteration time from ``vmalert_iteration_duration_seconds`` (``_sum``/``_count``
  between polls: one evaluation, median of several); with the samples the queries read
  (Prometheus' ``totalQueryableSamples`` of each rule's expression, query stats ``stats=all``;
  VictoriaMetrics' ``samplesScanned`` in its query trace);
- *CPU*, the engine's work per evaluation: the growth of utime + stime (``/proc/PID/stat``) of
  the engine's processes (Prometheus; VictoriaMetrics and vmalert) over ``--cost-evaluations``
  intervals, minus the same for an empty rule set on an identical stack (same series, history
  and window: ingestion, merges and self-monitoring are not charged to a rule set), divided by
  the evaluations counted.

Everything is printed, ratios included, in one run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sloctl import naming, shelf
from sloctl.backtest.engine import Backtest, RuleSet, replay, value_at
from sloctl.backtest.run import scenario_slo
from sloctl.backtest.scenarios import Counts, Incident, Scenario, counts, scenario
from sloctl.backtest.series import EPOCH, ERRORS, REQUESTS, Feed, openmetrics, samples
from sloctl.backtest.victoria import ENGINES as VICTORIA
from sloctl.backtest.victoria import VictoriaBacktest, VictoriaEngine, replay_victoria
from sloctl.durations import DAY, HOUR, format_duration, parse_duration
from sloctl.model import SLO, EventsSLI
from sloctl.render import promql
from sloctl.render.rules import RuleOptions, render_groups, render_rule_file
from sloctl.render.ruletests import designed_detection
from sloctl.render.yamlout import dump_yaml
from sloctl.spec import load_text
from tests.fixtures.specs import rate, shop_slo

SPEC = shop_slo(
    period="30d",
    errors=rate('http_requests_total{code=~"5.."}'),
    total=rate("http_requests_total"),
    extra="alerting:\n  name: ShopAvailabilityBudgetBurn\n  minEvents: 100",
)

UNEVEN = Scenario(
    "uneven_traffic",
    "two days; ten times the traffic from 14:00 to 15:00 with 5 % errors, 0.17 % otherwise",
    2 * DAY,
    (Incident(14 * HOUR, 15 * HOUR, 50.0), Incident(38 * HOUR, 39 * HOUR, 50.0)),
    shape="busy_hour",
    background_burn=1.7,
    warmup=0,
)
DETECTION = ("full_outage", "burn_14x", "burn_6x", "diurnal_incident")
INTERVAL = 60
"""Scrape and evaluation interval of the replays (the acceptance allows ours one of it more)."""
Engine = shelf.PrometheusEngine | VictoriaEngine


def ours(slos: Sequence[SLO]) -> RuleSet:
    return RuleSet("sloctl", render_rule_file(slos, ["bench"], "bench", RuleOptions(interval=INTERVAL)))


def sloth(slos: Sequence[SLO]) -> RuleSet:
    """What the real ``sloth generate`` (v0.16.0, the tool shelf's) writes for ``slos``, written
    as a Sloth ``prometheus/v1`` file per service (``--compat sloth`` writes the same rules,
    tests/engines/test_sloth_oracle.py proves it; here the real binary is the one measured)."""
    binary = shelf.require("sloth")
    texts = []
    with tempfile.TemporaryDirectory(prefix="sloctl-bench-sloth-") as tmp:
        for service, group in itertools.groupby(
            sorted(slos, key=lambda s: s.service), key=lambda s: s.service
        ):
            spec = {
                "version": "prometheus/v1",
                "service": service,
                "slos": [
                    {
                        "name": s.name,
                        "objective": s.objective,
                        "sli": {
                            "events": {"error_query": promql_events(s)[0], "total_query": promql_events(s)[1]}
                        },
                        "alerting": {"name": s.alerting.name},
                    }
                    for s in group
                ],
            }
            src, out = Path(tmp) / f"{service}.yaml", Path(tmp) / f"{service}.rules.yaml"
            src.write_text(yaml.safe_dump(spec, sort_keys=False))
            period = f"--default-slo-period={format_duration(slos[0].period)}"
            subprocess.run(
                [str(binary), "generate", "--no-log", "-i", str(src), "-o", str(out), period],
                check=True,
                capture_output=True,
                timeout=120,
            )
            texts.append(out.read_text())
    return RuleSet("sloth", "\n".join(texts))


def promql_events(slo: SLO) -> tuple[str, str]:
    """The SLO's error and total queries with Sloth's ``{{.window}}`` placeholder."""
    assert isinstance(slo.sli, EventsSLI), "the benchmark's SLOs are events SLOs"
    return slo.sli.error_query, slo.sli.total_query


def raw_window(slos: Sequence[SLO]) -> RuleSet:
    """Our groups, names and alerts, but every window ratio (and the period's) is
    ``errors rate[W] / total rate[W]`` over the raw series, as Pyrra generates them."""
    groups = render_groups(slos, RuleOptions(interval=60))
    by_group = {naming.rule_group(s.service, s.name): s for s in slos}
    for g in groups:
        slo = by_group[str(g["name"])]
        for r in g["rules"]:  # type: ignore[attr-defined]
            m = re.fullmatch(r"sloctl:sli_error:ratio_rate(\w+)", str(r.get("record", "")))
            if m and m.group(1) != "5m":
                w = parse_duration(m.group(1))
                rates = promql.event_rates(slo.sli, w)
                assert rates is not None, "the benchmark's SLO counts events"
                r["expr"] = f"({rates.errors})\n/\nclamp_min({rates.total}, 1e-12)"
    return RuleSet("raw-window", dump_yaml({"groups": groups}))


RULE_SETS: dict[str, Callable[[Sequence[SLO]], RuleSet]] = {
    "sloctl": ours,
    "sloth": sloth,
    "raw-window": raw_window,
}


def _id_label(name: str) -> str:
    return "sloth_id" if name == "sloth" else naming.LABEL_ID


def _period_expr(name: str, slo: SLO) -> str:
    w = format_duration(slo.period)
    if name == "sloth":
        return f'max(slo:sli_error:ratio_rate{w}{{sloth_id="{slo.id}"}})'
    return f'max(sloctl:sli_error:ratio_rate{w}{{{naming.LABEL_ID}="{slo.id}"}})'


def _tier(name: str, labels: dict[str, str]) -> str:
    return labels.get("sloth_severity", "?") if name == "sloth" else labels.get(naming.LABEL_TIER, "?")


@contextmanager
def _replay(
    engine: Engine,
    rules: RuleSet,
    feeds: Sequence[Feed],
    workdir: Path,
    *,
    start: int,
    end: int,
    warmup_start: int | None = None,
    live_rules: str | None = None,
) -> Iterator[Backtest | VictoriaBacktest]:
    """The backtest's replay of ``rules`` over ``feeds`` on ``engine``: promtool backfill into
    Prometheus, or vmalert's replay into VictoriaMetrics (the same series either way)."""
    if isinstance(engine, VictoriaEngine):
        with replay_victoria(
            rules, list(samples(feeds, start)), workdir, start=start, end=end, step=INTERVAL,
            warmup_start=warmup_start, topology=engine.topology, live_rules=live_rules,
        ) as vm:  # fmt: skip
            yield vm
        return
    with replay(
        rules, openmetrics(feeds, start), workdir, start=start, end=end, step=INTERVAL,
        warmup_start=warmup_start, live_rules=live_rules, engine=engine,
    ) as bt:  # fmt: skip
        yield bt


def quality(base: SLO, workdir: Path, engine: Engine) -> dict[str, dict[str, object]]:
    """(a) and (b) for every rule set, on the same series."""
    chosen = [UNEVEN, *(scenario(n) for n in DETECTION)]
    items: list[tuple[Scenario, SLO, Counts]] = [
        (s, scenario_slo(base, s), counts(s, base.error_budget)) for s in chosen
    ]
    feeds = [Feed(s, c) for s, _slo, c in items]
    end = EPOCH + max(s.duration for s in chosen)
    warm = EPOCH - max(s.warmup for s in chosen)
    out: dict[str, dict[str, object]] = {}
    for name, make in RULE_SETS.items():
        t0 = time.monotonic()
        rules = make([slo for _s, slo, _c in items])
        with _replay(engine, rules, feeds, workdir / name, start=EPOCH, end=end, warmup_start=warm) as bt:
            alerts = bt.alerts()
            period: dict[str, tuple[float, float]] = {}
            detection: dict[str, dict[str, float | None]] = {}
            for s, slo, c in items:
                period[s.name] = (value_at(bt, _period_expr(name, slo), EPOCH + s.duration), c.truth_ratio())
                if s.name == UNEVEN.name:
                    continue
                inc = s.incidents[0]
                per_tier: dict[str, float | None] = {}
                for a in alerts:
                    if a.labels.get(_id_label(name)) != slo.id:
                        continue
                    tier = _tier(name, dict(a.labels))
                    first = next((t - EPOCH - inc.start for t in a.firing if t - EPOCH >= inc.start), None)
                    prev = per_tier.get(tier)
                    if first is not None and (prev is None or first < prev):
                        per_tier[tier] = math.ceil(first)
                    else:
                        per_tier.setdefault(tier, prev)
                detection[s.name] = per_tier
        out[name] = {"period": period, "detection": detection, "seconds": time.monotonic() - t0}
    return out


_GROUP_METRIC = re.compile(
    r"(prometheus_rule_group_last_(?:duration_seconds|evaluation_samples))"
    r'\{rule_group="[^"]*;([^"]+)"\} (\S+)'
)


def _metrics(url: str) -> dict[str, dict[str, float]]:
    """``prometheus_rule_group_last_*`` gauges per group, from the server's own /metrics."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        m = _GROUP_METRIC.match(line)
        if m:
            out.setdefault(m.group(2), {})[m.group(1)] = float(m.group(3))
    return out


def _touched(url: str, expr: str, t: float) -> int:
    q = urllib.parse.urlencode({"query": expr, "time": t, "stats": "all"})
    with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=120) as resp:
        body = json.load(resp)
    return int(body["data"]["stats"]["samples"]["totalQueryableSamples"])


def _prometheus_cost(bt: Backtest, docs: Sequence[dict[str, object]], interval: int) -> dict[str, float]:
    """Group durations and samples touched as Prometheus reports them."""
    durations: list[float] = []
    output = 0.0
    deadline = time.monotonic() + 12 * interval
    seen = 0.0
    while time.monotonic() < deadline and len(durations) < 8:
        m = _metrics(bt.url)
        d = sum(g.get("prometheus_rule_group_last_duration_seconds", 0.0) for g in m.values())
        output = sum(g.get("prometheus_rule_group_last_evaluation_samples", 0.0) for g in m.values())
        if d > 0 and d != seen:
            durations.append(d)
            seen = d
        time.sleep(interval / 2)
    now = time.time()
    touched = sum(_touched(bt.url, expr, now) for expr in _exprs(docs))
    return {
        "duration_s": statistics.median(durations) if durations else math.nan,
        "evaluations": len(durations),
        "output_samples": output,
        "samples_touched": touched,
        **_rule_times(bt.url),
    }


_RAW = re.compile(rf"(?<![\w:])({re.escape(ERRORS)}|{re.escape(REQUESTS)})(?![\w:])")
"""A rule's query that names a raw series of the replay (not a recording of the rule set)."""


def _rule_times(url: str) -> dict[str, float]:
    """Each rule's last evaluation time (``evaluationTime`` in ``/api/v1/rules``, which
    Prometheus and vmalert both serve): how many rules, their sum, the median and the slowest
    one, and the same sum split between the rules whose query reads the raw series and the
    others — where a group's time goes."""
    with urllib.request.urlopen(f"{url}/api/v1/rules", timeout=30) as resp:
        body = json.load(resp)
    rules = [r for g in body["data"]["groups"] for r in g["rules"]]
    times = [float(r["evaluationTime"]) for r in rules]
    raw = [float(r["evaluationTime"]) for r in rules if _RAW.search(str(r.get("query", "")))]
    return {
        "rules": len(times),
        "rule_sum_s": sum(times),
        "rule_median_s": statistics.median(times) if times else math.nan,
        "rule_max_s": max(times, default=math.nan),
        "raw_rules": len(raw),
        "raw_rule_sum_s": sum(raw),
    }


_VM_ITERATION = re.compile(r'vmalert_iteration_duration_seconds_(sum|count)\{group="([^"]+)"[^}]*\} (\S+)')
_VM_OUTPUT = re.compile(r"vmalert_(?:recording|alerting)_rules_last_evaluation_samples\{[^}]*\} (\S+)")
_VM_SCANNED = re.compile(r"samplesScanned=(\d+)")


def _text(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as resp:
        return str(resp.read().decode())


def _vmalert_cost(bt: VictoriaBacktest, docs: Sequence[dict[str, object]], interval: int) -> dict[str, float]:
    """Per group, one evaluation's time is the growth of ``vmalert_iteration_duration_seconds_sum``
    between two polls over the growth of its ``_count`` (one evaluation, polled five times an
    interval); the groups' medians are summed, as Prometheus' group durations are. Samples:
    VictoriaMetrics' own ``samplesScanned`` of every rollup in the query trace (``trace=1``) of
    each rule's expression at one instant, with ``nocache=1`` (Prometheus' stats do not cache
    either)."""
    assert bt.live is not None, "the cost replay starts a live vmalert"
    per_group: dict[str, list[float]] = {}
    last: dict[str, dict[str, float]] = {}
    output = 0.0
    deadline = time.monotonic() + 12 * interval
    while time.monotonic() < deadline and (not per_group or min(map(len, per_group.values())) < 8):
        text = _text(bt.live.url)
        now: dict[str, dict[str, float]] = {}
        for m in _VM_ITERATION.finditer(text):
            now.setdefault(m.group(2), {})[m.group(1)] = float(m.group(3))
        output = sum(float(m.group(1)) for m in _VM_OUTPUT.finditer(text))
        for group, v in now.items():
            per_group.setdefault(group, [])
            before = last.get(group)
            if before is not None and v["count"] > before["count"]:
                per_group[group].append((v["sum"] - before["sum"]) / (v["count"] - before["count"]))
        last = now
        time.sleep(interval / 5)
    rules = _rule_times(bt.live.url)
    at = time.time()
    touched = sum(_scanned(bt.url, expr, at) for expr in _exprs(docs))
    complete = [v for v in per_group.values() if v]
    return {
        "duration_s": sum(statistics.median(v) for v in complete) if complete else math.nan,
        "evaluations": min(map(len, per_group.values())) if per_group else 0,
        "output_samples": output,
        "samples_touched": touched,
        **rules,
    }


def _scanned(url: str, expr: str, t: float) -> int:
    q = urllib.parse.urlencode({"query": expr, "time": t, "nocache": 1, "trace": 1})
    with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=120) as resp:
        body = json.load(resp)
    found = 0
    stack = [body["trace"]]
    while stack:
        node = stack.pop()
        found += sum(int(n) for n in _VM_SCANNED.findall(str(node.get("message", ""))))
        stack.extend(node.get("children") or [])
    return found


def _exprs(docs: Sequence[dict[str, object]]) -> Iterator[str]:
    for d in docs:
        for g in d["groups"]:  # type: ignore[attr-defined]
            for r in g["rules"]:
                yield str(r["expr"])


EMPTY = "empty"
"""The baseline rule set of the CPU figure: no rules, the same series, history and window."""


def empty(slos: Sequence[SLO]) -> RuleSet:
    return RuleSet(EMPTY, "groups: []\n")


_TICK = os.sysconf("SC_CLK_TCK")
"""utime and stime count clock ticks (100 a second here: 10 ms)."""
_CPU = "cpu_s."
"""Key prefix of a process' CPU seconds over the window in a cost result."""
_ITERATIONS = re.compile(
    r'(?:vmalert_iteration_total\{group="([^"]+)"[^}]*\}'
    r'|prometheus_rule_group_iterations_total\{rule_group="([^"]+)"\}) (\S+)'
)


def _cpu_seconds(pid: int) -> float:
    """CPU time of process ``pid``, every thread's, ended ones included: utime + stime of
    ``/proc/PID/stat`` (fields 14 and 15, after the command's parenthesis)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _iterations(url: str) -> dict[str, float]:
    """Evaluations so far per group, from the evaluator's own ``/metrics`` (vmalert or Prometheus)."""
    return {m.group(1) or m.group(2): float(m.group(3)) for m in _ITERATIONS.finditer(_text(url))}


def _processes(bt: Backtest | VictoriaBacktest) -> dict[str, int]:
    """The engine's processes whose CPU is charged: Prometheus, or the VictoriaMetrics node(s)
    and the live vmalert (the pair's vmagent and vmauth are not counted)."""
    if isinstance(bt, VictoriaBacktest):
        assert bt.live is not None, "the cost replay starts a live vmalert"
        nodes = {f"victoria-metrics{'' if len(bt.nodes) == 1 else i}": n.pid for i, n in enumerate(bt.nodes)}
        return {**nodes, "vmalert": bt.live.pid}
    return {"prometheus": bt.server.pid}


def _evaluator(bt: Backtest | VictoriaBacktest) -> str:
    if isinstance(bt, VictoriaBacktest):
        assert bt.live is not None, "the cost replay starts a live vmalert"
        return bt.live.url
    return bt.url


def _warm_up(url: str, interval: int) -> None:
    """Until every group has evaluated twice (the first evaluation restores alert state and
    opens connections), at most 20 intervals; a rule set without groups has nothing to wait for."""
    deadline = time.monotonic() + 20 * interval
    while time.monotonic() < deadline:
        seen = _iterations(url)
        if min(seen.values(), default=2) >= 2:
            return
        time.sleep(interval / 4)
    raise RuntimeError(f"the live groups at {url} did not evaluate twice in {20 * interval}s")


def _cpu_window(bt: Backtest | VictoriaBacktest, seconds: float) -> dict[str, float]:
    """CPU seconds of each engine process over ``seconds`` of live evaluation (``cpu_s.<process>``),
    and the evaluations counted over it (the least evaluated group's; 0 without groups)."""
    procs, url = _processes(bt), _evaluator(bt)
    n0, c0, t0 = _iterations(url), {k: _cpu_seconds(p) for k, p in procs.items()}, time.monotonic()
    time.sleep(seconds)  # the window itself: the same length for every rule set and the baseline
    n1, c1, t1 = _iterations(url), {k: _cpu_seconds(p) for k, p in procs.items()}, time.monotonic()
    counted = min((n1[g] - n0.get(g, 0.0) for g in n1), default=0.0)
    return {**{f"{_CPU}{k}": c1[k] - c0[k] for k in procs}, "cpu_evaluations": counted, "cpu_wall_s": t1 - t0}


def _net_cpu(c: dict[str, dict[str, float]]) -> None:
    """Each rule set's CPU per evaluation above the empty set's (``cpu_net_s``)."""
    base = c[EMPTY]
    for name, v in c.items():
        if name == EMPTY:
            continue
        above = sum(v[k] - base[k] for k in v if k.startswith(_CPU))
        v["cpu_above_s"] = above
        v["cpu_net_s"] = above / v["cpu_evaluations"] if v["cpu_evaluations"] else math.nan


@dataclass(frozen=True)
class Live:
    """How the cost part evaluates each rule set live."""

    interval: int = 1
    """Seconds between evaluations (every group's ``interval``)."""
    evaluations: int = 60
    """Intervals of the CPU window."""
    concurrency: int = 1
    """vmalert's group ``concurrency`` on every group (1: not written)."""

    def rules(self, docs: Sequence[dict[str, object]]) -> str:
        for d in docs:
            for g in d["groups"]:  # type: ignore[attr-defined]
                g["interval"] = f"{self.interval}s"
                if self.concurrency > 1:
                    g["concurrency"] = self.concurrency
        return "".join(yaml.safe_dump(d, sort_keys=False) for d in docs)


def cost(
    base: SLO, series: int, hours: int, workdir: Path, engine: Engine, live: Live = Live()
) -> dict[str, dict[str, float]]:
    """(c): live evaluation of each rule set, and of the empty one (the CPU figure's baseline),
    over ``series`` raw series and ``hours`` of history ending on the last whole minute before
    its replay (each rule set's recordings backfilled over it): the engine's CPU over
    ``live.evaluations`` intervals, then the group durations and samples read."""
    s = replace(scenario("burn_14x"), name="cost", series=series, warmup=0, duration=hours * HOUR)
    s = replace(s, incidents=(Incident(s.duration - 2 * HOUR, s.duration, 14.4 * 1.15),))
    slo = scenario_slo(base, s)
    feeds = [Feed(s, counts(s, base.error_budget))]
    out: dict[str, dict[str, float]] = {}
    for name, make in {EMPTY: empty, **RULE_SETS}.items():
        rules = make([slo])
        docs = [d for d in yaml.safe_load_all(rules.text) if d]
        text = live.rules(docs)
        end = int(time.time()) // 60 * 60  # every rule set's series as old when its window starts
        with _replay(
            engine, rules, feeds, workdir / f"cost-{name}", start=end - s.duration, end=end, live_rules=text
        ) as bt:
            _warm_up(_evaluator(bt), live.interval)
            out[name] = _cpu_window(bt, live.evaluations * live.interval)
            if name == EMPTY:
                continue
            if isinstance(bt, VictoriaBacktest):
                out[name] |= _vmalert_cost(bt, docs, live.interval)
            else:
                out[name] |= _prometheus_cost(bt, docs, live.interval)
    _net_cpu(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=1000, help="raw series per SLO for the cost part")
    ap.add_argument("--cost-hours", type=int, default=6, help="history for the cost part")
    ap.add_argument(
        "--cost-interval", type=int, default=1, help="seconds between live evaluations in the cost part"
    )
    ap.add_argument(
        "--cost-evaluations",
        type=int,
        default=60,
        help="intervals of the cost part's CPU window (the engine's CPU is read before and after)",
    )
    ap.add_argument(
        "--vmalert-concurrency",
        type=int,
        default=1,
        help="concurrency of every live vmalert group of every rule set in the cost part "
        "(vmalert's group field; 1, its default, evaluates a group's rules one after another)",
    )
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument(
        "--engine",
        choices=("default", *shelf.ENGINE_NAMES, *(e.name for e in VICTORIA), "all"),
        default="all",
        help="engine to replay and evaluate on: a Prometheus, or vmalert on VictoriaMetrics (one "
        "node, or the replicated pair); default: every Prometheus this machine has and "
        "VictoriaMetrics on one node",
    )
    args = ap.parse_args(argv)
    for flag in ("cost_interval", "cost_evaluations", "vmalert_concurrency"):
        if getattr(args, flag) < 1:
            ap.error(f"--{flag.replace('_', '-')} {getattr(args, flag)}: must be 1 or more")
    if args.vmalert_concurrency > 1 and args.engine not in {e.name for e in VICTORIA}:
        ap.error(
            "--vmalert-concurrency needs a VictoriaMetrics --engine (Prometheus' groups have no such field)"
        )
    (base,) = load_text(SPEC, "bench.yaml").slos
    names = [*shelf.ENGINE_NAMES, VICTORIA[0].name] if args.engine == "all" else [args.engine]
    engines: list[Engine] = []
    for name in names:
        try:
            engines.append(_engine(name))
        except shelf.ToolMissing as exc:
            if args.engine != "all":
                print(f"--engine {name}: {exc}", file=sys.stderr)
                return 2
            print(f"== {name}: not on this machine ({exc}); skipped")
    for engine in engines:
        print(f"== {_describe(engine)}")
        _bench(base, args, engine)
    return 0


def _engine(name: str) -> Engine:
    """The engine ``name`` names, its binaries found (ToolMissing otherwise)."""
    for e in VICTORIA:
        if e.name == name:
            pair = ("vmagent", "vmauth") if e.topology == "ha" else ()
            for binary in ("victoria-metrics", "vmalert", *pair):
                shelf.require(binary)
            return e
    return shelf.default_engine() if name == "default" else shelf.engine_named(name)


def _describe(engine: Engine) -> str:
    if isinstance(engine, VictoriaEngine):
        return f"{engine.name} (vmalert {shelf.require('vmalert')}, topology {engine.topology})"
    return f"{engine.name} ({engine.prometheus})"


def _bench(base: SLO, args: argparse.Namespace, engine: Engine) -> None:
    with tempfile.TemporaryDirectory(prefix="rule-quality-") as tmp:
        work = Path(tmp)
        if not args.skip_quality:
            q = quality(base, work, engine)
            _print_quality(base, q)
            _print_acceptance(base, q)
        live = Live(args.cost_interval, args.cost_evaluations, args.vmalert_concurrency)
        c = cost(base, args.series, args.cost_hours, work, engine, live)
        _print_cost(c, args, engine)
        _print_cpu(c, args, engine)


def _print_quality(base: SLO, q: dict[str, dict[str, object]]) -> None:
    print("(a) period error ratio vs ground truth (relative error)")
    for sc in [UNEVEN.name, *DETECTION]:
        cells = []
        truth = q["sloctl"]["period"][sc][1]  # type: ignore[index]
        for name in RULE_SETS:
            got = q[name]["period"][sc][0]  # type: ignore[index]
            cells.append(f"{name} {got:.6f} ({(got - truth) / truth:+.2%})")
        print(f"  {sc:18} truth {truth:.6f} | " + " | ".join(cells))
    print("(b) detection (seconds from incident start; designed for ours)")
    for sc in DETECTION:
        inc = scenario(sc).incidents[0]
        burn = 1 / base.error_budget if math.isinf(inc.burn) else inc.burn
        for tier in base.alerting.enabled_tiers:
            f = tier.window.burn_factor(base.period)
            designed = designed_detection(base, tier, burn, eval_step=60) if burn > f else None
            got = q["sloctl"]["detection"][sc].get(tier.name)  # type: ignore[index]
            raw = q["raw-window"]["detection"][sc].get(tier.name)  # type: ignore[index]
            sl = q["sloth"]["detection"][sc].get(tier.severity)  # type: ignore[index]
            print(
                f"  {sc:18} {tier.name:13} designed {designed!s:>6}  ours {got!s:>6}  "
                f"raw-window {raw!s:>6}  sloth({tier.severity}) {sl!s:>6}"
            )
    print("  replay seconds: " + ", ".join(f"{n} {q[n]['seconds']:.0f}" for n in RULE_SETS))


def _print_acceptance(base: SLO, q: dict[str, dict[str, object]]) -> None:
    # The acceptance figures: the first page of a full outage, and the worst period error.
    pages = {t.name for t in base.alerting.enabled_tiers if t.severity == "page"}
    first: dict[str, float | None] = {}
    for name in RULE_SETS:
        det = q[name]["detection"]["full_outage"]  # type: ignore[index]
        keys = {"page"} if name == "sloth" else pages
        times = [v for k, v in det.items() if k in keys and v is not None]
        first[name] = min(times) if times else None
    ours = first["sloctl"]
    print("(d) acceptance")
    for name in ("raw-window", "sloth"):
        theirs = first[name]
        ok = ours is not None and theirs is not None and ours <= theirs + INTERVAL
        print(
            f"  full outage, first page: ours {ours}s, {name} {theirs}s "
            f"(ours ≤ theirs + {INTERVAL}s: {'yes' if ok else 'NO'})"
        )
    period: dict[str, tuple[float, float]] = q["sloctl"]["period"]  # type: ignore[assignment]
    worst = max(abs(got - truth) / truth for got, truth in period.values())
    print(f"  worst period-ratio error of ours: {worst:.3%} (≤ 1 %: {'yes' if worst <= 0.01 else 'NO'})")


def _print_cost(c: dict[str, dict[str, float]], args: argparse.Namespace, engine: Engine) -> None:
    # Prometheus: totalQueryableSamples (stats=all); VictoriaMetrics: samplesScanned (trace=1).
    touched = "samples scanned" if isinstance(engine, VictoriaEngine) else "samples touched"
    print(
        f"(c) evaluation cost, {args.series} raw series, {args.cost_hours}h of history, live group every "
        f"{args.cost_interval}s"
        + (f", vmalert concurrency {args.vmalert_concurrency}" if args.vmalert_concurrency > 1 else "")
    )
    print("  duration: one evaluation's wall time as the engine reports it, summed over the groups")
    for name, v in c.items():
        if name == EMPTY:
            continue
        print(
            f"  {name:10} duration {v['duration_s'] * 1000:8.2f} ms (median of {v['evaluations']:.0f})  "
            f"{touched} {v['samples_touched']:>12,.0f}  output samples {v['output_samples']:.0f}"
        )
        print(
            f"  {'':10} {v['rules']:.0f} rules, each rule's last: sum {v['rule_sum_s'] * 1000:.2f} ms, "
            f"median {v['rule_median_s'] * 1000:.2f} ms, slowest {v['rule_max_s'] * 1000:.2f} ms"
        )
        others = v["rules"] - v["raw_rules"]
        print(
            f"  {'':10} the {v['raw_rules']:.0f} reading the raw series "
            f"{v['raw_rule_sum_s'] * 1000:.2f} ms, the other {others:.0f} "
            f"{(v['rule_sum_s'] - v['raw_rule_sum_s']) * 1000:.2f} ms"
        )
    o = c["sloctl"]
    for name in ("raw-window", "sloth"):
        print(
            f"  ours / {name}: duration {o['duration_s'] / c[name]['duration_s']:.3f}, "
            f"{touched} {o['samples_touched'] / c[name]['samples_touched']:.4f}"
        )
    ratio = o["duration_s"] / c["sloth"]["duration_s"]
    print(f"  cost ≤ 0.25 × Sloth's (duration): {'yes' if ratio <= 0.25 else 'NO'} ({ratio:.3f})")


_CHECK_TICKS = 10
"""The CPU sanity check: a rule set reading the raw windows must cost at least this many clock
ticks more than the empty set over the window."""


def _print_cpu(c: dict[str, dict[str, float]], args: argparse.Namespace, engine: Engine) -> None:
    window = args.cost_interval * args.cost_evaluations
    print(
        f"(c) engine CPU per evaluation: the growth of utime+stime (/proc/PID/stat, {1000 / _TICK:.0f} ms "
        f"ticks) of the engine's processes over {window}s of live evaluation, minus the same for the "
        f"empty rule set, divided by the evaluations counted (the least evaluated group's)"
    )
    e = c[EMPTY]
    procs = [k for k in e if k.startswith(_CPU)]
    print(
        f"  {EMPTY:10} "
        + ", ".join(f"{k[len(_CPU) :]} {e[k] * 1000:.0f} ms" for k in procs)
        + f" in {e['cpu_wall_s']:.1f}s"
    )
    for name in RULE_SETS:
        v = c[name]
        parts = ", ".join(f"{k[len(_CPU) :]} {v[k] * 1000:.0f} ms" for k in procs)
        print(
            f"  {name:10} {parts} in {v['cpu_wall_s']:.1f}s, {v['cpu_evaluations']:.0f} evaluations: "
            f"{v['cpu_net_s'] * 1000:.2f} ms per evaluation above the empty set"
        )
    o = c["sloctl"]
    for name in ("raw-window", "sloth"):
        print(f"  ours / {name}: CPU {o['cpu_net_s'] / c[name]['cpu_net_s']:.3f}")
    for name in ("raw-window", "sloth"):
        ticks = c[name]["cpu_above_s"] * _TICK
        verdict = "yes" if ticks >= _CHECK_TICKS else "NO"
        print(f"  check: {name} above the empty set by {ticks:.0f} ticks (≥ {_CHECK_TICKS}: {verdict})")
    ratio = o["cpu_net_s"] / c["sloth"]["cpu_net_s"]
    print(f"  cost ≤ 0.25 × Sloth's (CPU): {'yes' if ratio <= 0.25 else 'NO'} ({ratio:.3f})")


if __name__ == "__main__":
    sys.exit(main())
