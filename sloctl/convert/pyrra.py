"""To Pyrra's ``pyrra.dev/v1alpha1`` ``ServiceLevelObjective``: one per SLO, its service as the
namespace. Pyrra's indicators are metric selectors it wraps in ``sum(rate(…[window]))``; an
events SLI of that shape becomes a ``ratio`` indicator, the events SLI of a ``bool_gauge`` or
``latencyNative`` indicator (``sloctl.spec.pyrra``'s reading) that indicator again, and a probe
SLI a ``ratio`` one (the collector's failed and attempted probes; reported, as it reads back as
an events SLI); a ratio SLI becomes a ``latency`` one (success and total), and so does a latency
SLI (the bucket at its threshold, in the one ``le`` spelling Pyrra takes, and the count;
reported, as it reads back as a ratio SLI); an SLO's ``grouping`` is written back when its
queries are Pyrra's grouped ones. Alerts: the alert name, and all burn-rate tiers on or off
together. Lost: other query shapes, raw and composite SLIs, per-tier switches and ``for``, alert
labels, no-data settings other than on/off, budget policies, timeslices and calendars. The
service and the name are written as Kubernetes takes them (reported when they are not the
SLO's own: :func:`_namespace`, :func:`_object_name`)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sloctl.convert._base import DNS_LABEL_MAX, Converted, Losses, dns_label, shortened
from sloctl.durations import format_duration
from sloctl.model import SLO, CompositeSLI, EventsSLI, LatencySLI, NoDataAlert, ProbeSLI, RatioSLI
from sloctl.render import promql
from sloctl.spec import pyrra as reader
from sloctl.spec.native import default_alert_name

PROPAGATED = "pyrra.dev/"  # Pyrra copies labels and annotations with this prefix onto its rules
# The query shape Pyrra writes (and reads back): a selector summed over a function at the window
# (rate of counters, count_over_time of a bool gauge), by the grouping labels if any; a grouped
# error query reads a missing group as zero errors.
_SUMMED = re.compile(
    r"^sum(?: by \([^()]*\) )?\((?P<fn>rate|count_over_time)\((?P<selector>[^\[\]]+)\[\{\{\.window\}\}\]\)\)$"
)
_OR_ZERO = re.compile(r"^\((?P<errors>.+)\) or \(.+ \* 0\)$")
# A latencyNative indicator: the count of a native histogram, and the fraction above its latency.
_HISTOGRAM_COUNT = re.compile(r"^histogram_count\((?P<rates>.+)\)$")
_FRACTION_AT = re.compile(r"histogram_fraction\(0, (?P<seconds>[^,]+), ")
_INDICATORS = (
    "Pyrra's indicators are ratio (errors and total counters) and latency (a histogram's bucket "
    "and count), which it sums over rate(<selector>[{{.window}}]), latencyNative (a native "
    "histogram's histogram_fraction) and bool_gauge (a 0/1 gauge); this SLI's queries are none of "
    "these"
)


def _selector(query: str, fn: str = "rate") -> str | None:
    m = _SUMMED.match(query.strip())
    return m.group("selector") if m and m.group("fn") == fn else None


def _latency_text(seconds: float) -> str:
    """``seconds`` as Pyrra's ``latency`` (a Prometheus duration: whole seconds or milliseconds)."""
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _events_indicator(slo: SLO, sli: EventsSLI) -> dict[str, object] | None:
    """The ``ratio``, ``latencyNative`` or ``bool_gauge`` indicator whose reading is ``sli``."""
    or_zero = _OR_ZERO.match(sli.error_query)
    errors = _selector(or_zero.group("errors") if or_zero else sli.error_query)
    total = _selector(sli.total_query)
    if errors and total and reader.ratio_sli(errors, total, slo.grouping) == sli:
        return _grouped(slo, "ratio", {"errors": {"metric": errors}, "total": {"metric": total}})
    gauge = _selector(sli.total_query, "count_over_time")
    if gauge and reader.bool_gauge_sli(gauge, slo.grouping) == sli:
        return _grouped(slo, "bool_gauge", {"metric": gauge})
    count, fraction = _HISTOGRAM_COUNT.match(sli.total_query), _FRACTION_AT.search(sli.error_query)
    histogram = _selector(count.group("rates")) if count else None
    if histogram and fraction:
        try:
            latency = _latency_text(float(fraction.group("seconds")))
        except (ValueError, OverflowError):  # not a number, or not a finite one
            return None
        seconds = reader.latency_seconds(latency)
        if seconds is not None and reader.latency_native_sli(histogram, seconds, slo.grouping) == sli:
            return _grouped(slo, "latencyNative", {"latency": latency, "total": {"metric": histogram}})
    return None


