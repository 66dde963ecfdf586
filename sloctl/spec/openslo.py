"""OpenSLO: ``openslo/v1`` (Service, SLI, SLO with an inline or referenced SLI) and
``openslo/v1alpha`` as Sloth reads it.

Compiled: Prometheus ``ratioMetric`` (good/total, bad/total, or ``raw`` with ``rawType``),
rolling ``timeWindow`` and (v1) calendar ones of a week, a month or a quarter, ``Occurrences``
and (v1) ``Timeslices`` budgeting with 5m slices. Everything else OpenSLO allows (other calendar
lengths, ``RatioTimeslices``, composite weights, threshold metrics, other data sources, alert
policies) is rejected by name rather than silently ignored.
"""

from __future__ import annotations

from sloctl.calendars import NOMINAL_SECONDS, CalendarError, boundary_offsets
from sloctl.durations import DurationError, format_duration, parse_duration
from sloctl.errors import Location
from sloctl.model import (
    SLI,
    SLO,
    Alerting,
    AlertTier,
    AlertWindows,
    Calendar,
    CalendarUnit,
    EventsSLI,
    RatioSLI,
    RawSLI,
    Timeslices,
    labels,
)
from sloctl.spec import build
from sloctl.spec.catalog import DEFAULT_PERIOD, Catalogs
from sloctl.spec.native import default_alert_name
from sloctl.spec.reader import Reader, index
from sloctl.spec.yamlsrc import YNode

V1 = "openslo/v1"
V1ALPHA = "openslo/v1alpha"
_UNITS = {"Second": 1, "Minute": 60, "Hour": 3600, "Day": 86400, "Week": 7 * 86400}


def _alerting(name: str, windows: AlertWindows) -> Alerting:
    return Alerting(name=default_alert_name(name), tiers=tuple(AlertTier(w) for w in windows.windows))


# -- v1alpha, as Sloth reads it ------------------------------------------------------------------


