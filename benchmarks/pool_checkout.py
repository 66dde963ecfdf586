"""What the testbed's check of a pooled PostgreSQL connection costs as it leaves the pool, side by
side with the check psycopg_pool offers (docs/benchmarks.md, "A pooled connection's check").

    .venv/bin/python benchmarks/pool_checkout.py [--checkouts 2000] [--rounds 3]

Starts PostgreSQL and PgBouncer (transaction mode, as the testbed runs them) in a temporary
folder, opens one psycopg pool through PgBouncer, and times, in each round and one after the
other, ``--checkouts`` checkouts of a connection from it three ways: as they are (nothing
checked), with the testbed's check (``testbed.dependencies._checked_out``: a poll of the socket,
no round trip) and with ``AsyncConnectionPool.check_connection`` (an empty query through
PgBouncer, which takes a server connection for it). Prints the median per checkout of each and
their ratio to the unchecked one.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from psycopg_pool import AsyncConnectionPool  # noqa: E402

from sloctl.servers import start_pgbouncer, start_postgres  # noqa: E402
from testbed.dependencies import PgPool, _checked_out  # noqa: E402


async def _plain(pool: PgPool) -> None:
    conn = await pool.getconn()
    await pool.putconn(conn)


async def _ours(pool: PgPool) -> None:
    conn = await _checked_out(pool)
    await pool.putconn(conn)


async def _psycopg(pool: PgPool) -> None:
    conn = await pool.getconn()
    await AsyncConnectionPool.check_connection(conn)
    await pool.putconn(conn)


WAYS: dict[str, Callable[[PgPool], Awaitable[None]]] = {
    "unchecked": _plain,
    "testbed (poll of the socket)": _ours,
    "psycopg_pool.check_connection": _psycopg,
}


async def _rounds(dsn: str, checkouts: int, rounds: int) -> dict[str, list[float]]:
    taken: dict[str, list[float]] = {name: [] for name in WAYS}
    pool: PgPool = AsyncConnectionPool(
        dsn, min_size=1, max_size=1, open=False, kwargs={"prepare_threshold": None, "autocommit": True}
    )
    await pool.open(wait=True)
    try:
        for _ in range(rounds):
            for name, way in WAYS.items():
                began = time.perf_counter()
                for _ in range(checkouts):
                    await way(pool)
                taken[name].append((time.perf_counter() - began) / checkouts)
    finally:
        await pool.close()
    return taken


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkouts", type=int, default=2000, help="checkouts per way and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="sloctl-bench-pool-"))
    try:
        with start_postgres(base) as pg, start_pgbouncer(base, upstream=pg) as pgb:
            taken = asyncio.run(_rounds(pgb.dsn, args.checkouts, args.rounds))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    plain = statistics.median(taken["unchecked"])
    print(f"{'checkout':32} {'median µs':>10} {'× unchecked':>12}")
    for name, figures in taken.items():
        median = statistics.median(figures)
        print(f"{name:32} {median * 1e6:10.1f} {median / plain:12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
