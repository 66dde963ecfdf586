"""Collector cost at scale, side by side with Debian's database exporters.

200 targets across kinds (postgres, pgbouncer, redis, mongodb, http) at a 10 s interval, all
pointed at one real server per kind on loopback. Measured in one run:

* the collector's CPU seconds per probe run (process CPU, user + system, of this Python process,
  which runs nothing but the collector while measuring) and its resident memory, first with
  cold connections only, then with warm (kept) connections only;
* the CPU per ``/metrics`` render with 200 targets;
* the CPU per scrape of ``prometheus-postgres-exporter`` and ``prometheus-redis-exporter``
  (from /proc/<pid>/stat) against the same servers, scraped back to back.

Usage::

    .venv/bin/python benchmarks/collector.py [--seconds 40] [--scrapes 30]

Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from sloctl.collector import Collector, load_config_text
from sloctl.servers import free_port, start_mongodb, start_pgbouncer, start_postgres, start_redis

MIX = {"postgres": 50, "pgbouncer": 30, "redis": 60, "mongodb": 30, "http": 30}  # 200 targets
INTERVAL = 10.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """utime + stime of one process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _config(mode: str, ports: dict[str, int], http_port: int) -> str:
    lines = [
        "apiVersion: sloctl/v1",
        "kind: CollectorConfig",
        "listen: 127.0.0.1:0",
        f"defaults: {{interval: {INTERVAL:g}s, timeout: 5s, connections: [{mode}]}}",
        "targets:",
    ]
    pg = "user: platform, database: platform, password: {env: PG}"
    for kind, count in MIX.items():
        for i in range(count):
            name = f"{kind}-{i:03d}"
            if kind == "postgres":
                lines.append(f"  - {{name: {name}, kind: postgres, port: {ports['pg']}, {pg}}}")
            elif kind == "pgbouncer":
                lines.append(
                    f"  - {{name: {name}, kind: pgbouncer, port: {ports['pgb']}, {pg}, "
                    "adminUser: pgbouncer, adminPassword: {env: PGBA}}"
                )
            elif kind == "redis":
                lines.append(f"  - {{name: {name}, kind: redis, port: {ports['rd']}, password: {{env: RD}}}}")
            elif kind == "mongodb":
                lines.append(f"  - {{name: {name}, kind: mongodb, port: {ports['mg']}}}")
            else:
                lines.append(f"  - {{name: {name}, kind: http, url: 'http://127.0.0.1:{http_port}/'}}")
    return "\n".join(lines) + "\n"


def _secrets(pg_password: str, pgb_admin: str, rd_password: str) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for kind, count in MIX.items():
        for i in range(count):
            name = f"{kind}-{i:03d}"
            if kind in ("postgres", "pgbouncer"):
                out[(name, "password")] = pg_password
            if kind == "pgbouncer":
                out[(name, "admin")] = pgb_admin
            if kind == "redis":
                out[(name, "password")] = rd_password
    return out


