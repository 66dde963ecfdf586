"""Replay rule files over series with the real Prometheus engine.

1. The scenario counters are written as OpenMetrics (timestamps in seconds, ``# EOF``) and
   backfilled with ``promtool tsdb create-blocks-from openmetrics``.
2. A throwaway Prometheus serves them; recording rules are backfilled with ``promtool tsdb
   create-blocks-from rules`` one dependency level at a time (promtool evaluates a rule with a
   range query against the running server, so a rule that reads another recording needs that
   recording already in the server): after each level Prometheus restarts on the same data
   directory with ``--storage.tsdb.allow-overlapping-blocks``.
3. Alert expressions are evaluated by the same server as range queries at the group's
   interval; ``for`` is applied to the resulting per-evaluation truth values, the way the rule
   manager does (pending from the first true evaluation, firing once ``for`` has elapsed).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

import yaml

from sloctl.durations import parse_duration
from sloctl.egress import Egress
from sloctl.progress import Progress, silent
from sloctl.prometheus import Prometheus, Result, ResultType
from sloctl.promtool import find_promtool, promtool_env
from sloctl.render.levels import rule_levels
from sloctl.render.promql import selector
from sloctl.servers.prometheus import PrometheusServer, start_prometheus
from sloctl.shelf import PrometheusEngine, default_engine

__all__ = [
    "AlertSeries",
    "Backtest",
    "Replayed",
    "RuleSet",
    "backfill_openmetrics",
    "evaluate_pinned",
    "query",
    "query_range",
    "recording_levels",
    "replay",
    "rule_groups",
    "split_levels",
    "value_at",
]

TIMEOUT = 600  # seconds for one promtool run: a bound, not an expectation

#: promtool's backfill with Go's garbage collector held off until its heap reaches 256 MiB:
#: each rule's range query answer and block are garbage once written, and collecting them as
#: they go was most of promtool's CPU (docs/benchmarks.md, "Backtest of several SLOs"). The
#: caller's own ``GOGC``/``GOMEMLIMIT`` win (:func:`sloctl.promtool.promtool_env`).
_BACKFILL_GO = {"GOGC": "off", "GOMEMLIMIT": "256MiB"}


@dataclass(frozen=True)
class AlertSeries:
    """One alert rule's output series: its labels (rule labels merged) and firing times."""

    alert: str
    labels: Mapping[str, str]
    active: tuple[float, ...]
    """Evaluation times (Unix seconds) at which the expression returned this series."""
    firing: tuple[float, ...]
    """Evaluation times at which the alert was firing (``for`` applied)."""


@dataclass(frozen=True)
class RuleSet:
    name: str
    text: str
    """A Prometheus rule file."""


#: The replay's own Prometheus is on loopback, and a ``*_proxy`` variable must not send its
#: queries elsewhere.
_LOCAL = Egress(action="query the replay's Prometheus at")


def _local(base: str) -> Prometheus:
    # Plain HTTP on loopback: no certificate store to load for each query's client.
    return Prometheus(base, egress=_LOCAL, timeout=120, verify=False, flag="the replay's URL")


def query_range(base: str, expr: str, start: float, end: float, step: int) -> Result:
    """A range query on the replay's own Prometheus at ``base`` (:mod:`sloctl.prometheus`)."""
    with _local(base) as prom:
        return prom.query_range(expr, start, end, step)


def query(
    base: str,
    expr: str,
    time: int | None = None,
    result_type: ResultType = "vector",
    *,
    extra: Mapping[str, str] | None = None,
) -> Result:
    """An instant query on the replay's own Prometheus at ``base`` (:mod:`sloctl.prometheus`)."""
    with _local(base) as prom:
        return prom.query(expr, time, result_type, extra=extra)


def backfill_openmetrics(
    text: str, workdir: Path, data_dir: Path, *, promtool: str | None = None, span: int | None = None
) -> None:
    """Write OpenMetrics ``text`` as TSDB blocks into ``data_dir`` (``promtool tsdb
    create-blocks-from openmetrics``, the default engine's promtool unless one is given). With
    ``span``, the seconds the samples cover, blocks may be up to three times as long, as the
    recordings' are: one or two blocks where promtool writes one per 2 hours by default."""
    src = workdir / "series.om"
    src.write_text(text)
    blocks = () if span is None else (f"--max-block-duration={3 * span}s",)
    subprocess.run(
        [
            promtool or find_promtool(),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            *blocks,
            str(src),
            str(data_dir),
        ],
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
        env=promtool_env(workdir, **_BACKFILL_GO),
    )
    src.unlink()


