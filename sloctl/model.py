"""The frozen SLO model every renderer, probe, load gate and game day reads.

Loaders in ``sloctl.spec`` turn any supported input format into these objects; nothing else
builds them from files. All durations are whole seconds; objectives are percentages.

>>> from sloctl.model import EventsSLI
>>> EventsSLI("sum(rate(e[{{.window}}]))", "sum(rate(t[{{.window}}]))").kind
'events'
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import Field, dataclass, field, replace
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, get_type_hints

from sloctl.durations import DAY
from sloctl.errors import Location
from sloctl.naming import API_VERSION, BASE_WINDOW, TIER_NO_DATA, policy_tier

__all__ = [
    "CALENDAR_UNITS",
    "POLICY_ACTIONS",
    "SEVERITIES",
    "SLI",
    "SLO",
    "AlertTier",
    "AlertWindows",
    "Alerting",
    "BudgetPolicy",
    "BurnWindow",
    "Calendar",
    "CalendarUnit",
    "Component",
    "CompositeSLI",
    "EventsSLI",
    "Labels",
    "LatencySLI",
    "NoDataAlert",
    "PluginRef",
    "Plugins",
    "PolicyAction",
    "PolicyStep",
    "ProbeSLI",
    "RatioSLI",
    "RawSLI",
    "Service",
    "Severity",
    "Timeslices",
    "WindowedQuery",
    "alert_windows",
    "next_period_first_day",
    "period_first_day",
    "with_fast_reset",
]

Labels = tuple[tuple[str, str], ...]
"""Label pairs sorted by name: hashable, frozen and deterministic when rendered."""

Severity = Literal["page", "ticket"]
SEVERITIES: tuple[Severity, ...] = ("page", "ticket")

WINDOW_PLACEHOLDER = "{{.window}}"
_ANY_WINDOW = re.compile(r"\{\{ *\.window *\}\}")


def canonical_window(query: str) -> str:
    """``query`` with every ``{{ .window }}`` spelling written as ``{{.window}}``, the one form every
    renderer replaces (:func:`sloctl.render.promql.with_window`). Sloth accepts spaces inside the
    braces and nothing else: a tab there fails its validation (``template must contain the {{
    .window }} variable``, checked against the real Sloth v0.16.0), so the same spelling here
    stays unreplaced and fails PromQL validation with the query's location."""
    return _ANY_WINDOW.sub(WINDOW_PLACEHOLDER, query)


_WINDOWED = "PromQL over {{.window}}"
WindowedQuery = Annotated[str, _WINDOWED]
"""A field holding PromQL over ``{{.window}}``: written the one way on creation."""


