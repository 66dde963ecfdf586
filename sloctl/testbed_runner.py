"""Start the whole testbed: PostgreSQL, PgBouncer (transaction mode), Redis, MongoDB
(SecantusDB) and the platform API, all on loopback, with the same launchers as the test
fixtures (:mod:`sloctl.servers`).

>>> with start_testbed(Path("/tmp/tb")) as tb:       # doctest: +SKIP
...     print(tb.api.url)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets as random_secrets
import sys
import time
import urllib.error
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from sloctl.contract import LIVENESS_PATH, METRICS_PATH, READINESS_PATH, READINESS_TIMEOUT_SECONDS, TIERS
from sloctl.files import write_text
from sloctl.servers import (
    HttpProcess,
    ManagedProcess,
    MongoServer,
    PgBouncerServer,
    PostgresServer,
    RedisServer,
    ServerNotReady,
    ServerStartError,
    Stoppable,
    first_exited,
    free_port,
    open_direct,
    start_mongodb,
    start_pgbouncer,
    start_postgres,
    start_redis,
    stop_all,
)

__all__ = [
    "ApiServer",
    "Front",
    "FrontFactory",
    "Testbed",
    "WorkdirInUse",
    "api_secrets",
    "start_api",
    "start_testbed",
    "wait_ready",
    "write_api_keys",
]


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


#: the API keys by tier, for clients, in the API's home (see :func:`write_api_keys`)
CLIENT_KEYS = "client-keys.json"


class ApiServer(HttpProcess):
    """``python -m testbed`` (uvicorn) in a child process; ``secrets`` are environment
    variables of the child only (see :func:`api_secrets`), ``args`` its other flags. The audit
    log goes to ``home/audit.ndjson``."""

    name = "platform-api"
    startup_timeout = 30.0
    # The process answers: a test may start an API on a database that is down on purpose.
    # A testbed waits on its databases too (wait_ready, READINESS_PATH).
    ready_path = LIVENESS_PATH

    def __init__(
        self,
        *,
        port: int,
        home: Path,
        args: Sequence[str],
        secrets: Mapping[str, str],
        api_keys: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(host="127.0.0.1", port=port, logfile=home / "api.log", run_as=None)
        self.home = home
        self.args = tuple(args)
        self._secrets = dict(secrets)
        #: tier -> an API key of that tier's tenant (``Authorization: Bearer <key>``)
        self.api_keys = dict(api_keys or {})

    @property
    def client_keys_file(self) -> Path:
        """``{tier: key}`` (0600): what a client of each tier sends as ``Bearer``."""
        return self.home / CLIENT_KEYS

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


class Front(Protocol):
    """Something that listens on loopback in front of a database (a game day's fault proxy)."""

    port: int

    def stop(self) -> None: ...


#: ``(dependency, (host, port)) -> Front``: started in front of ``postgres`` (PgBouncer),
#: ``redis`` and ``mongodb``; the API connects through it.
FrontFactory = Callable[[str, tuple[str, int]], Front]


def _with_port(url: str, port: int | None) -> str:
    """``url`` with its port replaced (credentials, path and query kept); ``url`` itself when
    ``port`` is None."""
    if port is None:
        return url
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host = hostport.rsplit(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}{at}{host}:{port}"))


def write_api_keys(home: Path) -> dict[str, str]:
    """Draw one API key per tier (tenant ``<tier>-tenant``); write their SHA-256 to
    ``home/api-keys.json`` (the API's ``--api-keys``) and the keys themselves, by tier, to
    ``home/client-keys.json`` (for clients: game days, tests), both 0600; return ``{tier: key}``."""
    keys = {tier.name: random_secrets.token_urlsafe(24) for tier in TIERS}
    entries = [
        {"sha256": hashlib.sha256(key.encode()).hexdigest(), "tenant": f"{tier}-tenant", "tier": tier}
        for tier, key in keys.items()
    ]
    write_text(home / "api-keys.json", json.dumps({"keys": entries}, indent=2) + "\n", private=True)
    write_text(home / CLIENT_KEYS, json.dumps(keys, indent=2) + "\n", private=True)
    return keys


def start_api(
    workdir: Path,
    *,
    postgres: PostgresServer,
    pgbouncer: PgBouncerServer,
    redis: RedisServer,
    mongodb: MongoServer,
    port: int | None = None,
    options: Mapping[str, str | int | float] | None = None,
    through: Mapping[str, int] | None = None,
    start_timeout: float | None = None,
) -> ApiServer:
    """Start the API against running servers. ``options`` are extra ``python -m testbed``
    flags without the dashes, e.g. ``{"breaker-open-seconds": 2}``; ``through`` maps
    ``postgres`` (the PgBouncer path), ``redis`` and ``mongodb`` to the loopback port the API
    must connect to instead of the server's own (a fault proxy in front of it);
    ``start_timeout``: the most seconds its process may take to answer (None: its own)."""
    home = Path(workdir).resolve() / "api"
    home.mkdir(parents=True, exist_ok=True)
    keys = write_api_keys(home)
    args = ["--backup-dir", str(home / "backups"), "--api-keys", str(home / "api-keys.json")]
    for key, value in (options or {}).items():
        args += [f"--{key}", str(value)]
    ports = dict(through or {})
    secrets = api_secrets(
        postgres_dsn=_with_port(pgbouncer.dsn, ports.get("postgres")),
        postgres_direct_dsn=postgres.dsn,
        redis_url=_with_port(redis.url, ports.get("redis")),
        mongodb_uri=_with_port(mongodb.uri, ports.get("mongodb")),
    )
    server = ApiServer(port=port or free_port(), home=home, args=args, secrets=secrets, api_keys=keys)
    server.start(start_timeout)
    return server


# Our own API on loopback: never through a *_proxy of the environment.
def _readiness(api: ApiServer) -> tuple[bool, str]:
    """Whether ``api``'s readiness route answers 200, and its answer (or why none came)."""
    try:
        with open_direct(api.url + READINESS_PATH, timeout=READINESS_TIMEOUT_SECONDS + 2) as resp:
            return resp.status == 200, resp.read(4096).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return False, exc.read(4096).decode(errors="replace")
    except (OSError, urllib.error.URLError) as exc:
        return False, str(exc)


def wait_ready(api: ApiServer, timeout: float) -> None:
    """Wait until ``api``'s databases answer (its readiness route, 200), ``timeout`` seconds at
    most; :class:`~sloctl.servers.ServerStartError` naming the databases that did not, with the
    route's answer, after that (or at once when the API has exited)."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.1) + 2):  # bounded: one check per 0.1 s at most
        ready, answer = _readiness(api)
        if ready:
            return
        if not api.running or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    try:
        failing = ", ".join(json.loads(answer)["failing"]) or "none named"
    except (ValueError, KeyError, TypeError):
        failing = "unknown"
    raise ServerNotReady(
        f"{api.name} on {api.host}:{api.port} was not ready after {timeout:g} s (databases not"
        f" answering: {failing}); {READINESS_PATH} answered: {answer.strip()}"
    )


@dataclass
class Testbed(Stoppable):
    """Every process of a running testbed; :meth:`stop` stops them API first, then the fronts,
    then the databases."""

    postgres: PostgresServer
    pgbouncer: PgBouncerServer
    redis: RedisServer
    mongodb: MongoServer
    api: ApiServer
    workdir: Path
    fronts: dict[str, Front] = field(default_factory=dict)
    #: the work folder's lock (:func:`claim_workdir`), released by :meth:`stop`
    claim: int | None = None

    def urls(self) -> dict[str, str]:
        """Where each part listens, without credentials (for a terminal or a log)."""
        return {
            "api": self.api.url,
            "metrics": f"{self.api.url}{METRICS_PATH}",
            "postgres": f"{self.postgres.host}:{self.postgres.port}",
            "pgbouncer": f"{self.pgbouncer.host}:{self.pgbouncer.port}",
            "redis": f"{self.redis.host}:{self.redis.port}",
            "mongodb": f"{self.mongodb.host}:{self.mongodb.port}",
        }

    @property
    def servers(self) -> tuple[ManagedProcess, ...]:
        """Every server process of the testbed, the API first (the fronts are not processes)."""
        return (self.api, self.pgbouncer, self.postgres, self.redis, self.mongodb)

    def exited(self) -> str | None:
        """One line for the first server that has exited behind our back (killed, crashed),
        :func:`~sloctl.servers.first_exited`'s; None while all run."""
        return first_exited(self.servers)

    def stop(self) -> None:
        """Stop every server and front, each even when one before it failed to stop, release
        the work folder; then :class:`~sloctl.servers.ServerStopError` if any stop raised."""
        stops = [(self.api.name, self.api.stop), *((f"{n} front", f.stop) for n, f in self.fronts.items())]
        stops += [(s.name, s.stop) for s in (self.pgbouncer, self.postgres, self.redis, self.mongodb)]
        try:
            stop_all(stops)
        finally:
            if self.claim is not None:
                os.close(self.claim)  # the lock goes with its descriptor
                self.claim = None


class WorkdirInUse(ServerStartError):
    """Another running testbed holds the work folder (:func:`claim_workdir`)."""


#: the lock file of a work folder in use, holding the pid of the process that holds it
LOCK_FILE = "testbed.lock"


def claim_workdir(workdir: Path) -> int:
    """An exclusive lock (``flock``) on ``workdir``'s :data:`LOCK_FILE`, with this process's pid
    written in it: the descriptor, to keep open while the testbed runs (the kernel releases the
    lock when it is closed, however the process ends). :class:`WorkdirInUse` when another process
    holds it: a second testbed on the same data would fail in PostgreSQL's lock file after a page
    of its log, or worse, share Redis' and MongoDB's files."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise WorkdirInUse(
            f"work dir {workdir} is in use by a running testbed (pid {holder}); stop it or use "
            "another --workdir"
        ) from None
    except OSError:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def start_testbed(
    workdir: Path,
    *,
    port: int | None = None,
    options: Mapping[str, str | int | float] | None = None,
    mongodb_test_commands: bool = False,
    front: FrontFactory | None = None,
    start_timeout: float | None = None,
) -> Testbed:
    """Start the databases, a ``front`` in front of each database path when given (a game
    day's fault proxies), then the API, and wait until it is ready (:func:`wait_ready`: each
    database answers through the path the API uses); the one launcher of ``sloctl testbed up``,
    the game-day rig and the test fixtures. ``start_timeout``: the most seconds each server may
    take to be ready, the API's databases through it as well (``--start-timeout``; None: each
    server's own ``startup_timeout``). On any failure,
    stop what was started and raise :class:`~sloctl.servers.ServerStartError`
    (:class:`WorkdirInUse` before anything starts when another testbed runs in ``workdir``); on
    an interrupt (KeyboardInterrupt: a command's Ctrl-C), stop it and let the interrupt go on."""
    claim = claim_workdir(Path(workdir))
    with contextlib.ExitStack() as stack:
        stack.callback(os.close, claim)
        pg = stack.enter_context(start_postgres(workdir, start_timeout=start_timeout))
        pgb = stack.enter_context(start_pgbouncer(workdir, upstream=pg, start_timeout=start_timeout))
        rd = stack.enter_context(start_redis(workdir, start_timeout=start_timeout))
        mg = stack.enter_context(
            start_mongodb(workdir, test_commands=mongodb_test_commands, start_timeout=start_timeout)
        )
        fronts: dict[str, Front] = {}
        if front is not None:
            for name, server in (("postgres", pgb), ("redis", rd), ("mongodb", mg)):
                fronts[name] = front(name, (server.host, server.port))
                stack.callback(fronts[name].stop)
        through = {name: f.port for name, f in fronts.items()}
        api = start_api(
            workdir,
            postgres=pg,
            pgbouncer=pgb,
            redis=rd,
            mongodb=mg,
            port=port,
            options=options,
            through=through,
            start_timeout=start_timeout,
        )
        stack.callback(api.stop)
        # Live is not ready: the API starts without its databases (its breakers tell), and a
        # testbed is up only when each of them answers through the path the API uses.
        wait_ready(api, api.startup_timeout if start_timeout is None else start_timeout)
        stack.pop_all()
    return Testbed(
        postgres=pg,
        pgbouncer=pgb,
        redis=rd,
        mongodb=mg,
        api=api,
        workdir=Path(workdir),
        fronts=fronts,
        claim=claim,
    )


# Re-exported so callers can catch start-up failures without importing sloctl.servers.
TestbedStartError = ServerStartError
