"""Sloth's formats, read unchanged: ``version: prometheus/v1`` files and the Kubernetes CRD
``sloth.slok.dev/v1`` ``PrometheusServiceLevel``.

Sloth ignores unknown fields, so files written for it often carry some (``pageAlert`` in a
``prometheus/v1`` file, which Sloth never reads); we read them as Sloth does and report such
fields as warnings. SLO plugins (``slo_plugins``/``sloPlugins``, per-SLO ``plugins``) are read
into the model: Sloth v0.16's built-in ones shape ``--compat sloth`` output exactly
(``sloctl.render.sloth_plugins``); any other id is an error naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sloctl.errors import Location
from sloctl.model import (
    SLI,
    SLO,
    Alerting,
    AlertTier,
    AlertWindows,
    EventsSLI,
    PluginRef,
    Plugins,
    RawSLI,
    SeverityAlert,
    labels,
)
from sloctl.render.sloth_plugins import DEFAULT_CHAIN, NEUTRAL, SLO_PLUGINS, VICTORIA_METRICS
from sloctl.spec import build
from sloctl.spec.catalog import DEFAULT_PERIOD, Catalogs
from sloctl.spec.native import default_alert_name
from sloctl.spec.reader import Reader, index
from sloctl.spec.sli_plugins import PluginMeta, read_sli_plugin
from sloctl.spec.yamlsrc import YNode

PROM_VERSION = "prometheus/v1"
K8S_VERSION = "sloth.slok.dev/v1"


class _Keys:
    """Field names differ between the two Sloth formats only in case."""

    def __init__(self, camel: bool) -> None:
        self.error_query = "errorQuery" if camel else "error_query"
        self.total_query = "totalQuery" if camel else "total_query"
        self.error_ratio_query = "errorRatioQuery" if camel else "error_ratio_query"
        self.page_alert = "pageAlert" if camel else "page_alert"
        self.ticket_alert = "ticketAlert" if camel else "ticket_alert"
        self.slo_plugins = "sloPlugins" if camel else "slo_plugins"


def read_prometheus_v1(doc: YNode, reader: Reader, catalogs: Catalogs, period: int | None) -> list[SLO]:
    top = reader.mapping(
        doc, "", ["version", "service", "labels", "slo_plugins", "slos"], ["version", "service", "slos"]
    )
    return _read_spec(top, "", doc, reader, catalogs, _Document(_Keys(camel=False), PROM_VERSION, period))


def read_k8s(doc: YNode, reader: Reader, catalogs: Catalogs, period: int | None) -> list[SLO]:
    # status: what Sloth's controller reports back on the object (kubectl get -o yaml)
    top = reader.mapping(doc, "", ["apiVersion", "kind", "metadata", "spec", "status"], ["spec"])
    meta = reader.kubernetes_metadata(top.get("metadata"))
    spec_node = top.get("spec")
    spec = reader.mapping(
        spec_node, "spec", ["service", "labels", "sloPlugins", "slos"], ["service", "slos"], loc=doc.loc
    )
    document = _Document(
        _Keys(camel=True),
        K8S_VERSION,
        period,
        name=reader.string(meta.get("name"), "metadata.name"),
        namespace=reader.string(meta.get("namespace"), "metadata.namespace"),
        labels=reader.go_string_map(meta.get("labels"), "metadata.labels"),
        annotations=reader.go_string_map(meta.get("annotations"), "metadata.annotations"),
    )
    return _read_spec(spec, "spec.", spec_node or doc, reader, catalogs, document)


@dataclass(frozen=True)
class _Document:
    """What a Sloth document gives every SLO it holds: its format's field names, its version,
    the period (``--sloth-period``; Sloth files have none), and a Kubernetes object's metadata."""

    keys: _Keys
    version: str
    period: int | None
    name: str = ""
    namespace: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Service:
    """What the SLOs of one service share: its name, its labels and its ``slo_plugins``."""

    name: str
    labels: dict[str, str]
    plugins: Plugins


def _read_spec(
    f: dict[str, YNode], prefix: str, node: YNode, reader: Reader, catalogs: Catalogs, d: _Document
) -> list[SLO]:
    service = reader.string(f.get("service"), f"{prefix}service")
    if not service:
        reader.error((f.get("service") or node).loc, f"{prefix}service", "service name is required")
    build.check_name(reader, service, (f.get("service") or node).loc, f"{prefix}service", "service name")
    service_labels = build.read_labels(reader, f.get("labels"), f"{prefix}labels", node.loc, go=True)
    group_node = f.get(d.keys.slo_plugins)
    group_plugins = read_plugins(group_node, f"{prefix}{d.keys.slo_plugins}", reader)
    # said once, where they are declared, not at each SLO they reach
    _warn_shaping(reader, group_plugins, group_node, f"{prefix}{d.keys.slo_plugins}", catalogs.sloth)
    shared = _Service(service, service_labels, group_plugins)
    out: list[SLO] = []
    items = reader.sequence(f.get("slos"), f"{prefix}slos", required=True)
    if not items and f.get("slos") is not None and f["slos"].value is not None:
        reader.error(f["slos"].loc, f"{prefix}slos", "at least one SLO is required")
    for i, item in enumerate(items):
        before = len(reader.errors)
        slo = _read_slo(item, index(f"{prefix}slos", i), reader, catalogs, d, shared)
        if slo is not None and len(reader.errors) == before:
            out.append(slo)
    return out