class _WindowedQueries:
    """An SLI whose :data:`WindowedQuery` fields are PromQL over ``{{.window}}``: on creation their
    window is written the one way (:func:`canonical_window`)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]  # mixed into dataclasses only
    _windowed: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        hints = get_type_hints(cls, include_extras=True)
        cls._windowed = tuple(n for n, h in hints.items() if _WINDOWED in getattr(h, "__metadata__", ()))

    def __post_init__(self) -> None:
        for name in self._windowed:
            object.__setattr__(self, name, canonical_window(getattr(self, name)))


def derived_alert_name(burn_alert: str, suffix: str) -> str:
    """``PlatformApiAvailabilityBudgetBurn`` → ``PlatformApiAvailabilityNoData``: the no-data and
    policy alerts of an SLO are named after its burn-rate alert."""
    return burn_alert.removesuffix("BudgetBurn") + suffix


def labels(mapping: dict[str, str] | None = None) -> Labels:
    """Sorted label pairs from a mapping."""
    return tuple(sorted((mapping or {}).items()))


@dataclass(frozen=True)
class EventsSLI(_WindowedQueries):
    """Error and total event rates; both queries contain ``{{.window}}``."""

    error_query: WindowedQuery
    total_query: WindowedQuery
    kind: Literal["events"] = "events"


@dataclass(frozen=True)
class RatioSLI(_WindowedQueries):
    """Good and total event rates; errors are ``total - good``."""

    good_query: WindowedQuery
    total_query: WindowedQuery
    kind: Literal["ratio"] = "ratio"


@dataclass(frozen=True)
class RawSLI(_WindowedQueries):
    """An error-ratio query with no event counts behind it (see docs/rules.md for the cost)."""

    error_ratio_query: WindowedQuery
    kind: Literal["raw"] = "raw"


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


@dataclass(frozen=True)
class Component:
    """One SLO of the same service inside a composite, with its ``compositeWeight``."""

    slo: str
    weight: float


@dataclass(frozen=True)
class CompositeSLI:
    """An SLO computed from other SLOs of its service: its error ratio over any window is the
    weighted mean of theirs, ``Σ wᵢ·rᵢ / Σ wᵢ`` (OpenSLO ``compositeWeight``)."""

    components: tuple[Component, ...]
    kind: Literal["composite"] = "composite"

    @property
    def total_weight(self) -> float:
        return sum(c.weight for c in self.components)


SLI = EventsSLI | RatioSLI | RawSLI | LatencySLI | ProbeSLI | CompositeSLI


#: A slice is bad only when its error ratio exceeds the allowed one by more than this relative
#: margin. Prometheus 3 extrapolates the slice's rates, and a slice with exactly ``target`` %
#: good comes out at (400·1.25/300 − 380·1.25/300) / (400·1.25/300) = 0.050000000000000086
#: against 0.05: float noise (~1e-16), which must not make the slice bad; a real difference
#: (one event in a billion) is far above it.
SLICE_RATIO_TOLERANCE = 1e-9

#: The shortest slice a fast reset (:func:`with_fast_reset`) leaves a timeslice SLO: a game day's
#: fault hurts latency for a few seconds, which a 5-minute slice dilutes and a 5 s slice (÷ 60)
#: does not. At 5 s three or four of the rig's five game days each spoiled a slice of the whole
#: API's latency, which the generated rules never page, and the sequence tripped a slow latency
#: page once or twice per run (3 spoiled slices in its long window); with 10 s slices the five
#: paged the generated rules' latency pages, no others, and no slow page (docs/gameday.md).
FAST_RESET_MIN_SLICE = 10


def _as_written(percent: float) -> Decimal:
    """The percentage as written: ``repr`` gives the shortest decimal that reads back as the
    same float, so 99.9 stays 99.9 and not the float's exact binary value,
    99.900000000000005684…; decimal arithmetic on it then gives the ratios a person computes.

    >>> _as_written(99.9), Decimal(99.9)
    (Decimal('99.9'), Decimal('99.900000000000005684341886080801486968994140625'))
    """
    return Decimal(repr(float(percent)))


def complement_ratio(percent: float) -> float:
    """``(100 − percent) / 100`` in decimal, from the percentage as written (its shortest
    spelling): 99.9 gives 0.001 and 99.99 gives 0.0001, where binary floating point gives
    0.0009999999999999432 and 0.00010000000000005117, so that exactly one error in 10,000
    events at 99.99 % spends the budget to the last event rather than leaving 5 × 10⁻¹³ of it.

    >>> complement_ratio(99.9), complement_ratio(99.99), complement_ratio(95)
    (0.001, 0.0001, 0.05)
    """
    return float((100 - _as_written(percent)) / 100)


def percent_ratio(percent: float) -> float:
    """``percent / 100`` in decimal, from the percentage as written (its shortest spelling).

    >>> percent_ratio(99.9), 99.9 / 100, percent_ratio(99.99999), percent_ratio(95)
    (0.999, 0.9990000000000001, 0.9999999, 0.95)
    """
    return float(_as_written(percent) / 100)


def nearest_rank(count: int, percent: float) -> int:
    """The 1-based rank of the ``percent``-th percentile among ``count`` sorted values (nearest
    rank: the smallest value with ``percent`` % of them at or below it), in decimal from the
    percentage as written.

    >>> nearest_rank(1000, 99.9), math.ceil(99.9 / 100 * 1000), nearest_rank(20, 95), nearest_rank(3, 0)
    (999, 1000, 19, 1)
    """
    return max(1, math.ceil(_as_written(percent) * count / 100))


@dataclass(frozen=True)
class Timeslices:
    """Timeslice budgeting (OpenSLO ``Timeslices``, Google's windows-based SLOs): the period is
    cut into slices of ``slice_seconds``; a slice is good when at least ``target`` percent of its
    events are good. For a latency SLI that is "the slice's ``target``-th percentile is at or
    below the threshold". The objective is the share of good slices; slices without events do
    not count."""

    slice_seconds: int
    target: float

    @property
    def allowed_error_ratio(self) -> float:
        """A slice whose error ratio exceeds this is bad."""
        return complement_ratio(self.target)

    @property
    def bad_above(self) -> float:
        """The error ratio above which a slice is bad: the allowed one and its float margin
        (:data:`SLICE_RATIO_TOLERANCE`)."""
        return self.allowed_error_ratio * (1 + SLICE_RATIO_TOLERANCE)


CalendarUnit = Literal["week", "month", "quarter"]
CALENDAR_UNITS: tuple[CalendarUnit, ...] = ("week", "month", "quarter")


@dataclass(frozen=True)
class Calendar:
    """A budget that resets at a calendar boundary: Monday, the 1st of a month or of a quarter,
    at midnight in ``time_zone``.

    ``offsets`` holds the zone's UTC offset at those midnights as data, so that renderers stay
    pure: ``(month, first_day, last_day, seconds)`` rows saying that a boundary falling on a day
    of ``month`` between ``first_day`` and ``last_day`` is at local midnight = UTC midnight −
    ``seconds``. The loader derives them from the IANA zone database and rejects a zone whose
    offsets at these midnights are not the same every year."""

    unit: CalendarUnit
    time_zone: str = "UTC"
    offsets: tuple[tuple[int, int, int, int], ...] = ((1, 1, 31, 0),)

    @property
    def max_seconds(self) -> int:
        """The longest period of this unit (a range no PromQL window may be shorter than)."""
        return {"week": 7, "month": 31, "quarter": 92}[self.unit] * DAY + DAY

    def offset(self, day: dt.date) -> int:
        """The zone's UTC offset (seconds) at local midnight on ``day``, a period's first day."""
        return next(o for m, first, last, o in self.offsets if m == day.month and first <= day.day <= last)

    def first_day(self, day: dt.date) -> dt.date:
        """The first day of the period holding the local date ``day``."""
        return period_first_day(self.unit, day)

    def next_first_day(self, first: dt.date) -> dt.date:
        """The first day of the period after the one starting on ``first``."""
        return next_period_first_day(self.unit, first)

    def starts_at(self, first: dt.date) -> int:
        """Unix seconds of local midnight on ``first``: UTC midnight less the zone's offset."""
        midnight = dt.datetime(first.year, first.month, first.day, tzinfo=dt.UTC)
        return int(midnight.timestamp()) - self.offset(first)

    def period_at(self, at: float) -> tuple[int, int]:
        """The period holding the instant ``at`` (Unix seconds): its start and its end, as the
        rules measure them (local midnights, by the model's offsets).

        >>> paris = Calendar("month", "Europe/Paris", ((1, 1, 31, 3600), (2, 1, 29, 3600), (3, 1, 31, 3600)))
        >>> start, end = paris.period_at(dt.datetime(2027, 2, 15, tzinfo=dt.UTC).timestamp())
        >>> dt.datetime.fromtimestamp(start, dt.UTC).isoformat(), (end - start) // DAY
        ('2027-01-31T23:00:00+00:00', 28)
        """
        # The local date is at most a day ahead of the UTC date: from its period, step back.
        first = self.first_day(dt.datetime.fromtimestamp(at, dt.UTC).date() + dt.timedelta(days=1))
        for _ in range(3):
            if self.starts_at(first) <= at:
                break
            first = self.first_day(first - dt.timedelta(days=1))
        return self.starts_at(first), self.starts_at(self.next_first_day(first))


def period_first_day(unit: CalendarUnit, day: dt.date) -> dt.date:
    """The first day of the period of ``unit`` holding the local date ``day`` (weeks start on
    Monday, quarters in January, April, July and October)."""
    if unit == "week":
        return day - dt.timedelta(days=day.weekday())
    month = day.month if unit == "month" else (day.month - 1) // 3 * 3 + 1
    return dt.date(day.year, month, 1)


def next_period_first_day(unit: CalendarUnit, first: dt.date) -> dt.date:
    """The first day of the period of ``unit`` after the one starting on ``first``."""
    if unit == "week":
        return first + dt.timedelta(weeks=1)
    year, month = divmod(first.month - 1 + (1 if unit == "month" else 3), 12)
    return dt.date(first.year + year, month + 1, 1)


PolicyAction = Literal["notify", "freeze"]
POLICY_ACTIONS: tuple[PolicyAction, ...] = ("notify", "freeze")


@dataclass(frozen=True)
class PolicyStep:
    """At or below ``budget_left_percent`` of the period's budget left, ``action`` applies:
    ``notify`` files a ticket with the owning team, ``freeze`` makes ``sloctl gate`` refuse
    releases (and files a ticket too)."""

    budget_left_percent: float
    action: PolicyAction

    @property
    def tier(self) -> str:
        return policy_tier(self.action)

    @property
    def budget_left_ratio(self) -> float:
        """The step as a ratio of the budget, exact in decimal (33.3 gives 0.333, where
        ``33.3 / 100`` gives 0.33299999999999996): the rules and their tests compare with it."""
        return percent_ratio(self.budget_left_percent)


@dataclass(frozen=True)
class BudgetPolicy:
    """The error-budget policy of an SLO, as code (docs/spec.md, "Error-budget policy")."""

    steps: tuple[PolicyStep, ...] = ()
    unknown: Literal["freeze", "proceed"] = "freeze"
    """What ``sloctl gate`` does when the budget is unknown (no data in the period)."""
    name: str = ""
    """Alert name of the policy tickets."""


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
class NoDataAlert:
    """A ticket (by default) when the SLI saw no event for ``for_seconds``: a series that is
    absent or flat zero is not a healthy service."""

    enabled: bool = True
    for_seconds: int = 1800
    severity: Severity = "ticket"
    name: str = ""

    @property
    def tier(self) -> str:
        return TIER_NO_DATA


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
    no_data: NoDataAlert = NoDataAlert()

    def severity(self, severity: Severity) -> SeverityAlert:
        return self.page if severity == "page" else self.ticket

    @property
    def enabled_tiers(self) -> tuple[AlertTier, ...]:
        return tuple(t for t in self.tiers if t.enabled and self.severity(t.severity).enabled)


@dataclass(frozen=True)
class PluginRef:
    """One Sloth SLO plugin of a chain: its id, priority (below 0 runs before Sloth's default
    plugins) and configuration, as canonical JSON (frozen and hashable)."""

    id: str
    priority: int = 0
    config: str = "{}"


@dataclass(frozen=True)
class Plugins:
    """The Sloth SLO plugins of an SLO (service-level ones first, then the SLO's own);
    ``override`` drops Sloth's default chain (validate, SLI, metadata and alert rules)."""

    chain: tuple[PluginRef, ...] = ()
    override: bool = False


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
    spec_version: str = API_VERSION
    document_name: str = ""
    """``metadata.name`` of the source document, where the format has one (Kubernetes output)."""
    document_namespace: str = ""
    document_labels: Labels = ()
    """``metadata.labels`` and ``metadata.annotations`` of a Kubernetes source document, which
    Sloth copies onto the ``PrometheusRule`` it writes."""
    document_annotations: Labels = ()
    timeslices: Timeslices | None = None
    """Timeslice budgeting; None counts events (OpenSLO ``Occurrences``)."""
    calendar: Calendar | None = None
    """A calendar-aligned period; None is a rolling ``period``. With a calendar, ``period`` is
    the unit's nominal length (7d, 30d, 91d) that picks the windows catalog."""
    policy: BudgetPolicy = BudgetPolicy()
    plugins: Plugins = Plugins()
    """Sloth SLO plugins: they shape ``--compat sloth`` output (sloctl.render.sloth_plugins)."""
    grouping: tuple[str, ...] = ()
    """Labels the SLO is kept per group by (Pyrra ``grouping``): its queries keep them, so every
    recorded series and alert is one per group, and the dashboards draw one series per group."""
    base_window: int = BASE_WINDOW
    """The window of the recorded event and error rates every longer window is built from (and
    the slice of a timeslice SLO); shorter only on a game-day rig (:func:`with_fast_reset`)."""

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"

    @property
    def error_budget(self) -> float:
        """Allowed error ratio, ``1 - objective``, exact in decimal (:func:`complement_ratio`:
        99.9 gives 0.001). ``--compat sloth`` keeps Sloth's binary arithmetic of its own."""
        return complement_ratio(self.objective)

    @property
    def objective_ratio(self) -> float:
        """The objective as a ratio, exact in decimal: 99.9 gives 0.999, where ``99.9 / 100``
        gives 0.9990000000000001 (a dashboard threshold there paints an SLI of exactly 99.9 %
        red, and the objective's recording rule said so too)."""
        return percent_ratio(self.objective)

    @property
    def no_data_alert_name(self) -> str:
        return self.alerting.no_data.name or derived_alert_name(self.alerting.name, "NoData")

    @property
    def policy_alert_name(self) -> str:
        return self.policy.name or derived_alert_name(self.alerting.name, "BudgetPolicy")

    @property
    def budgeting(self) -> Literal["occurrences", "timeslices"]:
        return "timeslices" if self.timeslices is not None else "occurrences"


@dataclass(frozen=True)
class Service:
    """SLOs grouped by service, in input order; one rules file is written per service."""

    name: str
    slos: tuple[SLO, ...]


def alert_windows(slo: SLO) -> list[int]:
    """Every window whose error ratio the rules of ``slo`` record, shortest first; the rolling
    period last (a calendar period is recorded apart, see ``naming.period_error_ratio``)."""
    windows = {slo.base_window}
    if slo.calendar is None:
        windows.add(slo.period)
    for w in slo.windows.windows:
        windows.update((w.short_window, w.long_window))
    return sorted(windows)


def with_fast_reset(slo: SLO, divisor: int) -> SLO:
    """``slo`` with its alerts resetting ``divisor`` times sooner once a burn stops, and
    tripping on the same burns as before. A game-day rig evaluates such rules to run game days
    back to back (:mod:`sloctl.chaos.rig`); ``divisor`` 1 returns ``slo``.

    The base window and every tier's short window are divided by ``divisor``. What decides
    whether a tier trips stays: for an SLO that counts events, the long windows (a fault of so
    many seconds weighs in them as before), hence the burn-rate factors and the low-traffic
    guard; for a timeslice SLO, whose slice is the base window, the number of slices in each
    window, so its long windows are divided too, with the share of the budget each tier
    allows in them (the burn-rate factors stay) and the guard's events. A timeslice SLO is
    divided by ``divisor`` or by less, so that its slice stays at least
    :data:`FAST_RESET_MIN_SLICE` seconds (÷ 60 gives a 5-minute slice ÷ 30: 10 s). The period
    and the objective stay. ValueError when a window does not divide into whole seconds."""
    if divisor < 1:
        raise ValueError(f"the fast-reset divisor must be 1 or more, not {divisor}")
    slices = slo.timeslices
    if slices is not None:
        divisor = min(divisor, max(1, slices.slice_seconds // FAST_RESET_MIN_SLICE))
    if divisor == 1:
        return slo
    shorter = [("the base window", slo.base_window)]
    for w in slo.windows.windows:
        shorter.append((f"the {w.tier} short window", w.short_window))
        if slices is not None:
            shorter.append((f"the {w.tier} long window", w.long_window))
    if slices is not None:
        shorter.append(("the slice", slices.slice_seconds))
    for what, seconds in shorter:
        if seconds % divisor:
            raise ValueError(f"SLO {slo.id}: {what} ({seconds}s) does not divide by {divisor}")

    def faster(w: BurnWindow) -> BurnWindow:
        if slices is None:
            return replace(w, short_window=w.short_window // divisor)
        return replace(
            w,
            short_window=w.short_window // divisor,
            long_window=w.long_window // divisor,
            budget_percent=w.budget_percent / divisor,
        )

    alerting = replace(
        slo.alerting, tiers=tuple(replace(t, window=faster(t.window)) for t in slo.alerting.tiers)
    )
    if slices is not None:
        alerting = replace(alerting, min_events=alerting.min_events / divisor)
        slices = replace(slices, slice_seconds=slices.slice_seconds // divisor)
    return replace(
        slo,
        base_window=slo.base_window // divisor,
        windows=replace(slo.windows, windows=tuple(faster(w) for w in slo.windows.windows)),
        alerting=alerting,
        timeslices=slices,
    )
