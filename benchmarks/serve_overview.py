"""``sloctl serve``'s overview at scale: N SLOs (side by side: 100 and 1,000 in one run), each
with its generated rules evaluated by a real throwaway Prometheus (the default engine) over a
little backfilled traffic. Measured per size:

* Prometheus queries per overview (must not grow with N);
* server time of the overview page, cache off (``App.handle``: queries + join + template), over
  ``--pages`` renders: p50 and p95, and through the HTTP listener (socket and all) p95;
* page weight (bytes of HTML, and gzip-compressed; the overview shows 100 rows a page).

Usage::

    .venv/bin/python benchmarks/serve_overview.py [--sizes 100,1000] [--pages 30]

Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from sloctl import naming
from sloctl.backtest.engine import backfill_openmetrics
from sloctl.backtest.run import openmetrics
from sloctl.backtest.scenarios import Incident, Scenario, counts
from sloctl.prometheus import Prometheus
from sloctl.render.rules import render_rule_file
from sloctl.serve import App, ServeConfig, start
from sloctl.serve.app import PAGE_SIZE
from sloctl.serve.data import EXTRA_QUERIES
from sloctl.servers._process import wait_until
from sloctl.servers.prometheus import start_prometheus
from sloctl.shelf import default_engine
from sloctl.spec import load_text
from sloctl.status import QUERIES

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


def measure(n: int, pages: int, work: Path) -> dict[str, float]:
    slos = load_text(spec(n)).slos
    assert len(slos) == n
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
        times, queries, answers = [], [], []
        body = b""
        everything = {**QUERIES, **EXTRA_QUERIES}
        for _ in range(pages):
            # Prometheus' share: the same 13 queries alone, sent together as the page sends them.
            t0 = time.perf_counter()
            prom.query_many(everything)
            answers.append(time.perf_counter() - t0)
            before = prom.requests
            t0 = time.perf_counter()
            page = app.handle("/", {})
            times.append(time.perf_counter() - t0)
            queries.append(prom.requests - before)
            body = page.body
        assert body.count(b"<tr data-slo=") == min(n, PAGE_SIZE)
        listener = start(app, "127.0.0.1:0")
        http_times = []
        try:
            with httpx.Client(trust_env=False, timeout=60) as client:
                for _ in range(pages):
                    t0 = time.perf_counter()
                    client.get(listener.url + "/").raise_for_status()
                    http_times.append(time.perf_counter() - t0)
        finally:
            listener.stop()
    return {
        "slos": n,
        "queries": max(queries),
        "queries_min": min(queries),
        "p50_ms": statistics.median(times) * 1000,
        "p95_ms": p95(times) * 1000,
        "http_p95_ms": p95(http_times) * 1000,
        "prometheus_p50_ms": statistics.median(answers) * 1000,
        "bytes": len(body),
        "gzip_bytes": len(gzip.compress(body)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--pages", type=int, default=30)
    args = parser.parse_args()
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="sloctl-bench-serve-") as tmp:
            rows.append(measure(n, args.pages, Path(tmp)))
    print(
        "| SLOs | queries per overview | server time p50 | p95 | p95 over HTTP"
        " | of which Prometheus (p50) | page | gzip |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['slos']:,} | {r['queries']} | {r['p50_ms']:.0f} ms | {r['p95_ms']:.0f} ms | "
            f"{r['http_p95_ms']:.0f} ms | {r['prometheus_p50_ms']:.0f} ms | {r['bytes'] / 1024:.0f} KiB | "
            f"{r['gzip_bytes'] / 1024:.0f} KiB |"
        )
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        print(
            f"\n{b['slos'] / a['slos']:.0f}x the SLOs: {b['queries'] / a['queries']:.1f}x the queries, "
            f"{b['p95_ms'] / a['p95_ms']:.1f}x the p95 server time, {b['bytes'] / a['bytes']:.1f}x the page"
        )


if __name__ == "__main__":
    main()