async def _measure(config: str, secrets: dict[tuple[str, str], str], seconds: float) -> dict[str, float]:
    registry = CollectorRegistry()
    collector = Collector(
        load_config_text(config, "bench.yaml"),
        secrets,
        registry=registry,
        tracer_provider=TracerProvider(),  # spans are made, not exported: like an unreachable OTLP endpoint
        log_stream=io.StringIO(),
        logger_name="sloctl.collector.bench",
    )
    async with collector:
        await asyncio.sleep(INTERVAL)  # warm-up: every target has run once, imports are done
        runs0 = sum(s.runs for s in collector.runner.states.values())
        cpu0, t0 = _self_cpu(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, t1 = _self_cpu(), time.monotonic()
        runs1 = sum(s.runs for s in collector.runner.states.values())
        failed = sum(1 for s in collector.runner.states.values() if not s.up)
        rss = _rss_mib()
        n = 50
        c0 = time.process_time()
        for _ in range(n):
            generate_latest(registry)
        render = (time.process_time() - c0) / n
    probes = runs1 - runs0
    return {
        "probes": probes,
        "cpu": cpu1 - cpu0,
        "wall": t1 - t0,
        "cpu_per_probe": (cpu1 - cpu0) / max(1, probes),
        "rss_mib": rss,
        "down": failed,
        "render": render,
    }


def _scrape_cost(cmd: list[str], env: dict[str, str], port: int, scrapes: int) -> tuple[float, int]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url, timeout=5).read()
                break
            except OSError:
                time.sleep(0.2)
        for _ in range(3):  # warm-up: first scrapes open connections and discover
            urllib.request.urlopen(url, timeout=10).read()
        before = _proc_cpu(proc.pid)
        size = 0
        for _ in range(scrapes):
            size = len(urllib.request.urlopen(url, timeout=10).read())
        return (_proc_cpu(proc.pid) - before) / scrapes, size
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> int:
    # Long: the databases are started, measured in each mode and stopped in one place.
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=40.0, help="measured seconds per mode (default 40)")
    parser.add_argument("--scrapes", type=int, default=30, help="exporter scrapes measured (default 30)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sloctl-bench-"))
    pg = start_postgres(work, max_connections=400)
    pgb = start_pgbouncer(work, upstream=pg, default_pool_size=20, max_client_conn=500)
    rd = start_redis(work)
    mg = start_mongodb(work)
    web_dir = work / "www"
    web_dir.mkdir()
    (web_dir / "index.html").write_text("ok\n")
    http_port = free_port()
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(http_port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(web_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        ports = {"pg": pg.port, "pgb": pgb.port, "rd": rd.port, "mg": mg.port}
        secrets = _secrets(pg.password, pgb.admin_password, rd.password or "")
        results = {}
        for mode in ("cold", "warm"):
            results[mode] = asyncio.run(_measure(_config(mode, ports, http_port), secrets, args.seconds))
            print(f"# {mode}: {results[mode]}", file=sys.stderr)

        pe_port, re_port = free_port(), free_port()
        dsn = f"postgresql://{pg.user}:{pg.password}@127.0.0.1:{pg.port}/{pg.database}?sslmode=disable"
        pg_cpu, pg_size = _scrape_cost(
            ["/usr/bin/prometheus-postgres-exporter", f"--web.listen-address=127.0.0.1:{pe_port}"],
            {**os.environ, "DATA_SOURCE_NAME": dsn},
            pe_port,
            args.scrapes,
        )
        rd_cpu, rd_size = _scrape_cost(
            [
                "/usr/bin/prometheus-redis-exporter",
                "-redis.addr",
                f"redis://127.0.0.1:{rd.port}",
                "-redis.password",
                rd.password or "",
                "-web.listen-address",
                f"127.0.0.1:{re_port}",
            ],
            os.environ.copy(),
            re_port,
            args.scrapes,
        )
    finally:
        web.terminate()
        web.wait(10)
        for server in (pgb, pg, rd, mg):
            server.stop()

    cold, warm = results["cold"], results["warm"]
    print(f"| measure (200 targets, {INTERVAL:g} s interval, {args.seconds:g} s measured per mode) | value |")
    print("|---|---|")
    rows: list[tuple[str, str]] = []
    for mode, r in (("cold", cold), ("warm", warm)):
        detail = (
            f"{r['probes']:.0f} runs, {r['cpu']:.2f} CPU s in {r['wall']:.1f} s; {r['down']:.0f} targets down"
        )
        rows.append(
            (
                f"collector CPU per probe run, {mode} connections",
                f"{r['cpu_per_probe'] * 1000:.2f} ms ({detail})",
            )
        )
        rows.append(
            (f"collector CPU at this load, {mode}", f"{r['cpu'] / r['wall'] * 100:.1f} % of one core")
        )
        rows.append((f"collector resident memory, {mode}", f"{r['rss_mib']:.0f} MiB"))
    rows.append(("collector CPU per `/metrics` render (200 targets)", f"{warm['render'] * 1000:.1f} ms"))
    rows.append(("prometheus-postgres-exporter CPU per scrape", f"{pg_cpu * 1000:.1f} ms ({pg_size} bytes)"))
    rows.append(("prometheus-redis-exporter CPU per scrape", f"{rd_cpu * 1000:.1f} ms ({rd_size} bytes)"))
    for exporter, cost in (("postgres", pg_cpu), ("redis", rd_cpu)):
        for mode, r in (("cold", cold), ("warm", warm)):
            ratio = r["cpu_per_probe"] / cost if cost > 0 else float("nan")
            rows.append((f"collector {mode} probe / {exporter}-exporter scrape", f"{ratio:.2f}"))
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
