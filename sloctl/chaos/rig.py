"""A game-day rig: the testbed's real databases and API (one launcher,
:func:`sloctl.testbed_runner.start_testbed`) with a :class:`FaultProxy` between the API and each
database, so that latency and resets can be injected on the data path; optionally a Prometheus
that scrapes the API and evaluates the SLOs' generated rules over a backfilled healthy history
(:mod:`sloctl.chaos.history`).

    slos = load_paths(["slos/platform-api.yaml"]).slos
    with start_rig(workdir, profile=PROFILES["quick"], slos=slos, fast_reset=10) as rig:
        run_gameday("chaos/connection-loss.json", configuration=rig.configuration())  # doctest: +SKIP

Timing profiles: ``quick`` shortens the breakers and call timeouts so that a game day takes
about a minute; ``plan`` keeps the reliability plan's (30 s open, 10 s window, timeouts 3 s
default, PostgreSQL 5 s, MongoDB 10 s, Redis 1 s). Every report states which one ran.

Fast reset: after a fault a page stays firing until its short window (5 minutes for the quick
page) has forgotten the burn, so a game day waits 5 to 10 minutes for its pages to resolve. With
``fast_reset=N`` the rig's Prometheus evaluates the same SLOs with the base window and every
short window divided by N, keeping what decides whether a tier trips
(:func:`sloctl.model.with_fast_reset`), so the same fault trips the same pages and they resolve
N times sooner. The report states it; ``fast_reset=1`` evaluates exactly what ``sloctl
generate`` writes.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from sloctl.contract import METRICS_PATH
from sloctl.model import SLO, with_fast_reset
from sloctl.servers import ManagedProcess, ServerStartError, stop_all
from sloctl.servers.prometheus import PrometheusServer, start_prometheus
from sloctl.testbed_runner import Front, Testbed, start_testbed

from .profiles import PROFILES, TimingProfile
from .proxy import FaultProxy

__all__ = [
    "GamedayRig",
    "rig_rules",
    "start_rig",
    "start_rig_prometheus",
    "wait_for_recordings",
]


def wait_for_recordings(prometheus_url: str, expected: int = 1, timeout: float = 30.0) -> None:
    """Until Prometheus records the remaining error budget of ``expected`` SLOs, counted by
    ``sloctl_id`` (every SLO's rule group evaluated once: the game days' budget gate reads it;
    an SLO with groups records a series per group, a composite records no rates of its own);
    :class:`ServerStartError` after ``timeout``."""
    from sloctl import naming

    from .probes import prometheus_query

    deadline = time.monotonic() + timeout
    query = f"count(count by ({naming.LABEL_ID}) ({naming.BUDGET_REMAINING}))"
    while (found := prometheus_query(prometheus_url, query)) < expected or math.isnan(found):
        if time.monotonic() > deadline:
            raise ServerStartError(
                f"Prometheus recorded the budget of {0 if math.isnan(found) else found:g} of"
                f" {expected} SLOs within {timeout:g} s"
            )
        time.sleep(0.25)


@dataclass
class GamedayRig(Testbed):
    """A testbed with a fault proxy on each database path, its timing profile, and the
    Prometheus that evaluates the SLOs' rules (when started with SLOs)."""

    profile: TimingProfile = PROFILES["quick"]
    prometheus: PrometheusServer | None = None
    #: the short windows of the Prometheus' rules are this many times shorter (1: as generated)
    fast_reset: int = 1
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    @property
    def proxies(self) -> dict[str, FaultProxy]:
        return {name: f for name, f in self.fronts.items() if isinstance(f, FaultProxy)}

    def configuration(self) -> dict[str, str | int | float]:
        """The ``configuration`` block that the generated experiments expect: targets, the
        profile's timings and its name (``timing_profile``), and ``prometheus_url``."""
        config: dict[str, str | int | float] = {
            "api_url": self.api.url,
            "metrics_url": f"{self.api.url}{METRICS_PATH}",
            "postgres_admin_dsn": self.postgres.admin_dsn,
            "pgbouncer_dsn": self.pgbouncer.dsn,
            "pgbouncer_admin_dsn": self.pgbouncer.admin_dsn,
            "redis_url": self.redis.url,
            "mongodb_uri": self.mongodb.uri,
            "api_keys_file": str(self.api.client_keys_file),
            **{f"{name}_proxy_control_port": proxy.control_port for name, proxy in self.proxies.items()},
            **self.profile.timings,
            "timing_profile": self.profile.name,
        }
        if self.prometheus is not None:
            config["prometheus_url"] = self.prometheus.url
            config["fast_reset"] = self.fast_reset
        return config

    @property
    def servers(self) -> tuple[ManagedProcess, ...]:
        """Every server process of the testbed, and the Prometheus."""
        return (*super().servers, *([self.prometheus] if self.prometheus is not None else []))

    def write_targets(self, path: Path) -> None:
        """The :meth:`configuration` as JSON for ``sloctl gameday run --config``; it holds the
        databases' passwords, so readable by its owner only (0600), written atomically."""
        from sloctl.files import write_text

        write_text(path, json.dumps(self.configuration(), indent=2) + "\n", private=True)

    def stop(self) -> None:
        """Stop the Prometheus (and what else the rig started for it), then the testbed, the
        testbed even when the first raised (:func:`~sloctl.servers.stop_all`)."""
        stop_all([("the rig's Prometheus", self._stack.close), ("the testbed", super().stop)])


