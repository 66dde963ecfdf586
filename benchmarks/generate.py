"""Benchmark: generating rules and rule tests for 100, 1,000 and 10,000 synthetic SLOs.

Prints wall time, SLOs per second, peak memory (of a fresh process per size) and the ratio to
the *serialisation floor*: the time PyYAML's C dumper alone takes to write the same output
structures, measured in the same process right after. Ratios, not absolute times, are what
compare across runs on a shared machine.

    .venv/bin/python benchmarks/generate.py                 # 100, 1000, 10000
    .venv/bin/python benchmarks/generate.py --sizes 1000 --no-tests

The synthetic fleet: services of 10 SLOs cycling through every SLI kind, objectives from a set
of five, 28d and 30d periods, four tier profiles (some tiers off, some with `for`, half with a
low-traffic guard) — a fleet where names and queries are all different and alerting profiles
repeat, as they do in practice.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import yaml

from sloctl.generate import GenerateOptions, plan_outputs
from sloctl.model import SLO
from sloctl.render.rules import render_groups
from sloctl.render.ruletests import rule_test_documents
from sloctl.spec import load_text

SLIS = [
    'events: {errorQuery: \'sum(rate(http_requests_total{job="svc%(s)d",code=~"5.."}[{{.window}}]))\', '
    "totalQuery: 'sum(rate(http_requests_total{job=\"svc%(s)d\"}[{{.window}}]))'}",
    'ratio: {goodQuery: \'sum(rate(jobs_total{job="svc%(s)d",outcome="ok"}[{{.window}}]))\', '
    "totalQuery: 'sum(rate(jobs_total{job=\"svc%(s)d\"}[{{.window}}]))'}",
    "latency: {histogram: http_request_duration_seconds, selector: '{job=\"svc%(s)d\"}', threshold: 250ms}",
    "probe: {target: db-%(s)d}",
    "raw: {errorRatioQuery: '1 - avg(avg_over_time(up{job=\"svc%(s)d\"}[{{.window}}]))'}",
]
OBJECTIVES = [99, 99.5, 99.9, 99.95, 95]
JOBS = min(2, os.cpu_count() or 1)  # `sloctl generate` uses both cores for large inputs
TIERS = [
    "{}",
    "{tiers: {pageQuick: {for: 2m}}, minEvents: 100}",
    "{ticket: {enabled: false}, minEvents: 50}",
    "{tiers: {ticketSlow: {enabled: false}, pageSlow: {for: 5m}}}",
]


def fleet(n: int) -> tuple[SLO, ...]:
    docs = []
    for s in range(max(1, n // 10)):
        slos = []
        for i in range(min(10, n - s * 10)):
            k = s * 10 + i
            slos.append(
                f"    - name: slo-{i}\n      objective: {OBJECTIVES[k % len(OBJECTIVES)]}\n"
                f"      period: {'28d' if k % 3 == 0 else '30d'}\n      labels: {{owner: team-{s % 7}}}\n"
                f"      sli: {{{SLIS[k % len(SLIS)] % {'s': s}}}}\n      alerting: {TIERS[k % len(TIERS)]}\n"
            )
        docs.append(
            f"apiVersion: sloctl/v1\nkind: Service\nmetadata: {{name: service-{s}}}\nspec:\n  slos:\n"
            + "".join(slos)
        )
    result = load_text("---\n".join(docs), "fleet.yaml")
    assert not result.errors, result.errors[:3]
    return result.slos


def floor_seconds(slos: tuple[SLO, ...], tests: bool) -> float:
    """PyYAML's C dumper alone, on the structures our renderers produce."""
    structures: list[object] = [{"groups": render_groups([s])} for s in slos]
    if tests:
        for s in slos:
            structures.extend(doc for _, doc in rule_test_documents(s, "bench")[1])
    start = time.perf_counter()
    for data in structures:
        yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False, default_flow_style=False, width=1 << 16)
    return time.perf_counter() - start


def measure(n: int, tests: bool, jobs: int) -> dict[str, float]:
    slos = fleet(n)
    options = GenerateOptions(tests=tests, dashboards=False, alertmanager=False, jobs=jobs)
    start = time.perf_counter()
    planned = plan_outputs(slos, options)
    ours = time.perf_counter() - start
    floor = floor_seconds(slos, tests)
    return {
        "slos": n,
        "tests": tests,
        "seconds": round(ours, 3),
        "slos_per_second": round(n / ours),
        "files": len(planned),
        "megabytes": round(sum(len(t) for t in planned.values()) / 1e6, 1),
        "floor_seconds": round(floor, 3),
        "ratio_to_floor": round(ours / floor, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--no-tests", action="store_true", help="rules only")
    parser.add_argument("--jobs", type=int, default=JOBS, help="worker processes (default: both cores)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, not args.no_tests, args.jobs)))
        return 0
    rows = []
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--one", str(n), "--jobs", str(args.jobs)]
        cmd += ["--no-tests"] if args.no_tests else []
        rows.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
    print(
        f"{'SLOs':>6} {'tests':>5} {'wall s':>8} {'SLOs/s':>8} {'files':>7} {'MB':>6} {'floor s':>8} "
        f"{'ratio':>6} {'peak MB':>8}"
    )
    for r in rows:
        print(
            f"{r['slos']:>6} {'yes' if r['tests'] else 'no':>5} {r['seconds']:>8} {r['slos_per_second']:>8} "
            f"{r['files']:>7} {r['megabytes']:>6} {r['floor_seconds']:>8} {r['ratio_to_floor']:>6} "
            f"{r['peak_rss_mb']:>8}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
