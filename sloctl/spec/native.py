"""The native format, ``apiVersion: sloctl/v1``, ``kind: Service`` (docs/spec.md).

Strict: unknown fields are errors with a did-you-mean, because a misspelt ``for`` or
``minEvents`` silently ignored would change when someone gets paged.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sloctl.calendars import NOMINAL_SECONDS, CalendarError, boundary_offsets
from sloctl.errors import Location
from sloctl.model import (
    CALENDAR_UNITS,
    POLICY_ACTIONS,
    SEVERITIES,
    SLI,
    SLO,
    Alerting,
    AlertTier,
    AlertWindows,
    BudgetPolicy,
    Calendar,
    Component,
    CompositeSLI,
    EventsSLI,
    LatencySLI,
    NoDataAlert,
    PolicyStep,
    ProbeSLI,
    RatioSLI,
    RawSLI,
    SeverityAlert,
    Timeslices,
    labels,
)
from sloctl.naming import API_VERSION
from sloctl.spec import build
from sloctl.spec.catalog import DEFAULT_PERIOD, Catalogs
from sloctl.spec.native_shape import (
    HISTOGRAM_SUFFIXES,
    SERVICE,
    SLI_KINDS,
    SLICE_SECONDS,
    TIER_KEYS,
    WHEN_UNKNOWN,
    ZERO_FOR,
)
from sloctl.spec.reader import Reader, index
from sloctl.spec.sli_plugins import PluginMeta, read_sli_plugin
from sloctl.spec.yamlsrc import YNode

__all__ = ["default_alert_name", "read_service"]

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0}


def read_service(doc: YNode, reader: Reader, catalogs: Catalogs) -> list[SLO]:
    """The SLOs of a ``kind: Service`` document: its structure is checked by walking
    :data:`~sloctl.spec.native_shape.SERVICE`, and read here with the rules a shape cannot say
    (names, labels, PromQL, calendars, composites, the model checks of every format)."""
    with reader.shaped_by(SERVICE, doc):
        return _read_service(doc, reader, catalogs)


def _fields(node: YNode | None) -> dict[str, YNode]:
    """The entries of a mapping the shape checked: none where it is absent or not a mapping."""
    return node.value if node is not None and isinstance(node.value, dict) else {}


def _read_service(doc: YNode, reader: Reader, catalogs: Catalogs) -> list[SLO]:
    meta_node = _fields(doc).get("metadata")
    meta = _fields(meta_node)
    service = reader.string(meta.get("name"), "metadata.name")
    build.check_name(reader, service, (meta_node or doc).loc, "metadata.name", "service name")
    service_labels = build.read_labels(reader, meta.get("labels"), "metadata.labels", (meta_node or doc).loc)
    slos: list[SLO] = []
    read: list[SLO] = []
    places: dict[int, build.CompositePlaces] = {}
    unread: set[str] = set()
    items = reader.sequence(_fields(_fields(doc).get("spec")).get("slos"), "spec.slos")
    for i, node in enumerate(items):
        path = index("spec.slos", i)
        slo, ok = _read_slo(node, path, reader, service, service_labels, catalogs)
        if slo is None:
            if isinstance(name := getattr(build.child(node, "name"), "value", None), str):
                unread.add(name)
            continue
        read.append(slo)
        if ok:
            slos.append(slo)
        if isinstance(slo.sli, CompositeSLI):
            places[id(slo)] = _composite_places(node, f"{path}.sli.composite.components", ok)
    # Over every SLO read, errors or not: an unknown component is said in the same run.
    build.check_composites(reader, read, places, frozenset(s.name for s in slos), frozenset(unread))
    return slos


def _composite_places(node: YNode, path: str, ok: bool) -> build.CompositePlaces:
    """Each component's place in the file: its ``slo`` value, else the component."""
    items = build.child(node, "sli", "composite", "components")
    locs = []
    for item in items.value if items is not None and isinstance(items.value, list) else ():
        locs.append(build.loc_of(build.child(item, "slo"), item.loc))
    return build.CompositePlaces(path, tuple(locs), ok)