def _grouped(slo: SLO, indicator: str, metrics: dict[str, object]) -> dict[str, object]:
    if slo.grouping:
        metrics["grouping"] = list(slo.grouping)
    return {indicator: metrics}


def _indicator(slo: SLO, losses: Losses) -> dict[str, object] | None:
    sli = slo.sli
    # Selectors are taken from the queries, and kept only if Pyrra's reading of them (with the
    # SLO's grouping) gives back the very same SLI.
    if isinstance(sli, EventsSLI):
        indicator = _events_indicator(slo, sli)
        if indicator is not None:
            return indicator
    elif isinstance(sli, RatioSLI):
        good, total = _selector(sli.good_query), _selector(sli.total_query)
        if good and total and reader.latency_sli(good, total, slo.grouping) == sli:
            return _grouped(slo, "latency", {"success": {"metric": good}, "total": {"metric": total}})
    elif isinstance(sli, LatencySLI):
        # The bucket at the threshold and the count. Pyrra takes one le matcher whose value
        # parses as a float (it refuses sloctl's le=~ of both spellings): the exporter's.
        le = promql.le_text(sli.threshold_seconds)
        good = promql.histogram_series(sli, "bucket", f"le={promql.quote(le)}")
        spelling = ""
        if le != repr(sli.threshold_seconds):
            spelling = (
                f"; Pyrra matches one spelling of the bucket, le={promql.quote(le)}, where "
                f"Prometheus 3 writes le={promql.quote(repr(sli.threshold_seconds))}"
            )
        losses.add(
            slo,
            "sli",
            f"a latency SLI is written as Pyrra's latency indicator; it reads back as a ratio SLI{spelling}",
        )
        return {
            "latency": {
                "success": {"metric": good},
                "total": {"metric": promql.histogram_series(sli, "count")},
            }
        }
    elif isinstance(sli, ProbeSLI):
        # The collector's failed and attempted probe counters, summed over rate like Pyrra's own.
        rates = promql.event_rates(sli)
        assert rates is not None
        errors, total = _selector(rates.errors), _selector(rates.total)
        if errors and total:
            losses.add(
                slo,
                "sli",
                "a probe SLI is written as Pyrra's ratio indicator of its failed and attempted "
                "probes; it reads back as an events SLI",
            )
            return {"ratio": {"errors": {"metric": errors}, "total": {"metric": total}}}
    if isinstance(sli, CompositeSLI):
        why = "Pyrra has no composite SLOs"
    else:
        why = f"a {sli.kind} SLI has no Pyrra form: {_INDICATORS}"
    losses.add(slo, "sli", f"{why}; the SLO is not written")
    return None


