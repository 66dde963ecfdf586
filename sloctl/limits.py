"""Number flags: the argparse types that read a number within named bounds, and the bounds of the
testbed's settings, defined once for the two command lines that take them (``sloctl testbed up``
and the testbed's own, ``python -m testbed``, which ``testbed up`` starts and people run too).

A bound says why it is where it is; a refusal names the bound and that reason, so that a typo
(``--rate-limit 1e300``, ``--pool-size 0``, ``--breaker-open-seconds nan``) stops before anything
starts, never as a traceback or a server that never refuses a request.

>>> RATE_LIMIT("1000")
1000.0
>>> RATE_LIMIT("1e300")
Traceback (most recent call last):
argparse.ArgumentTypeError: 1e300: give a number above 0 and at most 1,000,000 (a higher limit ...)
>>> count(32, "why")("nan")
Traceback (most recent call last):
argparse.ArgumentTypeError: 'nan' is not a whole number; give 1 to 32
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from sloctl.durations import DAY
from sloctl.ports import MAX_PORT

__all__ = [
    "BACKUP_QUEUE",
    "BACKUP_TIMEOUT",
    "BACKUP_WORKERS",
    "BREAKER_MINIMUM_CALLS",
    "BREAKER_OPEN_SECONDS",
    "BREAKER_WINDOW_SECONDS",
    "CALL_TIMEOUT",
    "CLIENT_WAIT",
    "FAILURE_RATIO",
    "KEEP_ALIVE",
    "MAX_BACKUP_QUEUE",
    "MAX_BACKUP_TIMEOUT",
    "MAX_BACKUP_WORKERS",
    "MAX_BREAKER_MINIMUM_CALLS",
    "MAX_BREAKER_OPEN_SECONDS",
    "MAX_CALL_TIMEOUT",
    "MAX_CLIENT_WAIT",
    "MAX_POOL_SIZE",
    "MAX_RATE_BURST",
    "MAX_RATE_LIMIT",
    "MAX_RUN_SECONDS",
    "MAX_START_TIMEOUT_SECONDS",
    "MIN_BREAKER_WINDOW_SECONDS",
    "MIN_START_TIMEOUT_SECONDS",
    "POOL_SIZE",
    "PORT",
    "RATE_BURST",
    "RATE_LIMIT",
    "START_TIMEOUT",
    "count",
    "number_from",
    "number_within",
    "positive_number",
]


def number_within(text: str, *, least: float, most: float, strict: bool, give: str) -> float:
    """``text`` as a number at or above ``least`` (above it when ``strict``) and at most ``most``,
    or an argparse error saying what to ``give``: ``nan``, ``inf``, ``1e308`` and ``-5`` are
    refused by name (a huge value overflows the arithmetic it feeds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give {give}") from None
    if not (least < value if strict else least <= value) or not value <= most:
        raise argparse.ArgumentTypeError(f"{text}: give {give}")
    return value


def positive_number(most: float, why: str) -> Callable[[str], float]:
    """An argparse type: a number above 0 and at most ``most``; ``why`` says where that bound
    comes from, in the refusal (``--rate-limit 1e10: give a number above 0 and at most 1,000,000
    (…)``), as :func:`count` says it of a whole number."""

    def convert(text: str) -> float:
        give = f"a number above 0 and at most {most:,.0f} ({why})"
        return number_within(text, least=0, most=most, strict=True, give=give)

    return convert


def number_from(least: float, most: float, why: str) -> Callable[[str], float]:
    """An argparse type: a number from ``least`` to ``most``; ``why`` says where those bounds
    come from, in the refusal, as :func:`positive_number` says it of a number above 0."""

    def convert(text: str) -> float:
        give = f"a number from {least:,g} to {most:,.0f} ({why})"
        return number_within(text, least=least, most=most, strict=False, give=give)

    return convert


def count(most: int, why: str) -> Callable[[str], int]:
    """An argparse type: a whole number from 1 to ``most``; ``why`` says where that bound comes
    from, in the refusal (``--backup-workers 100000: give 1 to 32 (each dump holds …)``), so that
    a count that would start that many processes, users or jobs stops before anything starts."""

    def convert(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give 1 to {most:,}") from None
        if not 1 <= value <= most:
            raise argparse.ArgumentTypeError(f"{text}: give 1 to {most:,} ({why})")
        return value

    return convert


#: The longest a foreground run lasts (``sloctl testbed up --for``, ``gameday rig --for``, and
#: "until Ctrl-C" too): a week, so that a forgotten run stops.
MAX_RUN_SECONDS = 7.0 * DAY

#: The most ``pg_dump`` processes ``--backup-workers`` lets run at once. Each holds a session of
#: the testbed's PostgreSQL, whose 100 connections (``start_postgres``' ``max_connections``) it
#: shares with PgBouncer's pools, the collector's probes and a game day's admin sessions; and each
#: dump is a process of 100–380 ms of CPU (docs/benchmarks.md, Testbed), so that on the 2-core
#: machine class a handful at once already fill it. 100,000 started as many idle workers, and a
#: full queue that many dumps at once.
MAX_BACKUP_WORKERS = 32
#: The most backups ``--backup-queue`` lets wait: the API keeps its last 1,000 jobs
#: (``testbed.backups.BackupJobs``' ``keep``) and, given a longer queue, failed to start with a
#: traceback in its log.
MAX_BACKUP_QUEUE = 1000
#: The highest ``--rate-limit`` (requests/s per client): a thousand times the plan's default of
#: 1,000, and thousands of times what the testbed serves on the 2-core machine class (376 req/s
#: for the full route mix, docs/benchmarks.md, Testbed); a limit above it never refuses a request,
#: so that it can only be a typo (1e9 was taken).
MAX_RATE_LIMIT = 1e6
#: The largest ``--rate-burst``: the bucket of each client, the requests it may send at once
#: before ``--rate-limit`` holds it back (``testbed.ratelimit.TokenBucket``'s capacity). A second's
#: worth at the highest ``--rate-limit`` (``MAX_RATE_LIMIT``) and 500 times the plan's default of
#: 2,000. A client sending all the testbed serves on the 2-core machine class (376 req/s for the
#: full route mix, docs/benchmarks.md, Testbed) takes 44 minutes to empty a bucket that size, so
#: that a larger one can only be a typo (1e9 was taken; the game days' "no limit" sets 100,000).
MAX_RATE_BURST = 1_000_000
#: The longest ``--breaker-open-seconds`` (and ``--breaker-window-seconds``): a week, the longest
#: a testbed runs (``MAX_RUN_SECONDS``). A breaker held open longer never makes its half-open trial
#: within a run: its dependency is cut for good, which is a fault to inject (a game day), not a
#: breaker setting; a window longer than the run counts no call more.
MAX_BREAKER_OPEN_SECONDS = MAX_RUN_SECONDS
#: The narrowest ``--breaker-window-seconds``: one bucket of a breaker's rolling window (the
#: window moves in steps of it: ``testbed.breaker.BreakerSettings.bucket_seconds`` is this). A
#: narrower window holds no whole bucket; the testbed refused it at start naming its field
#: (``bucket_seconds must not exceed window_seconds``), not the flag.
MIN_BREAKER_WINDOW_SECONDS = 1.0
#: The longest ``--backup-timeout``: an hour. A dump of the testbed's schema takes 100–380 ms
#: (docs/benchmarks.md, Testbed) and the default of 60 s is 150 times that; a ``pg_dump`` still
#: running after an hour is hung, and it holds one of the ``--backup-workers`` and its PostgreSQL
#: session all that time (1e9 s was taken: a hung dump was never killed).
MAX_BACKUP_TIMEOUT = 3600.0
#: The largest ``--pool-size`` of the API's PostgreSQL pool: the testbed's PgBouncer takes 200
#: clients (``start_pgbouncer``' ``max_client_conn``), which the plan's ``(cores × 2) + 1`` fills
#: on no machine of fewer than 100 cores; a larger pool gets "no more connections allowed".
MAX_POOL_SIZE = 200
#: The most calls ``--breaker-minimum-calls`` asks for in a window before a breaker judges it:
#: 44 minutes of all the testbed serves on the 2-core machine class (376 req/s,
#: docs/benchmarks.md, Testbed); a breaker waiting for more never opens in a game day.
MAX_BREAKER_MINIMUM_CALLS = 1_000_000
#: The longest call timeout (``--default-timeout``, ``--postgres-timeout``…): ten minutes, sixty
#: times the plan's longest (MongoDB, 10 s). A call waited on longer holds a pool connection and
#: its request all that time, long after any client gave up on the answer.
MAX_CALL_TIMEOUT = 600.0
#: The longest the API waits on a client (``--head-timeout``, ``--body-timeout``, ``--keep-alive``):
#: ten minutes, sixty times the 10 s a whole 64 KiB head or body takes at 56 kbit/s. Each wait
#: holds a connection of the server's, which a client dripping bytes or idling would keep.
MAX_CLIENT_WAIT = 600

#: The shortest ``--start-timeout``: a second. On the 2-core machine class the slowest server to
#: answer, the API, takes about half a second (its imports: 0.4–0.5 s at a load average of 3 to
#: 4.6, PgBouncer and Redis under 0.1 s; docs/benchmarks.md, Start timeout), so a shorter limit
#: fails every start but the luckiest.
MIN_START_TIMEOUT_SECONDS = 1.0
#: The longest ``--start-timeout``: an hour, sixty times the longest a server waits by its own
#: (Prometheus, 60 s). A server not ready after an hour is stuck, and a command waits that long on
#: each of its servers in turn before it says so (1e9 would have waited for ever).
MAX_START_TIMEOUT_SECONDS = 3600.0

#: ``--port`` of the API
PORT = count(MAX_PORT, "the highest TCP port")
#: ``--pool-size`` (the API's PostgreSQL pool)
POOL_SIZE = count(MAX_POOL_SIZE, f"the testbed's PgBouncer takes {MAX_POOL_SIZE} clients")
#: ``--rate-limit`` (requests/s per client)
RATE_LIMIT = positive_number(MAX_RATE_LIMIT, "a higher limit would refuse no request")
#: ``--rate-burst`` (requests a client may send at once)
RATE_BURST = count(MAX_RATE_BURST, "a second's worth at the highest --rate-limit")
#: ``--backup-workers`` (``pg_dump`` processes at a time)
BACKUP_WORKERS = count(
    MAX_BACKUP_WORKERS, "each dump holds a session of the testbed's PostgreSQL, which takes 100"
)
#: ``--backup-queue`` (backups waiting at most)
BACKUP_QUEUE = count(MAX_BACKUP_QUEUE, f"the API keeps its last {MAX_BACKUP_QUEUE:,} backup jobs")
#: ``--backup-timeout`` (seconds a ``pg_dump`` may run)
BACKUP_TIMEOUT = positive_number(
    MAX_BACKUP_TIMEOUT, "a dump takes under a second; one running an hour is hung"
)
#: ``--breaker-open-seconds``
BREAKER_OPEN_SECONDS = positive_number(MAX_BREAKER_OPEN_SECONDS, "a week, the longest a testbed runs")
#: ``--breaker-window-seconds``
BREAKER_WINDOW_SECONDS = number_from(
    MIN_BREAKER_WINDOW_SECONDS, MAX_BREAKER_OPEN_SECONDS, "a bucket of the window at least, a week at most"
)
#: ``--breaker-minimum-calls``
BREAKER_MINIMUM_CALLS = count(
    MAX_BREAKER_MINIMUM_CALLS, "a breaker waiting for more never opens in a game day"
)
#: ``--WHAT-failure-ratio``: a share of a window's calls
FAILURE_RATIO = positive_number(1, "a share of the window's calls")
#: ``--default-timeout`` and ``--DEPENDENCY-timeout`` (seconds)
CALL_TIMEOUT = positive_number(MAX_CALL_TIMEOUT, "sixty times the plan's longest call timeout")
#: ``--head-timeout`` and ``--body-timeout`` (seconds)
CLIENT_WAIT = positive_number(MAX_CLIENT_WAIT, "each wait holds one of the server's connections")
#: ``--keep-alive`` (whole seconds, as uvicorn takes it)
KEEP_ALIVE = count(MAX_CLIENT_WAIT, "each wait holds one of the server's connections")
#: ``--start-timeout`` (seconds each server may take to become ready)
START_TIMEOUT = number_from(
    MIN_START_TIMEOUT_SECONDS, MAX_START_TIMEOUT_SECONDS, "a server not ready after an hour is stuck"
)