def _read_period(f: dict[str, YNode], path: str, reader: Reader) -> tuple[int, Calendar | None]:
    """A rolling ``period`` (default 30 days), or a ``calendar`` and its nominal length."""
    period = reader.duration(f.get("period"), f"{path}.period", default=DEFAULT_PERIOD)
    calendar = _read_calendar(f.get("calendar"), f"{path}.calendar", reader)
    if calendar is not None:
        if "period" in f:
            reader.error(
                f["period"].loc, f"{path}.period", "give either period (rolling) or calendar, not both"
            )
        period = NOMINAL_SECONDS[calendar.unit]
    return period, calendar


def _read_slo(
    node: YNode,
    path: str,
    reader: Reader,
    service: str,
    service_labels: dict[str, str],
    catalogs: Catalogs,
) -> tuple[SLO | None, bool]:
    """The SLO at ``node`` (None when its SLI could not be read) and whether it was read without
    errors."""
    before = len(reader.errors)
    f = _fields(node)
    name, objective = build.name_and_objective(reader, f, node.loc, path)
    period, calendar = _read_period(f, path, reader)
    timeslices = _read_timeslices(f.get("timeslices"), f"{path}.timeslices", reader)
    slo_labels = build.read_labels(reader, f.get("labels"), f"{path}.labels", node.loc)
    sli = _read_sli(
        f.get("sli"), f"{path}.sli", reader, (service, name, objective, {**service_labels, **slo_labels})
    )
    windows = catalogs.resolve(
        period, reader, (f.get("calendar") or f.get("period") or node).loc, f"{path}.period"
    )
    alerting = _read_alerting(f.get("alerting"), f"{path}.alerting", reader, name, windows)
    policy = _read_policy(f.get("policy"), f"{path}.policy", reader)
    if sli is None:
        return None, False
    slo = SLO(
        service=service,
        name=name,
        objective=objective,
        period=period,
        sli=sli,
        alerting=alerting,
        windows=windows,
        description=reader.text(f.get("description"), f"{path}.description"),
        labels=labels({**service_labels, **slo_labels}),
        source=node.loc,
        spec_version=API_VERSION,
        timeslices=timeslices,
        calendar=calendar,
        policy=policy,
    )
    build.check_slo(reader, slo, build.Fields(path, node, node.loc))
    return slo, len(reader.errors) == before and reader.clean_below(path)


_QUERY_SLIS: dict[str, tuple[tuple[str, ...], Callable[..., SLI]]] = {
    "events": (("errorQuery", "totalQuery"), EventsSLI),
    "ratio": (("goodQuery", "totalQuery"), RatioSLI),
    "raw": (("errorRatioQuery",), RawSLI),
}
"""The SLI kinds made of PromQL queries only → (their fields, in the SLI's order; the SLI)."""


def _read_sli(node: YNode | None, path: str, reader: Reader, plugin_meta: PluginMeta) -> SLI | None:
    f = {k: v for k, v in _fields(node).items() if k in SLI_KINDS}
    if len(f) != 1:
        return None  # none or several: said by the shape's walk
    ((kind, sub),) = f.items()
    p = f"{path}.{kind}"
    if kind == "plugin":
        return read_sli_plugin(sub, p, reader, plugin_meta)
    if kind in _QUERY_SLIS:
        keys, make = _QUERY_SLIS[kind]
        return make(*_queries(sub, p, reader, keys))
    if kind == "composite":
        return _read_composite(sub, p, reader)
    if kind == "latency":
        return _read_latency(sub, p, reader)
    return _read_probe(sub, p, reader)


def _queries(node: YNode, path: str, reader: Reader, keys: tuple[str, ...]) -> list[str]:
    """The PromQL queries of ``keys`` (all required), each checked."""
    g = _fields(node)
    queries = []
    for key in keys:
        query = reader.string(g.get(key), f"{path}.{key}")
        _promql(reader, g, path, key, query)
        queries.append(query)
    return queries


def _read_latency(node: YNode, p: str, reader: Reader) -> LatencySLI:
    g = _fields(node)
    hist = reader.string(g.get("histogram"), f"{p}.histogram")
    for suffix in HISTOGRAM_SUFFIXES:
        if hist.endswith(suffix):
            reader.error(
                g["histogram"].loc, f"{p}.histogram", f"give the histogram's base name, without {suffix}"
            )
    sel_node = g.get("selector")
    selector = reader.string(sel_node, f"{p}.selector", default="{}") or "{}"
    matchers = build.check_selector(reader, selector, (sel_node or node).loc, f"{p}.selector")
    threshold = _threshold(reader, g.get("threshold"), f"{p}.threshold")
    return LatencySLI(hist, selector.strip(), threshold, matchers)


