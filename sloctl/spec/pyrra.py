"""Pyrra's ``pyrra.dev/v1alpha1`` ``ServiceLevelObjective``: the Kubernetes object, and the same
document in the files Pyrra's filesystem mode reads.

Each object is one SLO. Its service is the object's namespace (``default`` without one), its
name the object's name. Indicators become queries with the meaning Pyrra gives them:

- ``ratio``: errors and total are counters; the error rate is ``rate(errors)``;
- ``latency``: ``success`` is the histogram bucket at the threshold (``le``), ``total`` its count;
- ``latencyNative``: a native histogram, errors are the requests above ``latency``
  (``histogram_fraction``);
- ``bool_gauge``: a 0/1 gauge (``up``), every sample is an event and a 0 an error.

``grouping`` keeps one SLO per group: every query is summed ``by`` the grouping labels, so the
recording rules and the alerts (one per group) stay per group, and the model carries the labels
(``SLO.grouping``) so that the dashboards draw one series per group. A group whose error counter
has not appeared yet reads as zero errors (``or total * 0``), not as no data.

The windows catalog is sloctl's for the ``window`` (7d, 2w, 4w, 28d, 30d, 90d: docs/spec.md);
Pyrra's own windows are not reproduced. Like Kubernetes, unknown fields are ignored with a
warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sloctl.durations import HOUR
from sloctl.errors import Location
from sloctl.model import (
    SLI,
    SLO,
    Alerting,
    AlertTier,
    BurnWindow,
    EventsSLI,
    NoDataAlert,
    RatioSLI,
    labels,
)
from sloctl.spec import build
from sloctl.spec.catalog import DEFAULT_PERIOD, Catalogs
from sloctl.spec.native import default_alert_name
from sloctl.spec.reader import Reader
from sloctl.spec.yamlsrc import YNode

API_VERSION = "pyrra.dev/v1alpha1"
KIND = "ServiceLevelObjective"
PROPAGATED = "pyrra.dev/"
"""Metadata labels with this prefix become labels of the SLO's rules, as in Pyrra."""
_INDICATORS = ("ratio", "latency", "latencyNative", "bool_gauge")
_IGNORED = {
    "partial_response_strategy": "a Thanos query setting; sloctl's rules run in Prometheus",
    "performanceOverAccuracy": "Pyrra's split of its increase rules; sloctl records 5m rates",
    "ruleOutput": "labels of Pyrra's own increase rules, which sloctl does not write",
}


@dataclass(frozen=True)
class _Metadata:
    """What an object's ``metadata`` gives the SLO."""

    name: str
    namespace: str
    labels: dict[str, str]
    """The ``pyrra.dev/`` labels, prefix removed: labels of the SLO's rules."""
    annotations: dict[str, str]
    """The ``pyrra.dev/`` annotations, prefix removed: annotations of its alerts."""
    placed: dict[str, tuple[str, YNode | None]]
    """Where each of those labels stands in the file (``build.Fields``)."""


def _read_metadata(node: YNode | None, reader: Reader, doc: YNode) -> _Metadata:
    meta = reader.kubernetes_metadata(node, ["name"], loc=doc.loc)
    name = reader.string(meta.get("name"), "metadata.name", non_empty=True)
    build.check_name(reader, name, doc.loc, "metadata.name", "SLO name")
    namespace = reader.string(meta.get("namespace"), "metadata.namespace")
    # the service name (default without one): the same check as every format's
    build.check_name(
        reader, namespace, (meta.get("namespace") or doc).loc, "metadata.namespace", "service name"
    )
    labels_node = meta.get("labels")
    all_labels = reader.string_map(labels_node, "metadata.labels")
    propagated = {k: v for k, v in all_labels.items() if k.startswith(PROPAGATED)}
    for k in (k for k in all_labels if k not in propagated):
        # Pyrra copies these onto the PrometheusRule it makes, for the operator's rule selector
        reader.warn(
            build.loc_of(build.child(labels_node, k), doc.loc),
            f"metadata.labels.{k}",
            "ignored: a label of the Kubernetes object, not of the rules (only pyrra.dev/ labels are);"
            f" for the operator's rule selector, generate --flavour operator --operator-label {k}=…",
        )
    slo_labels = {k.removeprefix(PROPAGATED): v for k, v in propagated.items()}
    build.check_labels(reader, slo_labels, "metadata.labels", labels_node or doc.loc, PROPAGATED)
    annotations = {
        k.removeprefix(PROPAGATED): v
        for k, v in reader.string_map(meta.get("annotations"), "metadata.annotations").items()
        if k.startswith(PROPAGATED)
    }
    placed = {
        "name": ("metadata.name", meta.get("name")),
        "labels": ("metadata.labels", labels_node),
        **{
            f"labels.{k.removeprefix(PROPAGATED)}": (f"metadata.labels.{k}", build.child(labels_node, k))
            for k in propagated
        },
    }
    return _Metadata(name, namespace, slo_labels, annotations, placed)


