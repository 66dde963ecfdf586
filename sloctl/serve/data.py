"""What the pages of ``sloctl serve`` show, read from Prometheus through the one access layer.

The overview runs a fixed number of instant queries whatever the number of SLOs, sent together:
the queries of ``sloctl status`` (:data:`sloctl.status.QUERIES`, read into rows by the same
:func:`sloctl.status.rows_from`, so the two show the same numbers) plus :data:`EXTRA_QUERIES`,
each reading one generated series over every SLO at once: what the overview sorts and filters
on. What it only shows (the burn rate of every window, the thresholds, the info series' other
labels) is read afterwards for the rows of the page alone, in one more query (:func:`details`),
so Prometheus reads about 8 series per SLO rather than 23, and sends only what is shown. The
SLO page runs range queries for one SLO, with a step chosen for the time range
(:func:`step_for`).
"""

from __future__ import annotations

import math
import re
import threading
import time as clock
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

from sloctl import naming
from sloctl.durations import format_duration, parse_duration
from sloctl.explain import SLOExplanation, explain
from sloctl.model import SLO, complement_ratio
from sloctl.prometheus import TIMEOUT, Prometheus, Result, by_label
from sloctl.render.promql import quote
from sloctl.status import QUERIES, STATES, StatusRow, read_info_rules, read_rule_health, rows_from

__all__ = [
    "EXTRA_QUERIES",
    "MAX_POINTS_PER_CHART",
    "OVERVIEW_QUERY_COUNT",
    "SERIES_QUERIES",
    "CacheWaitTimeout",
    "Details",
    "Overview",
    "SeriesReads",
    "SloRow",
    "SloSeries",
    "TtlCache",
    "all_info",
    "details",
    "overview",
    "read_series",
    "series_from",
    "slo_queries",
    "slo_series",
    "step_for",
    "with_info",
]

_RATIO = "sloctl:sli_error:ratio_rate"
EXTRA_QUERIES = {
    # SLI now (1 − the 5m error ratio) of every SLO: the overview sorts on it.
    "sli": f"max by ({naming.LABEL_ID}) ({_RATIO}5m)",
}
#: The overview's query count: constant, whatever the number of SLOs (:func:`details` is one; a
#: label filter adds :func:`all_info`). Besides them, the rules' health is read from the rules
#: API as ``sloctl status`` reads it (:func:`sloctl.status.read_rule_health`): one request for
#: the SLOs' info rules, one per 100 SLOs for their groups.
OVERVIEW_QUERY_COUNT = len(QUERIES) + len(EXTRA_QUERIES) + 1

#: A chart shows at most this many points per series: the step grows with the range.
MAX_POINTS_PER_CHART = 360
_STEPS = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)


def step_for(range_seconds: float) -> int:
    """The smallest usual step that keeps a range under :data:`MAX_POINTS_PER_CHART` points."""
    for step in _STEPS:
        if range_seconds / step <= MAX_POINTS_PER_CHART:
            return step
    return math.ceil(range_seconds / MAX_POINTS_PER_CHART)