def _read_probe(node: YNode, p: str, reader: Reader) -> ProbeSLI | None:
    g = _fields(node)
    target = reader.string(g.get("target"), f"{p}.target")
    sel_node = g.get("selector")
    selector = reader.string(sel_node, f"{p}.selector")
    if bool(target) == bool(selector):
        if reader.clean_below(p):  # a blank selector alone: the walk says the rest
            reader.error(node.loc, p, "give either target (a collector target name) or selector")
        return None
    if target:
        if not build.NAME.fullmatch(target):
            reader.error(g["target"].loc, f"{p}.target", f"{target!r} is not a target name")
        selector = f'{{target="{target}"}}'
    matchers = build.check_selector(reader, selector, (sel_node or node).loc, f"{p}.selector")
    return ProbeSLI(selector.strip(), matchers)


def _read_composite(node: YNode, path: str, reader: Reader) -> CompositeSLI | None:
    items = reader.sequence(_fields(node).get("components"), f"{path}.components")
    components: list[Component] = []
    for i, item in enumerate(items):
        p = index(f"{path}.components", i)
        c = _fields(item)
        name = reader.string(c.get("slo"), f"{p}.slo")
        weight = reader.number(c.get("weight"), f"{p}.weight", default=1.0, quoted=False)
        if any(x.slo == name for x in components):
            reader.error(item.loc, f"{p}.slo", f"component {name!r} is listed twice")
        components.append(Component(name, weight))
    return CompositeSLI(tuple(components)) if components else None


def _read_calendar(node: YNode | None, path: str, reader: Reader) -> Calendar | None:
    if node is None:
        return None
    f = _fields(node)
    unit = reader.string(f.get("unit"), f"{path}.unit", default="month")
    zone = reader.string(f.get("timeZone"), f"{path}.timeZone", default="UTC")
    if unit not in CALENDAR_UNITS:
        return None  # said by the shape's walk
    try:
        offsets = boundary_offsets(unit, zone)
    except CalendarError as exc:
        reader.error((f.get("timeZone") or node).loc, f"{path}.timeZone", str(exc))
        return None
    return Calendar(unit, zone, offsets)


def _read_timeslices(node: YNode | None, path: str, reader: Reader) -> Timeslices | None:
    if node is None:
        return None
    f = _fields(node)
    # Slices are judged from the 5m base recordings (and the generated tests scrape every 5m):
    # the shape holds ``slice`` to SLICE_SECONDS and ``target`` to (0, 100).
    size = reader.duration(f.get("slice"), f"{path}.slice", default=SLICE_SECONDS)
    target = reader.number(f.get("target"), f"{path}.target", default=99.0, quoted=False)
    return Timeslices(size, target)


def _read_policy(node: YNode | None, path: str, reader: Reader) -> BudgetPolicy:
    f = _fields(node)
    steps: list[PolicyStep] = []
    for i, item in enumerate(reader.sequence(f.get("steps"), f"{path}.steps")):
        p = index(f"{path}.steps", i)
        s = _fields(item)
        left = reader.number(s.get("budgetLeft"), f"{p}.budgetLeft", default=0.0, quoted=False)
        action = reader.string(s.get("action"), f"{p}.action", default="notify")
        if action in POLICY_ACTIONS:  # an unknown action is said by the shape's walk, as a second one
            steps.append(PolicyStep(left, action))
    when = f"{path}.whenUnknown"
    unknown = reader.choice(f.get("whenUnknown"), when, WHEN_UNKNOWN, default="freeze")
    name = reader.text(f.get("alertName"), f"{path}.alertName")
    return BudgetPolicy(tuple(sorted(steps, key=lambda x: -x.budget_left_percent)), unknown, name)  # type: ignore[arg-type]


def _alert_name(reader: Reader, node: YNode | None, path: str, default: str) -> str:
    """An alert name as written; written empty (as a template renders an unset value) it means
    the default, said in a warning rather than silently."""
    name = reader.text(node, path)
    if node is not None and not name.strip():
        reader.warn(node.loc, path, f"empty: the default name ({default}) is used")
        return ""
    return name


