"""Start the whole testbed: PostgreSQL, PgBouncer (transaction mode), Redis, MongoDB
(SecantusDB) and the platform API, all on loopback, with the same launchers as the test
fixtures (:mod:`sloctl.servers`).

>>> with start_testbed(Path("/tmp/tb")) as tb:       # doctest: +SKIP
...     print(tb.api.url)
"""

from __future__ import annotations

import contextlib
import http.client
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from sloctl.servers import (
    ManagedProcess,
    MongoServer,
    PgBouncerServer,
    PostgresServer,
    RedisServer,
    ServerStartError,
    free_port,
    start_mongodb,
    start_pgbouncer,
    start_postgres,
    start_redis,
)

__all__ = ["ApiServer", "Testbed", "api_secrets", "start_api", "start_testbed"]


def api_secrets(
    *, postgres_dsn: str, postgres_direct_dsn: str, redis_url: str, mongodb_uri: str
) -> dict[str, str]:
    """The API's connection strings as the environment variables ``python -m testbed`` reads:
    passwords never go on a command line, which any user can read in ``ps``."""
    return {
        "TESTBED_POSTGRES_DSN": postgres_dsn,
        "TESTBED_POSTGRES_DIRECT_DSN": postgres_direct_dsn,
        "TESTBED_REDIS_URL": redis_url,
        "TESTBED_MONGODB_URI": mongodb_uri,
    }


class ApiServer(ManagedProcess):
    """``python -m testbed`` (uvicorn) in a child process; ``secrets`` are environment
    variables of the child only (see :func:`api_secrets`), ``args`` its other flags. The audit
    log goes to ``home/audit.ndjson``."""

    name = "platform-api"
    startup_timeout = 30.0

    def __init__(self, *, port: int, home: Path, args: Sequence[str], secrets: Mapping[str, str]) -> None:
        super().__init__(host="127.0.0.1", port=port, logfile=home / "api.log", run_as=None)
        self.home = home
        self.args = tuple(args)
        self._secrets = dict(secrets)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def audit_log(self) -> Path:
        return self.home / "audit.ndjson"

    def _command(self) -> Sequence[str]:
        return [
            sys.executable,
            "-m",
            "testbed",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--audit-log",
            str(self.audit_log),
            *self.args,
        ]

    def _env(self) -> dict[str, str]:
        return {**os.environ, **self._secrets}

    def _ready(self) -> bool:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=1)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()


def start_api(
    workdir: Path,
    *,
    postgres: PostgresServer,
    pgbouncer: PgBouncerServer,
    redis: RedisServer,
    mongodb: MongoServer,
    port: int | None = None,
    options: Mapping[str, str | int | float] | None = None,
) -> ApiServer:
    """Start the API against running servers. ``options`` are extra ``python -m testbed``
    flags without the dashes, e.g. ``{"breaker-open-seconds": 2}``."""
    home = Path(workdir).resolve() / "api"
    home.mkdir(parents=True, exist_ok=True)
    args = ["--backup-dir", str(home / "backups")]
    for key, value in (options or {}).items():
        args += [f"--{key}", str(value)]
    secrets = api_secrets(
        postgres_dsn=pgbouncer.dsn,
        postgres_direct_dsn=postgres.dsn,
        redis_url=redis.url,
        mongodb_uri=mongodb.uri,
    )
    server = ApiServer(port=port or free_port(), home=home, args=args, secrets=secrets)
    server._spawn()
    return server


@dataclass
class Testbed:
    """Every process of a running testbed; :meth:`stop` stops them API first."""

    postgres: PostgresServer
    pgbouncer: PgBouncerServer
    redis: RedisServer
    mongodb: MongoServer
    api: ApiServer
    workdir: Path
    _stopped: bool = field(default=False, repr=False)

    def urls(self) -> dict[str, str]:
        return {
            "api": self.api.url,
            "metrics": f"{self.api.url}/metrics",
            "postgres": self.postgres.dsn,
            "pgbouncer": self.pgbouncer.dsn,
            "pgbouncer_admin": self.pgbouncer.admin_dsn,
            "redis": self.redis.url,
            "mongodb": self.mongodb.uri,
        }

    def stop(self) -> None:
        for server in (self.api, self.pgbouncer, self.postgres, self.redis, self.mongodb):
            with contextlib.suppress(Exception):
                server.stop()
        self._stopped = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_testbed(
    workdir: Path, *, port: int | None = None, options: Mapping[str, str | int | float] | None = None
) -> Testbed:
    """Start the databases, then the API. On any failure, stop what was started and raise
    :class:`~sloctl.servers.ServerStartError`."""
    started: list[ManagedProcess] = []
    try:
        pg = start_postgres(workdir)
        started.append(pg)
        pgb = start_pgbouncer(workdir, upstream=pg)
        started.append(pgb)
        rd = start_redis(workdir)
        started.append(rd)
        mg = start_mongodb(workdir)
        started.append(mg)
        api = start_api(workdir, postgres=pg, pgbouncer=pgb, redis=rd, mongodb=mg, port=port, options=options)
    except BaseException:
        for server in reversed(started):
            with contextlib.suppress(Exception):
                server.stop()
        raise
    return Testbed(postgres=pg, pgbouncer=pgb, redis=rd, mongodb=mg, api=api, workdir=Path(workdir))


# Re-exported so callers can catch start-up failures without importing sloctl.servers.
TestbedStartError = ServerStartError