#: The reader of rule files sloctl wrote itself: libyaml's safe reader where PyYAML has it, ten
#: times the pure-Python one (0.02 s against 0.21 s for slos/' 240 KB of rules).
_RULES_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def rule_groups(text: str) -> list[dict[str, object]]:
    """The groups of every document of the rule file ``text``."""
    groups: list[dict[str, object]] = []
    for doc in yaml.load_all(text, Loader=_RULES_LOADER):
        if doc and isinstance(doc, dict):
            groups.extend(doc.get("groups", []))
    return groups


def split_levels(
    groups: Sequence[Mapping[str, object]], *, kinds: tuple[str, ...] = ("record", "alert")
) -> list[list[dict[str, object]]]:
    """The rules of ``kinds`` per dependency level (``sloctl.render.levels``, across groups),
    each level as groups that keep their name and interval."""
    rules = [(g, r) for g in groups for r in g.get("rules", [])]  # type: ignore[attr-defined]
    levels = rule_levels([r for _g, r in rules])
    out: list[dict[str, dict[str, object]]] = [{} for _ in range(max(levels, default=-1) + 1)]
    for (g, r), level in zip(rules, levels, strict=True):
        if not any(k in r for k in kinds):
            continue
        group = out[level].setdefault(
            str(g["name"]), {k: v for k, v in g.items() if k in ("name", "interval")} | {"rules": []}
        )
        group["rules"].append(dict(r))  # type: ignore[attr-defined]
    return [list(by_name.values()) for by_name in out if by_name]


def recording_levels(groups: Sequence[Mapping[str, object]]) -> list[list[dict[str, object]]]:
    """Recording rules per dependency level, each as groups that keep their interval."""
    return split_levels(groups, kinds=("record",))


def _full_group(text: str, group: Mapping[str, object]) -> Mapping[str, object]:
    """The group of the rule file that a level's (partial) ``group`` comes from."""
    return next(g for g in rule_groups(text) if g.get("name") == group.get("name"))


def _apply_for(times: Sequence[float], step: int, hold: int) -> tuple[float, ...]:
    firing: list[float] = []
    since: float | None = None
    prev: float | None = None
    for t in times:
        if prev is None or t - prev > step * 1.5:
            since = t
        prev = t
        assert since is not None
        if t - since >= hold:
            firing.append(t)
    return tuple(firing)


class Replayed(Protocol):
    """A replayed rule set that answers queries over its time range (Prometheus or VictoriaMetrics)."""

    @property
    def step(self) -> int: ...

    def query(self, expr: str, time: int | None = None) -> list[dict[str, object]]: ...

    def range(self, expr: str) -> list[dict[str, object]]: ...


def value_at(bt: Replayed, expr: str, t: int) -> float:
    """The first series' value of the instant query ``expr`` at ``t``; NaN when it has none."""
    res = bt.query(expr, t)
    if not res:
        return math.nan
    value = res[0]["value"]
    assert isinstance(value, list)
    return float(value[1])


@dataclass
class Backtest:
    """A throwaway Prometheus holding backfilled series and recordings of one rule set."""

    server: PrometheusServer
    rules: RuleSet
    start: int
    end: int
    step: int

    @property
    def url(self) -> str:
        return self.server.url

    def query(self, expr: str, time: int | None = None) -> list[dict[str, object]]:
        return query(self.url, expr, self.end if time is None else time)

    def range(self, expr: str) -> list[dict[str, object]]:
        return query_range(self.url, expr, self.start, self.end, self.step)

    def group_offset(self, group: Mapping[str, object], interval: int) -> float:
        """Seconds after ``start`` of the group's first evaluation: like the rule manager,
        promtool evaluates a group at a hash-dependent offset within its interval."""
        return _group_offset(self.url, group, interval, self.start)

    def alerts(self) -> list[AlertSeries]:
        """Every alert's series, evaluated at its group's evaluation times (``for`` applied)."""
        out: list[AlertSeries] = []
        for g in rule_groups(self.rules.text):
            interval = parse_duration(str(g.get("interval", f"{self.step}s")))
            offset = self.group_offset(g, interval)
            for r in g.get("rules", []):  # type: ignore[attr-defined]
                if "alert" not in r:
                    continue
                hold = parse_duration(str(r["for"])) if r.get("for") else 0
                rule_labels = {str(k): str(v) for k, v in (r.get("labels") or {}).items()}
                for series in query_range(self.url, str(r["expr"]), self.start + offset, self.end, interval):
                    metric = series["metric"]
                    values = series["values"]
                    assert isinstance(metric, dict) and isinstance(values, list)
                    times = tuple(float(t) for t, _v in values)
                    labels = {**metric, **rule_labels, "alertname": str(r["alert"])}
                    out.append(AlertSeries(str(r["alert"]), labels, times, _apply_for(times, interval, hold)))
        return out