def _read_no_data(node: YNode | None, path: str, reader: Reader, loc: Location) -> NoDataAlert:
    f = _fields(node)
    for_seconds = reader.duration(f.get("for"), f"{path}.for", default=NoDataAlert.for_seconds)
    severity = reader.choice(f.get("severity"), f"{path}.severity", SEVERITIES, default="ticket")
    name = _alert_name(reader, f.get("name"), f"{path}.name", "the burn-rate alert's, ending NoData")
    return NoDataAlert(
        enabled=reader.boolean(f.get("enabled"), f"{path}.enabled", default=True),
        for_seconds=for_seconds,
        severity=severity,  # type: ignore[arg-type]
        name=name,
    )


def _promql(reader: Reader, fields: dict[str, YNode], path: str, key: str, query: str) -> None:
    if key in fields and query:
        build.check_promql(reader, query, fields[key].loc, f"{path}.{key}", windowed=True)


def _threshold(reader: Reader, node: YNode | None, path: str) -> float:
    if node is None:
        return 0.2
    raw = node.value
    if raw is None or isinstance(raw, (bool, dict, list)):
        return 0.2  # not a string: said by the shape's walk
    if isinstance(raw, (int, float)):
        reader.error(node.loc, path, f"threshold {raw} has no unit; write it as {raw}ms or {raw}s")
        return 0.2
    m = build.THRESHOLD.fullmatch(str(raw))
    if not m:
        reader.error(node.loc, path, f"expected a latency such as 200ms or 1.5s, found {raw!r}")
        return 0.2
    value = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if value <= 0:
        reader.error(node.loc, path, "threshold must be greater than zero")
        return 0.2
    return round(value, 6)


def _read_alerting(
    node: YNode | None, path: str, reader: Reader, slo_name: str, windows: AlertWindows
) -> Alerting:
    f = _fields(node)
    loc = build.loc_of(node, Location(reader.file, 1, 1))
    default = default_alert_name(slo_name)
    name = _alert_name(reader, f.get("name"), f"{path}.name", default) or default
    alert_labels = build.read_labels(reader, f.get("labels"), f"{path}.labels", loc)
    annotations = reader.string_map(f.get("annotations"), f"{path}.annotations")
    min_events = reader.number(f.get("minEvents"), f"{path}.minEvents", default=0.0, quoted=False)
    severities: dict[str, SeverityAlert] = {}
    for sev in ("page", "ticket"):
        s = _fields(f.get(sev))
        lab = build.read_labels(reader, s.get("labels"), f"{path}.{sev}.labels", loc)
        severities[sev] = SeverityAlert(
            enabled=reader.boolean(s.get("enabled"), f"{path}.{sev}.enabled", default=True),
            labels=labels(lab),
            annotations=labels(reader.string_map(s.get("annotations"), f"{path}.{sev}.annotations")),
        )
    t = _fields(f.get("tiers"))
    tiers: list[AlertTier] = []
    for window in windows.windows:
        key = next(k for k, v in TIER_KEYS.items() if v == window.tier)
        tp = f"{path}.tiers.{key}"
        tf = _fields(t.get(key))
        tiers.append(
            AlertTier(
                window=window,
                enabled=reader.boolean(tf.get("enabled"), f"{tp}.enabled", default=True),
                for_seconds=_for(reader, tf.get("for"), f"{tp}.for"),
            )
        )
    return Alerting(
        name=name,
        labels=labels(alert_labels),
        annotations=labels(annotations),
        runbook_url=reader.string(f.get("runbookUrl"), f"{path}.runbookUrl") or None,
        page=severities["page"],
        ticket=severities["ticket"],
        tiers=tuple(tiers),
        min_events=min_events,
        no_data=_read_no_data(f.get("noData"), f"{path}.noData", reader, loc),
    )


def _for(reader: Reader, node: YNode | None, path: str) -> int:
    if node is not None and not isinstance(node.value, bool) and node.value in ZERO_FOR:
        return 0
    return reader.duration(node, path, default=0)


def default_alert_name(slo_name: str) -> str:
    """``api-availability`` → ``ApiAvailabilityBudgetBurn``."""
    parts = re.split(r"[^a-zA-Z0-9]+", slo_name)
    camel = "".join(p[:1].upper() + p[1:] for p in parts if p)
    if not camel or camel[0].isdigit():
        camel = f"Slo{camel}"
    return f"{camel}BudgetBurn"
