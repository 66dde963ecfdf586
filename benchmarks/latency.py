"""What bounds the plan's p95 < 20 ms at 50 req/s over the route mix (docs/benchmarks.md).

    .venv/bin/python benchmarks/latency.py [--rounds 3] [--seconds 20] [--json out.json]
    git archive REV | tar -x -C /tmp/before
    .venv/bin/python benchmarks/latency.py --baseline /tmp/before   # before/after, side by side

Starts the testbed (PostgreSQL through PgBouncer, Redis, SecantusDB, the API), then offers
50 req/s in the open model (arrivals on a fixed grid, each request on its own connection slot,
whatever the answers take) with the route mix of ``sloctl.loadtest.locustlib.PlatformUser``,
in alternating rounds of two variants run side by side so that the machine's changing load hits
both alike:

- ``full``: the whole mix, provisioning (a transaction with DDL) and backups (``pg_dump``)
  included at their weights (1 of 312 each); a backup's window runs until its dump ended (the
  API answers 202 at once and dumps off the request path: the script follows the job);
- ``no-admin``: the same mix without provisioning and backups.

Per request it records the client-side time, the API's own time (``Server-Timing``) and the
arrival time, and per round the histogram's share of requests at or under 20 ms (from
``/metrics``: 0.02 is a bucket bound). It reports p50/p95/p99 client- and server-side per
variant, the p95 of requests that overlapped a backup or a provisioning against the others, and
the load average, which on this shared 2-core machine decides most of the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sloctl.contract import API_DURATION  # noqa: E402
from sloctl.servers import free_port  # noqa: E402
from sloctl.testbed_runner import ApiServer, Testbed, api_secrets, start_testbed  # noqa: E402
from testbed.openapi import openapi_document  # noqa: E402

RATE = 50.0
HIST = API_DURATION.name
#: (weight, method, path template, name): PlatformUser's mix (locustlib), admin operations last
MIX = [
    (40, "GET", "/v1/projects?limit=20", "GET projects"),
    (60, "GET", "/v1/projects/{pid}", "GET project"),
    (80, "GET", "/v1/cache/{key}", "GET cache"),
    (40, "PUT", "/v1/cache/{key}", "PUT cache"),
    (30, "POST", "/v1/documents", "POST document"),
    (60, "GET", "/v1/documents/{did}", "GET document"),
    (1, "POST", "/v1/projects", "provision"),
    (1, "POST", "/v1/projects/{pid}/backups", "backup"),
]
ADMIN = {"provision", "backup"}


def pct(values: list[float], q: float) -> float:
    """Nearest rank, as the load-test reports."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(len(ordered) * q + 0.999999) - 1))]


def scheduler_ms(pid: int) -> tuple[float, float]:
    """(CPU time, time runnable but waiting for a CPU) of every thread of ``pid`` so far, in ms,
    from Linux's ``/proc/<pid>/task/*/schedstat``: the second is what a loaded machine costs the
    API (threads that ended are not counted)."""
    cpu = wait = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError):
            on_cpu, queued, _ = (int(v) for v in (task / "schedstat").read_text().split())
            cpu, wait = cpu + on_cpu, wait + queued
    return cpu / 1e6, wait / 1e6


def share_under_20ms(client: httpx.Client) -> tuple[float, float]:
    """(requests ≤ 20 ms, all requests) of the API's histogram, /healthz and /metrics excluded."""
    under = total = 0.0
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            if s.name != f"{HIST}_bucket" or s.labels["route"] in ("/healthz", "/metrics"):
                continue
            if s.labels["le"] == "0.02":
                under += s.value
            elif s.labels["le"] == "+Inf":
                total += s.value
    return under, total