def _group_offset(url: str, group: Mapping[str, object], interval: int, start: int) -> float:
    rule = next((r for r in group.get("rules", []) if "record" in r), None)  # type: ignore[attr-defined]
    if rule is None:
        return 0.0
    # The record's own labels pick this group's series: other groups record the same names
    # at other offsets, and their offset would evaluate this group's alerts between two of
    # its recordings (one evaluation late).
    labels = {str(k): str(v) for k, v in sorted((rule.get("labels") or {}).items())}
    res = query(
        url, f"{selector(str(rule['record']), labels)}[{interval * 3}s]", start + interval * 4, "matrix"
    )
    if not res:
        return 0.0
    values = res[0]["values"]
    assert isinstance(values, list)
    # Sample timestamps are milliseconds: round, or a float start lands a hair before them.
    return round((float(values[-1][0]) - start) % interval, 3)


def _pinned(rule: Mapping[str, object]) -> bool:
    """A rule that pins a time with ``@ end()``: a range query (promtool's backfill) resolves
    ``end()`` to the end of the whole range, a rule evaluation to the evaluation time."""
    return "@ end()" in str(rule.get("expr", ""))


#: A selector that a rule pins to its evaluation time, as ``sloctl.render.rules`` writes it:
#: ``name{label="value", …} @ end()``.
_PINNED_SELECTOR = re.compile(r'[A-Za-z_:][A-Za-z0-9_:]*(?:\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*\})? @ end\(\)')


def _pinned_runs(prom: Prometheus, expr: str, times: Sequence[float], interval: int) -> list[range]:
    """``times`` (a group's evaluation times, ``interval`` apart) cut into runs over which every
    selector that ``expr`` pins with ``@ end()`` answers the same samples. A range query over
    one run resolves ``end()`` to the run's last time, where the pinned selectors answer what
    they answer at each of its times: at every step it computes what an instant query at that
    step computes. One run per time when a pin is not a plain selector."""
    pins = _PINNED_SELECTOR.findall(expr)
    if len(pins) != expr.count("@ end()"):
        return [range(k, k + 1) for k in range(len(times))]
    index = {round(t * 1000): k for k, t in enumerate(times)}
    seen: list[list[tuple[str, str, str]]] = [[] for _ in times]
    for pin in sorted(set(pins)):
        for series in prom.query_range(pin.removesuffix(" @ end()"), times[0], times[-1], interval):
            key = json.dumps(series["metric"], sort_keys=True)
            for t, v in series["values"]:
                seen[index[round(float(t) * 1000)]].append((pin, key, str(v)))
    runs: list[range] = []
    first = 0
    for k in range(1, len(times) + 1):
        if k == len(times) or sorted(seen[k]) != sorted(seen[first]):
            runs.append(range(first, k))
            first = k
    return runs


def _evaluate_run(
    prom: Prometheus, expr: str, times: Sequence[float], interval: int, run: range
) -> list[Result]:
    """The samples of ``expr`` at each time of ``run`` (:func:`_pinned_runs`), as instant queries
    at those times would answer them: one range query (one instant query for a run of one)."""
    if len(run) == 1:
        return [prom.query(expr, times[run.start])]
    at: list[Result] = [Result() for _ in run]
    for series in prom.query_range(expr, times[run.start], times[run[-1]], interval):
        for t, v in series["values"]:
            k = round((float(t) - times[run.start]) / interval)
            at[k].append({"metric": series["metric"], "value": [t, v]})
    return at