def _read_slo(
    item: YNode, path: str, reader: Reader, catalogs: Catalogs, d: _Document, service: _Service
) -> SLO | None:
    keys = d.keys
    s = reader.mapping(
        item,
        path,
        ["name", "objective", "description", "labels", "sli", "alerting", "plugins"],
        ["name", "objective", "sli"],
    )
    own = read_plugins(s.get("plugins"), f"{path}.plugins", reader)
    plugins = Plugins(
        (own.chain if own.override else (*service.plugins.chain, *own.chain)),
        service.plugins.override or own.override,
    )
    name, objective = build.name_and_objective(reader, s, item.loc, path)
    slo_labels = build.read_labels(reader, s.get("labels"), f"{path}.labels", item.loc, go=True)
    sli = _read_sli(
        s.get("sli"),
        f"{path}.sli",
        reader,
        keys,
        item,
        metricsql=_victoria(plugins) and catalogs.sloth,
        victoria=_victoria(plugins) and not catalogs.sloth,
        plugin_meta=(service.name, name, objective, {**service.labels, **slo_labels}),
    )
    slo_period = d.period or DEFAULT_PERIOD
    windows = catalogs.resolve(slo_period, reader, item.loc, "--sloth-period")
    alerting = _read_alerting(s.get("alerting"), f"{path}.alerting", reader, keys, windows, item, name)
    if sli is None:
        return None
    slo = SLO(
        service=service.name,
        name=name,
        objective=objective,
        period=slo_period,
        sli=sli,
        alerting=alerting,
        windows=windows,
        description=reader.string(s.get("description"), f"{path}.description"),
        labels=labels({**service.labels, **slo_labels}),
        source=item.loc,
        spec_version=d.version,
        document_name=d.name,
        document_namespace=d.namespace,
        plugins=plugins,
        document_labels=labels(d.labels),
        document_annotations=labels(d.annotations),
    )
    alerting_node = s.get("alerting")
    placed = {
        "period": ("--sloth-period", None),
        "alerting.page": (f"{path}.alerting.page_alert", build.child(alerting_node, "page_alert")),
        "alerting.ticket": (f"{path}.alerting.ticket_alert", build.child(alerting_node, "ticket_alert")),
    }
    build.check_slo(reader, slo, build.Fields(path, item, item.loc, placed))
    _check_plugins(reader, plugins, sli, item.loc, path)
    _warn_shaping(reader, own, s.get("plugins"), f"{path}.plugins", catalogs.sloth)
    return slo


def _check_plugins(reader: Reader, plugins: Plugins, sli: SLI, loc: Location, path: str) -> None:
    """An events-only plugin needs an events SLI."""
    for ref in plugins.chain:
        if SLO_PLUGINS[ref.id].events_only and not isinstance(sli, EventsSLI):
            reader.error(loc, f"{path}.plugins", f"{ref.id} needs an events SLI")


def _warn_shaping(reader: Reader, plugins: Plugins, node: YNode | None, path: str, sloth: bool) -> None:
    """Plugins that shape rules (``plugins``, read from ``node`` at ``path``) shape Sloth's only."""
    shaping = sorted({r.id for r in plugins.chain} - set(NEUTRAL))
    if node is not None and (shaping or plugins.override) and not sloth:
        reader.warn(
            node.loc,
            path,
            f"Sloth SLO plugins ({', '.join(shaping) or 'overridePrevious'}) shape the rules of "
            "generate --compat sloth only; sloctl's own rules are event-weighted already",
        )


def _read_sli(
    node: YNode | None,
    path: str,
    reader: Reader,
    keys: _Keys,
    parent: YNode,
    *,
    metricsql: bool,
    victoria: bool,
    plugin_meta: PluginMeta,
) -> SLI | None:
    f = reader.mapping(node, path, ["events", "raw", "plugin"], loc=parent.loc)
    if node is None:
        reader.error(parent.loc, path, "required field is missing")
        return None
    kind = reader.one_key(
        f, ("events", "raw", "plugin"), node.loc, path, ("SLI type", "events, raw or plugin")
    )
    if kind is None:
        return None
    if kind == "plugin":
        return read_sli_plugin(f["plugin"], f"{path}.plugin", reader, plugin_meta)
    if kind == "events":
        p = f"{path}.events"
        g = reader.mapping(
            f["events"], p, [keys.error_query, keys.total_query], [keys.error_query, keys.total_query]
        )
        err = reader.string(g.get(keys.error_query), f"{p}.{keys.error_query}", non_empty=True)
        tot = reader.string(g.get(keys.total_query), f"{p}.{keys.total_query}", non_empty=True)
        for key, q in ((keys.error_query, err), (keys.total_query, tot)):
            if key in g and q:
                build.check_promql(
                    reader, q, g[key].loc, f"{p}.{key}", windowed=True, metricsql=metricsql, victoria=victoria
                )
        return EventsSLI(err, tot)
    p = f"{path}.raw"
    g = reader.mapping(f["raw"], p, [keys.error_ratio_query], [keys.error_ratio_query])
    q = reader.string(g.get(keys.error_ratio_query), f"{p}.{keys.error_ratio_query}", non_empty=True)
    if keys.error_ratio_query in g and q:
        build.check_promql(
            reader,
            q,
            g[keys.error_ratio_query].loc,
            f"{p}.{keys.error_ratio_query}",
            windowed=True,
            metricsql=metricsql,
            victoria=victoria,
        )
    return RawSLI(q)


