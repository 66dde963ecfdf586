"""``sloctl serve``'s overview at scale: N SLOs (side by side: 100 and 1,000 in one run), each
with its generated rules evaluated by a real throwaway Prometheus (the default engine) over a
little backfilled traffic. Measured per size:

* Prometheus queries per overview (must not grow with N);
* server time of the overview page with the cache off, so every page is a cache miss
  (``App.handle``: the queries, the join, the template), over ``--pages`` renders: p50 and p95,
  and through the HTTP listener (socket and all) p95;
* Prometheus' CPU time per page (its process' user + system time over the pages, less what it
  spends evaluating the rules meanwhile: its CPU rate over ``IDLE`` seconds without pages);
* page weight (bytes of HTML, and gzip-compressed; the overview shows 100 rows a page).

With ``--baseline DIR`` (another checkout of sloctl, e.g. ``git archive REV sloctl | tar -x -C
DIR``), that version's overview is rendered too, in a worker process with ``PYTHONPATH=DIR``,
page by page in turn with this one against the same Prometheus, so both see the same load.

Usage::

    .venv/bin/python benchmarks/serve_overview.py [--sizes 100,1000] [--pages 30] [--baseline DIR]

Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

# Only API that earlier versions have too: a --baseline worker imports this module's spec()
# and the sloctl of its own checkout.
from sloctl import naming
from sloctl.prometheus import Prometheus
from sloctl.serve import App, ServeConfig, start
from sloctl.serve.app import PAGE_SIZE
from sloctl.spec import load_text

SERVICES = 20


def spec(n: int) -> str:
    """``n`` SLOs over ``SERVICES`` services, each reading its own scenario's counters."""
    docs = []
    per = n // SERVICES
    for s in range(SERVICES):
        slos = "".join(
            f"""    - name: s{i}
      objective: {99.9 if i % 2 else 99.5}
      labels: {{team: t{i % 5}}}
      sli:
        events:
          errorQuery: sum(rate(sloctl_backtest_errors_total{{scenario="b{s}_{i}"}}[{{{{.window}}}}]))
          totalQuery: sum(rate(sloctl_backtest_requests_total{{scenario="b{s}_{i}"}}[{{{{.window}}}}]))
      alerting: {{name: Svc{s}S{i}BudgetBurn}}
"""
            for i in range(per)
        )
        docs.append(
            f"apiVersion: sloctl/v1\nkind: Service\nmetadata: {{name: svc{s}}}\nspec:\n  slos:\n{slos}"
        )
    return "---\n".join(docs)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


IDLE = 60.0
"""Seconds of Prometheus' CPU rate without pages (rule evaluation only), subtracted per page:
one whole evaluation interval, so that the rate holds one burst of rule evaluation, no more, no
less (a shorter window held none or one, and the rate was off by a factor)."""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def render_page(app: App, prom: Prometheus) -> dict[str, float]:
    before = prom.requests
    c0, t0 = time.process_time(), time.perf_counter()
    page = app.handle("/", {})
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert page.status == 200 and page.body.count(b"<tr data-slo=") > 0
    return {
        "seconds": seconds,
        "python_cpu": cpu,
        "queries": prom.requests - before,
        "bytes": len(page.body),
        "gzip_bytes": len(gzip.compress(page.body)),
    }


def worker(url: str, n: int) -> None:
    """``--worker``: one overview per line read, answered with a JSON line."""
    with Prometheus.connect(url) as prom:
        app = App(ServeConfig(specs=tuple(load_text(spec(n)).slos), cache_seconds=0), prom)
        print(json.dumps(render_page(app, prom)), flush=True)  # warm: templates, imports
        for _ in sys.stdin:
            print(json.dumps(render_page(app, prom)), flush=True)


def summary(pages: list[dict[str, float]], cpu: list[float]) -> dict[str, float]:
    times = [p["seconds"] for p in pages]
    return {
        "queries": max(p["queries"] for p in pages),
        "queries_min": min(p["queries"] for p in pages),
        "p50_ms": statistics.median(times) * 1000,
        "p95_ms": p95(times) * 1000,
        "prometheus_cpu_ms": statistics.mean(cpu) * 1000,
        "python_cpu_ms": statistics.mean(p["python_cpu"] for p in pages) * 1000,
        "bytes": pages[-1]["bytes"],
        "gzip_bytes": pages[-1]["gzip_bytes"],
    }