def read_v1alpha(doc: YNode, reader: Reader, catalogs: Catalogs) -> list[SLO]:
    top = reader.mapping(
        doc, "", ["apiVersion", "kind", "metadata", "spec"], ["apiVersion", "kind", "metadata", "spec"]
    )
    meta = reader.mapping(top.get("metadata"), "metadata", ["name", "displayName"], ["name"], loc=doc.loc)
    name = reader.string(meta.get("name"), "metadata.name", non_empty=True)
    spec_node = top.get("spec")
    spec = reader.mapping(
        spec_node,
        "spec",
        ["service", "description", "budgetingMethod", "objectives", "timeWindows"],
        ["service", "objectives"],
        loc=doc.loc,
    )
    service = reader.string(spec.get("service"), "spec.service", non_empty=True)
    method = reader.string(spec.get("budgetingMethod"), "spec.budgetingMethod", default="Occurrences")
    if method != "Occurrences":
        reader.error(
            (spec.get("budgetingMethod") or doc).loc,
            "spec.budgetingMethod",
            f"budgeting method {method!r} is not supported; only Occurrences is",
        )
    period = DEFAULT_PERIOD
    tws = reader.sequence(spec.get("timeWindows"), "spec.timeWindows")
    for i, tw in enumerate(tws[:1]):
        p = index("spec.timeWindows", i)
        t = reader.mapping(tw, p, ["count", "unit", "isRolling", "calendar"], ["count", "unit"])
        if "calendar" in t or (t.get("isRolling") is not None and t["isRolling"].value is False):
            reader.error(tw.loc, p, "calendar time windows are not supported; use a rolling window")
        count = reader.number(t.get("count"), f"{p}.count", default=30)
        unit = reader.string(t.get("unit"), f"{p}.unit", default="Day")
        if unit not in _UNITS:
            reader.error(tw.loc, f"{p}.unit", f"unknown unit {unit!r}; expected one of {', '.join(_UNITS)}")
        elif count <= 0 or count != int(count):
            reader.error(tw.loc, f"{p}.count", "count must be a positive whole number")
        else:
            period = int(count) * _UNITS[unit]
    if len(tws) > 1:
        reader.error(tws[1].loc, "spec.timeWindows[1]", "only one time window is supported")
    windows = catalogs.resolve(period, reader, (tws[0] if tws else doc).loc, "spec.timeWindows")
    out: list[SLO] = []
    for i, obj in enumerate(reader.sequence(spec.get("objectives"), "spec.objectives", required=True)):
        p = index("spec.objectives", i)
        before = len(reader.errors)
        o = reader.mapping(
            obj, p, ["ratioMetrics", "target", "displayName", "value", "op"], ["ratioMetrics", "target"]
        )
        for unsupported in ("value", "op"):
            if unsupported in o:
                reader.error(
                    o[unsupported].loc, f"{p}.{unsupported}", "threshold objectives are not supported"
                )
        target = reader.number(o.get("target"), f"{p}.target", default=0.99)
        rm = reader.mapping(
            o.get("ratioMetrics"),
            f"{p}.ratioMetrics",
            ["good", "bad", "total", "counter"],
            ["total"],
            loc=obj.loc,
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
                build.check_promql(
                    reader, text, q["query"].loc, f"{p}.ratioMetrics.{part}.query", windowed=True
                )
            queries[part] = text
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
        build.check_slo(reader, slo, obj.loc, p)
        if len(reader.errors) == before:
            out.append(slo)
    return out


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


def _v1_head(
    doc: YNode, reader: Reader, required: list[str]
) -> tuple[dict[str, YNode], dict[str, YNode], str]:
    """The top level and metadata shared by every OpenSLO v1 kind, and the document's name."""
    top = reader.mapping(doc, "", ["apiVersion", "kind", "metadata", "spec"], required)
    meta = reader.mapping(
        top.get("metadata"),
        "metadata",
        ["name", "displayName", "labels", "annotations"],
        ["name"],
        loc=doc.loc,
    )
    return top, meta, reader.string(meta.get("name"), "metadata.name", non_empty=True)


def read_v1_sli(doc: YNode, reader: Reader) -> tuple[str, YNode] | None:
    """An ``SLI`` document, kept for ``indicatorRef`` lookups."""
    top, _meta, name = _v1_head(doc, reader, ["metadata", "spec"])
    spec = top.get("spec")
    return (name, spec) if name and spec is not None else None


def read_v1_service(doc: YNode, reader: Reader) -> None:
    top, _, _ = _v1_head(doc, reader, ["metadata"])
    reader.mapping(top.get("spec"), "spec", ["description"])


def read_v1_slo(doc: YNode, reader: Reader, catalogs: Catalogs, slis: dict[str, YNode]) -> list[SLO]:
    doc_errors = len(reader.errors)
    top, meta, name = _v1_head(doc, reader, ["metadata", "spec"])
    slo_labels = reader.string_map(meta.get("labels"), "metadata.labels")
    build.check_labels(reader, slo_labels, doc.loc, "metadata.labels")
    spec_node = top.get("spec")
    spec = reader.mapping(
        spec_node,
        "spec",
        [
            "description",
            "service",
            "indicator",
            "indicatorRef",
            "budgetingMethod",
            "timeWindow",
            "objectives",
            "alertPolicies",
        ],
        ["service", "budgetingMethod", "timeWindow", "objectives"],
        loc=doc.loc,
    )
    sloc = (spec_node or doc).loc
    if "alertPolicies" in spec:
        reader.error(
            spec["alertPolicies"].loc,
            "spec.alertPolicies",
            "alert policies are not supported; alerts come from the burn-rate windows catalog",
        )
    service = reader.string(spec.get("service"), "spec.service", non_empty=True)
    method = reader.string(spec.get("budgetingMethod"), "spec.budgetingMethod", default="Occurrences")
    if method not in ("Occurrences", "Timeslices"):
        reader.error(
            (spec.get("budgetingMethod") or doc).loc,
            "spec.budgetingMethod",
            f"budgeting method {method!r} is not supported yet; Occurrences and Timeslices are",
        )
    period, calendar = _v1_window(reader, spec.get("timeWindow"))
    sli = _v1_indicator(reader, spec, sloc, slis)
    tw_node = spec.get("timeWindow")
    windows = catalogs.resolve(period, reader, tw_node.loc if tw_node else sloc, "spec.timeWindow")
    objectives = reader.sequence(spec.get("objectives"), "spec.objectives", required=True)
    out: list[SLO] = []
    for i, obj in enumerate(objectives):
        p = index("spec.objectives", i)
        before = len(reader.errors)
        o = reader.mapping(
            obj,
            p,
            [
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
            ],
        )
        for unsupported in ("op", "value", "indicator", "indicatorRef", "compositeWeight"):
            if unsupported in o:
                reader.error(o[unsupported].loc, f"{p}.{unsupported}", f"{unsupported} is not supported yet")
        timeslices = None
        if method == "Timeslices":
            timeslices = _v1_timeslices(reader, o, obj.loc, p)
        else:
            for field in ("timeSliceTarget", "timeSliceWindow"):
                if field in o:
                    reader.error(o[field].loc, f"{p}.{field}", f"{field} needs budgetingMethod: Timeslices")
        if ("target" in o) == ("targetPercent" in o):
            reader.error(obj.loc, p, "give exactly one of target (0-1) or targetPercent")
            continue
        objective = (
            reader.number(o["target"], f"{p}.target") * 100
            if "target" in o
            else reader.number(o["targetPercent"], f"{p}.targetPercent")
        )
        if sli is None or len(reader.errors) > doc_errors:
            continue
        slo_name = name if len(objectives) == 1 else f"{name}-{i}"
        slo = SLO(
            service=service,
            name=slo_name,
            objective=objective,
            period=period,
            sli=sli,
            alerting=_alerting(slo_name, windows),
            windows=windows,
            description=reader.string(spec.get("description"), "spec.description"),
            labels=labels(slo_labels),
            source=obj.loc,
            spec_version=V1,
            document_name=name,
            timeslices=timeslices,
            calendar=calendar,
        )
        build.check_slo(reader, slo, obj.loc, p)
        if len(reader.errors) == before:
            out.append(slo)
    return out


def _v1_timeslices(reader: Reader, o: dict[str, YNode], loc: Location, path: str) -> Timeslices | None:
    if "timeSliceTarget" not in o or "timeSliceWindow" not in o:
        reader.error(loc, path, "Timeslices budgeting needs timeSliceTarget and timeSliceWindow")
        return None
    target = reader.number(o["timeSliceTarget"], f"{path}.timeSliceTarget")
    if not 0 < target < 1:
        reader.error(o["timeSliceTarget"].loc, f"{path}.timeSliceTarget", f"{target:g} is outside (0, 1)")
    size = reader.duration(o["timeSliceWindow"], f"{path}.timeSliceWindow", default=300)
    if size != 300:
        reader.error(
            o["timeSliceWindow"].loc,
            f"{path}.timeSliceWindow",
            f"{format_duration(size)} slices are not supported; slices are 5m",
        )
    return Timeslices(300, target * 100)


# OpenSLO's calendar durations (its shorthand: M for months, Q for quarters).
_CALENDAR_DURATIONS: dict[str, CalendarUnit] = {"1w": "week", "7d": "week", "1M": "month", "1Q": "quarter"}


def _v1_window(reader: Reader, node: YNode | None) -> tuple[int, Calendar | None]:
    items = reader.sequence(node, "spec.timeWindow", required=True)
    if not items:
        if node is not None and node.value is not None:
            reader.error(node.loc, "spec.timeWindow", "one time window is required")
        return DEFAULT_PERIOD, None
    if len(items) > 1:
        reader.error(items[1].loc, "spec.timeWindow[1]", "only one time window is supported")
    t = reader.mapping(items[0], "spec.timeWindow[0]", ["duration", "isRolling", "calendar"], ["duration"])
    text = reader.string(t.get("duration"), "spec.timeWindow[0].duration", default="30d")
    rolling = t.get("isRolling") is None or t["isRolling"].value is True
    if "calendar" in t or not rolling:
        unit = _CALENDAR_DURATIONS.get(text)
        if unit is None:
            reader.error(
                (t.get("duration") or items[0]).loc,
                "spec.timeWindow[0].duration",
                f"calendar window {text!r} is not supported; use 1w, 1M or 1Q",
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
        return NOMINAL_SECONDS[unit], Calendar(unit, zone, offsets)
    try:
        return parse_duration(text), None
    except DurationError as exc:
        reader.error((t.get("duration") or items[0]).loc, "spec.timeWindow[0].duration", str(exc))
        return DEFAULT_PERIOD, None


def _v1_indicator(
    reader: Reader, spec: dict[str, YNode], loc: Location, slis: dict[str, YNode]
) -> SLI | None:
    if ("indicator" in spec) == ("indicatorRef" in spec):
        reader.error(loc, "spec", "give exactly one of indicator or indicatorRef")
        return None
    if "indicatorRef" in spec:
        ref = reader.string(spec["indicatorRef"], "spec.indicatorRef", non_empty=True)
        if ref not in slis:
            reader.error(
                spec["indicatorRef"].loc,
                "spec.indicatorRef",
                f"no SLI document named {ref!r} among the input files",
            )
            return None
        return _v1_sli_spec(reader, slis[ref], f"SLI {ref}.spec")
    ind = reader.mapping(spec["indicator"], "spec.indicator", ["metadata", "spec"], ["spec"])
    if "spec" not in ind:
        return None
    return _v1_sli_spec(reader, ind["spec"], "spec.indicator.spec")


def _v1_sli_spec(reader: Reader, node: YNode, path: str) -> SLI | None:
    s = reader.mapping(node, path, ["description", "ratioMetric", "thresholdMetric"])
    if "thresholdMetric" in s:
        reader.error(
            s["thresholdMetric"].loc, f"{path}.thresholdMetric", "threshold metrics are not supported yet"
        )
        return None
    if "ratioMetric" not in s:
        reader.error(node.loc, f"{path}.ratioMetric", "required field is missing")
        return None
    p = f"{path}.ratioMetric"
    rm = reader.mapping(s["ratioMetric"], p, ["counter", "good", "bad", "total", "raw", "rawType"])
    queries: dict[str, str] = {}
    for part in ("good", "bad", "total", "raw"):
        if part in rm:
            queries[part] = _metric_source(reader, rm[part], f"{p}.{part}")
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


def _metric_source(reader: Reader, node: YNode, path: str) -> str:
    f = reader.mapping(node, path, ["metricSource"], ["metricSource"])
    ms = reader.mapping(
        f.get("metricSource"),
        f"{path}.metricSource",
        ["metricSourceRef", "type", "spec"],
        ["type", "spec"],
        loc=node.loc,
    )
    kind = reader.string(ms.get("type"), f"{path}.metricSource.type")
    if kind and kind.lower() != "prometheus":
        reader.error(
            ms["type"].loc,
            f"{path}.metricSource.type",
            f"metric source {kind!r} is not supported; only Prometheus is",
        )
    spec = reader.mapping(ms.get("spec"), f"{path}.metricSource.spec", ["query", "promql"], loc=node.loc)
    key = "query" if "query" in spec else "promql"
    text = reader.string(spec.get(key), f"{path}.metricSource.spec.{key}", non_empty=True)
    if key not in spec:
        reader.error(node.loc, f"{path}.metricSource.spec.query", "required field is missing")
    elif text:
        build.check_promql(reader, text, spec[key].loc, f"{path}.metricSource.spec.{key}", windowed=True)
    return text