async def one_round(url: str, seconds: float, admin: bool) -> list[dict[str, float | str]]:
    # Long: one timed loop over the request mix; each request kind's bookkeeping is beside it.
    records: list[dict[str, float | str]] = []
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as c:
        pid = (await c.post("/v1/projects", json={"name": f"b{uuid.uuid4().hex[:12]}"})).json()["id"]
        key = f"k{uuid.uuid4().hex[:8]}"
        await c.put(f"/v1/cache/{key}", content=b"x" * 256)
        did = (await c.post("/v1/documents", json={"owner": key, "n": 1})).json()["id"]
        mix = [m for m in MIX if admin or m[3] not in ADMIN]
        names = [m for m in mix for _ in range(m[0])]
        created: list[int] = []
        start = time.monotonic()

        async def one(method: str, template: str, name: str, due: float) -> None:
            path = template.format(pid=pid, key=key, did=did)
            kwargs: dict[str, object] = {}
            if name == "provision":
                kwargs["json"] = {"name": f"b{uuid.uuid4().hex[:12]}"}
            elif name == "PUT cache":
                kwargs["content"] = b"x" * 256
            elif name == "POST document":
                kwargs["json"] = {"owner": key, "n": 1}
            sent = time.monotonic()
            try:
                r = await c.request(method, path, **kwargs)  # type: ignore[arg-type]
            except httpx.TransportError as exc:
                # No answer (e.g. a kept-alive connection the server closed as it was reused):
                # recorded as such, not retried, and counted apart from the 5xx.
                records.append({"name": name, "status": 0, "error": type(exc).__name__, "t": sent - start})
                return
            done = time.monotonic()
            server = float(r.headers.get("server-timing", "app;dur=nan").split("dur=")[1])
            if name == "provision" and r.status_code == 201:
                created.append(int(r.json()["id"]))
            # A queued backup (202) is dumped off the request path: its window, for the overlap
            # figures, runs until the job has ended (looked at every 50 ms, 20 s at most).
            ended, dump_ms = done, float("nan")
            if name == "backup" and r.status_code == 202:
                for _ in range(400):
                    job = (await c.get(r.headers["Location"])).json()
                    if job["status"] in ("done", "failed"):
                        dump_ms = float(job["duration_seconds"]) * 1000
                        break
                    await asyncio.sleep(0.05)
                ended = time.monotonic()
            records.append(
                {
                    "name": name,
                    "status": r.status_code,
                    "t": sent - start,
                    "end": ended - start,
                    "lag_ms": (sent - due) * 1000,
                    "client_ms": (done - sent) * 1000,
                    "server_ms": server,
                    "dump_ms": dump_ms,
                }
            )

        tasks = []
        for k in range(int(RATE * seconds)):  # bounded: the round's arrivals
            due = start + k / RATE
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            _, method, template, name = random.choice(names)
            tasks.append(asyncio.create_task(one(method, template, name, due)))
        await asyncio.gather(*tasks)
        for project in [pid, *created]:  # leave nothing behind
            await c.delete(f"/v1/projects/{project}")
    return records


def summarise(answered: list[dict[str, float | str]], under: float, total: float) -> dict[str, object]:
    records = [r for r in answered if int(r["status"]) != 0]
    client = [float(r["client_ms"]) for r in records]
    server = [float(r["server_ms"]) for r in records]
    admin = [r for r in records if r["name"] in ADMIN]
    # Requests sent while an admin operation was in flight.
    windows = [(float(r["t"]), float(r["end"])) for r in admin]
    overlapped = [
        r for r in records if r["name"] not in ADMIN and any(a <= float(r["t"]) <= b for a, b in windows)
    ]
    clear = [r for r in records if r["name"] not in ADMIN and r not in overlapped]
    return {
        "requests": len(records),
        "no_answer": len(answered) - len(records),
        "errors_5xx": sum(1 for r in records if int(r["status"]) >= 500),
        "client_ms": {q: pct(client, p) for q, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))},
        "server_ms": {q: pct(server, p) for q, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))},
        "arrival_lag_p95_ms": pct([float(r["lag_ms"]) for r in records], 0.95),
        "histogram_share_under_20ms": under / total if total else float("nan"),
        "server_p95_ms_by_request": {
            name: pct([float(r["server_ms"]) for r in records if r["name"] == name], 0.95)
            for name in sorted({str(r["name"]) for r in records})
        },
        "backup_dumps_off_the_request_path_ms": [
            round(float(r["dump_ms"]), 1) for r in admin if r["dump_ms"] == r["dump_ms"]
        ],
        "admin_operations_server_ms": [
            (str(r["name"]), round(float(r["server_ms"]), 1))
            for r in sorted(admin, key=lambda r: float(r["t"]))
        ],
        "overlapping_admin": {
            "requests": len(overlapped),
            "client_p95_ms": pct([float(r["client_ms"]) for r in overlapped], 0.95),
            "server_p95_ms": pct([float(r["server_ms"]) for r in overlapped], 0.95),
        },
        "clear_of_admin": {
            "requests": len(clear),
            "client_p95_ms": pct([float(r["client_ms"]) for r in clear], 0.95),
            "server_p95_ms": pct([float(r["server_ms"]) for r in clear], 0.95),
        },
    }


