"""To ``sloctl/v1``: one ``Service`` document per service, every field of the model that a
native spec holds, after an ``AlertWindows`` document for each windows catalog of the SLOs'
own (not a built-in one). Lost: Pyrra's grouping (its queries are kept), Sloth SLO plugins and the
Kubernetes metadata of a source document."""

from __future__ import annotations

from collections.abc import Sequence

from sloctl import naming
from sloctl.convert._base import GROUPING_LOST, Converted, Losses, severity_fields, windows_documents
from sloctl.durations import format_duration
from sloctl.model import (
    SLI,
    SLO,
    Alerting,
    CompositeSLI,
    EventsSLI,
    LatencySLI,
    NoDataAlert,
    ProbeSLI,
    RatioSLI,
    RawSLI,
)
from sloctl.spec.native import default_alert_name
from sloctl.spec.native_shape import TIER_KEYS

_TIER_FIELDS = {tier: key for key, tier in TIER_KEYS.items()}


def sli_document(sli: SLI) -> dict[str, object]:
    if isinstance(sli, EventsSLI):
        return {"events": {"errorQuery": sli.error_query, "totalQuery": sli.total_query}}
    if isinstance(sli, RatioSLI):
        return {"ratio": {"goodQuery": sli.good_query, "totalQuery": sli.total_query}}
    if isinstance(sli, RawSLI):
        return {"raw": {"errorRatioQuery": sli.error_ratio_query}}
    if isinstance(sli, LatencySLI):
        ms = sli.threshold_seconds * 1000
        threshold = f"{round(ms)}ms" if abs(ms - round(ms)) < 1e-9 else f"{sli.threshold_seconds!r}s"
        return {"latency": {"histogram": sli.histogram, "selector": sli.selector, "threshold": threshold}}
    if isinstance(sli, ProbeSLI):
        return {"probe": {"selector": sli.selector}}
    assert isinstance(sli, CompositeSLI)
    return {"composite": {"components": [{"slo": c.slo, "weight": c.weight} for c in sli.components]}}


#: Why a ``severity`` label of alerts (Sloth's ``page_alert.labels.severity``) or of the SLO,
#: which its alerts carry, is not written.
SEVERITY_LOST = (
    "sloctl sets severity page or ticket on every alert (what its Alertmanager fragment routes "
    "on), so this value never reached an alert; a native spec refuses the label"
)


def _labels(slo: SLO, where: str, labels: dict[str, str], losses: Losses) -> dict[str, str]:
    """``labels`` of the SLO (``where`` empty) or of its alerts at ``where``, without severity."""
    if naming.LABEL_SEVERITY in labels:
        losses.add(slo, f"{where}.labels.{naming.LABEL_SEVERITY}".lstrip("."), SEVERITY_LOST)
    return {k: v for k, v in labels.items() if k != naming.LABEL_SEVERITY}


def _alerting(slo: SLO, a: Alerting, losses: Losses) -> dict[str, object]:
    out: dict[str, object] = {}
    if a.name != default_alert_name(slo.name):
        out["name"] = a.name
    labels = _labels(slo, "alerting", dict(a.labels), losses)
    if labels:
        out["labels"] = labels
    if a.annotations:
        out["annotations"] = dict(a.annotations)
    if a.runbook_url:
        out["runbookUrl"] = a.runbook_url
    if a.min_events:
        out["minEvents"] = a.min_events
    for sev in ("page", "ticket"):
        s = a.page if sev == "page" else a.ticket
        doc = severity_fields(s, ("enabled", False))
        if "labels" in doc:
            doc["labels"] = _labels(slo, f"alerting.{sev}", dict(s.labels), losses)
            if not doc["labels"]:
                del doc["labels"]
        if doc:
            out[sev] = doc
    tiers: dict[str, object] = {}
    for t in a.tiers:
        tier: dict[str, object] = {}
        if not t.enabled:
            tier["enabled"] = False
        if t.for_seconds:
            tier["for"] = format_duration(t.for_seconds)
        if tier:
            tiers[_TIER_FIELDS[t.name]] = tier
    if tiers:
        out["tiers"] = tiers
    nd, default = a.no_data, NoDataAlert()
    no_data: dict[str, object] = {}
    if not nd.enabled:
        no_data["enabled"] = False
    if nd.for_seconds != default.for_seconds:
        no_data["for"] = format_duration(nd.for_seconds)
    if nd.severity != default.severity:
        no_data["severity"] = nd.severity
    if nd.name:
        no_data["name"] = nd.name
    if no_data:
        out["noData"] = no_data
    return out


def slo_document(slo: SLO, losses: Losses) -> dict[str, object]:
    doc: dict[str, object] = {"name": slo.name}
    if slo.description:
        doc["description"] = slo.description
    doc["objective"] = slo.objective
    if slo.calendar is not None:
        doc["calendar"] = {"unit": slo.calendar.unit, "timeZone": slo.calendar.time_zone}
    else:
        doc["period"] = format_duration(slo.period)
    if slo.timeslices is not None:
        doc["timeslices"] = {
            "slice": format_duration(slo.timeslices.slice_seconds),
            "target": slo.timeslices.target,
        }
    labels = _labels(slo, "", dict(slo.labels), losses)
    if labels:
        doc["labels"] = labels
    doc["sli"] = sli_document(slo.sli)
    alerting = _alerting(slo, slo.alerting, losses)
    if alerting:
        doc["alerting"] = alerting
    if slo.policy.steps:
        policy: dict[str, object] = {
            "steps": [{"budgetLeft": s.budget_left_percent, "action": s.action} for s in slo.policy.steps],
            "whenUnknown": slo.policy.unknown,
        }
        if slo.policy.name:
            policy["alertName"] = slo.policy.name
        doc["policy"] = policy
    if slo.plugins.chain or slo.plugins.override:
        losses.add(
            slo, "plugins", "Sloth SLO plugins shape --compat sloth output only; a native spec has none"
        )
    if slo.grouping:
        losses.add(slo, "grouping", GROUPING_LOST)
    if slo.document_labels or slo.document_annotations or slo.document_namespace not in ("", slo.service):
        losses.add(slo, "metadata", "the Kubernetes metadata of the source document has no native field")
    return doc


def convert(slos: Sequence[SLO]) -> Converted:
    losses = Losses()
    services: dict[str, list[dict[str, object]]] = {}
    for slo in slos:
        services.setdefault(slo.service, []).append(slo_document(slo, losses))
    docs = tuple(
        {
            "apiVersion": naming.API_VERSION,
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"slos": items},
        }
        for name, items in services.items()
    )
    return Converted((*windows_documents(slos, naming.API_VERSION), *docs), tuple(losses.items))
