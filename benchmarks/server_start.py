"""How long each server of the testbed takes to become ready, against its own start timeout
(``startup_timeout``), which ``--start-timeout`` replaces (docs/benchmarks.md, Start timeout).

    .venv/bin/python benchmarks/server_start.py [--rounds 5]

Each round starts the testbed's servers one by one in a fresh work folder, as
:func:`sloctl.testbed_runner.start_testbed` does, and times each start from its call to its
return (the process started and its readiness check answered; PostgreSQL's includes initdb and
making its role and database), then the API's databases answering through it
(:func:`~sloctl.testbed_runner.wait_ready`). Prints the median and the worst of each, and the
server's own timeout beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sloctl.servers import start_mongodb, start_pgbouncer, start_postgres, start_redis  # noqa: E402
from sloctl.testbed_runner import ApiServer, start_api, wait_ready  # noqa: E402

T = TypeVar("T")


def _round(workdir: Path, taken: dict[str, list[float]], own: dict[str, float]) -> None:
    """Start every server in ``workdir``, adding each one's seconds to ``taken`` and its own
    timeout to ``own``; stop them all."""

    def timed(name: str, start: Callable[[], T]) -> T:
        began = time.monotonic()
        started = start()
        taken.setdefault(name, []).append(time.monotonic() - began)
        return started

    with contextlib.ExitStack() as stack:
        pg = stack.enter_context(timed("postgres (initdb, start, role)", lambda: start_postgres(workdir)))
        pgb = stack.enter_context(timed("pgbouncer", lambda: start_pgbouncer(workdir, upstream=pg)))
        rd = stack.enter_context(timed("redis", lambda: start_redis(workdir)))
        mg = stack.enter_context(timed("mongodb", lambda: start_mongodb(workdir)))
        api = stack.enter_context(
            timed(
                "platform-api", lambda: start_api(workdir, postgres=pg, pgbouncer=pgb, redis=rd, mongodb=mg)
            )
        )
        timed("its databases through it", lambda: wait_ready(api, ApiServer.startup_timeout))
        for name, server in (("postgres (initdb, start, role)", pg), ("pgbouncer", pgb), ("redis", rd)):
            own[name] = server.startup_timeout
        own |= {"mongodb": mg.startup_timeout, "platform-api": api.startup_timeout}
        own["its databases through it"] = ApiServer.startup_timeout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="testbeds started (default 5)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="sloctl-bench-start-"))
    base.chmod(0o711)  # PostgreSQL's user must reach its data
    taken: dict[str, list[float]] = {}
    own: dict[str, float] = {}
    try:
        for number in range(args.rounds):
            _round(base / f"round{number}", taken, own)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"{'server':32} {'median s':>9} {'worst s':>8} {'own timeout s':>14}")
    for name, figures in taken.items():
        print(f"{name:32} {statistics.median(figures):9.2f} {max(figures):8.2f} {own[name]:14g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
