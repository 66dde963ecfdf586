"""The game-day rig's timing profiles: ``quick`` shortens the API's breakers and call timeouts
so that a game day takes about a minute, ``plan`` keeps the reliability plan's (30 s open, 10 s
window, call timeouts 3 s by default, PostgreSQL 5 s, MongoDB 10 s, Redis 1 s). Each pairs the
API's flags with the experiment timings that match them; every report states which one ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sloctl.contract import PLAN_BREAKERS, Dependency

__all__ = ["PROFILES", "TimingProfile", "profile_table"]


@dataclass(frozen=True)
class TimingProfile:
    """The API's breaker and timeout flags for a rig, and the experiments' timings that match
    them (configuration values of the generated experiments)."""

    name: str
    description: str
    #: ``python -m testbed`` flags without the dashes
    api_options: Mapping[str, str | int | float]
    #: experiment configuration values
    timings: Mapping[str, str | int | float]

    def summary(self) -> dict[str, float | None]:
        """Breaker open time, window and call timeouts in seconds (None: the testbed's default,
        which is the plan's)."""
        keys = (
            "breaker-open-seconds",
            "breaker-window-seconds",
            "default-timeout",
            "postgres-timeout",
            "mongodb-timeout",
            "redis-timeout",
        )
        return {k: (float(self.api_options[k]) if k in self.api_options else None) for k in keys}


#: no rate limit in the way of the load (the plan's limits are per client; the load is one)
_NO_RATE_LIMIT: dict[str, str | int | float] = {"rate-limit": 100000, "rate-burst": 100000}

_QUICK = TimingProfile(
    name="quick",
    description="shortened for game days of about a minute: breakers open 3 s and judge a 5 s window"
    " of at least 10 calls; call timeouts PostgreSQL 1 s, MongoDB 1 s, Redis 0.5 s",
    api_options={
        "breaker-open-seconds": 3,
        "breaker-window-seconds": 5,
        "breaker-minimum-calls": 10,
        "default-timeout": 3,
        "postgres-timeout": 1,
        "redis-timeout": 0.5,
        "mongodb-timeout": 1,
        **_NO_RATE_LIMIT,
    },
    # Latency above the 0.5 s Redis timeout, a MongoDB block above its 1 s timeout, the
    # expected page within 30 s of the fault.
    timings={
        "breaker_open_seconds": 3,
        "breaker_window_seconds": 10,
        "recover_timeout_seconds": 15,
        "gameday_seconds": 55,
        "load_rate": 20,
        "latency_ms": 800,
        "mongodb_block_ms": 3000,
        "detection_deadline_seconds": 30,
    },
)

_P = PLAN_BREAKERS
_PLAN_TIMEOUTS = dict(_P.timeouts)
_PLAN = TimingProfile(
    name="plan",
    description=f"the reliability plan's: breakers open {_P.open_seconds} s and judge a"
    f" {_P.window_seconds} s window; call timeouts {_P.default_timeout:g} s by default, PostgreSQL"
    f" {_PLAN_TIMEOUTS[Dependency.POSTGRES]:g} s, MongoDB {_PLAN_TIMEOUTS[Dependency.MONGODB]:g} s,"
    f" Redis {_PLAN_TIMEOUTS[Dependency.REDIS]:g} s",
    api_options={
        "breaker-open-seconds": _P.open_seconds,
        "breaker-window-seconds": _P.window_seconds,
        "breaker-minimum-calls": 10,
        "default-timeout": _P.default_timeout,
        **{f"{dep.value}-timeout": seconds for dep, seconds in _P.timeouts},
        **_NO_RATE_LIMIT,
    },
    # The experiments' defaults are the plan's; the breakers stay open 30 s, so the load
    # outlasts the fault and the half-open trial, and a page is due within the plan's 5 min.
    timings={
        "breaker_open_seconds": _P.open_seconds,
        "breaker_window_seconds": _P.window_seconds,
        "recover_timeout_seconds": 60,
        "gameday_seconds": 90,
        "load_rate": 20,
        "latency_ms": 1500,
        "mongodb_block_ms": 12000,
        "detection_deadline_seconds": 300,
    },
)

#: the rig's timing profiles by name
PROFILES: dict[str, TimingProfile] = {p.name: p for p in (_QUICK, _PLAN)}


def profile_table(name: str) -> list[tuple[str, str, str]]:
    """``(setting, this profile, the plan)`` rows for a report; empty for an unknown name."""
    profile = PROFILES.get(name)
    if profile is None:
        return []
    ours, plan = profile.summary(), PROFILES["plan"].summary()
    return [
        (key, f"{ours[key]:g} s", f"{plan[key]:g} s")
        for key in ours
        if ours[key] is not None and plan[key] is not None
    ]