class _InfoLabel:
    """A label of a row's info series as an attribute of the row (``""`` when it is absent)."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __get__(self, row: SloRow, owner: type[SloRow] | None = None) -> str:
        return row.info.get(self.label, "")


@dataclass(frozen=True)
class SloRow:
    """One SLO on the overview: the ``status`` row plus what the UI shows beside it."""

    status: StatusRow
    info: Mapping[str, str]
    """The labels of the SLO's info series: all of them on a row shown (:func:`with_info`), only
    :data:`sloctl.status.INFO_LABELS` on the others."""
    sli_now: float
    """1 − the 5m error ratio (NaN when unknown, and when the SLI has no data: the rules record
    a ratio of 0 then, which is no SLI of 100 %)."""
    spec: SLO | None = None
    explanation: SLOExplanation | None = None

    @property
    def labels(self) -> dict[str, str]:
        """The info series' labels without the ``sloctl_`` ones (``team``, ``tier``, …)."""
        return {k: v for k, v in sorted(self.info.items()) if not k.startswith(("sloctl_", "__"))}

    objective = _InfoLabel(naming.INFO_OBJECTIVE)
    period = _InfoLabel(naming.INFO_PERIOD)
    budgeting = _InfoLabel(naming.INFO_BUDGETING)
    sli_kind = _InfoLabel(naming.INFO_SLI)

    @property
    def id(self) -> str:
        return self.status.slo

    @property
    def alerts(self) -> tuple[tuple[str, str], ...]:
        """(tier, pending|firing) of every active alert (:attr:`StatusRow.alerts`)."""
        return self.status.alerts

    @property
    def firing(self) -> tuple[str, ...]:
        """The burn-rate tiers firing, sorted (:attr:`StatusRow.firing`)."""
        return self.status.firing

    @property
    def state(self) -> str:
        """One of :data:`STATES`, what the overview filters on: ``sloctl status``'s
        (:func:`sloctl.status.state_of`): ``firing`` or ``pending`` by the burn-rate tiers (the
        no-data ticket is the ``no_data`` state, a policy step's alert the policy column)."""
        return self.status.state

    @property
    def burn_now(self) -> float:
        """The burn rate now, unknown (NaN) when the SLI has no data (:attr:`StatusRow.burn_now`)."""
        return self.status.burn_now

    @property
    def error_budget(self) -> float:
        """1 − the objective, as a ratio (NaN when the info series gives no objective)."""
        try:
            return complement_ratio(float(self.objective))
        except ValueError:
            return math.nan

    @property
    def sli_period(self) -> float:
        """1 − the period's error ratio (Pyrra's "availability"; the share of good slices of a
        timeslice SLO): the period's burn rate times the error budget, unknown (NaN) while the
        period has seen no event, as the budget left is.

        >>> row = SloRow(StatusRow("a", "s", "a", 0.5, 1.0, 0.5), {"sloctl_objective": "99.9"}, 1.0)
        >>> row.sli_period, row.error_budget
        (0.9995, 0.001)
        """
        if math.isnan(self.status.budget_remaining):
            return math.nan
        return 1 - self.status.period_burn_rate * self.error_budget


@dataclass(frozen=True)
class Overview:
    rows: tuple[SloRow, ...]
    at: float
    queries: int
    """Prometheus queries this overview took (:data:`QUERIES` and :data:`EXTRA_QUERIES`)."""
    unknown_specs: tuple[str, ...] = ()
    """SLOs of the given files that Prometheus does not know (rules not loaded?)."""
    warnings: tuple[str, ...] = ()
    """Prometheus' warnings on the answers, each once: the figures may be partial."""
    rules_unchecked: str = ""
    """Why the rules' health of some or all SLOs is unknown (``sloctl status``'s line)."""


@lru_cache(maxsize=256)
def _window_seconds(window: str) -> int:
    try:
        return parse_duration(window)
    except ValueError:
        return 0


def overview(
    prom: Prometheus,
    specs: Mapping[str, SLO],
    time: float | None = None,
    explained: Mapping[str, SLOExplanation] | None = None,
    first_answers: Callable[[Overview], None] | None = None,
) -> Overview:
    """Every SLO Prometheus knows, joined with its spec where one of the served files has it
    (and its ``explain`` figures: computed here unless given, as the UI does once).
    ``first_answers`` is called with the overview as the queries' answers say it, before the
    rules' health is read (no rule errors yet, nor the rows of SLOs whose info rule fails): a
    page can send what it reads of its rows beside that read."""
    # The SLOs' info rules need no query's answer: sent with the queries. Their groups need
    # both answers (which SLOs, which groups), so they are read after.
    info_rules = prom.submit(read_info_rules, prom)
    results = prom.query_many({**QUERIES, **EXTRA_QUERIES}, time)
    if explained is None:
        explained = {e.id: e for e in explain(list(specs.values()))}
    at = clock.time() if time is None else time
    status_rows = rows_from(results)
    if first_answers is not None:
        first_answers(_overview_of(status_rows, results, (), specs, explained, at))
    health = read_rule_health(prom, status_rows, info_rules=info_rules.result)
    return replace(
        _overview_of(health.rows, results, health.answers, specs, explained, at),
        rules_unchecked=health.unchecked,
    )


