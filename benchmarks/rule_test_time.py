"""Benchmark: promtool time of the generated rule tests, one generator against another.

For each source tree given (``--tree LABEL=DIR``, e.g. an old checkout from ``git worktree add``
beside this one), generates the promtool tests of the bundled SLOs (``slos/``) and of the seeded
random corpus of tests/rules/test_random_specs.py, then runs ``promtool test rules`` on every
test file, the trees alternating per file set so that load drifts hit both alike. Prints per set
and engine the promtool CPU (user + sys of the promtool processes, from ``wait4``) and wall
time of each tree, their ratio, and the slowest files. Ratios, not absolute times, compare on a
shared machine (docs/benchmarks.md, "Issue 14 again").

``--scenarios`` also runs every test group alone (one file per group, beside its rule files)
and prints the promtool CPU per scenario: the group's name with its figures masked, so that,
say, every SLO's "zero traffic" test adds up in one row. A group run alone pays promtool's
start (about 10 ms) once more; the sum is the file sets' CPU plus that.

    .venv/bin/python benchmarks/rule_test_time.py --tree old=/tmp/speed-old --tree new=. \\
        [--engine prometheus-2 --engine prometheus-3] [--random-engine prometheus-3] [--jobs 2] \\
        [--scenarios]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sloctl.promtool import GOGC  # noqa: E402
from sloctl.shelf import ENGINE_NAMES, prometheus_engines  # noqa: E402
from tests.fixtures.random_specs import USER_CATALOGS, composite_of, random_slo, user_catalog  # noqa: E402

GENERATE = (
    "import sys; from pathlib import Path; from sloctl.spec import load_paths;"
    " from sloctl.generate import GenerateOptions, plan_outputs, write_outputs;"
    " r = load_paths([Path(sys.argv[1])]); assert not r.errors, r.errors[:3];"
    " o = GenerateOptions(dashboards=False, alertmanager=False);"
    " write_outputs(Path(sys.argv[2]), plan_outputs(r.slos, o))"
)


def write_corpus(out: Path, n: int, seed: int) -> None:
    """The random corpus exactly as tests/rules/test_random_specs.py writes it."""
    rng = random.Random(seed)
    slos = [random_slo(rng, i) for i in range(n)]
    out.mkdir(parents=True)
    for f in range(-(-n // 10)):
        items = slos[f * 10 : (f + 1) * 10]
        composite = composite_of(items, f"composite-{f}")
        if composite is not None:
            items = [*items, composite]
        doc = {
            "apiVersion": "sloctl/v1",
            "kind": "Service",
            "metadata": {"name": f"svc-{f}"},
            "spec": {"slos": items},
        }
        (out / f"svc-{f}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (out / "catalogs.yaml").write_text(
        yaml.safe_dump_all([user_catalog(p) for p in USER_CATALOGS], sort_keys=False)
    )


def generate(tree: Path, slos: Path, out: Path) -> Path:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    python = str(ROOT / ".venv" / "bin" / "python")
    subprocess.run([python, "-c", GENERATE, str(slos), str(out)], cwd=tree, env=env, check=True, timeout=1800)
    return out / "rules" / "tests"


def run_one(promtool: str, test: Path) -> tuple[str, float, float, bool]:
    """(file, CPU seconds, wall seconds, passed) of one ``promtool test rules``."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [promtool, "test", "rules", test.name],
        cwd=test.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"GOGC": GOGC, **os.environ},  # as run_rule_tests
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return test.name, usage.ru_utime + usage.ru_stime, time.perf_counter() - start, proc.returncode == 0


def run_set(
    promtool: str, tests: Path, jobs: int
) -> tuple[float, float, list[tuple[str, float, float, bool]]]:
    files = sorted(tests.glob("*.test.yml"))
    start = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        results = list(pool.map(lambda t: run_one(promtool, t), files))
    return sum(r[1] for r in results), time.perf_counter() - start, results


_FIGURE = re.compile(r"\d[\w.]*")


def scenario_of(group: str) -> str:
    """A test group's scenario: its name with every figure (count, duration, factor) masked.

    >>> scenario_of("page_slow fires within 2d20h9m37s of a burn 1.15 times its factor")
    'page_slow fires within # of a burn # times its factor'
    """
    return _FIGURE.sub("#", group)


