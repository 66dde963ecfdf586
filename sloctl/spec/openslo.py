"""OpenSLO: ``openslo/v1`` (every kind: Service, SLI, SLO, DataSource, AlertPolicy,
AlertCondition, AlertNotificationTarget), the ``openslo.com/v2alpha`` draft, and
``openslo/v1alpha`` as Sloth reads it.

Compiled: Prometheus metric sources (``type`` inline or from a referenced ``DataSource``),
``ratioMetric`` (good/total, bad/total, or ``raw`` with ``rawType``) and ``thresholdMetric``
(each sample an occurrence, good while ``metric op value`` holds), rolling and calendar-aligned
(week, month, quarter) ``timeWindow``, ``Occurrences`` and ``Timeslices`` budgeting with 5m
slices, composite objectives (``compositeWeight``), and alert policies mapped onto the tiers of
the burn-rate catalog; ``RatioTimeslices`` as a raw SLI of the 5m slice ratio. What sloctl
cannot compile (other data source types, other slice sizes and calendar lengths) is rejected
field by field, each error quoting the section of the specification that makes the field mean
what sloctl cannot express.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import promql_parser

from sloctl import naming
from sloctl.calendars import NOMINAL_SECONDS, CalendarError, boundary_offsets
from sloctl.durations import DAY, HOUR, DurationError, format_duration, parse_duration
from sloctl.errors import Location
from sloctl.gofmt import go_float
from sloctl.model import (
    SEVERITIES,
    SLI,
    SLO,
    WINDOW_PLACEHOLDER,
    Alerting,
    AlertTier,
    AlertWindows,
    Calendar,
    CalendarUnit,
    Component,
    CompositeSLI,
    EventsSLI,
    NoDataAlert,
    RatioSLI,
    RawSLI,
    Timeslices,
    canonical_window,
    labels,
)
from sloctl.spec import build
from sloctl.spec.catalog import DEFAULT_PERIOD, Catalogs
from sloctl.spec.native import default_alert_name
from sloctl.spec.reader import Reader, index
from sloctl.spec.yamlsrc import YNode

V1 = "openslo/v1"
V1ALPHA = "openslo/v1alpha"
V2ALPHA = "openslo.com/v2alpha"
"""The draft of OpenSLO v2 (enhancements/v2alpha.md of OpenSLO's repository): ``sli``/``sliRef``
for ``indicator``/``indicatorRef``, metric sources as ``dataSourceRef`` or an inline
``dataSourceSpec`` beside the query ``spec``, no ``displayName`` in metadata, Kubernetes label
values, and a duration shorthand of m, h, d and w only."""


def _alerting(name: str, windows: AlertWindows) -> Alerting:
    return Alerting(name=default_alert_name(name), tiers=tuple(AlertTier(w) for w in windows.windows))


# -- v1alpha, as Sloth reads it ------------------------------------------------------------------


# Why a field of the v1alpha specification (README.md of OpenSLO/OpenSLO before v1) is refused:
# sloctl reads v1alpha as Sloth does; v1 has the same meaning compiled.
_V1ALPHA_THRESHOLD = (
    "thresholdMetric SLIs (spec.indicator.thresholdMetric, compared by the objectives' op and value) "
    "are not compiled from openslo/v1alpha, which sloctl reads as Sloth does (ratioMetrics objectives "
    "only); write the SLO as openslo/v1, whose thresholdMetric sloctl compiles"
)
_V1ALPHA_CALENDAR = (
    "calendar-aligned time windows (calendar, isRolling: false) are not compiled from openslo/v1alpha, "
    "which sloctl reads as Sloth does (rolling windows only); use a rolling window, or write the SLO as "
    "openslo/v1, whose calendar timeWindow (1w, 1M, 1Q) sloctl compiles"
)
_V1ALPHA_CALENDAR_UNITS = ("Month", "Quarter", "Year")
# The other rolling units of the v1alpha specification, in seconds: Sloth v0.16 refuses each
# ("only days based time windows are supported"), and so does sloctl, saying the days to write.
_V1ALPHA_UNITS = {"Second": 1, "Minute": 60, "Hour": HOUR, "Week": 7 * DAY}


def _v1alpha_unit(unit: str, count: float) -> str:
    """Why a time window of ``count`` ``unit`` (not ``Day``) is refused, and what to write."""
    sloth = (
        "openslo/v1alpha is read as Sloth reads it, whose time windows are in days only "
        "('only days based time windows are supported')"
    )
    if unit in _V1ALPHA_CALENDAR_UNITS:
        return (
            f"{unit} is a unit of openslo/v1alpha's calendar-aligned windows, and {sloth}; write the SLO "
            "as openslo/v1, whose calendar timeWindow (1w, 1M, 1Q) sloctl compiles"
        )
    size = _V1ALPHA_UNITS.get(unit)
    if size is None:
        return f"unknown unit {unit!r}; {sloth}: write unit: Day"
    seconds = count * size
    days = f"count: {int(seconds // DAY)}, unit: Day" if seconds > 0 and seconds % DAY == 0 else "unit: Day"
    return f"{count:g} {unit} is no window Sloth reads: {sloth}; write {days}, or the SLO as openslo/v1"


# Fields of the v1alpha specification that Sloth ignores, and so does sloctl (with a warning).
_V1ALPHA_IGNORED = {"metadata": ("labels", "annotations"), "spec": ("alertPolicies",)}


def _v1alpha_ignored(reader: Reader, fields: dict[str, YNode], node: YNode | None, path: str) -> None:
    for key in _V1ALPHA_IGNORED[path]:
        if key in fields and node is not None:
            reader.warn(
                node.key_locs.get(key, node.loc),
                f"{path}.{key}",
                "ignored: a field of openslo/v1alpha that Sloth ignores, and so does sloctl, which reads "
                "v1alpha as Sloth does (openslo/v1's is read)",
            )


def _v1alpha_head(doc: YNode, reader: Reader) -> tuple[str, YNode | None, dict[str, YNode]]:
    """The document's name, its ``spec`` node and that node's fields."""
    top = reader.mapping(
        doc, "", ["apiVersion", "kind", "metadata", "spec"], ["apiVersion", "kind", "metadata", "spec"]
    )
    meta = reader.mapping(
        top.get("metadata"),
        "metadata",
        ["name", "displayName", *_V1ALPHA_IGNORED["metadata"]],
        ["name"],
        loc=doc.loc,
    )
    _v1alpha_ignored(reader, meta, top.get("metadata"), "metadata")
    name = reader.string(meta.get("name"), "metadata.name", non_empty=True)
    spec_node = top.get("spec")
    spec = reader.mapping(
        spec_node,
        "spec",
        [
            "service",
            "description",
            "budgetingMethod",
            "indicator",
            "objectives",
            "timeWindows",
            "alertPolicies",
        ],
        ["service", "objectives"],
        loc=doc.loc,
    )
    _v1alpha_ignored(reader, spec, spec_node, "spec")
    method = reader.string(spec.get("budgetingMethod"), "spec.budgetingMethod", default="Occurrences")
    if method != "Occurrences":
        reader.error(
            (spec.get("budgetingMethod") or doc).loc,
            "spec.budgetingMethod",
            f"budgeting method {method!r} is not supported; only Occurrences is",
        )
    return name, spec_node, spec


def read_v1alpha(doc: YNode, reader: Reader, catalogs: Catalogs) -> list[SLO]:
    name, spec_node, spec = _v1alpha_head(doc, reader)
    service = reader.string(spec.get("service"), "spec.service", non_empty=True)
    build.check_name(reader, service, (spec.get("service") or doc).loc, "spec.service", "service name")
    period, tws = _v1alpha_period(reader, spec)
    windows = catalogs.resolve(period, reader, (tws[0] if tws else doc).loc, "spec.timeWindows")
    threshold = _v1alpha_indicator(reader, spec.get("indicator"))
    out: list[SLO] = []
    for i, obj in enumerate(reader.sequence(spec.get("objectives"), "spec.objectives", required=True)):
        p = index("spec.objectives", i)
        before = len(reader.errors)
        o = reader.mapping(
            obj,
            p,
            ["ratioMetrics", "target", "displayName", "value", "op", "timeSliceTarget"],
            ["target"],
        )
        target = reader.number(o.get("target"), f"{p}.target", default=0.99)
        compared = [o[k] for k in ("op", "value") if k in o]
        if threshold or compared:
            if not threshold:  # the indicator's error says it once for the document
                reader.error(compared[0].loc, f"{p}.{'op' if 'op' in o else 'value'}", _V1ALPHA_THRESHOLD)
            continue
        queries = _v1alpha_queries(reader, o, obj.loc, p)
        sli = _ratio(reader, queries, obj.loc, f"{p}.ratioMetrics")
        if sli is None or len(reader.errors) > before:
            continue
        slo_name = f"{name}-{i}"
        slo = SLO(
            service=service,
            name=slo_name,
            objective=target * 100,
            period=period,
            sli=sli,
            alerting=_alerting(name, windows),
            windows=windows,
            description=reader.string(spec.get("description"), "spec.description"),
            source=obj.loc,
            spec_version=V1ALPHA,
            document_name=name,
        )
        placed = {
            "name": ("metadata.name", build.child(doc, "metadata", "name")),
            "period": ("spec.timeWindows[0]", build.child(spec_node, "timeWindows", 0)),
            "sli": (f"{p}.ratioMetrics", o.get("ratioMetrics")),
        }
        build.check_slo(reader, slo, build.Fields(p, obj, obj.loc, placed))
        if len(reader.errors) == before:
            out.append(slo)
    return out


def _v1alpha_indicator(reader: Reader, node: YNode | None) -> bool:
    """Whether the SLO has a ``thresholdMetric`` indicator, refused once here."""
    indicator = reader.mapping(node, "spec.indicator", ["thresholdMetric"])
    if node is None or "thresholdMetric" not in indicator:
        return False
    at = node.key_locs.get("thresholdMetric", node.loc)
    reader.error(at, "spec.indicator.thresholdMetric", _V1ALPHA_THRESHOLD)
    return True


def _v1alpha_period(reader: Reader, spec: dict[str, YNode]) -> tuple[int, list[YNode]]:
    """The period of the one rolling time window (default 30 days), and the windows given."""
    period = DEFAULT_PERIOD
    tws = reader.sequence(spec.get("timeWindows"), "spec.timeWindows")
    for i, tw in enumerate(tws[:1]):
        p = index("spec.timeWindows", i)
        t = reader.mapping(tw, p, ["count", "unit", "isRolling", "calendar"], ["count", "unit"])
        if "calendar" in t or (t.get("isRolling") is not None and t["isRolling"].value is False):
            reader.error(tw.loc, p, _V1ALPHA_CALENDAR)
            continue
        count = reader.number(t.get("count"), f"{p}.count", default=30)
        unit = reader.string(t.get("unit"), f"{p}.unit")  # blank is no unit, to Sloth too
        if unit.lower() != "day":  # Sloth compares the unit in lower case
            reader.error((t.get("unit") or tw).loc, f"{p}.unit", _v1alpha_unit(unit, count))
        elif count <= 0 or count != int(count):
            reader.error(tw.loc, f"{p}.count", "count must be a positive whole number")
        else:
            period = int(count) * DAY
    if len(tws) > 1:
        reader.error(tws[1].loc, "spec.timeWindows[1]", "only one time window is supported")
    return period, tws


def _v1alpha_queries(reader: Reader, o: dict[str, YNode], loc: Location, p: str) -> dict[str, str]:
    """The PromQL of ``ratioMetrics``: ``good``, ``bad`` and ``total``, those given."""
    rm = reader.mapping(
        o.get("ratioMetrics"),
        f"{p}.ratioMetrics",
        ["good", "bad", "total", "counter"],
        ["total"],
        loc=loc,
    )
    queries: dict[str, str] = {}
    for part in ("good", "bad", "total"):
        if part not in rm:
            continue
        q = reader.mapping(
            rm[part], f"{p}.ratioMetrics.{part}", ["source", "queryType", "query", "metadata"], ["query"]
        )
        source = reader.string(q.get("source"), f"{p}.ratioMetrics.{part}.source", default="prometheus")
        if source.lower() != "prometheus":
            reader.error(
                rm[part].loc, f"{p}.ratioMetrics.{part}.source", f"source {source!r} is not supported"
            )
        text = reader.string(q.get("query"), f"{p}.ratioMetrics.{part}.query", non_empty=True)
        if text and "query" in q:
            build.check_promql(reader, text, q["query"].loc, f"{p}.ratioMetrics.{part}.query", windowed=True)
        queries[part] = text
    return queries


def _ratio(reader: Reader, q: dict[str, str], loc: Location, path: str) -> SLI | None:
    if "good" in q and "bad" in q:
        reader.error(loc, path, "give good or bad, not both")
        return None
    if "total" not in q:
        return None
    if "good" in q:
        return RatioSLI(q["good"], q["total"])
    if "bad" in q:
        return EventsSLI(q["bad"], q["total"])
    reader.error(loc, path, "good or bad is required beside total")
    return None


# -- v1 ------------------------------------------------------------------------------------------

# The v1 kinds other documents refer to by name, collected before any SLO is read.
REFERABLE = ("SLI", "DataSource", "AlertPolicy", "AlertCondition", "AlertNotificationTarget")

# Quoted in errors: the sections of the OpenSLO v1 specification (README.md of OpenSLO/OpenSLO)
# that decide why a field cannot be compiled.
_SPEC_SLI = (
    "OpenSLO v1, SLI: a metric source's `spec` holds 'arbitrary chosen fields for every data source type'"
)
_SPEC_TYPE = (
    "OpenSLO v1, Ratio Metric: 'Field `type` can't be omitted because the reference to an existing "
    "DataSource is not specified'"
)
_SPEC_DURATION = "OpenSLO v1, duration-shorthand: 'm – minutes', 'M – months'"
_SPEC_DURATION_V2 = "OpenSLO v2alpha, General Schema: duration-shorthand postfixes m, h, d and w"
_SPEC_RATIO_TIMESLICES = (
    "OpenSLO v1, Notes (SLO): 'RatioTimeslices method uses an average of all time slices' success ratios'"
)
_SPEC_COMPOSITE_TIMESLICES = (
    "OpenSLO v1, Notes (Composite SLO): Timeslices composites count 'a bad minute for any individual "
    "objective' as bad, which is not a weighted mean"
)
_TIMESLICE_METHODS = ("Timeslices", "RatioTimeslices")
"""The budgeting methods that count time slices, which no composite compiles."""
_SPEC_OP = "OpenSLO v1, Objectives: op is the 'operator used to compare the SLI against the value'"

# Data source types whose queries are PromQL, compared without case: the engines sloctl's rule
# flavours run on (docs/compat.md).
_PROMQL_NAMES = ("Prometheus", "Thanos", "Mimir", "Cortex", "VictoriaMetrics")
_PROMQL_SOURCES = tuple(n.lower() for n in _PROMQL_NAMES)
# A thresholdMetric is a value sampled over time; each sample at this step is one occurrence.
_THRESHOLD_STEP = 60
# The negation of each OpenSLO operator: the samples that miss the objective.
_MISSES = {"lt": ">=", "lte": ">", "gt": "<=", "gte": "<"}


@dataclass
class V1Objects:
    """The named documents of one OpenSLO version (``api``: v1 or v2alpha) an SLO of that version
    may refer to, by kind then ``metadata.name``."""

    api: str = V1
    by_kind: dict[str, dict[str, YNode]] = field(default_factory=lambda: {k: {} for k in REFERABLE})

    def get(self, kind: str, name: str) -> YNode | None:
        return self.by_kind[kind].get(name)

    @property
    def v2(self) -> bool:
        return self.api == V2ALPHA

    @property
    def indicator(self) -> str:
        return "sli" if self.v2 else "indicator"

    @property
    def indicator_ref(self) -> str:
        return "sliRef" if self.v2 else "indicatorRef"


def _v1_head(
    doc: YNode, reader: Reader, required: list[str], api: str = V1
) -> tuple[dict[str, YNode], dict[str, YNode], str]:
    """The top level and metadata shared by every OpenSLO kind, and the document's name
    (v2alpha: 'Remove `displayName` from the ObjectMeta')."""
    top = reader.mapping(doc, "", ["apiVersion", "kind", "metadata", "spec"], required)
    meta = reader.mapping(
        top.get("metadata"),
        "metadata",
        ["name", "labels", "annotations"]
        if api == V2ALPHA
        else ["name", "displayName", "labels", "annotations"],
        ["name"],
        loc=doc.loc,
    )
    return top, meta, reader.string(meta.get("name"), "metadata.name", non_empty=True)


_REFERABLE_FIELDS = {
    "SLI": ["description", "ratioMetric", "thresholdMetric"],
    "DataSource": ["description", "type", "connectionDetails"],
    "AlertPolicy": [
        "description",
        "alertWhenNoData",
        "alertWhenResolved",
        "alertWhenBreaching",
        "conditions",
        "notificationTargets",
    ],
    "AlertCondition": ["description", "severity", "condition"],
    "AlertNotificationTarget": ["description", "target"],
}


def read_v1_object(kind: str, doc: YNode, reader: Reader, objects: V1Objects) -> None:
    """A document of a kind in ``REFERABLE``, kept for lookups by name (its fields are checked
    where an SLO uses it; its top-level fields here)."""
    top, meta, name = _v1_head(doc, reader, ["metadata", "spec"], objects.api)
    _v1_labels(reader, meta.get("labels"), objects.api)
    reader.mapping(top.get("spec"), "spec", _REFERABLE_FIELDS[kind], loc=doc.loc)
    # A second object of the kind and name is refused where the files are read
    # (sloctl.spec._claim_openslo_name), naming the first; the first is the one kept.
    if name and top.get("spec") is not None:
        objects.by_kind[kind].setdefault(name, top["spec"])


def read_v1_service(doc: YNode, reader: Reader, api: str = V1) -> None:
    top, meta, _ = _v1_head(doc, reader, ["metadata"], api)
    _v1_labels(reader, meta.get("labels"), api)
    reader.mapping(top.get("spec"), "spec", ["description"])


def _v1_labels(
    reader: Reader, node: YNode | None, api: str = V1, path: str = "metadata.labels"
) -> dict[str, str]:
    """``metadata.labels``: OpenSLO v1 allows a string or a list of strings per key ('the `value`
    of `key` segment can be a string or an array of strings'); a list becomes one Prometheus
    label value, its items joined by commas in their order, and an empty list no label. v2alpha
    labels are Kubernetes ones: strings."""
    if api == V2ALPHA:
        return reader.string_map(node, path)
    if node is None or node.value is None:
        return {}
    if not isinstance(node.value, dict):
        reader.error(node.loc, path, "expected a mapping of strings or lists of strings")
        return {}
    out: dict[str, str] = {}
    for key, child in node.value.items():
        key_path = f"{path}.{key}"
        if isinstance(child.value, list):
            items = [
                reader.string(item, index(key_path, i), non_empty=True) for i, item in enumerate(child.value)
            ]
            if items:
                out[key] = ",".join(items)
        else:
            out[key] = reader.string(child, key_path)
    return out


def read_v1_slo(doc: YNode, reader: Reader, catalogs: Catalogs, objects: V1Objects) -> list[SLO]:
    doc_errors = len(reader.errors)
    top, meta, name = _v1_head(doc, reader, ["metadata", "spec"], objects.api)
    slo_labels = _v1_labels(reader, meta.get("labels"), objects.api)
    build.check_labels(reader, slo_labels, "metadata.labels", meta.get("labels") or doc.loc)
    spec_node = top.get("spec")
    spec = _v1_spec(reader, spec_node, doc, objects)
    sloc = (spec_node or doc).loc
    service = _v1_service(reader, spec, doc, objects)
    method = _v1_budgeting_method(reader, spec, doc)
    period, calendar = _v1_window(reader, spec.get("timeWindow"), objects.api)
    objectives, composite = _v1_objectives(reader, spec, objects)
    sli = None if composite else _v1_indicator(reader, spec, sloc, objects, "spec")
    tw_node = spec.get("timeWindow")
    indicator = objects.indicator_ref if objects.indicator_ref in spec else objects.indicator
    windows = catalogs.resolve(period, reader, build.loc_of(tw_node, sloc), "spec.timeWindow")
    alerting = _v1_alert_policies(reader, spec.get("alertPolicies"), objects, windows, period)
    if composite:
        _v1_composite_budget(reader, spec, method, calendar, build.child(tw_node, 0))
    document = _V1Document(
        name=name,
        service=service,
        method=method,
        period=period,
        calendar=calendar,
        windows=windows,
        alerting=alerting,
        description=spec.get("description"),
        labels=slo_labels,
        placed={
            "period": ("spec.timeWindow[0].duration", build.child(tw_node, 0, "duration")),
            "calendar": ("spec.timeWindow[0]", build.child(tw_node, 0)),
            "sli": (f"spec.{indicator}", spec.get(indicator)),
            "labels": ("metadata.labels", meta.get("labels")),
            "name": ("metadata.name", meta.get("name")),
        },
        composite=composite,
        sli=sli,
        objectives=len(objectives),
        objects=objects,
        source=sloc,
        errors_before=doc_errors,
    )
    return _v1_slos(reader, document, objectives)


def _v1_composite_budget(
    reader: Reader, spec: dict[str, YNode], method: str, calendar: Calendar | None, window: YNode | None
) -> None:
    """A composite document's budgeting method and time window, each refused once at its field,
    in OpenSLO's terms: its objectives become component SLOs that count events on a rolling
    period, which ``build.check_composites`` would otherwise say of each component, at the
    native format's ``spec.slos[…].sli.composite.components``."""
    if method in _TIMESLICE_METHODS:
        reader.error(
            spec["budgetingMethod"].loc,
            "spec.budgetingMethod",
            f"a composite is compiled as the weighted mean of its objectives' error ratios, with "
            f"Occurrences budgeting only ({_SPEC_COMPOSITE_TIMESLICES})",
        )
    if calendar is not None and window is not None:
        reader.error(
            window.loc,
            "spec.timeWindow[0]",
            f"a composite is compiled over a rolling time window only (its objectives count events "
            f"on a rolling period), not a calendar {calendar.unit}: write timeWindow: "
            f"[{{duration: {format_duration(NOMINAL_SECONDS[calendar.unit])}, isRolling: true}}], "
            f"or give each objective an SLO document of its own, which may keep the calendar window",
        )


def _v1_slos(reader: Reader, document: _V1Document, objectives: list[YNode]) -> list[SLO]:
    """The SLO of each objective without errors, and the composite of them when it is one."""
    out: list[SLO] = []
    components: list[Component] = []
    targets: list[tuple[float, float]] = []
    for i, obj in enumerate(objectives):
        before = len(reader.errors)
        made = _v1_objective(reader, document, obj, i)
        if made is not None and len(reader.errors) == before:
            slo, weight = made
            out.append(slo)
            components.append(Component(slo.name, weight))
            targets.append((weight, slo.objective))
    if document.composite and out and len(reader.errors) == document.errors_before:
        out.append(_v1_composite(reader, document, components, composite_objective(targets)))
        build.check_composites(reader, out)
    return out


@dataclass(frozen=True)
class _V1Document:
    """What the objectives of one OpenSLO SLO document share, as read from it."""

    name: str
    service: str
    method: str
    """``budgetingMethod``"""
    period: int
    calendar: Calendar | None
    windows: AlertWindows
    alerting: _Policies | None
    description: YNode | None
    labels: dict[str, str]
    placed: dict[str, tuple[str, YNode | None]]
    """Where the document writes the fields its objectives share (``build.Fields``)."""
    composite: bool
    sli: SLI | _Threshold | None
    """The document's indicator (None for a composite, whose objectives name their own)."""
    objectives: int
    objects: V1Objects
    source: Location
    errors_before: int
    """The reader's error count when the document's reading began."""

    def slo(
        self,
        reader: Reader,
        name: str,
        objective: float,
        sli: SLI,
        source: Location,
        own_labels: dict[str, str] | None = None,
        timeslices: Timeslices | None = None,
        calendar: Calendar | None = None,
    ) -> SLO:
        """An SLO of this document, an objective's or the composite's: what differs between
        them is given (``own_labels`` are added to the document's), the rest is the document's."""
        return SLO(
            service=self.service,
            name=name,
            objective=objective,
            period=self.period,
            sli=sli,
            alerting=_v1_alerting(name, self.windows, self.alerting),
            windows=self.windows,
            description=reader.string(self.description, "spec.description"),
            labels=labels({**self.labels, **(own_labels or {})}),
            source=source,
            spec_version=self.objects.api,
            document_name=self.name,
            timeslices=timeslices,
            calendar=calendar,
        )


def _v1_spec(reader: Reader, node: YNode | None, doc: YNode, objects: V1Objects) -> dict[str, YNode]:
    spec = reader.mapping(
        node,
        "spec",
        [
            "description",
            "service",
            *(["serviceRef"] if objects.v2 else []),
            "indicator",
            "indicatorRef",
            *(["sli", "sliRef"] if objects.v2 else []),
            "budgetingMethod",
            "timeWindow",
            "objectives",
            "alertPolicies",
        ],
        # v2alpha's service is either field, checked by _v1_service
        ["budgetingMethod", "objectives"] if objects.v2 else ["service", "budgetingMethod", "objectives"],
        loc=doc.loc,
    )
    _v2_renamed(reader, spec, "spec", objects)
    return spec


def _v1_service(reader: Reader, spec: dict[str, YNode], doc: YNode, objects: V1Objects) -> str:
    """The SLO's service: v1's ``service``; in v2alpha that field (enhancements/v2alpha.md) or
    ``serviceRef``, its name in OpenSLO's Go SDK since v0.8.0 (OpenSLO/OpenSLO#279, 'Update the
    service field to serviceRef as it's a pointer to the Service Object'), one of the two."""
    field = "service"
    if objects.v2:
        given = [f for f in ("service", "serviceRef") if f in spec]
        if len(given) != 1:
            reader.error(
                spec[given[1]].loc if given else doc.loc,
                "spec",
                "give exactly one of service or serviceRef (the name of the SLO's Service; "
                "v2alpha's draft names it service, OpenSLO's Go SDK serviceRef)",
            )
            return ""
        field = given[0]
    path = f"spec.{field}"
    service = reader.string(spec.get(field), path, non_empty=True)
    build.check_name(reader, service, (spec.get(field) or doc).loc, path, "service name")
    return service


def _v1_objectives(reader: Reader, spec: dict[str, YNode], objects: V1Objects) -> tuple[list[YNode], bool]:
    """The objectives, and whether they make a composite (each names its own indicator)."""
    objectives = reader.sequence(spec.get("objectives"), "spec.objectives", required=True)
    if not objectives and spec.get("objectives") is not None and spec["objectives"].value == []:
        reader.error(spec["objectives"].loc, "spec.objectives", "at least one objective is required")
    composite = any(
        isinstance(o.value, dict) and (objects.indicator in o.value or objects.indicator_ref in o.value)
        for o in objectives
    )
    return objectives, composite


_V1_OBJECTIVE_FIELDS = (
    "displayName",
    "target",
    "targetPercent",
    "op",
    "value",
    "timeSliceTarget",
    "timeSliceWindow",
    "indicator",
    "indicatorRef",
    "compositeWeight",
)
"""The fields of an objective in v1 (v2alpha adds ``sli``, ``sliRef`` and ``labels``)."""


def _v1_slicing(
    reader: Reader, method: str, sli: SLI | None, o: dict[str, YNode], loc: Location, p: str
) -> tuple[SLI | None, Timeslices | None]:
    """An objective's SLI and time slices under the document's budgeting method."""
    if method == "Timeslices":
        return sli, _v1_timeslices(reader, o, loc, p)
    if method == "RatioTimeslices":
        return _v1_ratio_timeslices(reader, sli, o, loc, p), None
    for f in ("timeSliceTarget", "timeSliceWindow"):
        if f in o:
            reader.error(o[f].loc, f"{p}.{f}", f"{f} needs budgetingMethod: Timeslices")
    return sli, None


def _v1_budgeting_method(reader: Reader, spec: dict[str, YNode], doc: YNode) -> str:
    method = reader.string(spec.get("budgetingMethod"), "spec.budgetingMethod", default="Occurrences")
    if method == "RatioTimeslices":
        reader.warn(
            spec["budgetingMethod"].loc,
            "spec.budgetingMethod",
            "RatioTimeslices is compiled as a raw SLI of the 5m slice ratio: every window and the "
            "period average the ratios of sliding 5m slices, each counted alike; the quick page's "
            f"1h window alone reads the ratio over the hour ({_SPEC_RATIO_TIMESLICES})",
        )
    elif method not in ("Occurrences", "Timeslices"):
        reader.error(
            (spec.get("budgetingMethod") or doc).loc,
            "spec.budgetingMethod",
            f"unknown budgeting method {method!r}; expected Occurrences, Timeslices or RatioTimeslices",
        )
    return method


def _v1_objective(reader: Reader, d: _V1Document, obj: YNode, i: int) -> tuple[SLO, float] | None:
    """The SLO of objective ``i`` and its ``compositeWeight``; None when it has errors."""
    p = index("spec.objectives", i)
    objects = d.objects
    o = reader.mapping(obj, p, [*_V1_OBJECTIVE_FIELDS, *(["sli", "sliRef", "labels"] if objects.v2 else [])])
    _v2_renamed(reader, o, p, objects)
    # v2alpha objectives carry labels of their own, on top of the document's (checked with it).
    own_labels = _v1_labels(reader, o.get("labels"), objects.api, f"{p}.labels")
    build.check_labels(reader, own_labels, f"{p}.labels", o.get("labels") or obj.loc)
    objective_sli = _v1_indicator(reader, o, obj.loc, objects, p) if d.composite else d.sli
    if d.composite and not (objects.indicator in o or objects.indicator_ref in o):
        reader.error(
            obj.loc,
            p,
            f"every objective of a composite needs its {objects.indicator} or {objects.indicator_ref}",
        )
    slo_sli: SLI | None
    if isinstance(objective_sli, _Threshold):
        slo_sli = _v1_threshold(reader, objective_sli, o, obj.loc, p)
    else:
        slo_sli = objective_sli
        _v1_ratio_op(reader, o, p)
    weight = _v1_weight(reader, o, p, d.composite)
    if d.composite and d.method in _TIMESLICE_METHODS:
        timeslices = None  # refused once, at spec.budgetingMethod, not again at each objective
    else:
        slo_sli, timeslices = _v1_slicing(reader, d.method, slo_sli, o, obj.loc, p)
    if d.composite and isinstance(slo_sli, RawSLI):
        _v1_raw_component(reader, o, p, objects)
    objective = _v1_target(reader, o, obj, p)
    if objective is None or slo_sli is None or len(reader.errors) > d.errors_before:
        return None
    slo_name = d.name if d.objectives == 1 and not d.composite else f"{d.name}-{i}"
    slo = d.slo(reader, slo_name, objective, slo_sli, obj.loc, own_labels, timeslices, d.calendar)
    target = "target" if "target" in o else "targetPercent"
    placed = {
        **d.placed,
        "objective": (f"{p}.{target}", o.get(target)),
        "timeslices": (f"{p}.timeSliceTarget", o.get("timeSliceTarget")),
    }
    if d.composite:
        indicator = objects.indicator_ref if objects.indicator_ref in o else objects.indicator
        placed["sli"] = (f"{p}.{indicator}", o.get(indicator))
    build.check_slo(reader, slo, build.Fields(p, obj, obj.loc, placed))
    return slo, weight


def _v1_raw_component(reader: Reader, o: dict[str, YNode], p: str, objects: V1Objects) -> None:
    """A composite's objective with a raw ratio, refused at its ``raw`` (or at the reference to
    the SLI that has it): a component SLO needs event counts of its own."""
    key = objects.indicator_ref if objects.indicator_ref in o else objects.indicator
    raw = build.child(o.get(key), "spec", "ratioMetric", "raw")
    path = f"{p}.{key}" + (".spec.ratioMetric.raw" if raw is not None else "")
    reader.error(
        (raw or o[key]).loc,
        path,
        "an objective of a composite needs event counts (ratioMetric good or bad, with total): "
        "the composite's events, which its low-traffic guard, no-data alert and dashboards read, are "
        "its objectives' together, and a raw ratio counts none; give this objective good/total or "
        "bad/total, or an SLO document of its own",
    )


def _v1_target(reader: Reader, o: dict[str, YNode], obj: YNode, p: str) -> float | None:
    """The objective in percent, from exactly one of ``target`` (0-1) or ``targetPercent``."""
    if ("target" in o) == ("targetPercent" in o):
        reader.error(obj.loc, p, "give exactly one of target (0-1) or targetPercent")
        return None
    if "target" in o:
        return _percent(reader.number(o["target"], f"{p}.target"))
    return reader.number(o["targetPercent"], f"{p}.targetPercent")


def _v1_weight(reader: Reader, o: dict[str, YNode], p: str, composite: bool) -> float:
    if "compositeWeight" in o and not composite:
        reader.error(
            o["compositeWeight"].loc,
            f"{p}.compositeWeight",
            "compositeWeight belongs to composite SLOs, whose objectives each name their indicator",
        )
    weight = reader.number(o.get("compositeWeight"), f"{p}.compositeWeight", default=1.0)
    if weight <= 0:
        reader.error(o["compositeWeight"].loc, f"{p}.compositeWeight", f"{weight:g} is not above 0")
    return weight


def composite_objective(targets: Sequence[tuple[float, float]]) -> float:
    """The objective of a composite of objectives (``compositeWeight``, percent) as the reader
    gives it: it burns at the weighted mean of its objectives' burn rates ("Weight multiplies the
    rate of burning"), so its budget is the weighted mean of theirs, and its objective the
    weighted mean of their targets, in exact arithmetic from the numbers as written (the nearest
    float to it: what ``sloctl convert --to openslo`` compares a composite's objective with).

    >>> composite_objective([(3, 99), (1, 99.9)]), composite_objective([(2, 99), (1, 99.9)])
    (99.225, 99.3)
    """
    total = sum(Fraction(repr(float(w))) for w, _ in targets)
    return float(sum(Fraction(repr(float(w))) * Fraction(repr(float(o))) for w, o in targets) / total)


def _v1_composite(reader: Reader, d: _V1Document, components: list[Component], objective: float) -> SLO:
    """The composite SLO over its objectives' SLOs (:func:`composite_objective`)."""
    whole = d.slo(reader, d.name, objective, CompositeSLI(tuple(components)), d.source)
    build.check_slo(reader, whole, build.Fields("spec", None, d.source, d.placed))
    return whole


def _v2_renamed(reader: Reader, fields: dict[str, YNode], path: str, objects: V1Objects) -> None:
    """v1's ``indicator``/``indicatorRef`` in a v2alpha document, named with their new names."""
    if not objects.v2:
        return
    for old, new in (("indicator", "sli"), ("indicatorRef", "sliRef")):
        if old in fields:
            reader.error(
                fields.pop(old).loc,
                f"{path}.{old}",
                f"v2alpha calls it {new} ('Change field indicator to `sli` and `indicatorRef` to `sliRef`')",
            )


def _v1_ratio_op(reader: Reader, o: dict[str, YNode], path: str) -> None:
    """``op`` on a ratio objective compares the share of good events with the target: ``gt`` and
    ``gte`` say what the target means anyway (they differ only when the ratio equals the target
    exactly, where sloctl's budget is just spent); ``lt``/``lte`` would make an SLO of failing."""
    if "value" in o:
        reader.error(
            o["value"].loc,
            f"{path}.value",
            f"value compares a thresholdMetric; this SLI is a ratio ({_SPEC_OP})",
        )
    if "op" not in o:
        return
    op = reader.string(o["op"], f"{path}.op")
    if op in ("lt", "lte"):
        reader.error(
            o["op"].loc,
            f"{path}.op",
            f"op {op} would hold the share of good events below the target; a ratio objective is "
            f"met at or above it: use gt or gte ({_SPEC_OP})",
        )
    elif op not in ("gt", "gte"):
        reader.error(o["op"].loc, f"{path}.op", f"unknown op {op!r}; expected lte, gte, lt or gt")


@dataclass(frozen=True)
class _Threshold:
    """A thresholdMetric's query, until the objective gives its ``op`` and ``value``."""

    query: str


def _v1_threshold(reader: Reader, t: _Threshold, o: dict[str, YNode], loc: Location, path: str) -> SLI | None:
    """A thresholdMetric: every sample of the metric (one a minute) is an occurrence, good when
    ``metric op value`` holds; the errors are the samples that miss it."""
    if "op" not in o or "value" not in o:
        reader.error(loc, path, f"a thresholdMetric objective needs op and value ({_SPEC_OP})")
        return None
    op = reader.string(o["op"], f"{path}.op")
    if op not in _MISSES:
        reader.error(o["op"].loc, f"{path}.op", f"unknown op {op!r}; expected lte, gte, lt or gt")
        return None
    value = go_float(reader.number(o["value"], f"{path}.value"))
    if not t.query:
        return None  # its metric source was refused
    step = format_duration(_THRESHOLD_STEP)
    samples = f"({t.query.strip()})[{WINDOW_PLACEHOLDER}:{step}]"
    misses = f"(({t.query.strip()}) {_MISSES[op]} {value})[{WINDOW_PLACEHOLDER}:{step}]"
    return EventsSLI(f"sum(count_over_time({misses}))", f"sum(count_over_time({samples}))")


def _v1_timeslices(reader: Reader, o: dict[str, YNode], loc: Location, path: str) -> Timeslices | None:
    if "timeSliceTarget" not in o or "timeSliceWindow" not in o:
        reader.error(loc, path, "Timeslices budgeting needs timeSliceTarget and timeSliceWindow")
        return None
    target = reader.number(o["timeSliceTarget"], f"{path}.timeSliceTarget")
    if not 0 < target <= 1:
        reader.error(o["timeSliceTarget"].loc, f"{path}.timeSliceTarget", f"{target:g} is outside (0, 1]")
    _v1_slice(reader, o["timeSliceWindow"], f"{path}.timeSliceWindow")
    return Timeslices(naming.BASE_WINDOW, _percent(target))


def _percent(fraction: float) -> float:
    """A 0-1 target as a percentage, without the binary noise of ``* 100`` (0.5015 → 50.15, not
    50.14999999999999): targets are written in decimal, and ``targetPercent`` gives the same."""
    return round(fraction * 100, 10)


def _v1_ratio_timeslices(
    reader: Reader, sli: SLI | None, o: dict[str, YNode], loc: Location, path: str
) -> SLI | None:
    """RatioTimeslices: the SLI as the error ratio of one 5m slice (absent when the slice has no
    events, so that an empty slice is not averaged in), which raw SLIs' rules average over every
    window but the quick page's (docs/rules.md, raw SLIs)."""
    if "timeSliceWindow" not in o:
        reader.error(loc, path, "RatioTimeslices budgeting needs timeSliceWindow")
        return None
    if "timeSliceTarget" in o:
        reader.error(
            o["timeSliceTarget"].loc,
            f"{path}.timeSliceTarget",
            "timeSliceTarget judges slices good or bad, which RatioTimeslices does not: drop it",
        )
    _v1_slice(reader, o["timeSliceWindow"], f"{path}.timeSliceWindow")
    if isinstance(sli, EventsSLI):
        return RawSLI(f"({sli.error_query.strip()}) / (({sli.total_query.strip()}) > 0)")
    if isinstance(sli, RatioSLI):
        return RawSLI(f"1 - (({sli.good_query.strip()}) / (({sli.total_query.strip()}) > 0))")
    return sli


def _v1_slice(reader: Reader, node: YNode, path: str) -> None:
    """A ``timeSliceWindow``: sloctl's slices are 5m."""
    # "Default interpretation of unit if specified as a number in minutes."
    if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        size = int(node.value * 60)
    else:
        size = reader.duration(node, path, default=naming.BASE_WINDOW, required=True)
    if size != naming.BASE_WINDOW:
        reader.error(
            node.loc,
            path,
            f"{format_duration(size)} slices are not compiled: sloctl's slices are 5m, the base window "
            "its rules record (rate() over a 1m slice would see one sample at a 1m scrape interval), "
            "and a slice of another size would judge other slices good or bad",
        )


# OpenSLO's calendar durations (its shorthand: M for months, Q for quarters).
_CALENDAR_DURATIONS: dict[str, CalendarUnit] = {"1w": "week", "7d": "week", "1M": "month", "1Q": "quarter"}
# v2alpha's shorthand has no months or quarters ('allowed postfixed changed: m, h, d, w').
_CALENDAR_DURATIONS_V2: dict[str, CalendarUnit] = {"1w": "week", "7d": "week"}
_STARTS = {
    "week": "a Monday",
    "month": "the 1st of a month",
    "quarter": "the 1st of January, April, July or October",
}


def _v1_window(reader: Reader, node: YNode | None, api: str = V1) -> tuple[int, Calendar | None]:
    items = reader.sequence(node, "spec.timeWindow")
    if not items:
        # "timeWindow[ ] optional": the default period, rolling.
        return DEFAULT_PERIOD, None
    if len(items) > 1:
        reader.error(items[1].loc, "spec.timeWindow[1]", "exactly one time window is allowed")
    t = reader.mapping(items[0], "spec.timeWindow[0]", ["duration", "isRolling", "calendar"], ["duration"])
    if "duration" in t and t["duration"].value is None:  # required: blank is refused (oslo), not 30d
        where = "spec.timeWindow[0].duration"
        reader.error(t["duration"].loc, where, "expected a duration such as 30d or 1M, found nothing (null)")
        return DEFAULT_PERIOD, None
    text = reader.string(t.get("duration"), "spec.timeWindow[0].duration", default="30d")
    # "isRolling: false # if omitted assumed `false` if `calendar:` is present"
    rolling = reader.boolean(t.get("isRolling"), "spec.timeWindow[0].isRolling", default="calendar" not in t)
    if rolling and "calendar" in t:
        reader.error(t["calendar"].loc, "spec.timeWindow[0].calendar", "a rolling window has no calendar")
    if not rolling:
        calendars = _CALENDAR_DURATIONS_V2 if api == V2ALPHA else _CALENDAR_DURATIONS
        unit = calendars.get(text)
        if unit is None:
            minute = " (1m is one minute; a month is 1M)" if text.endswith("m") and api == V1 else ""
            offered, quoted = (
                ("1w (months and quarters have no shorthand)", _SPEC_DURATION_V2)
                if api == V2ALPHA
                else ("1w, 1M and 1Q", _SPEC_DURATION)
            )
            reader.error(
                (t.get("duration") or items[0]).loc,
                "spec.timeWindow[0].duration",
                f"calendar window {text!r}{minute} is not compiled; sloctl's calendar windows are "
                f"{offered} ({quoted})",
            )
            return DEFAULT_PERIOD, None
        c = reader.mapping(t.get("calendar"), "spec.timeWindow[0].calendar", ["startTime", "timeZone"])
        zone = reader.string(c.get("timeZone"), "spec.timeWindow[0].calendar.timeZone", default="UTC")
        try:
            offsets = boundary_offsets(unit, zone)
        except CalendarError as exc:
            reader.error(
                (c.get("timeZone") or items[0]).loc, "spec.timeWindow[0].calendar.timeZone", str(exc)
            )
            return DEFAULT_PERIOD, None
        if "startTime" in c:
            _v1_start(reader, c["startTime"], unit)
        return NOMINAL_SECONDS[unit], Calendar(unit, zone, offsets)
    try:
        return parse_duration(text), None
    except DurationError as exc:
        reader.error((t.get("duration") or items[0]).loc, "spec.timeWindow[0].duration", str(exc))
        return DEFAULT_PERIOD, None


def _v1_start(reader: Reader, node: YNode, unit: CalendarUnit) -> None:
    """``calendar.startTime`` anchors the windows; sloctl's start at local midnight on the first
    day of the unit, so a start elsewhere would shift every period."""
    path = "spec.timeWindow[0].calendar.startTime"
    value = node.value
    if isinstance(value, dt.datetime):
        start = value.replace(tzinfo=None)
    elif isinstance(value, dt.date):
        start = dt.datetime(value.year, value.month, value.day)
    else:
        text = reader.string(node, path)
        try:
            start = dt.datetime.fromisoformat(text)
        except ValueError:
            reader.error(node.loc, path, f"{text!r} is not a date and time such as 2024-01-01 00:00:00")
            return
    day = start.date()
    aligned = start.time() == dt.time() and (
        (unit == "week" and day.weekday() == 0)
        or (unit == "month" and day.day == 1)
        or (unit == "quarter" and day.day == 1 and day.month in (1, 4, 7, 10))
    )
    if not aligned:
        reader.error(
            node.loc,
            path,
            f"{start:%Y-%m-%d %H:%M:%S} ({start:%A}) does not start a calendar {unit} as sloctl "
            f"counts them: at 00:00 on {_STARTS[unit]} in the time zone",
        )


def _v1_indicator(
    reader: Reader, spec: dict[str, YNode], loc: Location, objects: V1Objects, path: str
) -> SLI | _Threshold | None:
    key, ref_key = objects.indicator, objects.indicator_ref
    if (key in spec) == (ref_key in spec):
        reader.error(loc, path, f"give exactly one of {key} or {ref_key}")
        return None
    if ref_key in spec:
        ref = reader.string(spec[ref_key], f"{path}.{ref_key}", non_empty=True)
        node = objects.get("SLI", ref)
        if node is None:
            reader.error(
                spec[ref_key].loc,
                f"{path}.{ref_key}",
                f"no SLI document named {ref!r} among the input files",
            )
            return None
        return _v1_sli_spec(reader, node, f"SLI {ref}.spec", objects)
    ind = reader.mapping(spec[key], f"{path}.{key}", ["metadata", "spec"], ["spec"])
    if "spec" not in ind:
        return None
    return _v1_sli_spec(reader, ind["spec"], f"{path}.{key}.spec", objects)


def _v1_sli_spec(reader: Reader, node: YNode, path: str, objects: V1Objects) -> SLI | _Threshold | None:
    s = reader.mapping(node, path, ["description", "ratioMetric", "thresholdMetric"])
    if ("ratioMetric" in s) == ("thresholdMetric" in s):
        reader.error(node.loc, path, "give exactly one of ratioMetric or thresholdMetric")
        return None
    if "thresholdMetric" in s:
        query = _metric_source(
            reader, s["thresholdMetric"], f"{path}.thresholdMetric", objects, windowed=False
        )
        return _Threshold(query)
    p = f"{path}.ratioMetric"
    rm = reader.mapping(s["ratioMetric"], p, ["counter", "good", "bad", "total", "raw", "rawType"])
    counter = reader.boolean(rm.get("counter"), f"{p}.counter", default=True)
    queries: dict[str, str] = {}
    for part in ("good", "bad", "total", "raw"):
        if part in rm:
            # A good/bad/total query without {{.window}} is the spec's own form (a selector of the
            # counter, or a sum of one): it gets its window here. A raw query is taken as given.
            text = _metric_source(reader, rm[part], f"{p}.{part}", objects, windowed=part == "raw")
            queries[part] = (
                text if part == "raw" else _windowed(reader, text, counter, rm[part].loc, f"{p}.{part}")
            )
    if "raw" in queries:
        raw_type = reader.string(rm.get("rawType"), f"{p}.rawType", default="")
        if raw_type not in ("success", "failure"):
            reader.error(
                (rm.get("rawType") or s["ratioMetric"]).loc,
                f"{p}.rawType",
                "rawType must be success or failure",
            )
            return None
        q = queries["raw"]
        return RawSLI(q if raw_type == "failure" else f"1 - ({q})")
    return _ratio(reader, queries, s["ratioMetric"].loc, p)


_OVER = {True: "rate", False: "avg_over_time"}
"""What a counter's and a gauge's values get over a window."""
# `sum(<inner>)`, with `by`/`without` labels before or after: the inner text kept as written.
_SUM = re.compile(
    r"^\s*sum\s*(?:(?:by|without)\s*\([^()]*\)\s*)?"
    r"\((?P<inner>.*?)\)\s*(?:(?:by|without)\s*\([^()]*\))?\s*$",
    re.S,
)


def windowed_query(query: str, counter: bool = True) -> str | None:
    """An OpenSLO ratio part's query without ``{{.window}}`` (the specification's form: the
    metric's own values) over the window: a selector, or a ``sum`` of one (``by``/``without``
    labels kept), gets ``rate()`` for a counter and ``avg_over_time()`` for a gauge, summed.
    ``None`` for any other shape, whose values over a window have no one reading.

    >>> windowed_query('sum by (job) (http_requests_total{code="200"})')
    'sum by (job) (rate(http_requests_total{code="200"}[{{.window}}]))'
    >>> windowed_query("max(http_requests_total)") is None
    True
    """
    expr = _parsed(query)
    grouping, inner = "", query.strip()
    if isinstance(expr, promql_parser.AggregateExpr) and str(expr.op) == "sum" and expr.param is None:
        # The selector's text as written: the one the regex finds must be the one parsed.
        m = _SUM.match(query)
        if m is None or str(_parsed(m["inner"])) != str(expr.expr):
            return None
        grouping = f" {expr.modifier} " if expr.modifier is not None else ""
        expr, inner = expr.expr, m["inner"].strip()
    if not isinstance(expr, promql_parser.VectorSelector) or expr.offset is not None or expr.at is not None:
        return None
    return f"sum{grouping}({_OVER[counter]}({inner}[{WINDOW_PLACEHOLDER}]))"


def _parsed(query: str) -> object:
    """The parsed query, or None when it does not parse."""
    try:
        return promql_parser.parse(query)
    except (ValueError, TypeError, OverflowError):
        return None


def _windowed(reader: Reader, query: str, counter: bool, loc: Location, path: str) -> str:
    """A ratio part's query over ``{{.window}}``: as written when it has the placeholder (Sloth's
    convention), else :func:`windowed_query`'s reading, or an error naming the field."""
    if not query or WINDOW_PLACEHOLDER in canonical_window(query) or _parsed(query) is None:
        return query  # over the window already, or a syntax error reported by the syntax check
    windowed = windowed_query(query, counter)
    if windowed is not None:
        return windowed
    over = _OVER[counter]
    reader.error(
        loc,
        path,
        f"a query without {WINDOW_PLACEHOLDER} is read as the {'counter' if counter else 'gauge'} it "
        f"selects (a selector, or a sum of one, gets {over}() over each window); this one is neither:"
        f" write it over the window, e.g. sum({over}(<selector>[{WINDOW_PLACEHOLDER}]))",
    )
    return ""


def _metric_source(reader: Reader, node: YNode, path: str, objects: V1Objects, *, windowed: bool) -> str:
    """The PromQL of a ``metricSource``: its ``type`` given inline or by the ``DataSource`` its
    ``metricSourceRef`` names must be Prometheus, as the query is in its source's language."""
    if objects.v2:
        return _data_source_metric(reader, node, path, objects, windowed=windowed)
    f = reader.mapping(node, path, ["metricSource"], ["metricSource"])
    mpath = f"{path}.metricSource"
    ms = reader.mapping(
        f.get("metricSource"), mpath, ["metricSourceRef", "type", "spec"], ["spec"], loc=node.loc
    )
    kind = reader.string(ms.get("type"), f"{mpath}.type")
    kind_node = ms.get("type")
    if "metricSourceRef" in ms:
        ref, source = _data_source(reader, ms["metricSourceRef"], f"{mpath}.metricSourceRef", objects)
        if source is None:
            return ""
        ds = reader.mapping(source, f"DataSource {ref}.spec", _REFERABLE_FIELDS["DataSource"])
        ref_kind = reader.string(ds.get("type"), f"DataSource {ref}.spec.type")
        if kind and ref_kind and kind != ref_kind:
            reader.error(
                ms["type"].loc,
                f"{mpath}.type",
                f"type {kind!r} differs from the type {ref_kind!r} of DataSource {ref!r}",
            )
            return ""
        if not kind:
            kind, kind_node = ref_kind, ds.get("type")
    if not kind:
        reader.error(
            (ms.get("type") or node).loc,
            f"{mpath}.type",
            f"give type: Prometheus or a metricSourceRef to a DataSource ({_SPEC_TYPE})",
        )
        return ""
    if kind.lower() not in _PROMQL_SOURCES:
        reader.error(
            (kind_node or node).loc,
            f"{mpath}.type",
            f"data source type {kind!r} is not compiled: sloctl writes Prometheus rules, so its "
            f"queries must be PromQL (types {', '.join(_PROMQL_NAMES)}); the query of a source of "
            f"type {kind!r} is in that source's own terms ({_SPEC_SLI})",
        )
        return ""
    return _query(reader, ms.get("spec"), node, mpath, windowed=windowed)


def _data_source(reader: Reader, node: YNode, path: str, objects: V1Objects) -> tuple[str, YNode | None]:
    """The name at ``node`` and the DataSource document of that name; None, with an error at
    ``node``, when no input file declares it."""
    ref = reader.string(node, path, non_empty=True)
    source = objects.get("DataSource", ref)
    if source is None:
        reader.error(node.loc, path, f"no DataSource document named {ref!r} among the input files")
    return ref, source


def _query(reader: Reader, node: YNode | None, parent: YNode, path: str, *, windowed: bool) -> str:
    """The PromQL ``query`` (or ``promql``) of a Prometheus metric's ``spec``."""
    spec = reader.mapping(node, f"{path}.spec", ["query", "promql"], loc=parent.loc)
    key = "query" if "query" in spec else "promql"
    text = reader.string(spec.get(key), f"{path}.spec.{key}", non_empty=True)
    if key not in spec:
        reader.error(parent.loc, f"{path}.spec.query", "required field is missing")
    elif text:
        build.check_promql(reader, text, spec[key].loc, f"{path}.spec.{key}", windowed=windowed)
    return text


def _data_source_metric(reader: Reader, node: YNode, path: str, objects: V1Objects, *, windowed: bool) -> str:
    """A v2alpha metric: ``dataSourceRef`` to a DataSource document or an inline ``dataSourceSpec``
    ('either dataSourceRef or <<dataSourceName>> must be provided'), and the query ``spec``."""
    f = reader.mapping(node, path, ["dataSourceRef", "dataSourceSpec", "spec"], ["spec"])
    if ("dataSourceRef" in f) == ("dataSourceSpec" in f):
        reader.error(node.loc, path, "give exactly one of dataSourceRef or dataSourceSpec")
        return ""
    if "dataSourceRef" in f:
        ref, source = _data_source(reader, f["dataSourceRef"], f"{path}.dataSourceRef", objects)
        if source is None:
            return ""
        spath = f"DataSource {ref}.spec"
    else:
        source, spath = f["dataSourceSpec"], f"{path}.dataSourceSpec"
    ds = reader.mapping(source, spath, _REFERABLE_FIELDS["DataSource"], ["type"])
    kind = reader.string(ds.get("type"), f"{spath}.type", non_empty=True)
    if kind and kind.lower() not in _PROMQL_SOURCES:
        reader.error(
            ds["type"].loc,
            f"{spath}.type",
            f"data source type {kind!r} is not compiled: sloctl writes Prometheus rules, so its "
            f"queries must be PromQL (types {', '.join(_PROMQL_NAMES)}) ({_SPEC_SLI})",
        )
        return ""
    return _query(reader, f.get("spec"), node, path, windowed=windowed) if kind else ""


# -- alert policies ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Policies:
    """What an SLO's ``alertPolicies`` say, in sloctl's terms."""

    tiers: dict[str, int]
    """Enabled catalog tiers, by name, with their ``for`` (``alertAfter``) in seconds."""
    no_data: bool
    targets: tuple[str, ...]


def _v1_alerting(name: str, windows: AlertWindows, policies: _Policies | None) -> Alerting:
    if policies is None:
        return _alerting(name, windows)
    tiers = tuple(
        AlertTier(w, enabled=w.tier in policies.tiers, for_seconds=policies.tiers.get(w.tier, 0))
        for w in windows.windows
    )
    extra = {naming.LABEL_NOTIFICATION_TARGET: ",".join(policies.targets)} if policies.targets else {}
    return Alerting(
        name=default_alert_name(name),
        tiers=tiers,
        labels=labels(extra),
        no_data=NoDataAlert(enabled=policies.no_data),
    )


def notification_targets(alerting: Alerting) -> tuple[str, ...]:
    """The ``AlertNotificationTarget`` names :func:`_v1_alerting` made the ``notification_target``
    label of (what ``sloctl convert --to openslo`` writes back); none unless reading them gives
    that very label."""
    value = dict(alerting.labels).get(naming.LABEL_NOTIFICATION_TARGET, "")
    names = tuple(value.split(","))
    return names if value and all(names) and ",".join(sorted(set(names))) == value else ()


def _inline_or_ref(
    reader: Reader, node: YNode, path: str, ref_key: str, kind: str, objects: V1Objects
) -> tuple[YNode, str, str] | None:
    """An item given inline (``kind``, ``metadata``, ``spec``) or by ``ref_key``: its spec node,
    the path its fields are reported under, and its name."""
    if isinstance(node.value, str):  # a name where a reference belongs: say how to write one
        reader.error(
            node.loc,
            path,
            f"expected a mapping, found str {node.value!r}; refer to the {kind} by name as "
            f"{ref_key}: {node.value}, or write the {kind} inline (kind, metadata, spec)",
        )
        return None
    if isinstance(node.value, dict) and ref_key in node.value:
        item = reader.mapping(node, path, [ref_key], [ref_key])
        ref = reader.string(item.get(ref_key), f"{path}.{ref_key}", non_empty=True)
        found = objects.get(kind, ref)
        if found is None:
            reader.error(
                node.loc, f"{path}.{ref_key}", f"no {kind} document named {ref!r} among the input files"
            )
            return None
        return found, f"{kind} {ref}.spec", ref
    item = reader.mapping(node, path, ["kind", "metadata", "spec"], ["metadata", "spec"])
    k = reader.string(item.get("kind"), f"{path}.kind", default=kind)
    if k != kind:
        reader.error(item["kind"].loc, f"{path}.kind", f"expected {kind} or {ref_key}")
        return None
    meta = reader.mapping(
        item.get("metadata"), f"{path}.metadata", ["name", "displayName", "labels", "annotations"]
    )
    name = reader.string(meta.get("name"), f"{path}.metadata.name", non_empty=True)
    return (item["spec"], f"{path}.spec", name) if "spec" in item else None


def _v1_alert_policies(
    reader: Reader, node: YNode | None, objects: V1Objects, windows: AlertWindows, period: int
) -> _Policies | None:
    """Alert policies mapped onto the tiers of the SLO's burn-rate catalog: a ``burnrate``
    condition enables the tier of its severity whose long window is its ``lookbackWindow`` and
    whose burn factor is its ``threshold``; notification targets become a label Alertmanager
    routes on (the spec's own suggestion for Prometheus rule generators). No policy (or an empty
    list) keeps every tier of the catalog."""
    items = reader.sequence(node, "spec.alertPolicies")
    if not items:
        return None
    tiers: dict[str, int] = {}
    no_data = False
    targets: list[str] = []
    for i, item in enumerate(items):
        p = index("spec.alertPolicies", i)
        found = _inline_or_ref(reader, item, p, "alertPolicyRef", "AlertPolicy", objects)
        if found is None:
            continue
        spec_node, sp, _ = found
        s = reader.mapping(
            spec_node, sp, _REFERABLE_FIELDS["AlertPolicy"], ["conditions", "notificationTargets"]
        )
        breaching = reader.boolean(s.get("alertWhenBreaching"), f"{sp}.alertWhenBreaching", default=True)
        no_data = reader.boolean(s.get("alertWhenNoData"), f"{sp}.alertWhenNoData", default=False) or no_data
        if reader.boolean(s.get("alertWhenResolved"), f"{sp}.alertWhenResolved", default=False):
            reader.error(
                s["alertWhenResolved"].loc,
                f"{sp}.alertWhenResolved",
                "resolved notifications are a setting of the Alertmanager receiver (send_resolved), "
                "not of an alert rule; set it on the receiver and drop it here",
            )
        conditions = reader.sequence(s.get("conditions"), f"{sp}.conditions", required=True)
        if not conditions and "conditions" in s and s["conditions"].value == []:
            reader.error(s["conditions"].loc, f"{sp}.conditions", "an alert policy needs its one condition")
        if len(conditions) > 1:
            reader.error(
                conditions[1].loc,
                f"{sp}.conditions[1]",
                "an alert policy has one condition ('only allows one single condition to be defined')",
            )
        for j, cond in enumerate(conditions[:1]):
            cp = index(f"{sp}.conditions", j)
            got = _inline_or_ref(reader, cond, cp, "conditionRef", "AlertCondition", objects)
            if got is not None:
                tier = _v1_condition(reader, got[0], got[1], windows, period)
                if tier is not None and breaching:
                    tiers[tier[0]] = tier[1]
        for j, target in enumerate(
            reader.sequence(s.get("notificationTargets"), f"{sp}.notificationTargets")
        ):
            tp = index(f"{sp}.notificationTargets", j)
            got = _inline_or_ref(reader, target, tp, "targetRef", "AlertNotificationTarget", objects)
            if got is None:
                continue
            reader.mapping(got[0], got[1], _REFERABLE_FIELDS["AlertNotificationTarget"], ["target"])
            if got[2] and got[2] not in targets:
                targets.append(got[2])
    return _Policies(tiers, no_data, tuple(sorted(targets)))


def _v1_burn_rate_above(reader: Reader, c: dict[str, YNode], cp: str) -> bool:
    """True when the condition is a burn rate above its threshold (kind burnrate, op gt or
    gte), the one kind of condition sloctl alerts on; an error otherwise."""
    kind = reader.string(c.get("kind"), f"{cp}.kind", default="burnrate")
    if kind != "burnrate":
        reader.error(c["kind"].loc, f"{cp}.kind", f"unknown condition kind {kind!r}; expected burnrate")
        return False
    op = reader.string(c.get("op"), f"{cp}.op")
    if op in ("lt", "lte"):
        reader.error(
            c["op"].loc,
            f"{cp}.op",
            f"op {op} would alert while the budget burns slowly; sloctl alerts when the burn rate "
            "exceeds the threshold: use gt or gte",
        )
        return False
    if "op" in c and op not in ("gt", "gte"):
        reader.error(c["op"].loc, f"{cp}.op", f"unknown op {op!r}; expected lte, gte, lt or gt")
        return False
    return True


def _v1_condition(
    reader: Reader, node: YNode, path: str, windows: AlertWindows, period: int
) -> tuple[str, int] | None:
    s = reader.mapping(node, path, _REFERABLE_FIELDS["AlertCondition"], ["severity", "condition"])
    severity = reader.string(s.get("severity"), f"{path}.severity", non_empty=True)
    if severity and severity not in SEVERITIES:
        reader.error(
            s["severity"].loc,
            f"{path}.severity",
            f"severity {severity!r}: sloctl's alert tiers are page or ticket (Alertmanager routes "
            "pages to PagerDuty and tickets to the ticket webhook)",
        )
        return None
    cp = f"{path}.condition"
    c = reader.mapping(
        s.get("condition"),
        cp,
        ["kind", "op", "threshold", "lookbackWindow", "alertAfter"],
        ["op", "threshold", "lookbackWindow"],
        loc=node.loc,
    )
    if not _v1_burn_rate_above(reader, c, cp):
        return None
    threshold = reader.number(c.get("threshold"), f"{cp}.threshold")
    lookback = reader.duration(c.get("lookbackWindow"), f"{cp}.lookbackWindow", default=0, required=True)
    after = reader.duration(c.get("alertAfter"), f"{cp}.alertAfter", default=0)
    if not severity or "threshold" not in c or not lookback:
        return None
    for w in windows.windows:
        if (
            w.severity == severity
            and w.long_window == lookback
            and math.isclose(w.burn_factor(period), threshold, rel_tol=1e-3)
        ):
            return w.tier, after
    offered = "; ".join(
        f"lookbackWindow {format_duration(w.long_window)} threshold {w.burn_factor(period):g}"
        for w in windows.windows
        if w.severity == severity
    )
    reader.error(
        (c.get("lookbackWindow") or node).loc,
        cp,
        f"burn rate {threshold:g} over {format_duration(lookback)} is no {severity} tier of the "
        f"multi-window catalog of {format_duration(period)} ({windows.source}); its {severity} "
        f"tiers are: {offered}. Use one of them, or give an AlertWindows catalog with this tier",
    )
    return None