def read_slo(doc: YNode, reader: Reader, catalogs: Catalogs) -> list[SLO]:
    before = len(reader.errors)
    top = reader.mapping(doc, "", ["apiVersion", "kind", "metadata", "spec", "status"], ["metadata", "spec"])
    meta = _read_metadata(top.get("metadata"), reader, doc)
    spec_node = top.get("spec")
    spec = reader.mapping(
        spec_node,
        "spec",
        ["description", "target", "window", "indicator", "alerting", *_IGNORED],
        ["target", "window", "indicator"],
        loc=doc.loc,
    )
    sloc = (spec_node or doc).loc
    for key, why in _IGNORED.items():
        if key in spec:
            reader.warn(spec[key].loc, f"spec.{key}", f"ignored: {why}")
    target_node = spec.get("target")
    objective = reader.number(target_node, "spec.target", default=99.0)
    period = reader.duration(spec.get("window"), "spec.window", default=DEFAULT_PERIOD, required=True)
    windows = catalogs.resolve(period, reader, (spec.get("window") or spec_node or doc).loc, "spec.window")
    indicator = _read_indicator(spec.get("indicator"), reader, sloc)
    alerting = _read_alerting(spec.get("alerting"), reader, meta.name, windows.windows, meta.annotations)
    if indicator is None:
        return []
    sli, grouping = indicator
    slo = SLO(
        service=meta.namespace or "default",
        name=meta.name,
        objective=objective,
        period=period,
        sli=sli,
        alerting=alerting,
        windows=windows,
        description=reader.string(spec.get("description"), "spec.description"),
        labels=labels(meta.labels),
        source=doc.loc,
        spec_version=API_VERSION,
        document_name=meta.name,
        document_namespace=meta.namespace,
        grouping=grouping,
    )
    placed = {
        "objective": ("spec.target", target_node),
        "period": ("spec.window", spec.get("window")),
        "sli": ("spec.indicator", spec.get("indicator")),
        **meta.placed,
    }
    build.check_slo(reader, slo, build.Fields("spec", spec_node, doc.loc, placed))
    return [slo] if len(reader.errors) == before else []


def summed(fn: str, selector: str, grouping: tuple[str, ...]) -> str:
    """Pyrra's query of a metric selector: ``fn`` over the window, summed by the grouping."""
    by = f" by ({', '.join(grouping)}) " if grouping else ""
    return f"sum{by}({fn}({selector}[{{{{.window}}}}]))"


def ratio_sli(errors: str, total: str, grouping: tuple[str, ...]) -> EventsSLI:
    """The SLI of a ``ratio`` indicator (also what ``sloctl convert --to pyrra`` matches)."""
    err, tot = summed("rate", errors, grouping), summed("rate", total, grouping)
    return EventsSLI(f"({err}) or ({tot} * 0)" if grouping else err, tot)


def latency_sli(success: str, total: str, grouping: tuple[str, ...]) -> RatioSLI:
    """The SLI of a ``latency`` indicator (also what ``sloctl convert --to pyrra`` matches)."""
    return RatioSLI(summed("rate", success, grouping), summed("rate", total, grouping))


def latency_native_sli(total: str, seconds: float, grouping: tuple[str, ...]) -> EventsSLI:
    """The SLI of a ``latencyNative`` indicator (also what ``sloctl convert --to pyrra`` matches)."""
    count = f"histogram_count({summed('rate', total, grouping)})"
    return EventsSLI(
        f"{count} * (1 - histogram_fraction(0, {seconds!r}, {summed('rate', total, grouping)}))", count
    )


def bool_gauge_sli(metric: str, grouping: tuple[str, ...]) -> EventsSLI:
    """The SLI of a ``bool_gauge`` indicator (also what ``sloctl convert --to pyrra`` matches)."""
    samples = summed("count_over_time", metric, grouping)
    return EventsSLI(f"{samples} - {summed('sum_over_time', metric, grouping)}", samples)