def _read_alerting(
    node: YNode | None, path: str, reader: Reader, keys: _Keys, windows: AlertWindows, parent: YNode, slo: str
) -> Alerting:
    f = reader.mapping(
        node, path, ["name", "labels", "annotations", keys.page_alert, keys.ticket_alert], loc=parent.loc
    )
    severities: dict[str, SeverityAlert] = {}
    for sev, key in (("page", keys.page_alert), ("ticket", keys.ticket_alert)):
        s = reader.mapping(f.get(key), f"{path}.{key}", ["disable", "labels", "annotations"])
        lab = build.read_labels(reader, s.get("labels"), f"{path}.{key}.labels", parent.loc, go=True)
        severities[sev] = SeverityAlert(
            enabled=not reader.boolean(s.get("disable"), f"{path}.{key}.disable", default=False),
            labels=labels(lab),
            annotations=labels(reader.go_string_map(s.get("annotations"), f"{path}.{key}.annotations")),
        )
    # an empty name while alerts are on is build.check_slo's error, as for every format; Sloth
    # needs none while both are off, and sloctl's no-data ticket is then named after the SLO
    # (<Name>NoData, as in every other format), not "NoData" for every such SLO
    name = reader.string(f.get("name"), f"{path}.name")
    if not name and not any(s.enabled for s in severities.values()):
        name = default_alert_name(slo)
    alert_labels = build.read_labels(reader, f.get("labels"), f"{path}.labels", parent.loc, go=True)
    return Alerting(
        name=name,
        labels=labels(alert_labels),
        annotations=labels(reader.go_string_map(f.get("annotations"), f"{path}.annotations")),
        page=severities["page"],
        ticket=severities["ticket"],
        tiers=tuple(AlertTier(w) for w in windows.windows),
    )


def read_plugins(node: YNode | None, path: str, reader: Reader) -> Plugins:
    """A Sloth SLO plugin chain (``{overridePrevious, chain: [{id, priority, config}]}``); an id
    that is not one of Sloth v0.16's built-in plugins is an error naming it."""
    f = reader.mapping(node, path, ["overridePrevious", "chain"])
    refs: list[PluginRef] = []
    for i, item in enumerate(reader.sequence(f.get("chain"), f"{path}.chain")):
        p = index(f"{path}.chain", i)
        g = reader.mapping(item, p, ["id", "priority", "config"], ["id"])
        plugin_id = reader.string(g.get("id"), f"{p}.id", non_empty=True)
        priority = reader.number(g.get("priority"), f"{p}.priority", default=0)
        config = g["config"].to_python() if g.get("config") is not None else {}
        if not isinstance(config, dict):
            reader.error(item.loc, f"{p}.config", "expected a mapping")
            config = {}
        plugin = SLO_PLUGINS.get(plugin_id)
        if plugin is None:
            if plugin_id:
                known = ", ".join(sorted(SLO_PLUGINS))
                reader.error(
                    (g.get("id") or item).loc,
                    f"{p}.id",
                    f"unknown Sloth SLO plugin {plugin_id!r}: sloctl reproduces Sloth v0.16's built-in "
                    f"ones ({known}); a custom Go plugin cannot run here, so write its effect as rules",
                )
            continue
        for problem in plugin.check(config):
            reader.error(item.loc, f"{p}.config.{problem}", f"{plugin_id}: {problem.split(': ', 1)[1]}")
        if priority != int(priority):
            reader.error(item.loc, f"{p}.priority", "expected a whole number")
        refs.append(PluginRef(plugin_id, int(priority), json.dumps(config, sort_keys=True, default=str)))
    override = reader.boolean(f.get("overridePrevious"), f"{path}.overridePrevious", default=False)
    return Plugins(tuple(refs), override)


def _victoria(plugins: Plugins) -> bool:
    """MetricsQL is what Sloth validates with ``validate_victoria_metrics`` replacing ``validate``."""
    ids = {p.id for p in plugins.chain}
    return VICTORIA_METRICS in ids and (plugins.override and DEFAULT_CHAIN[0] not in ids)
