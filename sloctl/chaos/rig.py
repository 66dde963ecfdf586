"""A game-day rig: the testbed's real databases and API, with a :class:`FaultProxy` between
the API and each database, so that latency and resets can be injected on the data path.

    with start_rig(workdir, options={"breaker-open-seconds": 3}) as rig:   # doctest: +SKIP
        run_gameday("chaos/connection-loss.json", configuration=rig.configuration())
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit

from sloctl.servers import (
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
from sloctl.testbed_runner import ApiServer, api_secrets

from .proxy import FaultProxy

__all__ = [
    "QUICK_OPTIONS",
    "QUICK_TIMINGS",
    "GamedayRig",
    "prometheus_config",
    "start_rig",
    "wait_for_recordings",
    "with_port",
]

#: API flags for game days of at most 60 s: breakers open for 3 s, judge a 5 s window of at
#: least 10 calls; short call timeouts; no rate limit in the way of the load.
QUICK_OPTIONS: dict[str, str | int | float] = {
    "breaker-open-seconds": 3,
    "breaker-window-seconds": 5,
    "breaker-minimum-calls": 10,
    "postgres-timeout": 1,
    "redis-timeout": 0.5,
    "mongodb-timeout": 1,
    "rate-limit": 100000,
    "rate-burst": 100000,
}

#: The experiments' timings matched to :data:`QUICK_OPTIONS` (the defaults in the experiments
#: are the plan's: 30 s open, 10 s window): latency above the 0.5 s Redis timeout, a MongoDB
#: block above its 1 s timeout, the expected page within 30 s of the fault.
QUICK_TIMINGS: dict[str, str | int | float] = {
    "breaker_open_seconds": 3,
    "breaker_window_seconds": 10,
    "recover_timeout_seconds": 15,
    "gameday_seconds": 55,
    "load_rate": 20,
    "latency_ms": 800,
    "mongodb_block_ms": 3000,
    "detection_deadline_seconds": 30,
}


def prometheus_config(api_url: str, rule_files: Sequence[str], interval: str = "1s") -> str:
    """A Prometheus configuration that scrapes the API's ``/metrics`` and evaluates
    ``rule_files`` (the generated rules), both every ``interval``."""
    target = urlsplit(api_url).netloc
    files = ", ".join(f"'{f}'" for f in rule_files)
    return (
        f"global: {{scrape_interval: {interval}, evaluation_interval: {interval}}}\n"
        f"rule_files: [{files}]\n"
        f"scrape_configs: [{{job_name: platform-api, static_configs: [{{targets: ['{target}']}}]}}]\n"
    )


def wait_for_recordings(prometheus_url: str, timeout: float = 30.0) -> None:
    """Until Prometheus has evaluated the generated rules once (the game days' budget gate
    reads ``sloctl:period_error_budget_remaining:ratio``); ServerStartError after ``timeout``."""
    from sloctl import naming

    from .probes import prometheus_query

    deadline = time.monotonic() + timeout
    while math.isnan(prometheus_query(prometheus_url, naming.BUDGET_REMAINING)):
        if time.monotonic() > deadline:
            raise ServerStartError(f"Prometheus evaluated no generated rule within {timeout:g} s")
        time.sleep(0.25)


def with_port(url: str, port: int) -> str:
    """``url`` with its port replaced (credentials, path and query kept)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = netloc[-1].rsplit(":", 1)[0]
    new = f"{host}:{port}" if len(netloc) == 1 else f"{netloc[0]}@{host}:{port}"
    return urlunsplit(parts._replace(netloc=new))


@dataclass
class GamedayRig:
    postgres: PostgresServer
    pgbouncer: PgBouncerServer
    redis: RedisServer
    mongodb: MongoServer
    proxies: dict[str, FaultProxy]
    api: ApiServer
    workdir: Path
    options: dict[str, str | int | float] = field(default_factory=dict)

    def configuration(self) -> dict[str, str | int | float]:
        """The ``configuration`` block that the generated experiments expect."""
        return {
            "api_url": self.api.url,
            "metrics_url": f"{self.api.url}/metrics",
            "postgres_admin_dsn": self.postgres.admin_dsn,
            "pgbouncer_dsn": self.pgbouncer.dsn,
            "pgbouncer_admin_dsn": self.pgbouncer.admin_dsn,
            "redis_url": self.redis.url,
            "mongodb_uri": self.mongodb.uri,
            **{f"{name}_proxy_control_port": proxy.control_port for name, proxy in self.proxies.items()},
        }

    def stop(self) -> None:
        for stop in (
            self.api.stop,
            *(p.stop for p in self.proxies.values()),
            self.pgbouncer.stop,
            self.postgres.stop,
            self.redis.stop,
            self.mongodb.stop,
        ):
            with contextlib.suppress(Exception):
                stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_rig(workdir: Path, *, options: Mapping[str, str | int | float] | None = None) -> GamedayRig:
    """Start PostgreSQL, PgBouncer, Redis, SecantusDB (test commands on), one fault proxy per
    database path (``postgres`` in front of PgBouncer, ``redis``, ``mongodb``) and the API
    through the proxies. ``options`` are ``python -m testbed`` flags without dashes."""
    workdir = Path(workdir)
    stack = contextlib.ExitStack()
    try:
        pg = stack.enter_context(start_postgres(workdir))
        pgb = stack.enter_context(start_pgbouncer(workdir, upstream=pg))
        rd = stack.enter_context(start_redis(workdir))
        mg = stack.enter_context(start_mongodb(workdir, test_commands=True))
        proxies = {
            "postgres": stack.enter_context(FaultProxy((pgb.host, pgb.port))),
            "redis": stack.enter_context(FaultProxy((rd.host, rd.port))),
            "mongodb": stack.enter_context(FaultProxy((mg.host, mg.port))),
        }
        home = workdir.resolve() / "api"
        home.mkdir(parents=True, exist_ok=True)
        args = ["--backup-dir", str(home / "backups")]
        for key, value in (options or {}).items():
            args += [f"--{key}", str(value)]
        secrets = api_secrets(
            postgres_dsn=with_port(pgb.dsn, proxies["postgres"].port),
            postgres_direct_dsn=pg.dsn,
            redis_url=with_port(rd.url, proxies["redis"].port),
            mongodb_uri=with_port(mg.uri, proxies["mongodb"].port),
        )
        api = ApiServer(port=free_port(), home=home, args=args, secrets=secrets)
        api._spawn()
        stack.enter_context(api)
    except BaseException:
        stack.close()
        raise
    stack.pop_all()
    return GamedayRig(
        postgres=pg,
        pgbouncer=pgb,
        redis=rd,
        mongodb=mg,
        proxies=proxies,
        api=api,
        workdir=workdir,
        options=dict(options or {}),
    )