def _overview_of(
    rows: Sequence[StatusRow],
    results: Mapping[str, Result],
    rule_answers: Sequence[Result],
    specs: Mapping[str, SLO],
    explained: Mapping[str, SLOExplanation],
    at: float,
) -> Overview:
    """The :class:`Overview` of the status ``rows``, from the queries' ``results`` and the rules
    API's answers."""
    info = by_label(results["info"], naming.LABEL_ID)
    sli = by_label(results["sli"], naming.LABEL_ID)
    out = []
    for row in rows:
        ratio5m = sli.get(row.slo, ({}, math.nan))[1]
        out.append(
            SloRow(
                status=row,
                info=info.get(row.slo, ({}, 0.0))[0],
                sli_now=math.nan if row.no_data else 1 - ratio5m,
                spec=specs.get(row.slo),
                explanation=explained.get(row.slo),
            )
        )
    known = {r.id for r in out}
    return Overview(
        rows=tuple(out),
        at=at,
        # Counted, not read off the client's counter, which other reads sent meanwhile move too:
        # the queries and the rules API's requests (one when it has none: NotServed).
        queries=len(results) + max(1, len(rule_answers)),
        unknown_specs=tuple(sorted(set(specs) - known)),
        warnings=tuple(dict.fromkeys(w for a in (*results.values(), *rule_answers) for w in a.warnings)),
    )


