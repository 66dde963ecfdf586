"""SLI plugins: a Python function per plugin id, found through the ``sloctl.sli_plugins`` entry
point group, that turns ``options`` into the SLI's query (docs/plugins.md).

A Sloth SLI plugin (``sli.plugin: {id, options}``) is a Go function returning an error-ratio
query; its port here is a Python function with the same inputs returning the same text, so
``--compat sloth`` writes what Sloth writes. Native specs use the same hook
(``sli.plugin: {id, options}``).

>>> from sloctl.plugins import sli_plugin
>>> query = sli_plugin("sloth-common/prometheus/targets/availability")({"filter": 'job="api"'}, {}, {})
>>> "count_over_time((up{ job=\\"api\\" } == 0)" in query
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from importlib.metadata import entry_points

__all__ = ["GROUP", "PluginError", "SLIPlugin", "installed", "sli_plugin"]

GROUP = "sloctl.sli_plugins"

SLIPlugin = Callable[[Mapping[str, str], Mapping[str, str], Mapping[str, str]], str]
"""``(options, labels, meta) -> error-ratio query with {{.window}}``; ``meta`` holds ``service``,
``slo`` and ``objective`` (Sloth's SLI plugin inputs). Raise ``PluginError`` for bad options."""


class PluginError(ValueError):
    """Bad options for a plugin: the message is shown with the option's place in the file."""


@cache
def installed() -> dict[str, Callable[[], SLIPlugin]]:
    """Every registered plugin id with a loader of its function."""
    return {ep.name: ep.load for ep in entry_points(group=GROUP)}


def sli_plugin(plugin_id: str) -> SLIPlugin:
    """The plugin registered as ``plugin_id``; ``KeyError`` when none is."""
    loader = installed()[plugin_id]
    return loader()
