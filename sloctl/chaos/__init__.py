"""Game days: a Chaos Toolkit extension (actions, probes, a control) and a TCP fault proxy.

- :mod:`sloctl.chaos.actions`: faults that confirm they are active, with their rollbacks;
- :mod:`sloctl.chaos.probes`, :mod:`sloctl.chaos.load`: breaker state, pool saturation, route
  latency, SLO burn rate and budget, steady traffic and the game-day checks;
- :mod:`sloctl.chaos.control`: rollbacks on every exit path, stop conditions;
- :mod:`sloctl.chaos.proxy`: the TCP fault proxy (standard library only);
- :mod:`sloctl.chaos.experiments`, :mod:`sloctl.chaos.gameday`, :mod:`sloctl.chaos.schedule`,
  :mod:`sloctl.chaos.pagerduty`: generation, runs, scheduling, PagerDuty;
- :mod:`sloctl.chaos.result`, :mod:`sloctl.chaos.detection`, :mod:`sloctl.chaos.report`: a
  run's verdict, what Prometheus saw of it (time to detect and to resolve, every page), its
  report files;
- :mod:`sloctl.chaos.rig`, :mod:`sloctl.chaos.profiles`, :mod:`sloctl.chaos.history`: a local
  target with its timing profiles and a Prometheus over a backfilled healthy month.

Needs the ``chaos`` extra, except :mod:`sloctl.chaos.proxy`. :func:`discover` is what
``chaos discover`` calls.
"""

from __future__ import annotations

from typing import Any

__all__ = ["discover"]

#: Functions of :mod:`sloctl.chaos.load` by activity type (the others are probes).
_LOAD_ACTIONS = ("generate_load", "stop_load")


def discover(discover_system: bool = True) -> dict[str, Any]:
    """The Chaos Toolkit discovery document of the extension (``chaos discover``)."""
    from chaoslib.discovery.discover import (
        discover_actions,
        discover_probes,
        initialize_discovery_result,
    )

    from sloctl import __version__

    discovery: dict[str, Any] = initialize_discovery_result("sloctl", __version__, "sloctl")
    activities = discover_actions("sloctl.chaos.actions") + discover_probes("sloctl.chaos.probes")
    for activity in discover_probes("sloctl.chaos.load"):
        if activity["name"] in _LOAD_ACTIONS:
            activity["type"] = "action"
        activities.append(activity)
    discovery["activities"].extend(activities)
    if discover_system:
        discovery["system"] = {"note": "targets are given per experiment (configuration); none discovered"}
    return discovery
