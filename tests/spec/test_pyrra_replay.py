"""Pyrra specs against the truth: 24 seeded generated Pyrra objects (ratio, latency and boolean
gauge indicators, with and without grouping, every catalog window) are loaded, their rules
generated, and replayed by a real Prometheus over four hours of synthetic counters named as the
specs name them. For every SLO and every group, the period error ratio the rules record equals
the events-weighted truth (Σ errors / Σ events over the replay) within 1 %, and the page fires
for the group that had an outage and for no other group. Where the tool shelf has Pyrra (v0.9.5,
built from the Go module proxy), Pyrra's own rules for the same specs are replayed beside ours,
and its fast-burn (critical) alerts fire for exactly the same SLOs and groups.

Native-histogram latency (``latencyNative``) is left out here: ``promtool tsdb
create-blocks-from openmetrics`` cannot write native histograms; its queries are checked by
promtool in tests/spec/test_pyrra.py's fixtures and the upstream-examples script."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from sloctl import naming
from sloctl.backtest.engine import RuleSet, replay, rule_groups
from sloctl.backtest.run import our_rules
from sloctl.shelf import find
from sloctl.spec import load_text

pytestmark = [
    pytest.mark.promtool,
    pytest.mark.slow,
    pytest.mark.timeout(1800),  # 24 SLOs' rules (and Pyrra's) backfilled level by level
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="Prometheus is not installed"),
]

N_SPECS = int(os.environ.get("SLOCTL_RANDOM_SPECS", "24"))
"""Specs in the corpus (``SLOCTL_RANDOM_SPECS`` for more: 50 took 100 s)."""
SEED = 20261201
STEP = 60
T0 = 1767225600  # 2026-01-01T00:00Z
DURATION = 4 * 3600
START = T0 + 600  # recordings start once every 5m rate has a full window of samples
END = T0 + DURATION
WINDOWS = ["7d", "2w", "4w", "28d", "30d", "90d"]
TARGETS = ["99", "99.5", "99.9", "99.95"]
GROUPINGS: list[tuple[str, ...]] = [(), ("route",), ("route", "method")]
ROUTES = [("a", "GET"), ("b", "GET"), ("b", "POST")]
KINDS = ["ratio", "latency", "bool_gauge"]
OUTAGE = (90 * 60, 135 * 60)  # every event of the struck group fails: enough to page in every catalog


@dataclass
class Spec:
    name: str
    kind: str
    grouping: tuple[str, ...]
    budget: float
    text: str
    # per series (route, method): per-minute events and errors, from T0 + STEP on
    events: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    errors: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def group(self, series: tuple[str, str]) -> tuple[str, ...]:
        values = dict(zip(("route", "method"), series, strict=True))
        return tuple(values[g] for g in self.grouping)


def _yaml(name: str, kind: str, grouping: tuple[str, ...], target: str, window: str) -> str:
    sel = f'spec="{name}"'
    indicator = {
        "ratio": f'ratio:\n      errors:\n        metric: pyrra_requests_total{{{sel},code=~"5.."}}\n'
        f"      total:\n        metric: pyrra_requests_total{{{sel}}}",
        "latency": "latency:\n      success:\n"
        f'        metric: pyrra_latency_seconds_bucket{{{sel},le="0.3"}}\n'
        f"      total:\n        metric: pyrra_latency_seconds_count{{{sel}}}",
        "bool_gauge": f"bool_gauge:\n      metric: pyrra_up{{{sel}}}",
    }[kind]
    group = f"\n      grouping: [{', '.join(grouping)}]" if grouping else ""
    return (
        "apiVersion: pyrra.dev/v1alpha1\nkind: ServiceLevelObjective\n"
        f"metadata:\n  name: {name}\n  namespace: replay\n"
        f'spec:\n  target: "{target}"\n  window: {window}\n  indicator:\n    {indicator}{group}\n'
    )


def random_spec(rng: random.Random, i: int) -> Spec:
    name = f"s{i}"
    kind = KINDS[i % len(KINDS)]
    # The first specs cover every kind with every grouping, and every window; then at random.
    covering = i < len(KINDS) * len(GROUPINGS)
    grouping = GROUPINGS[i // len(KINDS)] if covering else GROUPINGS[rng.randrange(len(GROUPINGS))]
    target = rng.choice(TARGETS)
    window = WINDOWS[i] if i < len(WINDOWS) else rng.choice(WINDOWS)
    budget = (100 - float(target)) / 100
    spec = Spec(name, kind, grouping, budget, _yaml(name, kind, grouping, target, window))
    minutes = DURATION // STEP
    struck = spec.group(ROUTES[0])  # the group of the outage: every series in it fails
    for n, series in enumerate(ROUTES):
        hit = spec.group(series) == struck
        per_minute = 60.0 if kind == "bool_gauge" else rng.uniform(5, 50) * STEP
        # Healthy: a steady share of the budget; the group of the first series has a full outage,
        # and the last series of a ratio SLI outside it never fails (its 5xx counter never
        # appears).
        quiet = kind == "ratio" and n == len(ROUTES) - 1 and not hit
        background = 0.0 if quiet else rng.uniform(0.1, 0.8) * spec.budget
        events: list[float] = []
        errors: list[float] = []
        for m in range(1, minutes + 1):
            t = m * STEP
            if kind == "bool_gauge":
                # One scrape a minute; a 0 is a failed event: down in ~background of the minutes.
                down = (hit and OUTAGE[0] < t <= OUTAGE[1]) or rng.random() < background
                events.append(1.0)
                errors.append(1.0 if down else 0.0)
                continue
            ratio = 1.0 if hit and OUTAGE[0] < t <= OUTAGE[1] else background
            events.append(per_minute)
            errors.append(per_minute * ratio)
        spec.events[series] = events
        spec.errors[series] = errors
    return spec


def openmetrics(specs: list[Spec]) -> str:
    """Every spec's series, as the metrics its queries name (type unknown: any name goes)."""
    families: dict[str, list[str]] = defaultdict(list)
    for s in specs:
        for (route, method), events in s.events.items():
            errors = s.errors[(route, method)]
            base = f'spec="{s.name}",route="{route}",method="{method}"'
            if s.kind == "bool_gauge":
                for m, e in enumerate(errors, start=1):
                    families["pyrra_up"].append(f"pyrra_up{{{base}}} {0 if e else 1} {T0 + m * STEP}")
                continue
            good = total = bad = 0.0
            for m, (ev, er) in enumerate(zip(events, errors, strict=True), start=1):
                total += ev
                bad += er
                good += ev - er
                ts = T0 + m * STEP
                if s.kind == "ratio":
                    fam = families["pyrra_requests_total"]
                    fam.append(f'pyrra_requests_total{{{base},code="200"}} {total - bad:.6f} {ts}')
                    if any(errors):
                        fam.append(f'pyrra_requests_total{{{base},code="500"}} {bad:.6f} {ts}')
                else:
                    families["pyrra_latency_seconds_bucket"].append(
                        f'pyrra_latency_seconds_bucket{{{base},le="0.3"}} {good:.6f} {ts}'
                    )
                    families["pyrra_latency_seconds_count"].append(
                        f"pyrra_latency_seconds_count{{{base}}} {total:.6f} {ts}"
                    )
    lines: list[str] = []
    for name, samples in families.items():
        lines.append(f"# TYPE {name} unknown")
        lines.extend(sorted(samples, key=lambda x: (x.split(" ")[0], int(x.rsplit(" ", 1)[1]))))
    return "\n".join([*lines, "# EOF"]) + "\n"