def slo_document(slo: SLO, losses: Losses) -> dict[str, object] | None:
    indicator = _indicator(slo, losses)
    if indicator is None:
        return None
    a = slo.alerting
    enabled = {t.enabled for t in a.tiers}
    losses.no_field(
        slo,
        "Pyrra",
        (
            "calendar",
            "timeslices",
            ("alerting.tiers", len(enabled) > 1 or any(t.for_seconds for t in a.tiers)),
            "alerting.labels",
            "alerting.runbookUrl",
            "alerting.minEvents",
            "alerting.page",
            "alerting.ticket",
            (
                "alerting.noData",
                a.no_data.for_seconds != NoDataAlert().for_seconds or a.no_data.severity != "ticket",
            ),
            "policy",
        ),
    )
    losses.windows(slo, "Pyrra")
    alerting: dict[str, object] = {}
    if a.name != default_alert_name(slo.name):
        alerting["name"] = a.name
    if enabled == {False}:
        alerting["burnrates"] = False
    if not a.no_data.enabled:
        alerting["absent"] = False
    if a.no_data.name:
        alerting["absentName"] = a.no_data.name
    metadata: dict[str, object] = {"name": _object_name(slo, losses), "namespace": _namespace(slo, losses)}
    labels = _kubernetes_labels(slo, losses)
    if labels:
        metadata["labels"] = labels
    if a.annotations:
        metadata["annotations"] = {f"{PROPAGATED}{k}": v for k, v in a.annotations}
    spec: dict[str, object] = {}
    if slo.description:
        spec["description"] = slo.description
    # a string: the CRD's type (Kubernetes refuses a number there: kubectl apply fails), which
    # Pyrra parses as a float; Python's shortest repr reads back as the very same objective
    target = repr(float(slo.objective)).removesuffix(".0")
    spec |= {"target": target, "window": format_duration(slo.period), "indicator": indicator}
    if alerting:
        spec["alerting"] = alerting
    return {
        "apiVersion": reader.API_VERSION,
        "kind": "ServiceLevelObjective",
        "metadata": metadata,
        "spec": spec,
    }


# What Kubernetes takes (kubectl apply -f DIR/pyrra/): the namespace is an RFC 1123 label, the
# object's name an RFC 1123 subdomain of at most 253 characters. Pyrra names its PrometheusRule
# as the SLO; in its ConfigMap mode the ConfigMap "pyrra-recording-rule-<name>", whose data key
# "<that>.rules.yaml" Kubernetes holds to 253 characters too: 221 are left for the name. Two
# SLOs never get one name: sloctl refuses services (and an SLO's names in one) that differ
# only by case or punctuation, and a shortened name ends with digits of the whole one.
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NAME_MAX = 253 - len("pyrra-recording-rule-") - len(".rules.yaml")


def _namespace(slo: SLO, losses: Losses) -> str:
    """The service as a namespace, the rename reported."""
    namespace = shortened(dns_label(slo.service), DNS_LABEL_MAX)
    if namespace != slo.service:
        losses.add(
            slo,
            "service",
            f"a Kubernetes namespace is an RFC 1123 label (lower-case letters, digits and '-', at most "
            f"{DNS_LABEL_MAX}): written as namespace '{namespace}' (it reads back as that service)",
        )
    return namespace


def _object_name(slo: SLO, losses: Losses) -> str:
    """The SLO's name as a Kubernetes object's name, the rename reported."""
    lower = slo.name.lower().replace("_", "-")
    name = shortened(lower if _SUBDOMAIN.fullmatch(lower) else dns_label(slo.name), _NAME_MAX)
    if name != slo.name:
        losses.add(
            slo,
            "name",
            "a Kubernetes object's name is an RFC 1123 subdomain (lower-case letters, digits, '-' and "
            f"'.', at most {_NAME_MAX} characters for Pyrra's ConfigMap mode): written as '{name}' "
            "(it reads back under that name)",
        )
    return name


# A Kubernetes label value: at most 63 characters, letters, digits, '-', '_' and '.', a letter or
# digit at each end (or empty); a label name's part after the prefix the same but never empty.
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


def _kubernetes_labels(slo: SLO, losses: Losses) -> dict[str, str]:
    """The SLO's labels as Pyrra propagates them (``pyrra.dev/<name>``), those Kubernetes would
    refuse (``kubectl apply`` fails on the whole object) left out and reported."""
    labels: dict[str, str] = {}
    for k, v in slo.labels:
        if k and _LABEL_VALUE.fullmatch(k) and _LABEL_VALUE.fullmatch(v):
            labels[f"{PROPAGATED}{k}"] = v
            continue
        losses.add(
            slo,
            f"labels.{k}",
            "a Kubernetes label's name and value are at most 63 characters of letters, digits, '-', "
            f"'_' and '.', a letter or digit at each end: {k}={v!r} is not written",
        )
    return labels


def convert(slos: Sequence[SLO]) -> Converted:
    losses = Losses()
    docs = [d for d in (slo_document(s, losses) for s in slos) if d is not None]
    return Converted(tuple(docs), tuple(losses.items))
