"""Ports of Sloth's common SLI plugin library (github.com/slok/sloth-common-sli-plugins), each
returning the query text the Go plugin returns, so ``--compat sloth`` output stays Sloth's.

Ported, and why these first: ``prometheus/targets/availability`` works for every team that runs
Prometheus (the ``up`` series of any job), ``kubernetes/apiserver/availability`` for every team
that runs Kubernetes: the two inputs every platform has, whatever its applications export. The
other plugins of the library (Traefik, Istio, Linkerd, CoreDNS, HAProxy, NGINX ingress, Kooper,
latency variants) follow the same pattern and are ported the same way (docs/plugins.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sloctl.plugins import PluginError


def _trimmed(options: Mapping[str, str]) -> str:
    return options.get("filter", "").strip("{},")


def prometheus_targets_availability(
    options: Mapping[str, str], labels: Mapping[str, str], meta: Mapping[str, str]
) -> str:
    """``sloth-common/prometheus/targets/availability``: the share of scrapes whose target was
    down (``up == 0``), for the targets ``filter`` selects."""
    f = _trimmed(options)
    return (
        f"\nsum(count_over_time((up{{ {f} }} == 0)[{{{{ .window }}}}:])) or vector(0)\n/\n"
        f"sum(count_over_time((up{{ {f} }})[{{{{ .window }}}}:]))\n"
    )


# The filter the Go plugin accepts: `a="b"` pairs, comma-separated, values without `=`, `,`, `"`.
_FILTER = re.compile(r'^\{?([^=]+="[^=,"]+",)*([^=]+="[^=,"]+")$', re.MULTILINE)


def kubernetes_apiserver_availability(
    options: Mapping[str, str], labels: Mapping[str, str], meta: Mapping[str, str]
) -> str:
    """``sloth-common/kubernetes/apiserver/availability``: API server requests answered with a
    5xx or 429, of all requests (``filter`` narrows both)."""
    f = _trimmed(options)
    if f and not _FILTER.search(f):
        raise PluginError(f"filter: invalid prometheus filter: {f}")
    error_filter = f"{f}," if f else ""
    return (
        f'\nsum(rate(apiserver_request_total{{ {error_filter}code=~"(5..|429)" }}[{{{{.window}}}}]))\n/\n'
        f"sum(rate(apiserver_request_total{{ {f} }}[{{{{.window}}}}]))\n"
    )