def truth(spec: Spec) -> dict[tuple[str, ...], float]:
    """Σ errors / Σ events per group, each minute weighted as the recorded period ratio weighs
    it: the 5m rate evaluated every minute spans the four minutes between its window's first and
    last sample (a gauge's count_over_time the five samples), and the period ratio sums those
    rates, so a minute counts once per evaluation whose window holds it (fewer times at the edges
    of the replay)."""
    first, last = (START - T0) // STEP, (END - T0) // STEP
    # A boolean gauge's events are its samples: all five in the window count, not four increases.
    span = 4 if spec.kind == "bool_gauge" else 3
    weight = [
        sum(1 for e in range(first, last + 1) if e - span <= m <= e) for m in range(1, DURATION // STEP + 1)
    ]
    errors: dict[tuple[str, ...], float] = defaultdict(float)
    events: dict[tuple[str, ...], float] = defaultdict(float)
    for series, ev in spec.events.items():
        g = spec.group(series)
        events[g] += sum(w * x for w, x in zip(weight, ev, strict=True))
        errors[g] += sum(w * x for w, x in zip(weight, spec.errors[series], strict=True))
    return {g: errors[g] / events[g] for g in events}


@pytest.mark.cpu(35)
def test_generated_pyrra_specs_record_the_true_period_error_ratio_per_group_and_page_per_group(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    specs = [random_spec(rng, i) for i in range(N_SPECS)]
    result = load_text("---\n".join(s.text for s in specs), "pyrra.yaml")
    assert result.ok, [str(e) for e in result.errors]
    slos = {s.name: s for s in result.slos}
    # The corpus varies what it claims to vary.
    assert {(s.kind, s.grouping) for s in specs} == {(k, g) for k in KINDS for g in GROUPINGS}
    assert len({slo.period for slo in slos.values()}) >= 5
    compared = 0
    rules = our_rules(list(slos.values()))
    theirs = pyrra_rules(specs, tmp_path / "pyrra")  # Pyrra's own rules, replayed beside ours
    if theirs:
        rules = RuleSet("sloctl+pyrra", yaml.safe_dump({"groups": [*rule_groups(rules.text), *theirs]}))
    with replay(rules, openmetrics(specs), tmp_path / "replay", start=START, end=END, step=STEP) as bt:
        pages: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        pyrra_pages: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        for alert in bt.alerts():
            if not alert.firing:
                continue
            if alert.labels.get(naming.LABEL_TIER) == "page_quick":
                name = alert.labels[naming.LABEL_SLO]
                pages[name].add(tuple(alert.labels.get(g, "") for g in slos_grouping(specs, name)))
            elif alert.alert == "ErrorBudgetBurn" and alert.labels.get("severity") == "critical":
                name = alert.labels["slo"]
                pyrra_pages[name].add(tuple(alert.labels.get(g, "") for g in slos_grouping(specs, name)))
        if theirs:
            # Pyrra's own rules page for the same incidents: the struck group of every SLO.
            assert dict(pyrra_pages) == dict(pages)
        for spec in specs:
            slo = slos[spec.name]
            metric = naming.period_error_ratio(None, slo.period)
            got: dict[tuple[str, ...], float] = {}
            for r in bt.query(f'{metric}{{{naming.LABEL_ID}="{slo.id}"}}'):
                labels, value = r["metric"], r["value"]
                assert isinstance(labels, dict) and isinstance(value, list), r
                got[tuple(str(labels.get(g, "")) for g in spec.grouping)] = float(value[1])
            want = truth(spec)
            assert set(got) == set(want), (spec.name, got, want)
            for g, ratio in want.items():
                assert got[g] == pytest.approx(ratio, rel=0.01), (spec.name, spec.kind, g, got[g], ratio)
                compared += 1
            # The outage struck one group: it pages, and no other group does.
            outage_group = spec.group(ROUTES[0])
            assert pages[spec.name] == {outage_group}, (spec.name, spec.grouping, pages[spec.name])
    assert compared >= N_SPECS


def pyrra_rules(specs: list[Spec], folder: Path) -> list[dict[str, object]]:
    """The rule groups Pyrra's own ``pyrra generate`` writes for ``specs`` (the tool shelf's
    Pyrra v0.9.5), or none when it is not built here."""
    binary = find("pyrra")
    if binary is None:
        return []
    (folder / "in").mkdir(parents=True)
    (folder / "out").mkdir()
    for s in specs:
        (folder / "in" / f"{s.name}.yaml").write_text(s.text)
    subprocess.run(
        [
            str(binary),
            "generate",
            f"--config-files={folder / 'in'}/*.yaml",
            f"--prometheus-folder={folder / 'out'}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    # Pyrra's alerts read its burn-rate recordings; its increase groups (the period's
    # availability, over windows up to 90d) feed its UI only and are the costliest to replay.
    return [
        g
        for f in sorted((folder / "out").glob("*.yaml"))
        for g in rule_groups(f.read_text())
        if not str(g["name"]).endswith("-increase")
    ]


def slos_grouping(specs: list[Spec], name: str) -> tuple[str, ...]:
    return next(s.grouping for s in specs if s.name == name)
