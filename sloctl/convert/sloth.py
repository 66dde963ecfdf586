"""To Sloth's ``prometheus/v1``: one document per service, events (``error_query``/``total_query``)
and raw SLIs, the alert name, labels and annotations and the page and ticket alerts, and Sloth
SLO plugins. Sloth's period is one flag for all SLOs (``--default-slo-period``, sloctl's
``--sloth-period``), so a period other than 30d is reported; so are what Sloth has no field for:
tier switches and ``for``, the low-traffic guard, no-data alerts, budget policies, Pyrra's
grouping, timeslices and calendars; a composite SLO is not written (its components are); ratio,
latency and probe SLIs are written as the equivalent events SLI (reported, as they read back as
events SLIs). A windows catalog of the SLOs' own is written first as Sloth's ``AlertWindows``
document (``sloth.slok.dev/v1``); Sloth reads it from ``--slo-period-windows-path``, so ``-o
DIR`` puts it apart (``sloctl.convert.files``)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sloctl.convert._base import GROUPING_LOST, Converted, Losses, severity_fields, windows_documents
from sloctl.durations import DAY, format_duration
from sloctl.model import SLO, CompositeSLI, EventsSLI, NoDataAlert, RawSLI
from sloctl.render import promql
from sloctl.spec.sloth import K8S_VERSION

VERSION = "prometheus/v1"
PERIOD = 30 * DAY  # Sloth's default --default-slo-period


def _sli(slo: SLO, losses: Losses) -> dict[str, object] | None:
    sli = slo.sli
    if isinstance(sli, EventsSLI):
        return {"events": {"error_query": sli.error_query, "total_query": sli.total_query}}
    if isinstance(sli, RawSLI):
        return {"raw": {"error_ratio_query": sli.error_ratio_query}}
    if isinstance(sli, CompositeSLI):
        # its components are SLOs of their own, written as such
        losses.add(slo, "sli", "Sloth has no composite SLOs; the SLO is not written")
        return None
    rates = promql.event_rates(sli)
    assert rates is not None  # ratio, latency and probe SLIs count events
    losses.add(slo, "sli", f"a {sli.kind} SLI is written as the events SLI of its bad and total events")
    return {"events": {"error_query": rates.errors, "total_query": rates.total}}


def slo_document(slo: SLO, losses: Losses) -> dict[str, object] | None:
    sli = _sli(slo, losses)
    if sli is None:
        return None
    a = slo.alerting
    if slo.period != PERIOD:
        losses.add(
            slo,
            "period",
            f"Sloth's period is a flag for every SLO: run it with --default-slo-period "
            f"{format_duration(slo.period)}",
        )
    losses.no_field(
        slo,
        "Sloth",
        (
            "calendar",
            "timeslices",
            ("alerting.tiers", any(not t.enabled or t.for_seconds for t in a.tiers)),
            "alerting.runbookUrl",
            "alerting.minEvents",
            ("alerting.noData", a.no_data != NoDataAlert()),
            "policy",
        ),
    )
    if slo.grouping:
        losses.add(slo, "grouping", GROUPING_LOST)
    doc: dict[str, object] = {"name": slo.name, "objective": slo.objective}
    if slo.description:
        doc["description"] = slo.description
    if slo.labels:
        doc["labels"] = dict(slo.labels)
    doc["sli"] = sli
    alerting: dict[str, object] = {"name": a.name}
    if a.labels:
        alerting["labels"] = dict(a.labels)
    if a.annotations:
        alerting["annotations"] = dict(a.annotations)
    for key, s in (("page_alert", a.page), ("ticket_alert", a.ticket)):
        sev = severity_fields(s, ("disable", True))
        if sev:
            alerting[key] = sev
    doc["alerting"] = alerting
    if slo.plugins.chain or slo.plugins.override:
        doc["plugins"] = {
            "overridePrevious": slo.plugins.override,
            "chain": [
                {"id": r.id, "priority": r.priority, "config": json.loads(r.config)}
                for r in slo.plugins.chain
            ],
        }
    return doc


def convert(slos: Sequence[SLO]) -> Converted:
    losses = Losses()
    services: dict[str, list[dict[str, object]]] = {}
    written: list[SLO] = []
    for slo in slos:
        doc = slo_document(slo, losses)
        if doc is not None:
            services.setdefault(slo.service, []).append(doc)
            written.append(slo)
    docs = tuple({"version": VERSION, "service": name, "slos": items} for name, items in services.items())
    return Converted((*windows_documents(written, K8S_VERSION), *docs), tuple(losses.items))
