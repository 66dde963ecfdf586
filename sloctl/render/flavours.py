"""Rule file flavours: plain Prometheus (default), prometheus-operator ``PrometheusRule``, and
Mimir/Cortex ruler namespaces (the ``mimirtool rules`` file format)."""

from __future__ import annotations

from collections.abc import Mapping

import yaml

from sloctl import naming
from sloctl.render.yamlout import dump_yaml

FLAVOURS = {"prometheus": "", "operator": "prometheusrule", "mimir": "mimir"}


def wrap_rules(text: str, service: str, flavour: str, *, labels: Mapping[str, str], namespace: str) -> str:
    """Re-wrap a rendered Prometheus rule file (header comment kept) in another flavour."""
    if flavour == "prometheus":
        return text
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    groups = yaml.safe_load(text)["groups"]
    if flavour == "operator":
        doc: dict[str, object] = {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {
                "name": f"sloctl-{naming.slug(service)}",
                "namespace": namespace,
                "labels": {"app.kubernetes.io/managed-by": "sloctl", **dict(sorted(labels.items()))},
            },
            "spec": {"groups": groups},
        }
    elif flavour == "mimir":
        doc = {"namespace": f"sloctl-{naming.slug(service)}", "groups": groups}
    else:
        raise ValueError(f"unknown flavour {flavour!r}; expected one of {', '.join(FLAVOURS)}")
    return header + dump_yaml(doc)
