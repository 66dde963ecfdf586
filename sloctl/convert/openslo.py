"""To ``openslo/v1``: one ``SLO`` document per SLO with its indicator inline (Prometheus
``ratioMetric``: good/total, bad/total or ``raw`` failure ratios), rolling or calendar
``timeWindow``, Occurrences or Timeslices budgeting, and the enabled burn-rate tiers as
``alertPolicies`` (one ``burnrate`` condition each, which ``sloctl.spec.openslo`` maps back onto
the catalog), each with the notification targets the reader made the ``notification_target``
label of (``targetRef``s to ``AlertNotificationTarget`` documents written once, before the first
SLO that refers to them), or :data:`ROUTING_TARGET` when it names none, reported (OpenSLO's Go
SDK wants a target in every policy). Every duration is in OpenSLO's shorthand, which has no
seconds: a ``for`` is rounded up to whole minutes (reported), and an SLO whose period or written
long window is not in whole minutes is not written (:func:`_in_seconds`). A composite and its
components are one document, as OpenSLO v1 writes a composite: an objective per component, with
its indicator and ``compositeWeight`` (:func:`composite_document`). Lost: what OpenSLO has no
field for (alert names, other labels and annotations, runbook, low-traffic guard, error-budget
policies, Pyrra's grouping), what a composite's components have that its document does not give
them; latency and probe SLIs are written as the PromQL of their bad and total events (reported:
they read back as events SLIs). An SLO and a notification target are written under a name OpenSLO
takes, reported when it is not their own (:func:`_names`, :func:`_target_names`)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

from sloctl import naming
from sloctl.convert._base import (
    DNS_LABEL_MAX,
    GROUPING_LOST,
    Converted,
    Losses,
    dns_label,
    ended,
    shortened,
)
from sloctl.durations import DAY, HOUR, format_duration
from sloctl.model import SLO, CompositeSLI, EventsSLI, NoDataAlert, RatioSLI, RawSLI, percent_ratio
from sloctl.render import promql
from sloctl.spec import openslo as reader
from sloctl.spec.native_shape import TIER_KEYS

API_VERSION = "openslo/v1"
_CALENDAR = {"week": "1w", "month": "1M", "quarter": "1Q"}
# The README's calendar window has a startTime (OpenSLO's Go SDK checks its form): local
# midnight on a Monday that starts a month and a quarter too, so it anchors every unit as
# sloctl counts them (weeks from Monday, months and quarters from their first day).
_CALENDAR_START = "2024-01-01 00:00:00"


# The rate of a selector summed (by labels), the one shape the specification's form reads back.
_SUMMED_RATE = re.compile(
    r"^sum(?P<grouping> (?:by|without) \([^()]*\) )?\(rate\((?P<selector>.+)\[\{\{\.window\}\}\]\)\)$", re.S
)


def _shorthand(seconds: int) -> str:
    """``seconds`` in OpenSLO's duration shorthand, one number and one unit (``m``, ``h``, ``d``,
    ``w``; OpenSLO's Go SDK refuses ``3d12h``): Prometheus' spelling when it has one unit, else
    the largest unit that divides it. ``seconds`` is whole minutes: the shorthand has no seconds
    (:func:`_minutes`, :func:`_in_seconds`).

    >>> _shorthand(3 * 86400 + 12 * 3600), _shorthand(28 * 86400), _shorthand(5400)
    ('84h', '4w', '90m')
    """
    text = format_duration(seconds)
    if _ONE_UNIT.fullmatch(text):
        return text
    return next((f"{seconds // size}{unit}" for unit, size in _UNITS if seconds % size == 0), text)


_ONE_UNIT = re.compile(r"\d+[mhdw]")
_UNITS = (("d", DAY), ("h", HOUR), ("m", 60))


def _source(query: str) -> dict[str, object]:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


def _counter_form(query: str) -> str | None:
    """``sum(<selector>)`` for ``sum(rate(<selector>[{{.window}}]))``: the specification's own
    form of a counter (``counter: true``, no window), which other OpenSLO tools read too; None
    unless reading it back gives the very same query."""
    m = _SUMMED_RATE.match(query)
    if m is None:
        return None
    written = f"sum{m['grouping'] or ''}({m['selector']})"
    return written if reader.windowed_query(written) == query else None


def _ratio_parts(numerator: str, query: str, total: str) -> dict[str, object]:
    """Both queries in the counter form when both have one, else both over ``{{.window}}``
    (Sloth's convention, which sloctl reads as written)."""
    query_form, total_form = _counter_form(query), _counter_form(total)
    if query_form is not None and total_form is not None:
        query, total = query_form, total_form
    return {numerator: _source(query), "total": _source(total)}


def _indicator(slo: SLO, losses: Losses) -> dict[str, object]:
    sli = slo.sli
    if isinstance(sli, RatioSLI):
        metric = _ratio_parts("good", sli.good_query, sli.total_query)
    elif isinstance(sli, EventsSLI):
        metric = _ratio_parts("bad", sli.error_query, sli.total_query)
    elif isinstance(sli, RawSLI):
        metric = {"rawType": "failure", "raw": _source(sli.error_ratio_query)}
    else:
        rates = promql.event_rates(sli)
        # a composite is a document of its own (composite_document); the others count events
        assert rates is not None, sli.kind
        losses.add(slo, "sli", f"a {sli.kind} SLI is written as the PromQL of its bad and total events")
        metric = {"bad": _source(rates.errors), "total": _source(rates.total)}
    return {"spec": {"ratioMetric": {"counter": True, **metric}}}


ROUTING_TARGET = "alertmanager"
"""The ``AlertNotificationTarget`` that the alert policies of an SLO naming no target refer to:
OpenSLO's Go SDK (``oslo validate``) wants at least one in every policy, and such an SLO's
alerts go where sloctl's own Alertmanager fragment routes them (docs/alertmanager.md)."""
_ROUTING = (
    "sloctl's own routing: the Alertmanager fragment of sloctl generate, pages to PagerDuty and "
    "tickets to the ticket webhook, by severity and team (docs/alertmanager.md)"
)


def _has_policies(slo: SLO) -> bool:
    """Whether the SLO alerts otherwise than the catalog's default (every tier, no ``for``, both
    severities, the default no-data ticket), which needs alert policies to say."""
    a = slo.alerting
    default_tiers = all(t.enabled and not t.for_seconds for t in a.tiers)
    return not (default_tiers and a.page.enabled and a.ticket.enabled and a.no_data == NoDataAlert())


def policy_targets(slo: SLO) -> tuple[str, ...]:
    """The notification targets the SLO's alert policies refer to: the ones it names (the
    ``notification_target`` label), else :data:`ROUTING_TARGET` when it has policies; none when
    it has no policy (the reader enables every tier of the catalog)."""
    named = reader.notification_targets(slo.alerting)
    return named or ((ROUTING_TARGET,) if _has_policies(slo) else ())


def _routed(slo: SLO) -> bool:
    """Whether the SLO's alert policies refer to :data:`ROUTING_TARGET` for want of a target."""
    return _has_policies(slo) and not reader.notification_targets(slo.alerting)


def _routing_loss(slo: SLO, losses: Losses) -> None:
    losses.add(
        slo,
        f"alerting.labels.{naming.LABEL_NOTIFICATION_TARGET}",
        "OpenSLO's Go SDK (oslo validate) wants a notification target in every alert policy and the "
        f"SLO names none: its policies refer to '{ROUTING_TARGET}', an AlertNotificationTarget standing "
        f"for {_ROUTING}; read back, its alerts carry {naming.LABEL_NOTIFICATION_TARGET}={ROUTING_TARGET}, "
        "which sloctl's routes do not match (drop that label if you convert back to native)",
    )


def _minutes(seconds: int) -> int:
    """``seconds`` rounded up to whole minutes: OpenSLO's duration shorthand has no seconds
    (``oslo validate``: units m, h, d, w, M, Q, Y)."""
    return -(-seconds // 60) * 60


def _policy_losses(slo: SLO, losses: Losses) -> None:
    """What the SLO's alert policies cannot say: a no-data duration, severity or name, a
    disabled tier's ``for``, a ``for`` in seconds (written rounded up to whole minutes)."""
    a = slo.alerting
    if a.no_data.for_seconds != NoDataAlert().for_seconds or a.no_data.severity != "ticket" or a.no_data.name:
        losses.add(slo, "alerting.noData", "OpenSLO's alertWhenNoData has no duration, severity or name")
    if any(t.for_seconds and not t.enabled for t in a.tiers):
        losses.add(slo, "alerting.tiers", "a disabled tier's for has no OpenSLO field")
    keys = {name: key for key, name in TIER_KEYS.items()}
    for t in a.enabled_tiers:
        if t.for_seconds % 60:
            written = _shorthand(_minutes(t.for_seconds))
            losses.add(
                slo,
                f"alerting.tiers.{keys[t.name]}.for",
                f"OpenSLO's duration shorthand has no seconds (m, h, d, w, M, Q, Y): "
                f"{format_duration(t.for_seconds)} is written as alertAfter {written}, rounded up to "
                f"whole minutes, and reads back as for: {written}",
            )


def _policies(slo: SLO, targets: tuple[str, ...], name: str) -> list[dict[str, object]]:
    """The alert policies of an SLO whose policies refer to ``targets`` (none: no policy)."""
    if not targets:
        return []  # no policy: the reader enables every tier of the catalog
    a = slo.alerting
    enabled = list(a.enabled_tiers)
    policies: list[dict[str, object]] = []
    for i, t in enumerate(enabled or a.tiers[:1]):
        # <name>-<tier>; when longer than a label, the name part shortened as an SLO's name is and
        # the tier kept (not reported: sloctl reads no policy name back)
        tier = t.name.replace("_", "-")
        policy_name = f"{shortened(name, DNS_LABEL_MAX - len(tier) - 1)}-{tier}"
        condition: dict[str, object] = {
            "kind": "burnrate",
            "op": "gt",
            "threshold": t.window.burn_factor(slo.period),
            "lookbackWindow": _shorthand(t.window.long_window),
        }
        if t.for_seconds:
            condition["alertAfter"] = _shorthand(_minutes(t.for_seconds))
        policies.append(
            {
                "kind": "AlertPolicy",
                "metadata": {"name": policy_name},
                "spec": {
                    "alertWhenBreaching": bool(enabled),
                    "alertWhenNoData": a.no_data.enabled and i == 0,
                    "conditions": [
                        {
                            "kind": "AlertCondition",
                            "metadata": {"name": policy_name},
                            "spec": {
                                "severity": t.severity,
                                "condition": condition,
                            },
                        }
                    ],
                    "notificationTargets": [{"targetRef": name} for name in targets],
                },
            }
        )
    return policies


def _time_window(slo: SLO) -> dict[str, object]:
    if slo.calendar is None:
        return {"duration": _shorthand(slo.period), "isRolling": True}
    return {
        "duration": _CALENDAR[slo.calendar.unit],
        "isRolling": False,
        "calendar": {"startTime": _CALENDAR_START, "timeZone": slo.calendar.time_zone},
    }


def _lost(slo: SLO, losses: Losses, targets: tuple[str, ...], windows: bool = True) -> None:
    """The losses of what OpenSLO has no field for, in an SLO that reads back with ``targets``
    (and its windows catalog when ``windows``)."""
    losses.no_field(
        slo,
        "OpenSLO",
        (
            "alerting.name",
            ("alerting.labels", len(slo.alerting.labels) > (1 if targets else 0)),
            "alerting.annotations",
            "alerting.runbookUrl",
            "alerting.minEvents",
            "alerting.page",
            "alerting.ticket",
            "policy",
            "plugins",
        ),
    )
    if slo.grouping:
        losses.add(slo, "grouping", GROUPING_LOST)
    if windows:
        losses.windows(slo, "OpenSLO")


def _document(
    slo: SLO,
    name: str,
    indicator: dict[str, object] | None,
    objectives: list[dict[str, object]],
    policies: list[dict[str, object]],
) -> dict[str, object]:
    """The ``SLO`` document named ``name``: the SLO's service, description, time window and
    labels, its ``indicator`` (None for a composite, whose objectives name their own), budgeting
    method, ``objectives`` and alert ``policies``."""
    spec: dict[str, object] = {"service": slo.service}
    if slo.description:
        spec["description"] = slo.description
    if indicator is not None:
        spec["indicator"] = indicator
    spec |= {
        "timeWindow": [_time_window(slo)],
        "budgetingMethod": "Timeslices" if slo.timeslices is not None else "Occurrences",
        "objectives": objectives,
    }
    if policies:
        spec["alertPolicies"] = policies
    metadata: dict[str, object] = {"name": name}
    if slo.labels:
        metadata["labels"] = dict(slo.labels)
    return {"apiVersion": API_VERSION, "kind": "SLO", "metadata": metadata, "spec": spec}


def slo_document(
    slo: SLO, losses: Losses, name: str | None = None, target_names: Mapping[str, str] | None = None
) -> dict[str, object]:
    """The SLO as an ``SLO`` document named ``name`` (default: the SLO's own name), its
    policies referring to each notification target by its name in ``target_names`` (default:
    its own)."""
    name = name or slo.name
    indicator = _indicator(slo, losses)
    # An inline indicator is an SLI object: OpenSLO's Go SDK (oslo validate) requires its
    # metadata.name as for any object; the SLO's name names it.
    indicator = {"metadata": {"name": name}, **indicator}
    refs = _refs(slo, losses, target_names or {})
    _lost(slo, losses, reader.notification_targets(slo.alerting))
    objective: dict[str, object] = {"targetPercent": slo.objective}
    if slo.timeslices is not None:
        objective["timeSliceTarget"] = percent_ratio(slo.timeslices.target)
        objective["timeSliceWindow"] = _shorthand(slo.timeslices.slice_seconds)
    return _document(slo, name, indicator, [objective], _policies(slo, refs, name))


Parts = tuple[tuple[SLO, float], ...]
"""A composite's components, each with its weight."""


def composite_document(
    whole: SLO, parts: Parts, losses: Losses, name: str, target_names: Mapping[str, str]
) -> dict[str, object]:
    """The composite ``whole`` as one ``SLO`` document named ``name``, as OpenSLO v1 writes a
    composite: no indicator of its own, one objective per component (its target, its indicator
    inline, its ``compositeWeight``). ``sloctl.spec.openslo`` reads objective ``i`` back as the
    SLO ``<name>-<i>`` with the document's time window, description, labels and alert
    policies, and the composite's objective as the weighted mean of their targets: what a
    component or the composite has otherwise is reported (:func:`_component_losses`)."""
    objectives: list[dict[str, object]] = []
    for i, (part, weight) in enumerate(parts):
        read_as = f"{name}-{i}"
        indicator = _indicator(part, losses)
        _component_losses(whole, part, read_as, losses)
        objectives.append(
            {
                "targetPercent": part.objective,
                # named as it reads back (an inline SLI needs a metadata.name, as in slo_document)
                "indicator": {"metadata": {"name": shortened(read_as, DNS_LABEL_MAX)}, **indicator},
                "compositeWeight": weight,
            }
        )
    objective = reader.composite_objective([(weight, part.objective) for part, weight in parts])
    if objective != whole.objective:
        losses.add(
            whole,
            "objective",
            "OpenSLO gives a composite no target of its own but the weighted mean of its objectives' "
            f"targets: it reads back as {objective!r}",
        )
    refs = _refs(whole, losses, target_names)
    _lost(whole, losses, reader.notification_targets(whole.alerting))
    return _document(whole, name, None, objectives, _policies(whole, refs, name))


def _refs(slo: SLO, losses: Losses, target_names: Mapping[str, str]) -> tuple[str, ...]:
    """The names the SLO's alert policies refer to their targets by (``target_names``: a
    target's name → the name it is written under); the losses of what they cannot say."""
    if _routed(slo):
        _routing_loss(slo, losses)
    _policy_losses(slo, losses)
    return tuple(target_names.get(t, t) for t in policy_targets(slo))


PolicyForm = tuple[tuple[tuple[str, int], ...], bool, tuple[str, ...]]


def _policy_form(slo: SLO) -> PolicyForm:
    """What alert policies say of an SLO (:func:`_policies`): its enabled tiers and their
    ``for``, the no-data switch and the notification targets."""
    a = slo.alerting
    tiers = tuple((t.name, t.for_seconds) for t in a.enabled_tiers)
    return tiers, a.no_data.enabled, policy_targets(slo)


def _alerts_text(slo: SLO) -> str:
    """What :func:`_policy_form` holds, in words: ``page-quick for 5m, ticket-slow; no-data alert;
    targets oncall``."""
    tiers, no_data, targets = _policy_form(slo)
    on = [f"{n.replace('_', '-')}{f' for {format_duration(f)}' if f else ''}" for n, f in tiers]
    words = [", ".join(on) or "no tiers"]
    words.append("no-data alert" if no_data else "no no-data alert")
    if targets:
        words.append(f"targets {', '.join(targets)}")
    return "; ".join(words)


def _component_losses(whole: SLO, part: SLO, read_as: str, losses: Losses) -> None:
    """The losses of ``part``, a component of ``whole`` written as an objective of its
    document, which reads back as ``read_as`` with what the document gives every objective."""
    if part.name != read_as:
        losses.add(
            part,
            "name",
            "OpenSLO writes a composite's components as objectives of its SLO document, and sloctl "
            f"reads objective i back as '<name>-<i>': it reads back as '{read_as}'",
        )
    shared = "OpenSLO gives a composite's objectives the document's"
    back = "it reads back with the composite's"
    differ = (
        ("period", part.period != whole.period, f"time window: {back}, {format_duration(whole.period)}"),
        ("windows", part.windows != whole.windows, f"burn-rate windows: {back}"),
        ("description", part.description != whole.description, f"description: {back}"),
        ("labels", part.labels != whole.labels, f"metadata.labels: {back}"),
        (
            "alerting",
            _policy_form(part) != _policy_form(whole),
            f"alert policies: it alerts as the composite does ({_alerts_text(whole)}), not as it did "
            f"({_alerts_text(part)})",
        ),
    )
    for field, lost, why in differ:
        if lost:
            losses.add(part, field, f"{shared} {why}")
    _lost(part, losses, reader.notification_targets(part.alerting), windows=part.windows == whole.windows)
    # what its own policies could not say either (a no-data duration, a disabled tier's for, a
    # for in seconds); the policies themselves are the composite's, and when they alert as its
    # own would, to sloctl's routing, it reads back with that target too
    _policy_losses(part, losses)
    if _policy_form(part) == _policy_form(whole) and _routed(whole):
        _routing_loss(part, losses)


def target_document(name: str) -> dict[str, object]:
    """An ``AlertNotificationTarget`` the policies refer to by name. sloctl routes on the name
    alone (docs/alertmanager.md) and keeps no ``target``: the name stands for it."""
    spec = {"description": f"{_ROUTING[0].upper()}{_ROUTING[1:]}"} if name == ROUTING_TARGET else {}
    return {
        "apiVersion": API_VERSION,
        "kind": "AlertNotificationTarget",
        "metadata": {"name": name},
        "spec": {**spec, "target": name},
    }


def _shared_names(names: Mapping[str, str], services: Mapping[str, str]) -> set[str]:
    """The names (of ``names``: SLO id → name) that more than one SLO is given, which
    ``services`` (SLO id → service) tell apart. OpenSLO names an object by its kind and
    ``metadata.name`` alone (``spec.service`` does not qualify it: two SLO documents of one name
    are one object written twice, which sloctl's reader refuses), so those SLOs are written as
    ``<service>-<name>``."""
    given: dict[str, set[str]] = {}
    for slo_id, name in names.items():
        given.setdefault(name, set()).add(services[slo_id])
    return {name for name, of in given.items() if len(of) > 1}


def _names(slos: Sequence[SLO], objectives: Mapping[str, int]) -> dict[str, tuple[str, list[str]]]:
    """SLO id → the ``metadata.name`` it is written under, and why it is not the SLO's name
    (nothing when it is). The name as an RFC 1123 label (OpenSLO's Go SDK refuses others);
    ``<service>-<name>`` when another service's SLO gets that label too; then made a distinct
    label (:func:`_distinct`): service ``a``'s ``b-c`` and service ``a-b``'s ``c`` end with 8 hex
    digits of their ids, which no other SLO has: no two SLOs are ever written under one name.
    A composite (``objectives``: composite id → its number of objectives) whose objectives
    would read back under a name another SLO is written under ends with digits of its id too."""
    services = {s.id: s.service for s in slos}
    names, why = _labelled({s.id: s.name for s in slos})
    shared = _shared_names(names, services)
    for s in slos:
        if names[s.id] in shared:
            why[s.id].append(
                f"another service has an SLO named '{names[s.id]}' and OpenSLO names each SLO once, "
                "by metadata.name alone"
            )
            names[s.id] = dns_label(s.id)
    out = _distinct(names, why, "SLO")
    # a composite's objectives read back as <name>-<i>: none may be another SLO's name
    taken = {name for name, _ in out.values()}
    for slo_id, count in objectives.items():
        name, reasons = out[slo_id]
        clash = next((f"{name}-{i}" for i in range(count) if f"{name}-{i}" in taken), None)
        if clash is not None:
            reasons.append(f"its objectives would read back as '{clash}', which names another SLO")
            out[slo_id] = (ended(name, slo_id, DNS_LABEL_MAX), reasons)
    return out


def _target_names(slos: Sequence[SLO]) -> dict[str, tuple[str, list[str]]]:
    """The name of each notification target the SLOs refer to → the ``metadata.name`` its
    ``AlertNotificationTarget`` is written under (and its ``targetRef``s refer to), and why it
    is not its own: the same RFC 1123 label as an SLO's (a name with no letter or digit at all
    is ``target``), made distinct alike."""
    targets = dict.fromkeys(t for s in slos for t in policy_targets(s))
    names, why = _labelled({t: t for t in targets})
    for t, name in names.items():
        names[t] = name or "target"
    return _distinct(names, why, "notification target")


def _labelled(given: Mapping[str, str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Key → each name of ``given`` as an RFC 1123 label, and why that is not the name."""
    names = {key: dns_label(name) for key, name in given.items()}
    why: dict[str, list[str]] = {key: [] for key in given}
    for key, name in given.items():
        if names[key] != name:
            why[key].append(f"OpenSLO's metadata.name is an RFC 1123 label ({_LABEL_RULE})")
    return names, why


def _distinct(
    names: dict[str, str], why: dict[str, list[str]], what: str
) -> dict[str, tuple[str, list[str]]]:
    """Labels ``names`` (key → label, ``why`` it was renamed) that fit and differ: over 63
    characters, a label's start and 8 hex digits of the whole
    (:func:`~sloctl.convert._base.shortened`); a renamed one that another ``what`` is given too,
    ended with 8 hex digits of its key (a name kept as it is stays: no two are kept alike)."""
    for key, name in names.items():
        if len(name) > DNS_LABEL_MAX:
            why[key].append(f"'{name}' is longer than the {DNS_LABEL_MAX} characters of an RFC 1123 label")
            names[key] = shortened(name, DNS_LABEL_MAX)
    taken = Counter(names.values())
    for key, name in names.items():
        if taken[name] > 1 and why[key]:
            why[key].append(f"'{name}' would name another {what} too")
            names[key] = ended(name, key, DNS_LABEL_MAX)
    return {key: (names[key], why[key]) for key in names}


_LABEL_RULE = "lower-case letters, digits and '-': OpenSLO's Go SDK, oslo validate, refuses others"


def _components(slos: Sequence[SLO], losses: Losses) -> tuple[dict[str, Parts], set[str]]:
    """Composite id → its components and their weights; and the ids of the composites whose
    components are not all among ``slos`` (a library caller's selection): those are left out
    and reported, and their components written on their own."""
    by_id = {s.id: s for s in slos}
    out: dict[str, Parts] = {}
    refused: set[str] = set()
    for whole in slos:
        if not isinstance(whole.sli, CompositeSLI):
            continue
        parts = tuple((by_id.get(f"{whole.service}-{c.slo}"), c.weight) for c in whole.sli.components)
        missing = [c.slo for c, (part, _) in zip(whole.sli.components, parts, strict=True) if part is None]
        if missing:
            losses.add(
                whole,
                "sli",
                f"a composite of component(s) {', '.join(missing)} not among the SLOs converted; "
                "the SLO is not written",
            )
            refused.add(whole.id)
            continue
        out[whole.id] = tuple((part, weight) for part, weight in parts if part is not None)
    return out, refused


def _in_seconds(slos: Sequence[SLO], losses: Losses) -> set[str]:
    """The ids of the SLOs whose document would hold a duration OpenSLO's shorthand cannot say
    (it has no seconds): a rolling period, or the long window of a tier its alert policies
    write (``lookbackWindow``), not in whole minutes. Written rounded, either would read back
    as another period or as no tier of the catalog: those SLOs are not written (reported)."""
    out: set[str] = set()
    for slo in slos:
        a = slo.alerting
        tiers = (a.enabled_tiers or a.tiers[:1]) if policy_targets(slo) else ()
        said = [("period", "its period", slo.period)] if slo.calendar is None else []
        said += [("windows", f"the {t.name} tier's long window", t.window.long_window) for t in tiers]
        for field, what, seconds in said:
            if seconds % 60:
                losses.add(
                    slo,
                    field,
                    f"OpenSLO's duration shorthand has no seconds (m, h, d, w, M, Q, Y), and {what} is "
                    f"{format_duration(seconds)}; the SLO is not written",
                )
                out.add(slo.id)
                break
    return out


def convert(slos: Sequence[SLO]) -> Converted:
    losses = Losses()
    docs: list[dict[str, object]] = []
    written: set[str] = set()
    composites, refused = _components(slos, losses)
    refused |= _in_seconds([s for s in slos if s.id in composites], losses)
    # a composite's components are objectives of its document, not documents of their own
    inside = {part.id for slo_id, parts in composites.items() if slo_id not in refused for part, _ in parts}
    refused |= _in_seconds([s for s in slos if s.id not in inside | refused], losses)
    documents = [s for s in slos if s.id not in inside | refused]
    names = _names(documents, {slo_id: len(parts) for slo_id, parts in composites.items()})
    targets = _target_names(documents)
    refs = {target: ref for target, (ref, _) in targets.items()}
    for slo in documents:
        name, why = names[slo.id]
        if slo.id in composites:
            doc = composite_document(slo, composites[slo.id], losses, name, refs)
        else:
            doc = slo_document(slo, losses, name, refs)
        if why:
            losses.add(slo, "name", f"{'; '.join(why)}: written as '{name}' (it reads back under that name)")
        # each target once, before the first SLO that refers to it
        for target in policy_targets(slo):
            ref, renamed = targets[target]
            if renamed:
                losses.add(
                    slo,
                    "alerting.labels.notification_target",
                    f"{'; '.join(renamed)}: the target '{target}' is written as '{ref}' (its alerts read "
                    "back with that notification_target: match it in your Alertmanager routes)",
                )
            if ref not in written:
                written.add(ref)
                docs.append(target_document(ref))
        docs.append(doc)
    return Converted(tuple(docs), tuple(losses.items))