def split_groups(tests: Path, out: Path) -> list[tuple[str, Path]]:
    """Every test group of ``tests`` in a file of its own under ``out`` (with the rule files):
    ``(scenario, file)``."""
    out.mkdir(parents=True)
    for rules in tests.glob("*.rules.yml"):
        shutil.copy(rules, out / rules.name)
    groups = []
    for test in sorted(tests.glob("*.test.yml")):
        doc = yaml.safe_load(test.read_text())
        for k, group in enumerate(doc["tests"]):
            one = out / f"{test.name.removesuffix('.test.yml')}.{k}.test.yml"
            one.write_text(yaml.safe_dump({**doc, "tests": [group]}, sort_keys=False))
            groups.append((scenario_of(str(group["name"])), one))
    return groups


def print_scenarios(promtool: str, tests: Path, work: Path, jobs: int, top: int) -> None:
    groups = split_groups(tests, work)
    with ThreadPoolExecutor(jobs) as pool:
        results = list(pool.map(lambda g: run_one(promtool, g[1]), groups))
    by: dict[str, list[float]] = {}
    for (scenario, _), (_name, cpu, _wall, _ok) in zip(groups, results, strict=True):
        by.setdefault(scenario, []).append(cpu)
    total = sum(sum(v) for v in by.values())
    failed = [r[0] for r in results if not r[3]]
    note = f"; FAILED {failed}" if failed else ""
    print(f"      {len(groups)} groups alone: promtool CPU {total:.1f} s{note}")
    for scenario, cpus in sorted(by.items(), key=lambda kv: -sum(kv[1]))[:top]:
        print(f"      {sum(cpus):6.1f} s CPU {100 * sum(cpus) / total:5.1f} % {len(cpus):4d}x  {scenario}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tree", action="append", required=True, help="LABEL=DIR of a sloctl checkout")
    p.add_argument(
        "--engine", action="append", choices=ENGINE_NAMES, help="engines for rules/ (default both)"
    )
    p.add_argument("--random-engine", action="append", choices=ENGINE_NAMES, help="default prometheus-3")
    p.add_argument("--specs", type=int, default=50, help="random specs (default 50, as the test)")
    p.add_argument("--seed", type=int, default=20261127, help="default: the test's Prometheus 3 corpus")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--scenarios", action="store_true", help="also the CPU per scenario, each group alone")
    args = p.parse_args()
    trees = [(label, Path(d).resolve()) for label, _, d in (t.partition("=") for t in args.tree)]
    engines = {e.name: str(e.promtool) for e in prometheus_engines()}
    work = Path(tempfile.mkdtemp(prefix="rule-test-time-"))
    write_corpus(work / "random-slos", args.specs, args.seed)
    sets = []
    for name, slos, wanted in (
        ("rules/", None, args.engine or list(ENGINE_NAMES)),
        (
            f"random {args.specs} (seed {args.seed})",
            work / "random-slos",
            args.random_engine or ["prometheus-3"],
        ),
    ):
        dirs = {
            label: generate(tree, slos or tree / "slos", work / f"{label}-{len(sets)}")
            for label, tree in trees
        }
        sets += [(name, engine, dirs) for engine in wanted if engine in engines]
    print(f"work directory {work}; {len(trees)} trees, jobs {args.jobs}, load {os.getloadavg()[0]:.1f}")
    for name, engine, dirs in sets:
        measured = {}
        for label, tests in dirs.items():
            measured[label] = run_set(engines[engine], tests, args.jobs)
        first = trees[0][0]
        print(f"\n{name} on {engine} (load {os.getloadavg()[0]:.1f}):")
        for label, (cpu, wall, results) in measured.items():
            failed = [r[0] for r in results if not r[3]]
            ratio = (
                f", {cpu / measured[first][0]:.2f}x CPU, {wall / measured[first][1]:.2f}x wall"
                if label != first
                else ""
            )
            print(
                f"  {label}: {len(results)} files, promtool CPU {cpu:.1f} s, wall {wall:.1f} s{ratio}"
                + (f"; FAILED {failed}" if failed else "")
            )
            for fname, c, w, _ok in sorted(results, key=lambda r: -r[1])[: args.top]:
                print(f"      {c:6.1f} s CPU {w:6.1f} s wall  {fname}")
            if args.scenarios:
                split = Path(tempfile.mkdtemp(prefix=f"groups-{label}-", dir=work)) / engine
                print_scenarios(engines[engine], dirs[label], split, args.jobs, args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