def measure(n: int, pages: int, work: Path, baseline: Path | None) -> dict[str, dict[str, float]]:
    # Long: one Prometheus and one server set up, measured and stopped in one place.
    slos = load_text(spec(n)).slos
    assert len(slos) == n
    # Imported here: a --baseline worker needs none of it.
    from sloctl.backtest.engine import backfill_openmetrics
    from sloctl.backtest.scenarios import Incident, Scenario, counts
    from sloctl.backtest.series import openmetrics
    from sloctl.render.rules import render_rule_file
    from sloctl.serve.server import settle_heap
    from sloctl.servers._process import wait_until
    from sloctl.servers.prometheus import start_prometheus
    from sloctl.shelf import default_engine

    end = int(time.time()) // 60 * 60
    span = 3600
    items = []
    for k, slo in enumerate(slos):
        burn = (0.1, 2.0, 20.0)[k % 3]
        s = Scenario(f"b{slo.service.removeprefix('svc')}_{slo.name.removeprefix('s')}", "", span,
                     (Incident(span - 900, span, burn),), warmup=0)  # fmt: skip
        items.append((s, counts(s, slo.error_budget)))
    engine = default_engine()
    backfill_openmetrics(
        openmetrics(items, start=end - span), work, work / "data", promtool=str(engine.promtool)
    )
    (work / "rules.yml").write_text(render_rule_file(slos, ["benchmark"], "benchmark"))
    # Prometheus' usual 1m evaluation: at 15 s, 1,000 SLOs' groups kept two busy cores saturated.
    config = "global:\n  evaluation_interval: 1m\nrule_files: [rules.yml]\nscrape_configs: []\n"
    with (
        start_prometheus(work, config_text=config, binary=engine.prometheus) as server,
        Prometheus.connect(server.url) as prom,
    ):
        # Wait for a full evaluation of every group: every SLO's budget is recorded.
        assert wait_until(
            lambda: (
                prom.query(f"count({naming.BUDGET_REMAINING})") != []
                and int(float(prom.query(f"count({naming.BUDGET_REMAINING})")[0]["value"][1])) == n
            ),
            timeout=600,
            interval=1,
        )
        app = App(ServeConfig(specs=tuple(slos), cache_seconds=0), prom)
        render_page(app, prom)  # warm: templates
        settle_heap()  # as sloctl serve does before it listens
        variants: dict[str, Callable[[], dict[str, float]]] = {"this": lambda: render_page(app, prom)}
        other = None
        if baseline is not None:
            other = subprocess.Popen(
                [sys.executable, __file__, "--worker", server.url, str(n)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                env={**os.environ, "PYTHONPATH": str(baseline.resolve())},
                cwd=baseline,
            )  # fmt: skip
            assert other.stdin is not None and other.stdout is not None
            json.loads(other.stdout.readline())  # its warm-up page
            stdin, stdout = other.stdin, other.stdout

            def ask() -> dict[str, float]:
                stdin.write("page\n")
                stdin.flush()
                answer: dict[str, float] = json.loads(stdout.readline())
                return answer

            variants["baseline"] = ask
        try:
            c0, t0 = cpu_seconds(server.pid), time.perf_counter()
            time.sleep(IDLE)  # real timer: Prometheus' CPU rate when no page is asked
            idle_rate = (cpu_seconds(server.pid) - c0) / (time.perf_counter() - t0)
            results: dict[str, list[dict[str, float]]] = {k: [] for k in variants}
            cpu: dict[str, list[float]] = {k: [] for k in variants}
            for _ in range(pages):
                for name, page in variants.items():  # in turn: both see the same load
                    c0, t0 = cpu_seconds(server.pid), time.perf_counter()
                    results[name].append(page())
                    cpu[name].append(cpu_seconds(server.pid) - c0 - idle_rate * (time.perf_counter() - t0))
        finally:
            if other is not None:
                other.communicate(timeout=60)
        out = {name: summary(results[name], cpu[name]) | {"slos": n} for name in variants}
        listener = start(app, "127.0.0.1:0")
        http_times = []
        try:
            with httpx.Client(trust_env=False, timeout=60) as client:
                for _ in range(pages):
                    t0 = time.perf_counter()
                    body = client.get(listener.url + "/").raise_for_status().content
                    http_times.append(time.perf_counter() - t0)
        finally:
            listener.stop()
        assert body.count(b"<tr data-slo=") == min(n, PAGE_SIZE)
        out["this"]["http_p95_ms"] = p95(http_times) * 1000
    return out


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--pages", type=int, default=30)
    parser.add_argument("--baseline", type=Path, help="another checkout of sloctl, measured in turn")
    args = parser.parse_args()
    rows = []
    began, load = time.strftime("%Y-%m-%d %H:%M", time.gmtime()), [os.getloadavg()[0]]
    for n in (int(x) for x in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="sloctl-bench-serve-") as tmp:
            rows.append(measure(n, args.pages, Path(tmp), args.baseline))
        load.append(os.getloadavg()[0])
    print(
        f"Run of {began}–{time.strftime('%H:%M', time.gmtime())} UTC, load average (1 min) "
        + " → ".join(f"{x:.1f}" for x in load)
        + "\n"
    )
    print(
        "| SLOs | version | queries per overview | server time p50 | p95 | p95 over HTTP"
        " | Python CPU per page | Prometheus CPU per page | page | gzip |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for by_name in rows:
        for name, r in by_name.items():
            http = f"{r['http_p95_ms']:.0f} ms" if "http_p95_ms" in r else "-"
            print(
                f"| {r['slos']:,} | {name} | {r['queries']} | {r['p50_ms']:.0f} ms | {r['p95_ms']:.0f} ms | "
                f"{http} | {r['python_cpu_ms']:.0f} ms | {r['prometheus_cpu_ms']:.0f} ms | "
                f"{r['bytes'] / 1024:.0f} KiB | {r['gzip_bytes'] / 1024:.0f} KiB |"
            )
    for by_name in rows:
        if "baseline" in by_name:
            a, b = by_name["baseline"], by_name["this"]
            print(
                f"\n{b['slos']:,} SLOs, this ÷ baseline: p50 {b['p50_ms'] / a['p50_ms']:.2f}x, "
                f"p95 {b['p95_ms'] / a['p95_ms']:.2f}x, "
                f"Python CPU {b['python_cpu_ms'] / a['python_cpu_ms']:.2f}x, Prometheus CPU "
                f"{b['prometheus_cpu_ms'] / max(a['prometheus_cpu_ms'], 1e-9):.2f}x, "
                f"queries {b['queries']} vs {a['queries']}"
            )
    if len(rows) > 1:
        a, b = rows[0]["this"], rows[-1]["this"]
        print(
            f"\n{b['slos'] / a['slos']:.0f}x the SLOs: {b['queries'] / a['queries']:.1f}x the queries, "
            f"{b['p95_ms'] / a['p95_ms']:.1f}x the p95 server time, {b['bytes'] / a['bytes']:.1f}x the page"
        )


if __name__ == "__main__":
    main()
