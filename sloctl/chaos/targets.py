"""A game day's targets: the configuration keys that name what it reaches (:data:`TARGETS`),
the loopback guard every connection of its activities goes through (:data:`GUARD`), and how
each kind of target is read and checked against it before anything runs
(:func:`check_target`, :func:`target_refusal`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sloctl.egress import Egress, EgressDenied

__all__ = ["GUARD", "TARGETS", "check_target", "target_refusal"]

GUARD = Egress(action="reach a game-day target at")
"""The guard a game day's activities connect through, asked before any of them runs."""

#: The configuration's targets and how each is written: a game day reaches these and nothing
#: else, and ``run_gameday`` checks them all against the egress guard before it starts.
TARGETS: dict[str, str] = {
    "api_url": "http",
    "metrics_url": "http",
    "prometheus_url": "prometheus",
    "pgbouncer_dsn": "libpq",
    "pgbouncer_admin_dsn": "libpq",
    "postgres_admin_dsn": "libpq",
    "redis_url": "redis",
    "mongodb_uri": "mongodb",
}


def _prometheus_url(text: str) -> object:
    """``prometheus_url`` checked as the probes' client checks it: a base URL, no query string."""
    from sloctl.prometheus import check_url

    return check_url(text, GUARD, flag="it")


_CHECK: dict[str, Callable[[str], object]] = {
    # a refusal names the setting: "configuration api_url: it must be an http(s) URL …"
    "http": lambda text: GUARD.check_url(text, flag="it"),
    "prometheus": _prometheus_url,
    "libpq": GUARD.pin_dsn,
    "redis": GUARD.pin_redis_url,
    "mongodb": GUARD.pin_mongodb_uri,
}
"""How each kind of target in :data:`TARGETS` is read and checked."""


def check_target(key: str, text: str) -> None:
    """Raises :class:`~sloctl.egress.EgressDenied` when target ``key``'s value ``text`` is
    outside the loopback allow-list or cannot be read as its kind
    (:class:`~sloctl.egress.MalformedTarget`). Asks no DNS server: the guard is loopback only,
    so names are read from the hosts file."""
    _CHECK[TARGETS[key]](text)


def target_refusal(configuration: Mapping[str, Any]) -> str | None:
    """Why the game day must not start: one of its targets (:data:`TARGETS`) is outside the
    loopback allow-list or cannot be read. The activities would refuse it mid-run; asked first,
    a dry run says so and a real run injects nothing. None when every target is allowed."""
    for key in TARGETS:
        text = str(configuration.get(key) or "").strip()
        if not text:
            continue
        try:
            check_target(key, text)
        except EgressDenied as exc:
            return f"refused: configuration {key}: {exc}"
    return None
