"""A game-day rig: the testbed's real databases and API (one launcher,
:func:`sloctl.testbed_runner.start_testbed`) with a :class:`FaultProxy` between the API and each
database, so that latency and resets can be injected on the data path; optionally a Prometheus
that scrapes the API and evaluates the generated rules over a backfilled healthy history
(:mod:`sloctl.chaos.history`).

    with start_rig(workdir, profile=PROFILES["quick"], rules=Path("rules/platform-api.yml")) as rig:
        run_gameday("chaos/connection-loss.json", configuration=rig.configuration())  # doctest: +SKIP

Timing profiles: ``quick`` shortens the breakers and call timeouts so that a game day takes
about a minute; ``plan`` keeps the reliability plan's (30 s open, 10 s window, timeouts 3 s
default, PostgreSQL 5 s, MongoDB 10 s, Redis 1 s). Every report states which one ran.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sloctl.servers import (
    MongoServer,
    PgBouncerServer,
    PostgresServer,
    RedisServer,
    ServerStartError,
    Stoppable,
)
from sloctl.servers.prometheus import PrometheusServer, start_prometheus
from sloctl.testbed_runner import ApiServer, Front, Testbed, start_testbed

from .profiles import PROFILES, TimingProfile
from .proxy import FaultProxy

__all__ = [
    "PROFILES",
    "GamedayRig",
    "TimingProfile",
    "start_rig",
    "start_rig_prometheus",
    "wait_for_recordings",
]


def wait_for_recordings(prometheus_url: str, expected: int = 1, timeout: float = 30.0) -> None:
    """Until Prometheus records the remaining error budget of ``expected`` SLOs (every rule
    group evaluated once: the game days' budget gate reads it);
    :class:`ServerStartError` after ``timeout``."""
    from sloctl import naming

    from .probes import prometheus_query

    deadline = time.monotonic() + timeout
    query = f"count({naming.BUDGET_REMAINING})"
    while (found := prometheus_query(prometheus_url, query)) < expected or math.isnan(found):
        if time.monotonic() > deadline:
            raise ServerStartError(
                f"Prometheus recorded the budget of {0 if math.isnan(found) else found:g} of"
                f" {expected} SLOs within {timeout:g} s"
            )
        time.sleep(0.25)


@dataclass
class GamedayRig(Stoppable):
    testbed: Testbed
    profile: TimingProfile
    workdir: Path
    prometheus: PrometheusServer | None = None
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    @property
    def proxies(self) -> dict[str, FaultProxy]:
        return {name: f for name, f in self.testbed.fronts.items() if isinstance(f, FaultProxy)}

    @property
    def api(self) -> ApiServer:
        return self.testbed.api

    @property
    def postgres(self) -> PostgresServer:
        return self.testbed.postgres

    @property
    def pgbouncer(self) -> PgBouncerServer:
        return self.testbed.pgbouncer

    @property
    def redis(self) -> RedisServer:
        return self.testbed.redis

    @property
    def mongodb(self) -> MongoServer:
        return self.testbed.mongodb

    def configuration(self) -> dict[str, str | int | float]:
        """The ``configuration`` block that the generated experiments expect: targets, the
        profile's timings and its name (``timing_profile``), and ``prometheus_url``."""
        tb = self.testbed
        config: dict[str, str | int | float] = {
            "api_url": tb.api.url,
            "metrics_url": f"{tb.api.url}/metrics",
            "postgres_admin_dsn": tb.postgres.admin_dsn,
            "pgbouncer_dsn": tb.pgbouncer.dsn,
            "pgbouncer_admin_dsn": tb.pgbouncer.admin_dsn,
            "redis_url": tb.redis.url,
            "mongodb_uri": tb.mongodb.uri,
            "api_keys_file": str(tb.api.client_keys_file),
            **{f"{name}_proxy_control_port": proxy.control_port for name, proxy in self.proxies.items()},
            **self.profile.timings,
            "timing_profile": self.profile.name,
        }
        if self.prometheus is not None:
            config["prometheus_url"] = self.prometheus.url
        return config

    def write_targets(self, path: Path) -> None:
        """The :meth:`configuration` as JSON for ``sloctl gameday run --config``; it holds the
        databases' passwords, so readable by its owner only (0600), written atomically."""
        from sloctl.files import write_text

        write_text(path, json.dumps(self.configuration(), indent=2) + "\n", private=True)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._stack.close()
        self.testbed.stop()


def _fault_proxy(_dependency: str, upstream: tuple[str, int]) -> Front:
    return FaultProxy(upstream).start()


def start_rig_prometheus(api_url: str, workdir: Path, rules: Path, history_rate: float) -> PrometheusServer:
    """A Prometheus in ``workdir`` that scrapes the API at ``api_url`` and evaluates ``rules``
    every second over a backfilled healthy month at ``history_rate`` events/s per SLO; returned
    once every SLO's budget is recorded (stopped again on failure)."""
    from sloctl.backtest.engine import backfill_openmetrics
    from sloctl.files import write_text
    from sloctl.testbed_config import file_sd, prometheus_config

    from .history import healthy_history, history_series

    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    text = rules.read_text(encoding="utf-8")
    shutil.copyfile(rules, workdir / "rules.yml")
    backfill_openmetrics(healthy_history(text, end=time.time() - 1, rate=history_rate), workdir, data)
    write_text(workdir / "targets" / "platform-api.json", file_sd(urlsplit(api_url).netloc, "platform-api"))
    config = prometheus_config("rules.yml", interval="1s", jobs=["platform-api"])
    server = start_prometheus(workdir, config_text=config, data_dir=data)
    try:
        wait_for_recordings(
            server.url, expected=len({s.labels for s in history_series(text) if not s.events})
        )
    except BaseException:
        server.stop()
        raise
    return server


def start_rig(
    workdir: Path,
    *,
    profile: TimingProfile = PROFILES["quick"],
    options: Mapping[str, str | int | float] | None = None,
    rules: Path | None = None,
    history_rate: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> GamedayRig:
    """Start the testbed with a fault proxy on each database path (``postgres`` in front of
    PgBouncer, ``redis``, ``mongodb``), SecantusDB's test commands on, and the API with the
    ``profile``'s flags (``options`` override single flags). With ``rules`` (a generated rule
    file), also a Prometheus over a backfilled healthy month at ``history_rate`` events/s per
    SLO (default: the profile's ``load_rate``, the traffic a game day sends each route group, so
    that its fault weighs against its history as it would on a platform with that traffic),
    returned once every SLO's budget is recorded."""
    say = progress or (lambda _message: None)
    workdir = Path(workdir)
    flags = {**profile.api_options, **(options or {})}
    say(f"starting the testbed with fault proxies ({profile.name} timings) in {workdir}")
    testbed = start_testbed(workdir, options=flags, mongodb_test_commands=True, front=_fault_proxy)
    rig = GamedayRig(testbed=testbed, profile=profile, workdir=workdir)
    if rules is None:
        return rig
    try:
        say(f"backfilling a healthy month for the SLOs of {rules} and starting Prometheus")
        rate = float(history_rate if history_rate is not None else profile.timings.get("load_rate", 1.0))
        rig.prometheus = start_rig_prometheus(rig.testbed.api.url, workdir / "prometheus", rules, rate)
        rig._stack.callback(rig.prometheus.stop)
    except BaseException:
        rig.stop()
        raise
    return rig
