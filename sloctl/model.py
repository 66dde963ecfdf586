"""The frozen SLO model every renderer, probe, load gate and game day reads.

Loaders in ``sloctl.spec`` turn any supported input format into these objects; nothing else
builds them from files. All durations are whole seconds; objectives are percentages.

>>> from sloctl.model import EventsSLI
>>> EventsSLI("sum(rate(e[{{.window}}]))", "sum(rate(t[{{.window}}]))").kind
'events'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from sloctl.errors import Location

__all__ = [
    "SEVERITIES",
    "SLI",
    "SLO",
    "AlertTier",
    "AlertWindows",
    "Alerting",
    "BurnWindow",
    "EventsSLI",
    "Labels",
    "LatencySLI",
    "ProbeSLI",
    "RatioSLI",
    "RawSLI",
    "Service",
    "Severity",
]

Labels = tuple[tuple[str, str], ...]
"""Label pairs sorted by name: hashable, frozen and deterministic when rendered."""

Severity = Literal["page", "ticket"]
SEVERITIES: tuple[Severity, ...] = ("page", "ticket")

WINDOW_PLACEHOLDER = "{{.window}}"
_ANY_WINDOW = re.compile(r"\{\{ *\.window *\}\}")


def canonical_window(query: str) -> str:
    """``query`` with every ``{{ .window }}`` spelling (Sloth accepts spaces inside the braces, as
    Go templates do) written as ``{{.window}}``, the one form every renderer replaces."""
    return _ANY_WINDOW.sub(WINDOW_PLACEHOLDER, query)


def labels(mapping: dict[str, str] | None = None) -> Labels:
    """Sorted label pairs from a mapping."""
    return tuple(sorted((mapping or {}).items()))


@dataclass(frozen=True)
class EventsSLI:
    """Error and total event rates; both queries contain ``{{.window}}``."""

    error_query: str
    total_query: str
    kind: Literal["events"] = "events"

    def __post_init__(self) -> None:
        object.__setattr__(self, "error_query", canonical_window(self.error_query))
        object.__setattr__(self, "total_query", canonical_window(self.total_query))


@dataclass(frozen=True)
class RatioSLI:
    """Good and total event rates; errors are ``total - good``."""

    good_query: str
    total_query: str
    kind: Literal["ratio"] = "ratio"

    def __post_init__(self) -> None:
        object.__setattr__(self, "good_query", canonical_window(self.good_query))
        object.__setattr__(self, "total_query", canonical_window(self.total_query))


@dataclass(frozen=True)
class RawSLI:
    """An error-ratio query with no event counts behind it (see docs/rules.md for the cost)."""

    error_ratio_query: str
    kind: Literal["raw"] = "raw"

    def __post_init__(self) -> None:
        object.__setattr__(self, "error_ratio_query", canonical_window(self.error_ratio_query))


@dataclass(frozen=True)
class LatencySLI:
    """Share of requests slower than ``threshold_seconds`` in a classic histogram.

    ``selector`` holds PromQL label matchers such as ``{route="/v1/projects",method="GET"}``
    (``{}`` for none); ``matchers`` the equality matchers among them, for consumers such as
    load-test gates that need the route a latency SLO applies to.
    """

    histogram: str
    selector: str
    threshold_seconds: float
    matchers: Labels = ()
    kind: Literal["latency"] = "latency"


@dataclass(frozen=True)
class ProbeSLI:
    """Availability from the collector's probe counters (docs/metrics.md), selected by labels."""

    selector: str
    matchers: Labels = ()
    kind: Literal["probe"] = "probe"


SLI = EventsSLI | RatioSLI | RawSLI | LatencySLI | ProbeSLI


@dataclass(frozen=True)
class BurnWindow:
    """One tier of a multi-window multi-burn-rate catalog (Sloth's ``AlertWindows`` shape).

    ``budget_percent`` of the period's error budget spent within ``long_window`` trips the tier;
    the short window makes the alert reset quickly once the burn stops.
    """

    severity: Severity
    speed: Literal["quick", "slow"]
    budget_percent: float
    short_window: int
    long_window: int

    @property
    def tier(self) -> str:
        return f"{self.severity}_{self.speed}"

    def burn_factor(self, period: int) -> float:
        """Burn rate that spends ``budget_percent`` of a ``period`` budget in the long window."""
        return self.budget_percent / 100 * (period / self.long_window)


@dataclass(frozen=True)
class AlertWindows:
    """A catalog of the four tiers for one SLO period."""

    period: int
    windows: tuple[BurnWindow, ...]
    source: str

    def window(self, severity: Severity, speed: str) -> BurnWindow:
        for w in self.windows:
            if w.severity == severity and w.speed == speed:
                return w
        raise KeyError(f"{severity}.{speed}")


@dataclass(frozen=True)
class AlertTier:
    """A catalog tier resolved for one SLO: its window, whether it alerts, and its ``for``."""

    window: BurnWindow
    enabled: bool = True
    for_seconds: int = 0

    @property
    def name(self) -> str:
        return self.window.tier

    @property
    def severity(self) -> Severity:
        return self.window.severity


@dataclass(frozen=True)
class SeverityAlert:
    """Per-severity settings (Sloth's ``page_alert``/``ticket_alert``)."""

    enabled: bool = True
    labels: Labels = ()
    annotations: Labels = ()


@dataclass(frozen=True)
class Alerting:
    """How an SLO pages and files tickets."""

    name: str
    labels: Labels = ()
    annotations: Labels = ()
    runbook_url: str | None = None
    page: SeverityAlert = SeverityAlert()
    ticket: SeverityAlert = SeverityAlert()
    tiers: tuple[AlertTier, ...] = ()
    min_events: float = 0.0
    """Low-traffic guard: pages need at least this many events in the tier's long window."""

    def severity(self, severity: Severity) -> SeverityAlert:
        return self.page if severity == "page" else self.ticket

    @property
    def enabled_tiers(self) -> tuple[AlertTier, ...]:
        return tuple(t for t in self.tiers if t.enabled and self.severity(t.severity).enabled)


@dataclass(frozen=True)
class SLO:
    """One service level objective, whatever format it was read from."""

    service: str
    name: str
    objective: float
    period: int
    sli: SLI
    alerting: Alerting
    windows: AlertWindows
    description: str = ""
    labels: Labels = ()
    source: Location = field(default=Location("<memory>", 1, 1), compare=False)
    spec_version: str = "sloctl/v1"
    document_name: str = ""
    """``metadata.name`` of the source document, where the format has one (Kubernetes output)."""
    document_namespace: str = ""

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"

    @property
    def error_budget(self) -> float:
        """Allowed error ratio, ``1 - objective``; computed as Sloth does, for identical output."""
        return (100 - self.objective) / 100


@dataclass(frozen=True)
class Service:
    """SLOs grouped by service, in input order; one rules file is written per service."""

    name: str
    slos: tuple[SLO, ...]
