"""The plan's pagination claim, measured: offset against cursor through the API.

    .venv/bin/python benchmarks/pagination.py [--rows 200000] [--repeats 30] [--json out.json]

Starts the testbed (PostgreSQL 15 behind PgBouncer in transaction mode, the API), fills the
``projects`` table with ``--rows`` rows (one INSERT … SELECT generate_series, directly in
PostgreSQL: the rows are listing data, not provisioned schemas), then times
``GET /v1/projects?limit=20`` through the API at several depths:

- ``offset=D`` (the database reads and discards D rows: ``ORDER BY id LIMIT 21 OFFSET D``);
- ``cursor`` at the same depth (``WHERE id > last ORDER BY id LIMIT 21``: an index range scan),
  the cursor found by walking the listing with ``next`` links (cursors are signed; the
  benchmark cannot make one up either).

Each point is requested ``--repeats`` times, interleaved offset/cursor so that the machine's
load hits both alike; the median and p95 of the client-side time and of the API's own time
(``Server-Timing``) are reported, with the offset/cursor ratio per depth.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sloctl.testbed_runner import start_testbed  # noqa: E402

LIMIT = 20
FILL = """
INSERT INTO projects (name, schema_name)
SELECT 'bench_' || g, 'project_bench_' || g FROM generate_series(1, %s) AS g
"""


def cursors_at(client: httpx.Client, depths: list[int]) -> dict[int, str]:
    """The ``next`` URL whose page starts at each depth, walking 100 rows a page."""
    out: dict[int, str] = {0: f"/v1/projects?limit={LIMIT}"}
    url: str | None = "/v1/projects?limit=100"
    seen = 0
    wanted = sorted(d for d in depths if d > 0)
    for _ in range(max(wanted, default=0) // 100 + 2):  # bounded: one page per 100 rows
        if url is None or not wanted:
            break
        r = client.get(url)
        r.raise_for_status()
        seen += len(r.json()["items"])
        url = r.links.get("next", {}).get("url")
        while wanted and seen >= wanted[0] and url is not None:
            assert seen == wanted[0], "depths must be multiples of 100"
            out[wanted.pop(0)] = url.replace("limit=100", f"limit={LIMIT}")
    return out


def timed(client: httpx.Client, url: str) -> tuple[float, float]:
    started = time.perf_counter()
    r = client.get(url)
    took = (time.perf_counter() - started) * 1000
    r.raise_for_status()
    assert len(r.json()["items"]) == LIMIT, url
    return took, float(r.headers["server-timing"].split("dur=")[1])


def summary(points: list[tuple[float, float]]) -> dict[str, float]:
    client = [p[0] for p in points]
    server = [p[1] for p in points]
    p95 = statistics.quantiles(client, n=20)[18] if len(client) >= 20 else max(client)
    return {
        "client_median_ms": round(statistics.median(client), 2),
        "client_p95_ms": round(p95, 2),
        "server_median_ms": round(statistics.median(server), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    depths = [d for d in (0, 1_000, 10_000, 100_000, args.rows - 1_000) if d < args.rows]
    result: dict[str, object] = {"rows": args.rows, "limit": LIMIT, "load_average_start": os.getloadavg()}
    with (
        tempfile.TemporaryDirectory(prefix="sloctl-bench-pagination-") as tmp,
        start_testbed(Path(tmp), options={"rate-limit": 100000, "rate-burst": 100000}) as tb,
        httpx.Client(base_url=tb.api.url, timeout=60) as client,
    ):
        client.get("/v1/projects?limit=1").raise_for_status()  # the API creates its table
        with psycopg.connect(tb.postgres.dsn, autocommit=True) as conn:
            started = time.perf_counter()
            conn.execute(FILL, (args.rows,))
            conn.execute("ANALYZE projects")
            result["fill_seconds"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        cursor_urls = cursors_at(client, depths)
        result["walk_seconds"] = round(time.perf_counter() - started, 1)
        timings: dict[str, dict[int, list[tuple[float, float]]]] = {
            "offset": {d: [] for d in depths},
            "cursor": {d: [] for d in depths},
        }
        for d in depths:  # warm both paths once (connection, plan cache)
            timed(client, f"/v1/projects?limit={LIMIT}&offset={d}")
            timed(client, cursor_urls[d])
        for _ in range(args.repeats):
            for d in depths:
                timings["offset"][d].append(timed(client, f"/v1/projects?limit={LIMIT}&offset={d}"))
                timings["cursor"][d].append(timed(client, cursor_urls[d]))
    per_depth = {}
    for d in depths:
        off, cur = summary(timings["offset"][d]), summary(timings["cursor"][d])
        per_depth[str(d)] = {
            "offset": off,
            "cursor": cur,
            "ratio_client_median": round(off["client_median_ms"] / cur["client_median_ms"], 1),
            "ratio_server_median": round(off["server_median_ms"] / cur["server_median_ms"], 1),
        }
    result["depths"] = per_depth
    result["load_average_end"] = os.getloadavg()
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