def evaluate_pinned(
    url: str,
    group: Mapping[str, object],
    rules: Sequence[Mapping[str, object]],
    start: int,
    end: int,
    step: int,
) -> str:
    """Evaluate ``rules`` of ``group`` at each of the group's evaluation times, as the rule
    manager would; the samples as OpenMetrics (timestamps in seconds), in time order. Each rule
    is queried once per run of times over which its pinned selectors hold still
    (:func:`_pinned_runs`: a period's start moves at its boundary, a partial hour's start every
    hour), the runs :data:`_PINNED_PARALLEL` at a time on one client."""
    interval = parse_duration(str(group.get("interval", f"{step}s")))
    first = start + _group_offset(url, group, interval, start)
    times = [first + k * interval for k in range(int((end - first) // interval) + 1)]
    lines: list[str] = []
    with _local(url) as prom, ThreadPoolExecutor(max_workers=_PINNED_PARALLEL) as pool:
        for r in rules:
            name = str(r["record"])
            lines.append(f"# TYPE {name} gauge")
            fixed = {str(k): str(v) for k, v in (r.get("labels") or {}).items()}  # type: ignore[attr-defined]
            expr = str(r["expr"])
            runs = _pinned_runs(prom, expr, times, interval)
            answers = pool.map(partial(_evaluate_run, prom, expr, times, interval), runs)
            for t, result in zip(times, (at for run in answers for at in run), strict=True):
                for sample in result:
                    metric = sample["metric"]
                    value = sample["value"]
                    assert isinstance(metric, dict) and isinstance(value, list)
                    labels = {str(k): str(v) for k, v in metric.items() if k != "__name__"} | fixed
                    text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
                    lines.append(f"{name}{{{text}}} {value[1]} {t:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


#: Queries of a pinned rule in flight at once: each is a few milliseconds of the server's time
#: and as many of ours, so a few at once keep both cores busy (the Paris DST backtest's 5,760
#: instant queries: 66 s one at a time, each on a new client; 30-38 s four at a time on one;
#: since the runs, a hundred-odd range queries).
_PINNED_PARALLEL = 4
_CONFIG = "global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nscrape_configs: []\n"
#: The final server's rule evaluation interval by default (``live_interval``), as ``_CONFIG`` says.
LIVE_INTERVAL_SECONDS = 60
_LOOKBACK = ("--query.lookback-delta=5m",)
_OVERLAP_2X = ("--storage.tsdb.allow-overlapping-blocks",)


#: How often the final server scrapes ``live_targets``: well under the rules' 1m, so that the
#: first live evaluations read live samples (a quarter of a shorter ``live_interval``).
LIVE_SCRAPE_SECONDS = 15


def _live_scrape(targets: Sequence[str], interval: int) -> str:
    """A scrape job whose samples join the backfilled series: the labels and timestamps that the
    targets expose, without the ``job`` and ``instance`` a scrape adds; scraped a quarter of
    the rules' ``interval`` at the most."""
    every = max(1, min(LIVE_SCRAPE_SECONDS, interval // 4))
    return (
        "scrape_configs:\n"
        "  - job_name: live\n"
        "    honor_labels: true\n"
        "    honor_timestamps: true\n"
        f"    scrape_interval: {every}s\n"
        f"    scrape_timeout: {min(every, 10)}s\n"
        f"    static_configs: [{{targets: [{', '.join(json.dumps(t) for t in targets)}]}}]\n"
        "    metric_relabel_configs: [{action: labeldrop, regex: job|instance}]\n"
    )


def _backfill_level(
    url: str,
    rules: RuleSet,
    groups: list[dict[str, object]],
    out: Path,
    promtool: str,
    first: int,
    end: int,
    step: int,
) -> Path:
    """Blocks in ``out`` of one level's recordings over ``[first, end]``, evaluated by promtool
    against the Prometheus at ``url`` (pinned rules by :func:`evaluate_pinned`)."""
    workdir = out.parent  # promtool runs there, on the rule file it holds
    out.mkdir(exist_ok=True)
    # One path for every level: promtool offsets a group's evaluations by a hash of its
    # name and file, and every level must be evaluated at the same instants.
    rule_file = workdir / "backfill.yml"
    batch = [g | {"rules": [r for r in g["rules"] if not _pinned(r)]} for g in groups]  # type: ignore[attr-defined]
    batch = [g for g in batch if g["rules"]]
    if batch:
        rule_file.write_text(yaml.safe_dump({"groups": batch}, sort_keys=False))
        # promtool writes one block per rule and block range (2h by default), and the
        # server merges every overlapping block on each query: blocks at least as long
        # as the replay (promtool picks the largest 2h × 3^k under the flag) make it one
        # or two per rule. The demo of slos/ starts 4 to 5.5x sooner (docs/benchmarks.md).
        blocks = f"--max-block-duration={3 * (end - first)}s"
        subprocess.run(
            [
                promtool, "tsdb", "create-blocks-from", "rules",
                f"--start={first}", f"--end={end}", f"--url={url}",
                f"--output-dir={out}", f"--eval-interval={step}s", blocks, "--quiet", rule_file.name,
            ],
            cwd=workdir,
            check=True,
            capture_output=True,
            timeout=TIMEOUT,
            env=promtool_env(workdir, **_BACKFILL_GO),
        )  # fmt: skip
    for g in groups:
        pinned = [r for r in g["rules"] if _pinned(r)]  # type: ignore[attr-defined]
        if pinned:
            text = evaluate_pinned(url, _full_group(rules.text, g), pinned, first, end, step)
            backfill_openmetrics(text, workdir, out, promtool=promtool, span=end - first)
    return out


def _final_config(workdir: Path, live_rules: str | None, live_targets: Sequence[str], interval: int) -> str:
    """The final server's configuration: ``live_rules`` (written beside it) evaluated every
    ``interval`` seconds, ``live_targets`` scraped."""
    config = _CONFIG.replace("evaluation_interval: 1m", f"evaluation_interval: {interval}s")
    if live_targets:
        config = config.replace("scrape_configs: []\n", _live_scrape(live_targets, interval))
    if live_rules is not None:
        (workdir / "live.yml").write_text(live_rules)
        config += "rule_files: [live.yml]\n"
    return config


# Long but flat: the backfill's steps in their order, a Prometheus started for each rule level.
@contextmanager
def replay(
    rules: RuleSet,
    series_text: str,
    workdir: Path,
    *,
    start: int,
    end: int,
    step: int = 60,
    warmup_start: int | None = None,
    live_rules: str | None = None,
    engine: PrometheusEngine | None = None,
    live_targets: Sequence[str] = (),
    live_interval: int = LIVE_INTERVAL_SECONDS,
    progress: Progress = silent,
    start_timeout: float | None = None,
) -> Iterator[Backtest]:
    """Backfill ``series_text`` (OpenMetrics) and the recordings of ``rules`` over
    ``[start, end]``; yields a running Prometheus holding both. Stopped on exit.

    Recordings that read only raw series (the first level) start at ``warmup_start``, so that
    long windows evaluated from ``start`` on see a full history, as they would in production.
    With ``live_rules`` (a rule file), the final server also evaluates those rules live, at
    the intervals of their groups (cost measurements). ``engine`` picks the Prometheus (promtool
    and server); the default engine otherwise. ``live_targets`` (``HOST:PORT``) are scraped by
    the final server, their samples' labels and timestamps kept as they are (no ``job`` nor
    ``instance``): series that go on live after the backfilled ones (``serve --demo``).
    ``live_interval`` is the final server's evaluation interval in seconds (a group without
    its own): a test of the live evaluations waits on it (Prometheus writes ``ALERTS`` from a
    group's third evaluation on, once it has restored its alerts' state). ``progress`` hears
    ``replay`` steps: the raw series, then each rule level, backfilled. ``start_timeout``: the
    most seconds each start of Prometheus may take to be ready (None: its own)."""
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    engine = engine or default_engine()
    promtool, binary = str(engine.promtool), engine.prometheus
    # Prometheus 3 always accepts overlapping blocks and no longer knows the flag.
    overlap = (*_LOOKBACK, *(_OVERLAP_2X if engine.major < 3 else ()))
    earliest = start if warmup_start is None else min(start, warmup_start)
    levels = recording_levels(rule_groups(rules.text))
    progress("replay", 0, len(levels) + 1)
    backfill_openmetrics(series_text, workdir, data, promtool=promtool, span=end - earliest)
    progress("replay", 1, len(levels) + 1)
    run = partial(start_prometheus, workdir, data_dir=data, extra_args=overlap, binary=binary)
    server = run(config_text=_CONFIG, start_timeout=start_timeout)
    try:
        for i, groups in enumerate(levels):
            first = warmup_start if i == 0 and warmup_start is not None else start
            out = _backfill_level(
                server.url, rules, groups, workdir / f"level{i}-blocks", promtool, first, end, step
            )
            server.stop()
            for block in out.iterdir():
                if block.is_dir():
                    shutil.move(str(block), data / block.name)
            last = i == len(levels) - 1
            config = _final_config(workdir, live_rules, live_targets, live_interval) if last else _CONFIG
            server = run(config_text=config, start_timeout=start_timeout)
            progress("replay", i + 2, len(levels) + 1)
        yield Backtest(server, rules, start, end, step)
    finally:
        server.stop()
