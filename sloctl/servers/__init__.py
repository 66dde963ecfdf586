"""Real local servers on loopback for tests, ``sloctl testbed up``, benchmarks and game days.

Every launcher binds 127.0.0.1 on a free port, uses password authentication where the server
has it (so that wrong-password tests mean something), waits for readiness with a bounded
timeout, and returns an object with ``stop()``, ``pause()``/``resume()`` (SIGSTOP/SIGCONT of
the server and every process it forked: a "frozen" server), ``restart()`` (same port, same data) and context
manager support.

>>> with start_postgres(tmp) as pg, start_pgbouncer(tmp, upstream=pg) as pgb:  # doctest: +SKIP
...     psycopg.connect(pgb.dsn, prepare_threshold=None)
"""

from ._postgres import PgBouncerServer, PostgresServer, pg_bin, start_pgbouncer, start_postgres
from ._process import (
    HttpProcess,
    ManagedProcess,
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
    "HttpProcess",
    "ManagedProcess",
    "MongoServer",
    "PgBouncerServer",
    "PostgresServer",
    "RedisServer",
    "RedisTls",
    "ServerStartError",
    "ServerStopError",
    "Stoppable",
    "first_exited",
    "free_port",
    "open_direct",
    "pg_bin",
    "signal_group",
    "start_mongodb",
    "start_pgbouncer",
    "start_postgres",
    "start_redis",
    "stop_all",
]
