"""What every format's converter returns."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sloctl.durations import format_duration
from sloctl.model import SLO, AlertWindows, SeverityAlert
from sloctl.spec.catalog import BUILTIN, is_builtin
from sloctl.spec.native import default_alert_name


@dataclass(frozen=True)
class Loss:
    """A field of an SLO the output format cannot express: written closest or left out."""

    slo: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.slo}: {self.field}: {self.reason}"


@dataclass(frozen=True)
class Converted:
    documents: tuple[Mapping[str, object], ...]
    losses: tuple[Loss, ...]


GROUPING_LOST = (
    "the queries keep their groups (one recorded series and alert per group), but the format has "
    "no field naming the grouping labels, so the dashboards would draw the groups as one series"
)
"""The loss of ``grouping`` (Pyrra's) in a format without it."""


class Losses:
    """Collects the losses of one conversion."""

    def __init__(self) -> None:
        self.items: list[Loss] = []

    def add(self, slo: SLO, field: str, reason: str) -> None:
        self.items.append(Loss(slo.id, field, reason))

    def windows(self, slo: SLO, form: str) -> None:
        """A loss when ``slo`` uses a windows catalog of its own, which ``form`` cannot carry."""
        if is_builtin(slo.windows):
            return
        period = format_duration(slo.windows.period)
        fallback = (
            f"else it gets the built-in {period} windows"
            if slo.windows.period in BUILTIN
            else f"there is no built-in {period} one"
        )
        self.add(
            slo,
            "windows",
            f"{form} has no burn-rate windows catalog; read the converted file with the "
            f"AlertWindows document of {slo.windows.source} beside it ({fallback})",
        )

    def no_field(self, slo: SLO, form: str, fields: Iterable[str | tuple[str, bool]]) -> None:
        """A loss for each of ``fields`` that ``slo`` sets and the format ``form`` has no field
        for, in order. A field is a name of :data:`_IS_SET`, or (name, whether it is set) where
        what counts as set depends on what the format can say."""
        for field in fields:
            name, lost = (field, _IS_SET[field](slo)) if isinstance(field, str) else field
            if lost:
                self.add(slo, name, f"{form} has no field for it; left out")


_IS_SET: dict[str, Callable[[SLO], bool]] = {
    "calendar": lambda slo: slo.calendar is not None,
    "timeslices": lambda slo: slo.timeslices is not None,
    "alerting.name": lambda slo: slo.alerting.name != default_alert_name(slo.name),
    "alerting.labels": lambda slo: bool(slo.alerting.labels),
    "alerting.annotations": lambda slo: bool(slo.alerting.annotations),
    "alerting.runbookUrl": lambda slo: bool(slo.alerting.runbook_url),
    "alerting.minEvents": lambda slo: bool(slo.alerting.min_events),
    "alerting.page": lambda slo: slo.alerting.page != SeverityAlert(),
    "alerting.ticket": lambda slo: slo.alerting.ticket != SeverityAlert(),
    "policy": lambda slo: bool(slo.policy.steps),
    "plugins": lambda slo: bool(slo.plugins.chain or slo.plugins.override),
}
"""A field of the native format → whether an SLO sets it (differs from the default)."""


__all__ = [
    "DNS_LABEL_MAX",
    "GROUPING_LOST",
    "Converted",
    "Loss",
    "Losses",
    "dns_label",
    "ended",
    "severity_fields",
    "shortened",
    "windows_documents",
]


def dns_label(name: str) -> str:
    """A name as an RFC 1123 label, the only ``metadata.name`` OpenSLO's Go SDK (``oslo
    validate``) and a Kubernetes namespace take: lower case, each other character (``_`` and
    ``.`` in a sloctl name) a ``-``, character for character so that the user finds the name
    again, and no ``-`` at either end (a sloctl name has a letter or digit at each; a
    notification target's name, any text, may not). Empty when ``name`` has no letter or digit.

    >>> dns_label("API_Latency.p99")
    'api-latency-p99'
    >>> dns_label("_Ops Team!")
    'ops-team'
    """
    return _NOT_IN_LABEL.sub("-", name.lower()).strip("-")


_NOT_IN_LABEL = re.compile(r"[^a-z0-9-]")


DNS_LABEL_MAX = 63
"""The length of an RFC 1123 label: OpenSLO's ``metadata.name``, a Kubernetes namespace."""


def ended(name: str, key: str, limit: int) -> str:
    """``name`` cut to leave room for ``-`` and 8 hex digits of the SHA-256 of ``key``, at most
    ``limit`` characters in all: the same every run, and distinct for distinct keys.

    >>> ended("checkout-latency", "shop-checkout-latency", 14)
    'check-654e5c8e'
    """
    return f"{name[: limit - 9].rstrip('-.')}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def shortened(name: str, limit: int) -> str:
    """``name``, or when it is longer than ``limit`` its start ended with 8 hex digits of its
    SHA-256 (:func:`ended`): a name Kubernetes or OpenSLO takes, the same every run, and two long
    names that start alike stay apart."""
    return name if len(name) <= limit else ended(name, name, limit)


def windows_documents(slos: Sequence[SLO], api_version: str) -> tuple[dict[str, object], ...]:
    """The ``AlertWindows`` documents (``api_version``) of the catalogs ``slos`` use that are
    not the built-in ones, in order of first use: without them the SLOs would read back with
    other windows, or none."""
    catalogs = dict.fromkeys(s.windows for s in slos if not is_builtin(s.windows))
    return tuple(_windows_document(c, api_version) for c in catalogs)


def _windows_document(catalog: AlertWindows, api_version: str) -> dict[str, object]:
    spec: dict[str, object] = {"sloPeriod": format_duration(catalog.period)}
    for severity in ("page", "ticket"):
        spec[severity] = {
            speed: {
                "errorBudgetPercent": w.budget_percent,
                "shortWindow": format_duration(w.short_window),
                "longWindow": format_duration(w.long_window),
            }
            for speed in ("quick", "slow")
            for w in (catalog.window(severity, speed),)
        }
    return {"apiVersion": api_version, "kind": "AlertWindows", "spec": spec}


def severity_fields(s: SeverityAlert, disabled: tuple[str, bool]) -> dict[str, object]:
    """A severity's alert settings as the native and Sloth formats write them: ``disabled``
    (the format's field and value for "off") when it is off, its labels and annotations when
    it has any; empty when everything is the default."""
    out: dict[str, object] = {}
    if not s.enabled:
        out[disabled[0]] = disabled[1]
    if s.labels:
        out["labels"] = dict(s.labels)
    if s.annotations:
        out["annotations"] = dict(s.annotations)
    return out
