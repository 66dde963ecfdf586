"""Rule file flavours: plain Prometheus (default), prometheus-operator ``PrometheusRule``,
Mimir/Cortex ruler namespaces (the ``mimirtool rules`` file format), and vmalert's chained groups.

**vmalert.** Prometheus evaluates the rules of a group in order at one instant and each rule sees
the results of the rules before it; vmalert writes results through remote write, asynchronously,
so a rule that reads a recording of its own group reads the previous evaluation's (measured in
``tests/engines/test_vmalert_live.py``; vmalert's documentation says as much). Our alerts read
window ratios that read the 5m rates: two evaluations late. The vmalert flavour therefore puts
each dependency level of an SLO's group (``sloctl.render.levels``) in a group of its own, and
staggers them within the interval with ``eval_offset`` (vmalert ≥ 1.113), VictoriaMetrics'
documented way to chain groups. Levels that read recordings ask for ``latency_offset=1ms``: a
VictoriaMetrics datasource otherwise hides the last 30 s of samples from an instant query near
now (``-search.latencyOffset``), which would hide the level written a moment before; other
datasources ignore the parameter."""

from __future__ import annotations

from collections.abc import Mapping

import yaml

from sloctl import naming
from sloctl.durations import format_duration, parse_duration
from sloctl.render.levels import rule_levels
from sloctl.render.yamlout import dump_yaml

__all__ = [
    "FLAVOURS",
    "VMALERT_DEFAULT_INTERVAL",
    "VMALERT_MIN_SPACING",
    "FlavourOptionError",
    "prometheus_rules",
    "vmalert_groups",
    "wrap_rules",
]

FLAVOURS = {"prometheus": "", "operator": "prometheusrule", "mimir": "mimir", "vmalert": "vmalert"}

VMALERT_MIN_SPACING = 10
"""Seconds between a level and the next: vmalert flushes remote writes every 2 s, and
VictoriaMetrics made a sample searchable 3 s after it arrived (5.6 s for a new series) on our
machine (its pending rows are flushed on a 2 s ticker); the rest is margin."""
VMALERT_DEFAULT_INTERVAL = 60
"""``eval_offset`` needs an explicit group interval: without ``--interval``, vmalert's default."""
VMALERT_GROUP_FIELDS = (
    "eval_offset",
    "eval_delay",
    "eval_alignment",
    "params",
    "headers",
    "notifier_headers",
    "concurrency",
    "type",
    "debug",
)
"""Group fields vmalert reads and Prometheus' rule format does not (vmalert's docs, "Groups")."""


class FlavourOptionError(ValueError):
    """An option the flavour cannot honour (an ``--interval`` too short for vmalert's chained
    levels, a flavour that does not exist): the command line's to change, not the SLOs."""


def vmalert_groups(
    groups: list[dict[str, object]], *, min_spacing: int = VMALERT_MIN_SPACING
) -> list[dict[str, object]]:
    """Each group split into one group per dependency level, ``eval_offset`` spread evenly over
    the interval (level ``k`` of ``n`` at ``k × interval / n``). A group with one level stays."""
    out: list[dict[str, object]] = []
    for g in groups:
        rules: list[dict[str, object]] = g["rules"]  # type: ignore[assignment]
        levels = rule_levels(rules)
        count = max(levels, default=0) + 1
        if count == 1:
            out.append(g)
            continue
        interval = parse_duration(str(g["interval"])) if g.get("interval") else VMALERT_DEFAULT_INTERVAL
        spacing = interval // count
        if spacing < min_spacing or interval % count:
            raise FlavourOptionError(
                f"--flavour vmalert: group {g['name']} evaluates every {format_duration(interval)} "
                f"and chains {count} levels of rules; each level needs at least {min_spacing}s after "
                f"the one it reads, in whole seconds: use an --interval that is a multiple of "
                f"{count}s and at least {format_duration(count * min_spacing)}"
            )
        for k in range(count):
            group: dict[str, object] = {
                "name": f"{g['name']}-level{k}",
                "interval": format_duration(interval),
                "eval_offset": f"{k * spacing}s",
            }
            if k:
                group["params"] = {"latency_offset": ["1ms"]}  # the least VictoriaMetrics takes
            group["rules"] = [r for r, level in zip(rules, levels, strict=True) if level == k]
            out.append(group)
    return out


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
    elif flavour == "vmalert":
        doc = {"groups": vmalert_groups(groups)}
    else:
        raise FlavourOptionError(f"unknown flavour {flavour!r}; expected one of {', '.join(FLAVOURS)}")
    return header + dump_yaml(doc)


def prometheus_rules(text: str) -> str | None:
    """The plain Prometheus rule file a flavour's file carries, for promtool to check: a
    ``PrometheusRule``'s ``spec``, a Mimir namespace's groups, vmalert groups without the fields
    only vmalert reads. ``None`` for a plain rule file (or one that is not YAML: promtool says why).

    >>> print(prometheus_rules("namespace: sloctl-shop\\ngroups: [{name: g, rules: []}]\\n"), end="")
    groups:
    - name: g
      rules: []
    """
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(doc, dict):
        return None
    if doc.get("kind") == "PrometheusRule" and isinstance(doc.get("spec"), dict):
        groups = doc["spec"].get("groups")
    elif "namespace" in doc and "groups" in doc:
        groups = doc["groups"]
    elif isinstance(doc.get("groups"), list) and any(
        isinstance(g, dict) and set(g) & set(VMALERT_GROUP_FIELDS) for g in doc["groups"]
    ):
        groups = [
            {k: v for k, v in g.items() if k not in VMALERT_GROUP_FIELDS} if isinstance(g, dict) else g
            for g in doc["groups"]
        ]
    else:
        return None
    return dump_yaml({"groups": groups})