@dataclass(frozen=True)
class Details:
    """What a page shows of a few SLOs only (the overview's page of rows, one SLO's page): the
    burn rate of every recorded window and each tier's threshold, by SLO id."""

    burns: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Error ratio ÷ error budget, by SLO id and window."""
    thresholds: Mapping[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)
    """(tier, burn-rate threshold), by SLO id."""
    windows: tuple[str, ...] = ()
    """Every window some of these SLOs record, shortest first (the overview's columns)."""
    info: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Every label of the info series, by SLO id (objective, period, the SLO's own labels)."""
    queries: int = 0
    quiet: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """The windows that saw no event, by SLO id: their burn rate reads 0 (the rules clamp the
    ratio's denominator), which is no traffic, not a healthy 0x."""

    def burn(self, slo_id: str, window: str) -> float:
        return self.burns.get(slo_id, {}).get(window, math.nan)

    def no_events(self, slo_id: str, window: str) -> bool:
        """Whether ``window`` of ``slo_id`` saw no event (among the windows asked about)."""
        return window in self.quiet.get(slo_id, ())

    def knows(self, slo_id: str) -> bool:
        """Whether Prometheus answered any series of ``slo_id`` (its info series at the least,
        for an SLO whose rules are loaded)."""
        return slo_id in self.info or slo_id in self.burns or slo_id in self.thresholds


#: A label the details query gives the windows without events, apart from their burn rates.
_QUIET = "sloctl_no_events"


def _no_events(window: int, wanted: str) -> str:
    """The SLOs ``wanted`` whose ``window`` saw no event, labelled with the window and
    :data:`_QUIET`: what the rules divide by, the 5m event rates over the window (recorded
    ``or vector(0)``, so a quiet service has zeros, not nothing), is 0 when their highest is."""
    events = f"{naming.events_rate()}{{{wanted}}}"
    read = events if window <= naming.BASE_WINDOW else f"max_over_time({events}[{format_duration(window)}])"
    quiet = f"max by ({naming.LABEL_ID}) ({read}) == 0"
    labelled = f'label_replace({quiet}, "{naming.LABEL_WINDOW}", "{format_duration(window)}", "", "")'
    return f'label_replace({labelled}, "{_QUIET}", "true", "", "")'


def details(
    prom: Prometheus, ids: Sequence[str], time: float | None = None, windows: Sequence[int] = ()
) -> Details:
    """The :class:`Details` of the SLOs ``ids``, in one query (none without an id): the burn
    rate of every recorded window (its error ratio ÷ the error budget, divided by Prometheus:
    the same IEEE division, and no budget series to send), the tiers' thresholds, the info
    series with all its labels, and which of ``windows`` (seconds) saw no event, by id."""
    if not ids:
        return Details()
    # Ids are matched as a regular expression (RE2): escaped alternatives of literals, which
    # Prometheus turns into a set lookup. Quoted as PromQL reads strings (JSON's "\ud83d\ude00"
    # for an emoji is a pair of surrogates that Prometheus refuses: a 502 for that SLO's page).
    wanted = f"{naming.LABEL_ID}=~{quote('|'.join(re.escape(i) for i in sorted(set(ids))))}"
    ratios = f"{{__name__=~{quote(re.escape(_RATIO) + '.+')}, {wanted}}}"
    # A budget of 0 or less has no burn rate (the window reads unknown), as a missing budget.
    budget = f"max by ({naming.LABEL_ID}) ({naming.ERROR_BUDGET}{{{wanted}}}) > 0"
    result = prom.query(
        f"max by ({naming.LABEL_ID}, {naming.LABEL_WINDOW}) ({ratios})"
        f" / on ({naming.LABEL_ID}) group_left () ({budget})"
        f" or max by ({naming.LABEL_ID}, {naming.LABEL_TIER}) ({naming.BURN_RATE_THRESHOLD}{{{wanted}}})"
        f" or {naming.SLO_INFO}{{{wanted}}}"
        + "".join(f" or {_no_events(w, wanted)}" for w in sorted(set(windows))),
        time,
    )
    burns: dict[str, dict[str, float]] = {}
    thresholds: dict[str, dict[str, float]] = {}
    info: dict[str, dict[str, str]] = {}
    quiet: dict[str, set[str]] = {}
    for r in result:
        m, value = r["metric"], float(r["value"][1])
        slo_id = m.get(naming.LABEL_ID, "")
        if m.get("__name__") == naming.SLO_INFO:
            info[slo_id] = m
        elif _QUIET in m:
            quiet.setdefault(slo_id, set()).add(m.get(naming.LABEL_WINDOW, ""))
        elif naming.LABEL_TIER in m:
            thresholds.setdefault(slo_id, {})[m[naming.LABEL_TIER]] = value
        else:
            burns.setdefault(slo_id, {})[m.get(naming.LABEL_WINDOW, "")] = value
    return Details(
        burns=burns,
        windows=tuple(sorted({w for b in burns.values() for w in b}, key=_window_seconds)),
        thresholds={k: tuple(sorted(v.items())) for k, v in thresholds.items()},
        info=info,
        queries=1,
        quiet={k: frozenset(v) for k, v in quiet.items()},
    )


def with_info(row: SloRow, info: Mapping[str, Mapping[str, str]]) -> SloRow:
    """``row`` with every label of its info series, when ``info`` (:attr:`Details.info`, or
    :func:`all_info`) has them."""
    labels = info.get(row.id)
    return replace(row, info=labels) if labels else row


def all_info(prom: Prometheus, time: float | None = None) -> dict[str, Mapping[str, str]]:
    """Every label of every SLO's info series, by id: one more query, for a filter by label."""
    return {k: v for k, (v, _) in by_label(prom.query(naming.SLO_INFO, time), naming.LABEL_ID).items()}


@dataclass(frozen=True)
class SloSeries:
    """The SLO page's charts: ``[(t, v), …]`` per series over ``[start, end]`` at ``step``."""

    start: float
    end: float
    step: int
    sli: tuple[tuple[float, float], ...]
    budget: tuple[tuple[float, float], ...]
    burns: Mapping[str, tuple[tuple[float, float], ...]] = field(default_factory=dict)
    events: tuple[tuple[float, float], ...] = ()
    """Events per second (5m rate), every group's."""
    errors: tuple[tuple[float, float], ...] = ()
    """Errors per second (5m rate), every group's."""


def _selector(slo_id: str) -> str:
    return f"{{{naming.LABEL_ID}={quote(slo_id)}}}"


def _points(result: Result) -> tuple[tuple[float, float], ...]:
    if not result:
        return ()
    return tuple((float(t), float(v)) for t, v in result[0]["values"])


def slo_queries(slo_id: str) -> dict[str, str]:
    """The PromQL behind one SLO's figures, which its page shows (Pyrra's "show query"), to be
    pasted into Prometheus or Grafana: the charts' as :func:`slo_series` sends them (``sli``,
    ``budget``, ``ratios``: each window's error ratio, which the page divides by the error
    budget, ``traffic``: the events and errors per second), and, for this SLO alone, what the
    overview's queries read of every SLO at once (``budget_left``, ``burn_now``,
    ``burn_period``), the SLI over the period (``sli_period``) and the tiers' burn rates
    (``burns``). A grouped SLO (Pyrra's ``grouping``) is its worst group, as on the overview and
    in ``status``: the highest error ratio, the least budget left, the fastest burn.

    >>> slo_queries("api")["budget"]
    'min(sloctl:period_error_budget_remaining:ratio{sloctl_id="api"})'
    """
    sel = _selector(slo_id)
    ratios = f'max by ({naming.LABEL_WINDOW}) ({{__name__=~"{_RATIO}.+", {sel[1:-1]}}})'
    rates = "|".join(re.escape(n) for n in (naming.events_rate(), naming.errors_rate()))
    return {
        # Every group's events and errors: the traffic is the SLO's whole, not its worst group's.
        "traffic": f'sum by (__name__) ({{__name__=~"{rates}", {sel[1:-1]}}})',
        "sli": f"1 - max({_RATIO}5m{sel})",
        "budget": f"min({naming.BUDGET_REMAINING}{sel})",
        "ratios": ratios,
        "budget_left": f"min({naming.BUDGET_REMAINING}{sel})",
        "sli_period": f"1 - max({naming.PERIOD_BURN_RATE}{sel}) * scalar(max({naming.ERROR_BUDGET}{sel}))",
        "burn_now": f"max({naming.CURRENT_BURN_RATE}{sel})",
        "burn_period": f"max({naming.PERIOD_BURN_RATE}{sel})",
        "burns": f"{ratios} / scalar(max({naming.ERROR_BUDGET}{sel}))",
    }


@dataclass(frozen=True)
class SeriesReads:
    """What :func:`read_series` read of one SLO over ``[start, end]`` at ``step``: the answers
    of the range queries of :func:`slo_queries` (``sli``, ``budget``, ``ratios``, ``traffic``),
    before anything is divided by the error budget (:func:`slo_series`)."""

    start: float
    end: float
    step: int
    answers: Mapping[str, Result]


#: The SLO page's range queries (:func:`slo_queries`' names), sent together.
SERIES_QUERIES = ("sli", "budget", "ratios", "traffic")


def read_series(prom: Prometheus, slo_id: str, start: float, end: float) -> SeriesReads:
    """The range queries of one SLO's charts, sent together (:meth:`Prometheus.submit`): they
    need neither each other's answers nor the SLO's error budget. The first to fail, in
    :data:`SERIES_QUERIES`' order, is the error."""
    step = step_for(end - start)
    queries = slo_queries(slo_id)
    sent = {name: prom.submit(prom.query_range, queries[name], start, end, step) for name in SERIES_QUERIES}
    return SeriesReads(start, end, step, {name: f.result() for name, f in sent.items()})


def series_from(reads: SeriesReads, error_budget: float) -> SloSeries:
    """The charts' series of :func:`read_series`' answers: each window's error ratio divided by
    ``error_budget`` (its burn rate; unknown without a budget), the events and errors apart."""
    answers = reads.answers
    traffic = {str(r["metric"].get("__name__")): _points(Result([r])) for r in answers["traffic"]}
    burns = {
        str(r["metric"].get(naming.LABEL_WINDOW, "?")): tuple(
            (float(t), float(v) / error_budget if error_budget > 0 else math.nan) for t, v in r["values"]
        )
        for r in answers["ratios"]
    }
    ordered = dict(sorted(burns.items(), key=lambda kv: _window_seconds(kv[0])))
    return SloSeries(
        reads.start,
        reads.end,
        reads.step,
        _points(answers["sli"]),
        _points(answers["budget"]),
        ordered,
        events=traffic.get(naming.events_rate(), ()),
        errors=traffic.get(naming.errors_rate(), ()),
    )


def slo_series(prom: Prometheus, slo_id: str, error_budget: float, start: float, end: float) -> SloSeries:
    """Range queries for one SLO (:func:`slo_queries`): SLI (1 − 5m error ratio), budget
    remaining, and the burn rate of every recorded window (error ratio / budget), of its worst
    group when it has groups; and its events and errors per second, of every group
    (:func:`read_series`, then :func:`series_from`)."""
    return series_from(read_series(prom, slo_id, start, end), error_budget)


class CacheWaitTimeout(TimeoutError):
    """Another request's computation of the same value did not end within the wait: an
    ``OSError``, as a Prometheus that does not answer is (the UI's 502)."""


@dataclass
class _Flight:
    """One computation under way: the requests that need its value wait for ``done``."""

    done: threading.Event = field(default_factory=threading.Event)
    value: object = None
    error: BaseException | None = None


class TtlCache:
    """A short cache of one computed value per key (the overview of "now", say), so that a page
    reloaded by many people at once costs Prometheus one set of queries per ``ttl`` seconds:
    the first request to miss computes, the others that miss meanwhile wait for its value (or
    its error) rather than ask Prometheus again, ``wait`` seconds at most (the request timeout)."""

    #: Keys kept at most; past it, the older half goes (past time ranges, mostly).
    MAX_KEYS = 256

    def __init__(self, ttl: float, now: Callable[[], float] = clock.monotonic, wait: float = TIMEOUT) -> None:
        self.ttl = ttl
        self.wait = wait
        self._now = now
        self._lock = threading.Lock()
        self._items: dict[object, tuple[float, object]] = {}
        self._flights: dict[object, _Flight] = {}
        self.waiting = 0
        """Requests waiting for another's computation now."""

    def get(self, key: object, compute: Callable[[], object]) -> object:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and self._now() - hit[0] < self.ttl:
                return hit[1]
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
            else:
                self.waiting += 1
        if not leader:
            try:
                if not flight.done.wait(self.wait):
                    raise CacheWaitTimeout(
                        f"no answer within {self.wait:g} s (another request is reading it)"
                    )
            finally:
                with self._lock:
                    self.waiting -= 1
            if flight.error is not None:
                raise flight.error
            return flight.value
        try:
            flight.value = compute()
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
                if flight.error is None:
                    self._store(key, flight.value)
            flight.done.set()
        return flight.value

    def peek(self, key: object) -> object | None:
        """The value kept for ``key`` while it is fresh, else None: nothing is computed."""
        with self._lock:
            hit = self._items.get(key)
            return hit[1] if hit is not None and self._now() - hit[0] < self.ttl else None

    def _store(self, key: object, value: object) -> None:
        self._items[key] = (self._now(), value)
        if len(self._items) > self.MAX_KEYS:
            for old in sorted(self._items, key=lambda k: self._items[k][0])[: self.MAX_KEYS // 2]:
                del self._items[old]


def sort_rows(rows: Sequence[SloRow], key: str, descending: bool) -> list[SloRow]:
    """Rows sorted by a column of the overview; unknown numbers last either way. Ascending is
    the most urgent first for the state (:data:`STATES`' order), as for the budget left and the
    SLI now (the least first), and the slowest burn first for the burn rate."""
    getters: dict[str, Callable[[SloRow], object]] = {
        "slo": lambda r: r.id,
        "service": lambda r: (r.status.service, r.id),
        "state": lambda r: (STATES.index(r.state), r.id),
        "budget": lambda r: r.status.budget_remaining,
        "burn": lambda r: r.burn_now,
        "sli": lambda r: r.sli_now,
    }
    get = getters.get(key, getters["slo"])

    def unknown(r: SloRow) -> bool:
        v = get(r)
        return isinstance(v, float) and math.isnan(v)

    known = sorted((r for r in rows if not unknown(r)), key=get, reverse=descending)  # type: ignore[arg-type]
    return known + sorted((r for r in rows if unknown(r)), key=lambda r: r.id)
