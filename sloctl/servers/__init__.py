"""Real local servers on loopback for tests, ``sloctl testbed up``, benchmarks and game days.

Every launcher binds 127.0.0.1 on a free port, uses password authentication where the server
has it (so that wrong-password tests mean something), waits for readiness with a bounded
timeout, and returns an object with ``stop()``, ``pause()``/``resume()`` (SIGSTOP/SIGCONT of
the server and every process it forked: a "frozen" server), ``restart()`` (same port, same data) and context
manager support.

>>> with start_postgres(tmp) as pg, start_pgbouncer(tmp, upstream=pg) as pgb:  # doctest: +SKIP
...     psycopg.connect(pgb.dsn, prepare_threshold=None)
"""

import os

from ._lifeline import LIFELINE
from ._postgres import (
    UNIX_SOCKET_PATH_MAX,
    PgBouncerClientTlsMode,
    PgBouncerServer,
    PostgresServer,
    pg_bin,
    start_pgbouncer,
    start_postgres,
)
from ._process import (
    HttpProcess,
    ManagedProcess,
    ServerNotReady,
    ServerStartError,
    ServerStopError,
    Stoppable,
    first_exited,
    free_port,
    open_direct,
    signal_group,
    stop_all,
)
from ._redis_mongo import MongoServer, RedisServer, RedisTls, start_mongodb, start_redis

__all__ = [
    "UNIX_SOCKET_PATH_MAX",
    "HttpProcess",
    "ManagedProcess",
    "MongoServer",
    "PgBouncerClientTlsMode",
    "PgBouncerServer",
    "PostgresServer",
    "RedisServer",
    "RedisTls",
    "ServerNotReady",
    "ServerStartError",
    "ServerStopError",
    "Stoppable",
    "first_exited",
    "free_port",
    "keep_at_exit",
    "open_direct",
    "pg_bin",
    "remove_at_exit",
    "signal_group",
    "start_mongodb",
    "start_pgbouncer",
    "start_postgres",
    "start_redis",
    "stop_all",
]


def remove_at_exit(path: str | os.PathLike[str]) -> None:
    """Remove the folder ``path`` when this process ends, however it ends: its lifeline (a
    watcher process, ``_lifeline``) removes it after stopping the servers still registered, so
    that a SIGKILLed ``sloctl testbed up`` leaves no databases in /tmp. A process that ends
    normally removes it itself first, or calls :func:`keep_at_exit`."""
    LIFELINE.remove_at_end(path)


def keep_at_exit(path: str | os.PathLike[str]) -> None:
    """Undo :func:`remove_at_exit`: the folder stays (a failed run's, kept for its logs)."""
    LIFELINE.keep(path)
