"""The backtest on every engine this machine has, side by side (docs/compat.md, "VictoriaMetrics
and vmalert"): the same scenarios, the same counters and the same generated rules, replayed by
Prometheus 2.42 and 3.x (promtool backfill) and by vmalert on VictoriaMetrics, one node and a
replicated pair, and the pair again with its preferred node stopped when the incidents start.

    .venv/bin/python benchmarks/engines_backtest.py [--scenario full_outage ...] [--skip-prometheus]

Prints, in one run: detection per scenario and tier (designed time beside each engine's), the
budget spent at each scenario's end against the ground truth, the node-loss run (reads per node
before the loss, catch-up time once the node rejoins) and each engine's wall time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sloctl.backtest.run import ScenarioResult, evaluate, plan_scenarios, run_many
from sloctl.backtest.scenarios import scenario
from sloctl.backtest.series import samples
from sloctl.backtest.victoria import ENGINES, NodeLoss, Phase, replay_victoria
from sloctl.model import SLO
from sloctl.shelf import ToolMissing, engine_named
from sloctl.spec import load_paths

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ("full_outage", "burn_14x", "burn_6x")


def _base() -> SLO:
    loaded = load_paths([str(ROOT / "slos" / "platform-api.yaml")])
    return next(s for s in loaded.slos if s.name == "availability")


def _node_loss(base: SLO, names: list[str], work: Path) -> tuple[list[ScenarioResult], list[Phase], float]:
    (plan,) = plan_scenarios(base, [scenario(n) for n in names])
    at = plan.start + min(i.scenario.incidents[0].start for i in plan.items if i.scenario.incidents)
    with replay_victoria(
        plan.rules, list(samples(plan.feeds)), work, start=plan.start, end=plan.end, step=plan.step,
        warmup_start=plan.warmup_start, topology="ha", node_loss=NodeLoss(at),
    ) as bt:  # fmt: skip
        results = evaluate(bt, plan.items, bt.alerts())
        after = bt.nodes[1].requests_served("/api/v1/query_range")
        seconds = bt.rejoin()
        phases = [*bt.phases, Phase("reads served by node 1 in all", plan.start, plan.end, after, 0.0)]
        return results, phases, seconds


def main() -> int:
    # Long but flat: flags, one replay per engine and scenario, then the table printed.
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", action="append", default=[], help="scenario name (repeatable)")
    p.add_argument(
        "--skip-prometheus", action="store_true", help="VictoriaMetrics only (seconds, not minutes)"
    )
    args = p.parse_args()
    names = args.scenario or list(DEFAULT)
    base = _base()
    runs: dict[str, dict[str, ScenarioResult]] = {}
    walls: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="sloctl-engines-") as tmp:
        engines: list[object] = [] if args.skip_prometheus else ["prometheus-2", "prometheus-3"]
        engines += list(ENGINES)
        for e in engines:
            try:
                engine = engine_named(e) if isinstance(e, str) else e
            except ToolMissing as exc:
                print(f"skipped {e}: {exc}", file=sys.stderr)
                continue
            name = e if isinstance(e, str) else e.name  # type: ignore[attr-defined]
            t0 = time.monotonic()
            results = run_many([(base, [scenario(n) for n in names])], Path(tmp) / name, engine=engine)  # type: ignore[arg-type]
            walls[name] = time.monotonic() - t0
            runs[name] = {r.scenario.name: r for r in results}
        t0 = time.monotonic()
        lost, phases, rejoin = _node_loss(base, names, Path(tmp) / "node-loss")
        walls["victoriametrics-ha, node lost"] = time.monotonic() - t0
        runs["victoriametrics-ha, node lost"] = {r.scenario.name: r for r in lost}

    cols = list(runs)
    print("## Detection (seconds from the incident's start to the first firing evaluation)\n")
    print("| scenario | tier | designed | " + " | ".join(cols) + " |")
    print("|---|---|---|" + "---|" * len(cols))
    first = runs[cols[0]]
    for n in names:
        for t in first[n].tiers:
            cells = [runs[c][n] for c in cols]
            found = [next(x for x in r.tiers if x.tier == t.tier).detection_seconds for r in cells]
            if all(f is None for f in found):
                continue
            designed = "-" if t.designed_seconds is None else str(t.designed_seconds)
            shown = ["-" if f is None else str(f) for f in found]
            print(f"| {n} | {t.tier}{' *' if t.expected else ''} | {designed} | " + " | ".join(shown) + " |")
    print("\n`*` designed to fire in this scenario\n")
    print("## Budget spent at the scenario's end (relative difference from the ground truth)\n")
    print("| scenario | truth | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for n in names:
        truth = 1 - first[n].budget_left_truth
        cells = []
        for c in cols:
            spent = 1 - runs[c][n].budget_left
            cells.append(f"{spent:.6f} ({(spent - truth) / truth:+.3%})")
        print(f"| {n} | {truth:.6f} | " + " | ".join(cells) + " |")
    print("\n## Node loss (victoriametrics-ha): phases\n")
    print("| phase | samples | seconds | query_range reads per node |")
    print("|---|---|---|---|")
    for ph in phases:
        print(f"| {ph.what} | {ph.samples} | {ph.seconds:.2f} | {' / '.join(map(str, ph.reads)) or '-'} |")
    print(f"\nrejoined node caught up in {rejoin:.2f} s")
    print("\n## Wall time per engine (seconds)\n")
    for c, s in walls.items():
        print(f"- {c}: {s:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
