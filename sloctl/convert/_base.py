"""What every format's converter returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sloctl.model import SLO, SeverityAlert


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


__all__ = ["GROUPING_LOST", "Converted", "Loss", "Losses", "severity_fields"]


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