def _fault_proxy(_dependency: str, upstream: tuple[str, int]) -> Front:
    return FaultProxy(upstream).start()


def rig_rules(slos: Sequence[SLO], fast_reset: int = 1) -> str:
    """The rule file a rig's Prometheus evaluates: the rules ``sloctl generate`` writes for
    ``slos``, each SLO :func:`~sloctl.model.with_fast_reset` by ``fast_reset`` (ValueError when
    a window does not divide by it), the quick page's window read from the raw counters rather
    than tiled from the 5m recordings: those have a backfilled healthy past (``history``) that
    would dilute a game day's fault over an hour, where the rig's counters are as young as the
    rig (docs/gameday.md)."""
    return _render([with_fast_reset(s, fast_reset) for s in slos])


def _render(slos: Sequence[SLO]) -> str:
    from sloctl import __version__
    from sloctl.render.rules import RuleOptions, render_rule_file

    sources = sorted({Path(s.source.file).as_posix() for s in slos})
    return render_rule_file(slos, sources, __version__, RuleOptions(tiles=False))


def start_rig_prometheus(
    api_url: str,
    workdir: Path,
    slos: Sequence[SLO],
    history_rate: float,
    fast_reset: int = 1,
    start_timeout: float | None = None,
) -> PrometheusServer:
    """A Prometheus in ``workdir`` that scrapes the API at ``api_url`` and evaluates the rules of
    ``slos`` (:func:`rig_rules`) every second over a backfilled healthy month at
    ``history_rate`` events/s per SLO; returned once every SLO's budget is recorded (stopped
    again on failure). ``start_timeout``: the most seconds Prometheus may take to be ready
    (None: its own)."""
    from sloctl.backtest.engine import backfill_openmetrics
    from sloctl.files import write_text
    from sloctl.testbed_config import file_sd, prometheus_config

    from .history import HISTORY_PERIOD, healthy_history

    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    reset = [with_fast_reset(s, fast_reset) for s in slos]
    text = _render(reset)
    write_text(workdir / "rules.yml", text)
    bases = [s.base_window for s in reset]  # the history's steps: a timeslice SLO's slice has a floor
    history = healthy_history(text, end=time.time() - 1, rate=history_rate, base_windows=bases)
    # One block for the month (not one per two hours of samples): ready sooner, and each of the
    # rules' evaluations every second reads one block.
    backfill_openmetrics(history, workdir, data, span=HISTORY_PERIOD)
    write_text(workdir / "targets" / "platform-api.json", file_sd(urlsplit(api_url).netloc, "platform-api"))
    config = prometheus_config("rules.yml", interval="1s", jobs=["platform-api"])
    server = start_prometheus(workdir, config_text=config, data_dir=data, start_timeout=start_timeout)
    try:
        wait_for_recordings(server.url, expected=len({s.id for s in slos}))
    except BaseException:
        server.stop()
        raise
    return server


def start_rig(
    workdir: Path,
    *,
    profile: TimingProfile = PROFILES["quick"],
    options: Mapping[str, str | int | float] | None = None,
    slos: Sequence[SLO] = (),
    fast_reset: int = 1,
    history_rate: float | None = None,
    progress: Callable[[str], None] | None = None,
    start_timeout: float | None = None,
) -> GamedayRig:
    """Start the testbed with a fault proxy on each database path (``postgres`` in front of
    PgBouncer, ``redis``, ``mongodb``), SecantusDB's test commands on, and the API with the
    ``profile``'s flags (``options`` override single flags). With ``slos``, also a Prometheus
    that evaluates their rules (short windows divided by ``fast_reset``: :func:`rig_rules`) over
    a backfilled healthy month at ``history_rate`` events/s per SLO (default: the profile's
    ``load_rate``, the traffic a game day sends each route group, so that its fault weighs
    against its history as it would on a platform with that traffic), returned once every SLO's
    budget is recorded. ``start_timeout``: the most seconds each server may take to be ready
    (``--start-timeout``; None: each server's own)."""
    say = progress or (lambda _message: None)
    workdir = Path(workdir)
    flags = {**profile.api_options, **(options or {})}
    say(f"starting the testbed with fault proxies ({profile.name} timings) in {workdir}")
    testbed = start_testbed(
        workdir, options=flags, mongodb_test_commands=True, front=_fault_proxy, start_timeout=start_timeout
    )
    parts = {f.name: getattr(testbed, f.name) for f in fields(Testbed)}
    rig = GamedayRig(**parts, profile=profile, fast_reset=fast_reset)
    if not slos:
        return rig
    try:
        reset = f", short windows ÷ {fast_reset}" if fast_reset > 1 else ""
        say(f"backfilling a healthy month for {len(slos)} SLOs and starting Prometheus{reset}")
        rate = float(history_rate if history_rate is not None else profile.timings.get("load_rate", 1.0))
        rig.prometheus = start_rig_prometheus(
            rig.api.url, workdir / "prometheus", slos, rate, fast_reset, start_timeout
        )
        rig._stack.callback(rig.prometheus.stop)
    except BaseException:
        rig.stop()
        raise
    return rig