def _read_indicator(node: YNode | None, reader: Reader, loc: Location) -> tuple[SLI, tuple[str, ...]] | None:
    """The SLI and its grouping labels."""
    f = reader.mapping(node, "spec.indicator", _INDICATORS)
    where = build.loc_of(node, loc)
    kind = reader.one_key(f, _INDICATORS, where, "spec.indicator", ("indicator", ", ".join(_INDICATORS)))
    if kind is None:
        return None
    path = f"spec.indicator.{kind}"
    fields = {
        "ratio": ["errors", "total", "grouping"],
        "latency": ["success", "total", "grouping"],
        "latencyNative": ["total", "latency", "grouping"],
        "bool_gauge": ["metric", "grouping"],
    }[kind]
    required = [k for k in fields if k != "grouping"]
    g = reader.mapping(f[kind], path, fields, required)
    by = _grouping(g.get("grouping"), f"{path}.grouping", reader, f[kind].loc)

    def metric(key: str) -> str:
        if key == "metric":  # bool_gauge inlines its query
            m = g
            mpath = path
        else:
            m = reader.mapping(g.get(key), f"{path}.{key}", ["metric"], ["metric"], loc=f[kind].loc)
            mpath = f"{path}.{key}"
        text = reader.string(m.get("metric"), f"{mpath}.metric", non_empty=True)
        if text:
            build.check_promql(
                reader, text, (m.get("metric") or f[kind]).loc, f"{mpath}.metric", windowed=False
            )
        return text

    sli: SLI
    if kind == "ratio":
        sli = ratio_sli(metric("errors"), metric("total"), by)
    elif kind == "latency":
        sli = latency_sli(metric("success"), metric("total"), by)
    elif kind == "latencyNative":
        total = metric("total")
        sli = latency_native_sli(total, _seconds(g.get("latency"), reader, f"{path}.latency"), by)
    else:
        sli = bool_gauge_sli(metric("metric"), by)
    for field, query in build.sli_queries(sli):
        build.check_promql(reader, query, f[kind].loc, f"{path} ({field})", windowed=True)
    return sli, by


def _seconds(node: YNode | None, reader: Reader, path: str) -> float:
    """``latencyNative.latency`` in seconds (:func:`latency_seconds`); an error if it is none."""
    text = reader.string(node, path)
    value = latency_seconds(text)
    if value is None and node is not None:
        reader.error(node.loc, path, f"expected a positive duration such as 100ms or 1s, found {text!r}")
    return value or 0.0


def latency_seconds(text: str) -> float | None:
    """A Prometheus duration that may be below a second (``latency: 100ms``), in seconds; None
    unless it is one and positive."""
    for unit, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", float(HOUR))):
        number = text.removesuffix(unit)
        if number != text:
            try:
                value = float(number) * scale
            except ValueError:
                return None
            return value if value > 0 and math.isfinite(value) else None
    return None


def _grouping(node: YNode | None, path: str, reader: Reader, loc: Location) -> tuple[str, ...]:
    """The grouping labels, in the spec's order; empty without grouping. One that is not a label
    name is an error and left out, so that the queries built with the others still parse (and
    are not reported as PromQL errors on top)."""
    names: list[str] = []
    for n in reader.sequence(node, path):
        name = reader.string(n, path)
        if build.LABEL_NAME.fullmatch(name):
            names.append(name)
        else:
            reader.error(build.loc_of(node, loc), path, f"{name!r} is not a label name")
    return tuple(names)


def _read_alerting(
    node: YNode | None,
    reader: Reader,
    slo_name: str,
    windows: tuple[BurnWindow, ...],
    annotations: dict[str, str],
) -> Alerting:
    """Pyrra's alert options. Without ``name`` the alert is ``<Name>BudgetBurn`` (and the absent
    alert ``<Name>NoData``), not Pyrra's shared ``ErrorBudgetBurn``/``SLOMetricAbsent``: two
    SLOs of one namespace share a rule file here, and promtool refuses two alert rules that
    differ only in their expression."""
    f = reader.mapping(
        node, "spec.alerting", ["disabled", "name", "burnrates", "absent", "absentName", "severities"]
    )
    disabled = reader.boolean(f.get("disabled"), "spec.alerting.disabled", default=False)
    burnrates = reader.boolean(f.get("burnrates"), "spec.alerting.burnrates", default=True)
    absent = reader.boolean(f.get("absent"), "spec.alerting.absent", default=True)
    if "severities" in f:
        reader.warn(
            f["severities"].loc,
            "spec.alerting.severities",
            "ignored: sloctl's alerts carry severity page (fast and medium burn) or ticket (slow and "
            "long-term burn), which the Alertmanager routes read; add labels with a native spec",
        )
    burn_on = burnrates and not disabled
    return Alerting(
        name=reader.string(f.get("name"), "spec.alerting.name") or default_alert_name(slo_name),
        annotations=labels(annotations),
        tiers=tuple(AlertTier(w, enabled=burn_on) for w in windows),
        no_data=NoDataAlert(
            enabled=absent and not disabled,
            name=reader.string(f.get("absentName"), "spec.alerting.absentName"),
        ),
    )