class BaselineApi(ApiServer):
    """``python -P -m testbed``: without ``-P``, ``-m`` puts the working directory first on the
    path, and the current tree's ``testbed`` would shadow the baseline's ``PYTHONPATH``."""

    def _command(self) -> list[str]:
        executable, *rest = super()._command()
        return [executable, "-P", *rest]


def start_baseline_api(tb: Testbed, tree: Path, home: Path) -> ApiServer:
    """A second API on the same databases, served by the ``testbed`` package of ``tree`` (the
    code before a change, its own flags only); refused when it serves this tree's routes."""
    home.mkdir(parents=True, exist_ok=True)
    secrets = api_secrets(
        postgres_dsn=tb.pgbouncer.dsn,
        postgres_direct_dsn=tb.postgres.dsn,
        redis_url=tb.redis.url,
        mongodb_uri=tb.mongodb.uri,
    )
    server = BaselineApi(
        port=free_port(),
        home=home,
        args=["--backup-dir", str(home / "backups")],
        secrets={**secrets, "PYTHONPATH": str(tree.resolve())},
    )
    server.start()
    if httpx.get(f"{server.url}/openapi.json").json()["paths"] == openapi_document()["paths"]:
        server.stop()
        raise SystemExit(f"--baseline {tree}: its API serves the same routes as this tree's")
    return server


def main() -> int:
    # Long but flat: flags, the databases and both APIs started, rounds alternated, the table.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per variant (default 3)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per round (default 20)")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="TREE",
        help="a source tree of the code before a change (git archive REV | tar -x -C TREE): its API"
        " runs beside this one on the same databases, rounds alternate, and ratios are reported",
    )
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    out: dict[str, object] = {"load_average_start": os.getloadavg()}
    apis = ["current", *(["baseline"] if args.baseline else [])]
    runs = [(api, variant) for api in apis for variant in ("full", "no-admin")]
    results: dict[tuple[str, str], list[dict[str, float | str]]] = {run: [] for run in runs}
    shares = {run: [0.0, 0.0] for run in runs}
    sched = {run: [0.0, 0.0] for run in runs}
    with (
        tempfile.TemporaryDirectory(prefix="sloctl-bench-latency-") as tmp,
        start_testbed(Path(tmp)) as tb,
        contextlib.ExitStack() as stack,
    ):
        urls = {"current": tb.api.url}
        pids = {"current": tb.api.pid}
        if args.baseline:
            baseline = start_baseline_api(tb, args.baseline, Path(tmp) / "baseline-api")
            stack.callback(baseline.stop)
            urls["baseline"] = baseline.url
            pids["baseline"] = baseline.pid
        for _ in range(args.rounds):
            for api, variant in runs:  # alternating, so the machine's changing load hits all alike
                with httpx.Client(base_url=urls[api], timeout=10) as metrics:
                    cpu_before, wait_before = scheduler_ms(pids[api])
                    before = share_under_20ms(metrics)
                    records = asyncio.run(one_round(urls[api], args.seconds, variant == "full"))
                    results[api, variant] += records
                    after = share_under_20ms(metrics)
                    cpu_after, wait_after = scheduler_ms(pids[api])
                sched[api, variant][0] += cpu_after - cpu_before
                sched[api, variant][1] += wait_after - wait_before
                shares[api, variant][0] += after[0] - before[0]
                shares[api, variant][1] += after[1] - before[1]
    out["load_average_end"] = os.getloadavg()
    summaries = {run: summarise(records, *shares[run]) for run, records in results.items()}
    for run, (cpu, wait) in sched.items():
        summaries[run]["api_cpu_ms_per_request"] = cpu / max(1, len(results[run]))
        summaries[run]["api_waiting_for_a_cpu_ms_per_request"] = wait / max(1, len(results[run]))
    for (api, variant), summary in summaries.items():
        out[variant if api == "current" else f"baseline {variant}"] = summary
    if args.baseline:
        out["ratios_current_to_baseline"] = {
            f"{variant} {side} p95": ratio(summaries, variant, side)
            for variant in ("full", "no-admin")
            for side in ("client_ms", "server_ms")
        }
    text = json.dumps(out, indent=2, default=lambda v: round(v, 2) if isinstance(v, float) else str(v))
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


def ratio(summaries: dict[tuple[str, str], dict[str, object]], variant: str, side: str) -> float:
    current = summaries["current", variant][side]
    baseline = summaries["baseline", variant][side]
    assert isinstance(current, dict) and isinstance(baseline, dict)
    return float(current["p95"]) / float(baseline["p95"])


if __name__ == "__main__":
    sys.exit(main())
