"""The pages of ``sloctl serve``: a WSGI-free request handler over :mod:`sloctl.serve.data` and
:mod:`sloctl.serve.runs`, rendered with the report kit (:mod:`sloctl.reports`).

:meth:`App.handle` maps a GET path and query to a :class:`Page` without any socket, so tests and
the benchmark call it directly; :mod:`sloctl.serve.server` puts it behind a loopback listener.
Every page's state is in its URL (filters, sort, time range, refresh), so a link shows what
its sender saw; tables and charts are HTML and SVG from the server, so they work without
JavaScript, and refresh is a ``<meta http-equiv=refresh>``.
"""

from __future__ import annotations

import datetime as dt
import math
import time as clock
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from markupsafe import Markup

from sloctl import naming
from sloctl.durations import DAY, HOUR, format_duration, parse_duration
from sloctl.explain import SLOExplanation, explain
from sloctl.model import SLO, percent_ratio
from sloctl.prometheus import TIMEOUT, Prometheus, PrometheusError
from sloctl.reports import render
from sloctl.reports.charts import Line, line_chart, threshold
from sloctl.reports.charts import clock as clock_axis
from sloctl.status import STATES

from .data import (
    Details,
    Overview,
    SeriesReads,
    SloRow,
    SloSeries,
    TtlCache,
    all_info,
    details,
    overview,
    read_series,
    series_from,
    slo_queries,
    sort_rows,
    with_info,
)
from .runs import KINDS, Kind, RunIndex, alert_owners, find_runs

_T = TypeVar("_T")

__all__ = ["RANGES", "REFRESH", "App", "Page", "ServeConfig", "slo_href"]

#: Time ranges of the SLO page (``range=``); ``period`` is the SLO's own period.
RANGES = {"1h": HOUR, "6h": 6 * HOUR, "1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
#: Auto-refresh choices (``refresh=``, seconds; 0 is off).
REFRESH = (0, 30, 60, 300)
#: Overview rows per page (``page=``): a thousand SLOs stay one query set, not one huge table.
PAGE_SIZE = 100
SORTS = ("slo", "service", "state", "sli", "budget", "burn")
#: Reads of a page sent beside the one its request's thread makes (the SLO page's details and
#: charts beside the overview; a label filter's info series beside the overview), by every page
#: at once: each such read waits for Prometheus' answers on the client's own pool, or for another
#: request's read of the same key (:class:`~sloctl.serve.data.TtlCache`), never for this pool.
PAGE_READS = 4


@dataclass(frozen=True)
class ServeConfig:
    specs: tuple[SLO, ...] = ()
    run_dirs: Mapping[Kind, tuple[Path, ...]] = field(default_factory=dict)
    grafana_url: str = ""
    cache_seconds: float = 10.0
    default_range: str = "period"
    """The SLO page's range without ``range=``: the SLO's period, or one of :data:`RANGES`
    (the demo's history is hours long)."""


@dataclass(frozen=True)
class Page:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    #: The run's own HTML report is served in a sandbox: it is a file from disk, not our page.
    sandbox: bool = False


DIRECTIONS = ("asc", "desc")
#: The title of the error page of a :class:`BadQuery`, by its status.
_ERROR_TITLES = {400: "Bad request", 414: "Address too long"}


#: The most characters of a refused value (a query value, an SLO id, a run or a path no page
#: has) that its error page quotes: enough to see the typo, not a copy of whatever was sent (an
#: unknown SLO id came back whole, 20,000 characters of it).
SHOWN_VALUE = 40
#: The longest query value read, in characters: a run's key (``run=``) is a path below a run
#: folder, which Linux bounds at PATH_MAX (4,096); SLO ids and label filters are far shorter. A
#: longer one is refused 414 (URI Too Long, what the standard library answers a request line past
#: 64 KiB), not read, nor echoed: a 60 KB ``label=`` came back in the filter box and in every
#: sort and page link, a 424 KB page (and 22 bytes for each ``<`` sent). Cut short instead, the
#: echo would be another filter than the one asked for, in the links of a page filtered by it.
MAX_QUERY_VALUE = 4096


class BadQuery(ValueError):
    """A query parameter the page cannot honour: answered ``status`` (400; 414 for a value past
    :data:`MAX_QUERY_VALUE`) with what it takes, not guessed; the value quoted to
    :data:`SHOWN_VALUE` characters."""

    def __init__(self, key: str, value: str, wanted: str, status: int = 400) -> None:
        super().__init__(f"{key}={_quoted(value)} is not {wanted}; change it in the address")
        self.status = status


def _quoted(value: str) -> str:
    """``value`` quoted as Python quotes it, cut to :data:`SHOWN_VALUE` characters with an
    ellipsis: how an error page names what it refused (the page escapes it).

    >>> _quoted("svc-avial"), _quoted("a" * 50)
    ("'svc-avial'", "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…'")
    """
    return repr(value[:SHOWN_VALUE] + ("…" if len(value) > SHOWN_VALUE else ""))


def _check_lengths(query: Mapping[str, Sequence[str]]) -> None:
    """:class:`BadQuery` (414) for the first value of ``query`` past :data:`MAX_QUERY_VALUE`."""
    for key, values in query.items():
        for value in values:
            if len(value) > MAX_QUERY_VALUE:
                wanted = f"at most {MAX_QUERY_VALUE} characters long (it has {len(value)})"
                raise BadQuery(key[:SHOWN_VALUE], value, wanted, status=414)


def _one(query: Mapping[str, Sequence[str]], key: str, default: str = "") -> str:
    values = query.get(key)
    return values[0] if values else default


def _choice(query: Mapping[str, Sequence[str]], key: str, allowed: Sequence[str], default: str) -> str:
    """``key``'s value when it is one of ``allowed``, ``default`` without one; :class:`BadQuery`
    for anything else (a typo in a shared link should say so, not show another page)."""
    value = _one(query, key, default)
    if value not in allowed:
        raise BadQuery(key, value, "one of " + ", ".join(a for a in allowed if a))
    return value


@dataclass(frozen=True)
class _Listing:
    """The overview page's choice of rows, from its URL: filters, sort and the page asked for."""

    service: str
    label: str
    state: str
    sort: str
    descending: bool
    asked: int

    @classmethod
    def of(cls, query: Mapping[str, Sequence[str]]) -> _Listing:
        """Checked: :class:`BadQuery` for a value out of its choices."""
        return cls(
            service=_one(query, "service"),
            label=_one(query, "label").strip(),
            state=_choice(query, "state", ("", *STATES), ""),
            sort=_choice(query, "sort", SORTS, "slo"),
            descending=_choice(query, "dir", DIRECTIONS, "asc") == "desc",
            asked=_page_number(query),
        )

    def keep(self) -> dict[str, str]:
        """The filters, as the page's links keep them."""
        chosen = (("service", self.service), ("label", self.label), ("state", self.state))
        return {k: v for k, v in chosen if v}

    def page_of(
        self, ov: Overview, info: Future[Mapping[str, Mapping[str, str]]] | None
    ) -> tuple[list[SloRow], int, int, int]:
        """The rows of the page asked for, sorted; how many rows matched the filters; the
        number of pages and the page shown (a link outlives rows that went away). A label filter
        matches ``info`` (:meth:`App.all_info`, sent)."""
        rows = list(ov.rows)
        if self.service:
            rows = [r for r in rows if r.status.service == self.service]
        if self.state:
            rows = [r for r in rows if r.state == self.state]
        if self.label and info is not None:
            key, _, value = self.label.partition("=")
            labels = info.result()
            rows = [r for r in rows if _label_matches(with_info(r, labels), key.strip(), value.strip())]
        rows = sort_rows(rows, self.sort, self.descending)
        pages = max(1, -(-len(rows) // PAGE_SIZE))
        page = min(self.asked, pages)
        return rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE], len(rows), pages, page


class App:
    def __init__(self, config: ServeConfig, prometheus: Prometheus, now: float | None = None) -> None:
        self.config = config
        self.prom = prometheus
        self.specs = {s.id: s for s in config.specs}
        self.explained = {e.id: e for e in explain(config.specs)}
        self._explained_by_length: dict[tuple[str, int], SLOExplanation] = {}
        self.owners = alert_owners(config.specs)
        # The windows whose events the details query reads: the served SLOs' base and tiers'
        # windows (a rolling period's ratio is recorded unknown without events already).
        self.quiet_windows = tuple(
            sorted(
                {w for s in config.specs for t in s.windows.windows for w in (t.short_window, t.long_window)}
                | {s.base_window for s in config.specs}
            )
        )
        # A request waits for another's read of the same page as long as for Prometheus itself.
        self._cache = TtlCache(config.cache_seconds, wait=prometheus.timeout if prometheus else TIMEOUT)
        self._fixed_now = now
        # Its idle threads end with the App (the pool's own weak reference to it).
        self._reads = ThreadPoolExecutor(max_workers=PAGE_READS, thread_name_prefix="serve-read")

    def _beside(self, read: Callable[..., _T], *args: object) -> Future[_T]:
        """``read(*args)`` (one of the methods below) sent while the caller reads the rest."""
        return self._reads.submit(read, *args)

    def close(self) -> None:
        """Cancel the reads sent beside pages that have not started, and wait for those under
        way (each bounded by the client's timeout): before the Prometheus client closes."""
        self._reads.shutdown(wait=True, cancel_futures=True)

    def now(self) -> float:
        return clock.time() if self._fixed_now is None else self._fixed_now

    # -- data -------------------------------------------------------------------------------------
    def overview(self, first_answers: Callable[[Overview], None] | None = None) -> Overview:
        """The overview (kept ``cache_seconds``); ``first_answers``: as :func:`overview`'s, called
        only when this call reads Prometheus."""
        time = self._fixed_now
        got = self._cache.get(
            ("overview", time),
            lambda: overview(self.prom, self.specs, time, self.explained, first_answers),
        )
        assert isinstance(got, Overview)
        return got

    def details(self, ids: Sequence[str]) -> Details:
        """The burn rates and thresholds of the SLOs ``ids`` (a page's rows), in one query."""
        time = self._fixed_now
        key = ("details", tuple(ids), time)
        got = self._cache.get(key, lambda: details(self.prom, ids, time, self.quiet_windows))
        assert isinstance(got, Details)
        return got

    def all_info(self) -> Mapping[str, Mapping[str, str]]:
        """Every label of every SLO's info series, by id (a filter by label needs them)."""
        time = self._fixed_now
        got = self._cache.get(("info", time), lambda: all_info(self.prom, time))
        assert isinstance(got, dict)
        return got

    def series(self, slo_id: str, span: float, end: float) -> SeriesReads:
        """The range queries of one SLO's charts over the ``span`` seconds to ``end``."""
        key = ("slo", slo_id, span, end // 60)
        got = self._cache.get(key, lambda: read_series(self.prom, slo_id, end - span, end))
        assert isinstance(got, SeriesReads)
        return got

    def runs(self) -> RunIndex:
        got = self._cache.get("runs", lambda: find_runs(self.config.run_dirs, self.owners))
        assert isinstance(got, RunIndex)
        return got

    # -- routing ----------------------------------------------------------------------------------
    def handle(self, path: str, query: Mapping[str, Sequence[str]]) -> Page:
        """The page at ``path``: 414 for a query value past :data:`MAX_QUERY_VALUE` characters,
        400 for a query parameter out of its choices (both checked before
        Prometheus is read), 502 when Prometheus cannot be read (a page that keeps the refresh
        asked for, so that a wallboard comes back by itself), 404 for no such page."""
        try:
            _check_lengths(query)
            return self._route(path, query)
        except BadQuery as exc:
            return self._error(exc.status, _ERROR_TITLES[exc.status], str(exc), {})
        except (PrometheusError, OSError) as exc:
            return self._error(502, "Prometheus cannot be read", f"Cannot read Prometheus: {exc}", query)

    def _error(self, status: int, title: str, message: str, query: Mapping[str, Sequence[str]]) -> Page:
        try:
            chrome = self._chrome(query)
        except BadQuery:
            chrome = self._chrome({})
        return self._html(status, render("serve_error.html.j2", title=title, message=message, **chrome))

    def _route(self, path: str, query: Mapping[str, Sequence[str]]) -> Page:
        parts = [urllib.parse.unquote(p) for p in path.split("/") if p]
        if not parts:
            return self._html(200, self._overview_page(query))
        if parts[0] == "slo" and len(parts) == 2:
            return self._slo_page(parts[1], query)
        if parts == ["slo"] and "id" in query:  # an id no path segment can carry (slo_href)
            return self._slo_page(_one(query, "id"), query)
        if parts[0] == "runs" and len(parts) == 2:
            kind = next((k for k in KINDS if k == parts[1]), None)
            if kind is not None:
                return self._html(200, self._runs_page(kind, query))
        if parts[0] == "report":
            return self._report(_one(query, "run"))
        if parts == ["healthz"]:
            return Page(200, b"ok\n", "text/plain; charset=utf-8")
        return self._not_found(f"no page at {_quoted(path)}")

    def _html(self, status: int, text: str) -> Page:
        return Page(status, text.encode())

    def _not_found(self, what: str) -> Page:
        return self._html(
            404, render("serve_error.html.j2", title="Not found", message=what, **self._chrome({}))
        )

    def _chrome(self, query: Mapping[str, Sequence[str]]) -> dict[str, object]:
        refresh = _choice(query, "refresh", [str(r) for r in REFRESH], "0")
        return {
            "kinds": KINDS,
            "refresh": int(refresh),
            "refresh_choices": REFRESH,
            "slo_href": slo_href,
        }

    # -- overview ---------------------------------------------------------------------------------
    def _overview_page(self, query: Mapping[str, Sequence[str]]) -> str:
        listing = _Listing.of(query)
        chrome = self._chrome(query)
        # After every parameter is checked (a typo is a 400, not a read); a label filter's info
        # series beside the overview, which it does not need.
        sent_info = self._beside(self.all_info) if listing.label else None
        ov, (rows, matched, pages, page), shown, extra = self._overview_and_details(listing, sent_info)
        keep = listing.keep()
        if chrome["refresh"]:
            keep["refresh"] = str(chrome["refresh"])
        here = {**keep, "sort": listing.sort, "dir": "desc" if listing.descending else "asc"}
        page_links = {n: "?" + urllib.parse.urlencode({**here, "page": str(n)}) for n in range(1, pages + 1)}

        def sort_link(column: str) -> str:
            sort, descending = listing.sort, listing.descending
            flip = "asc" if sort == column and descending else "desc" if sort == column else "asc"
            return "?" + urllib.parse.urlencode({**keep, "sort": column, "dir": flip})

        runs = self.runs()
        return render(
            "serve_overview.html.j2",
            title="sloctl: SLO overview",
            overview=ov,
            queries=ov.queries + bool(sent_info) + shown.queries + extra,
            rows=[with_info(r, shown.info) for r in rows],
            details=shown,
            services=sorted({r.status.service for r in ov.rows}),
            states=STATES,
            service=listing.service,
            label=listing.label,
            state=listing.state,
            sort=listing.sort,
            descending=listing.descending,
            sort_link=sort_link,
            runs_by_slo={r.id: len(runs.for_slo(r.id)) for r in rows},
            matched=matched,
            page=page,
            page_links=page_links if pages > 1 else {},
            first=(page - 1) * PAGE_SIZE + 1,
            at=clock_axis(ov.at),
            **chrome,
        )

    def _overview_and_details(
        self, listing: _Listing, info: Future[Mapping[str, Mapping[str, str]]] | None
    ) -> tuple[Overview, tuple[list[SloRow], int, int, int], Details, int]:
        """The overview, the page of its rows (:meth:`_Listing.page_of`), their details, and the
        details queries sent for rows that the page does not show. The details query goes out
        with the rule groups' read, for the rows of the page as the queries' first answers say
        them: the rules' health changes them only when a rule fails (a ``rule_error`` state, an
        SLO whose info rule fails), and then they are read again for the rows shown."""
        early: list[tuple[tuple[str, ...], Future[Details]]] = []

        def first_answers(first: Overview) -> None:
            if info is not None and info.exception() is not None:
                return  # the page says the overview's error, or else this one
            ids = tuple(sorted(r.id for r in listing.page_of(first, info)[0]))
            early.append((ids, self._beside(self.details, ids)))

        ov = self.overview(first_answers)
        page = listing.page_of(ov, info)
        ids = tuple(sorted(r.id for r in page[0]))  # their order changes nothing
        sent = next((f for i, f in early if i == ids), None)
        shown = sent.result() if sent is not None else self.details(ids)
        return ov, page, shown, len(early) - (sent is not None)

    # -- one SLO ----------------------------------------------------------------------------------
    def _slo_page(self, slo_id: str, query: Mapping[str, Sequence[str]]) -> Page:
        chosen = _choice(query, "range", ("period", *RANGES), self.config.default_range)
        chrome = self._chrome(query)
        end = self.now()
        found = self._slo_reads(slo_id, chosen, end)
        if found is None:
            return self._unknown_slo(slo_id)
        row, shown, span, reads = found
        series = series_from(reads, row.error_budget)
        thresholds = dict(shown.thresholds.get(slo_id, ()))
        keep = {"refresh": str(chrome["refresh"])} if chrome["refresh"] else {}
        queries = slo_queries(slo_id)
        text = render(
            "serve_slo.html.j2",
            title=f"sloctl: {slo_id}",
            row=row,
            details=shown,
            thresholds=thresholds,
            charts=_slo_charts(row, series, thresholds, (end - span, end)),
            queries=queries,
            chart_queries=(queries["sli"], queries["budget"], queries["burns"], queries["traffic"]),
            step=format_duration(series.step),
            range=chosen,
            range_links={
                name: "?" + urllib.parse.urlencode({**keep, "range": name}) for name in ("period", *RANGES)
            },
            explanation=self._explained_now(row.spec, end) or row.explanation,
            period_now=(
                _period_now(row.spec, row.status.budget_remaining, row.burn_now, end) if row.spec else None
            ),
            spec=row.spec,
            runbook=row.spec.alerting.runbook_url if row.spec else None,
            grafana=self._grafana_link(row),
            runs=self.runs().for_slo(slo_id),
            decision=row.status.decision(),
            **chrome,
        )
        return self._html(200, text)

    def _slo_reads(
        self, slo_id: str, chosen: str, end: float
    ) -> tuple[SloRow, Details, float, SeriesReads] | None:
        """The SLO page's row, details, range (seconds to ``end``) and range queries; None when
        Prometheus knows no such SLO, said after one read at most: none when a fresh overview is
        kept (its rows are the SLOs Prometheus knows), else the page's details query (which
        carries the SLO's info series), sent with the overview's reads. The range queries go out
        once the SLO is known: with the details when the overview was kept, else with the rule
        groups' read, which waits for the overview's first answers as they wait for the
        details'. Errors are raised in the order the reads were once made one by one (the
        overview's, the details', the range queries')."""
        spec = self.specs.get(slo_id)
        known_span = RANGES.get(chosen) or (_period_seconds(spec, {}, end) if spec is not None else None)
        kept = self._cache.peek(("overview", self._fixed_now))
        if isinstance(kept, Overview):
            row = next((r for r in kept.rows if r.id == slo_id), None)
            if row is None:
                return None
            sent_details = self._beside(self.details, [slo_id])
            sent = self._beside(self.series, slo_id, known_span, end) if known_span else None
            shown = sent_details.result()
        else:
            sent_overview = self._beside(self.overview)
            try:
                shown = self.details([slo_id])
            except (PrometheusError, OSError):
                sent_overview.result()  # the overview's error first, if it has one
                raise
            if not shown.knows(slo_id):
                return None  # the overview goes on being read beside, kept for the next page
            span = known_span or _period_seconds(None, shown.info.get(slo_id, {}), end)
            sent = self._beside(self.series, slo_id, span, end)
            row = next((r for r in sent_overview.result().rows if r.id == slo_id), None)
            if row is None:
                return None
        row = with_info(row, shown.info)
        span = known_span or _period_seconds(row.spec, row.info, end)
        reads = sent.result() if sent is not None else self.series(slo_id, span, end)
        return row, shown, span, reads

    def _unknown_slo(self, slo_id: str) -> Page:
        """The 404 of an SLO page whose id Prometheus does not know: its rules are not loaded
        when a served file has it."""
        spec = self.specs.get(slo_id)
        if spec is None:
            return self._not_found(
                f"Prometheus knows no SLO {_quoted(slo_id)}, and no SLO file given to sloctl serve has it:"
                " check the id, or load the SLO's generated rules into Prometheus"
            )
        return self._not_found(
            f"SLO {_quoted(slo_id)} ({spec.source.file}:{spec.source.line}) has no series in Prometheus:"
            " its generated rules are not loaded (sloctl generate writes them under rules/; add the"
            " file to Prometheus' rule_files and reload it)"
        )

    def _explained_now(self, spec: SLO | None, at: float) -> SLOExplanation | None:
        """The ``explain`` figures of a calendar SLO for the length of its period holding ``at``
        (its tiers' detection and the budget spent by then); None for any other."""
        if spec is None or spec.calendar is None:
            return None
        start, end = spec.calendar.period_at(at)
        key = (spec.id, end - start)
        if key not in self._explained_by_length:
            self._explained_by_length[key] = explain([replace(spec, period=end - start)])[0]
        return self._explained_by_length[key]

    def _grafana_link(self, row: SloRow) -> str:
        """The generated service dashboard with the SLO selected, when ``--grafana-url`` is set."""
        if not self.config.grafana_url:
            return ""
        uid = naming.dashboard_uid("sloctl", "service", row.status.service)
        return f"{self.config.grafana_url.rstrip('/')}/d/{uid}?var-slo={urllib.parse.quote(row.status.name)}"

    # -- runs -------------------------------------------------------------------------------------
    def _runs_page(self, kind: Kind, query: Mapping[str, Sequence[str]]) -> str:
        index = self.runs()
        slo = _one(query, "slo")
        runs = index.of_kind(kind)
        if slo:
            runs = [r for r in runs if slo in r.slos]
        return render(
            "serve_runs.html.j2",
            title=f"sloctl: {KINDS[kind].lower()}",
            heading=KINDS[kind],
            kind=kind,
            runs=runs,
            slo=slo,
            skipped=index.skipped,
            dirs=self.config.run_dirs.get(kind, ()),
            **self._chrome(query),
        )

    def _report(self, key: str) -> Page:
        run = self.runs().get(key)
        if run is None or run.html is None:
            return self._not_found(f"no HTML report for run {_quoted(key)}")
        try:
            return Page(200, run.html.read_bytes(), sandbox=True)
        except OSError as exc:
            return self._not_found(f"{run.html}: {exc.strerror or exc}")


#: The shortest ``period`` range drawn: a calendar period that began moments ago.
LEAST_PERIOD_SHOWN = naming.BASE_WINDOW


@dataclass(frozen=True)
class _PeriodNow:
    """The SLO's period holding now, and its budget: a calendar period's real length in its
    time zone (February's 28 days, a month with a DST change an hour off), not the nominal one."""

    start: float
    end: float
    calendar: str
    """``month``, ``week``, ``quarter``; empty for a rolling period (which ends now)."""
    budget_minutes: float
    """The error budget of the period: its length times 1 − the objective, in minutes."""
    exhaustion: float
    """Seconds until the budget left is spent at the burn rate now: 0 when it is spent, NaN
    while either is unknown or nothing burns."""

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def length(self) -> str:
        """The period's length in days, hours and minutes (``28d``, ``30d23h``)."""
        return _days_hours(self.seconds)

    @property
    def exhausted_in(self) -> str:
        """:attr:`exhaustion` in days, hours and minutes; ``spent``; empty when unknown."""
        if math.isnan(self.exhaustion):
            return ""
        return _days_hours(self.exhaustion) if self.exhaustion > 0 else "spent"

    def utc(self, t: float) -> str:
        return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _days_hours(seconds: float) -> str:
    """``seconds`` to the minute as days, hours and minutes (``7d18h``; ``0m`` below a minute).

    >>> _days_hours(30 * DAY - HOUR), _days_hours(20.0)
    ('29d23h', '0m')
    """
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    return "".join(parts) or "0m"


def _period_now(spec: SLO, budget_left: float, burn_now: float, at: float) -> _PeriodNow:
    """The :class:`_PeriodNow` of ``spec`` at ``at``, with the budget left and the burn rate now
    (a burn rate of 1 spends a whole period's budget in the period's length)."""
    if spec.calendar is not None:
        start, end = (float(t) for t in spec.calendar.period_at(at))
    else:
        start, end = at - spec.period, at
    length = end - start
    if budget_left <= 0:
        exhaustion = 0.0
    elif math.isfinite(budget_left) and math.isfinite(burn_now) and burn_now > 0:
        exhaustion = budget_left * length / burn_now
    else:
        exhaustion = math.nan
    calendar = spec.calendar.unit if spec.calendar is not None else ""
    return _PeriodNow(start, end, calendar, spec.error_budget * length / 60, exhaustion)


#: Path segments that a browser resolves rather than sends (RFC 3986, "Remove Dot Segments"; the
#: WHATWG URL standard also takes their percent-encoded forms, ``%2e``, as dots).
_DOT_SEGMENTS = ("", ".", "..")


def slo_href(slo_id: str) -> str:
    """The link to an SLO's page. Ids are Prometheus label values, anything at all: the id is
    quoted as one path segment (``/`` too), and an id that a browser would resolve as a dot
    segment (``..``) is sent as ``/slo?id=``.

    >>> slo_href("api/avail ability"), slo_href("..")
    ('/slo/api%2Favail%20ability', '/slo?id=..')
    """
    if slo_id in _DOT_SEGMENTS:
        return "/slo?" + urllib.parse.urlencode({"id": slo_id})
    return "/slo/" + urllib.parse.quote(slo_id, safe="")


def _slo_charts(
    row: SloRow, series: SloSeries, thresholds: Mapping[str, float], x_range: tuple[float, float]
) -> list[Markup]:
    """The SLO page's four charts: the SLI with the objective, the budget's burn-down, the burn
    rate of every window with each tier's threshold, and the events and errors per second
    (Pyrra's requests and errors: a burn on a trickle of traffic reads otherwise than on a flood)."""
    objective = _objective_ratio(row)
    # A timeslice SLO's windows count slices (docs/rules.md), its 5m ratio too: not requests.
    measure = "share of good slices in the last 5m" if row.budgeting == "timeslices" else "1 − 5m error ratio"
    sli = line_chart(
        f"SLI ({measure}) with the objective",
        [
            Line("SLI", series.sli),
            Line(
                f"objective {row.objective} %",
                ((x_range[0], objective), (x_range[1], objective)),
                colour="#595959",
                dashed=True,
                css_class="objective",
            ),
        ],
        x_range=x_range,
        x_format=clock_axis,
        y_range=_sli_range(series.sli, objective),
    )
    budget = line_chart(
        "error budget remaining (burn-down) over the SLO period",
        [
            Line("budget remaining", series.budget),
            Line(
                "empty", ((x_range[0], 0.0), (x_range[1], 0.0)), colour="#595959", dashed=True, legend=False
            ),
        ],
        x_range=x_range,
        x_format=clock_axis,
        y_range=(min([0.0, *(v for _, v in series.budget)]), 1.0),
        percent=True,
    )
    burn_lines = [Line(f"{w} window", pts, width=1.2) for w, pts in series.burns.items()]
    burn_lines += [
        threshold(f"{tier} threshold {value:g}x", value, (series.start, series.end), tier)
        for tier, value in sorted(thresholds.items())
    ]
    highest = max([10.0, *(v for ln in burn_lines for _, v in ln.points if math.isfinite(v))])
    burns = line_chart(
        "burn rate per window (log), each tier's threshold dashed",
        burn_lines,
        x_range=x_range,
        x_format=clock_axis,
        log=True,
        y_range=(_lowest_burn_shown(burn_lines), highest * 1.2),
    )
    traffic = line_chart(
        "events and errors per second (5m rate, every group's)",
        [Line("events/s", series.events), Line("errors/s", series.errors)],
        x_range=x_range,
        x_format=clock_axis,
        y_range=(0.0, max([1.0, *(v for _, v in series.events if math.isfinite(v))]) * 1.1),
    )
    return [sli, budget, burns, traffic]


#: The burn chart's axis starts at 0.1x, or lower for slower burns, down to this (a service that
#: burns a thousandth of its budget's pace is as good as not burning it).
LOWEST_BURN_SHOWN = 0.001


def _lowest_burn_shown(lines: Sequence[Line]) -> float:
    """The bottom of the log burn axis: 0.1x, or the power of ten below half the slowest burn
    drawn (a healthy service burns 0.1x and less: pinned to an axis starting at 0.1x, its
    lines lay on the axis itself, out of sight), :data:`LOWEST_BURN_SHOWN` at the least. A burn
    of 0 (no error) sits on the axis."""
    positive = [v for ln in lines for _, v in ln.points if math.isfinite(v) and v > 0]
    lowest = min(positive, default=1.0) / 2
    return max(LOWEST_BURN_SHOWN, min(0.1, 10.0 ** math.floor(math.log10(lowest))))


#: The most digits a page number (``page=``) may have: a billion pages of :data:`PAGE_SIZE` rows
#: is more SLOs than any Prometheus holds, and Python refuses to read an int of over 4,300 digits.
MAX_PAGE_DIGITS = 9


def _page_number(query: Mapping[str, Sequence[str]]) -> int:
    """The page asked for (``page``, a positive number, ASCII digits); :class:`BadQuery` else."""
    text = _one(query, "page", "1")
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_PAGE_DIGITS and int(text) >= 1):
        raise BadQuery("page", text, "a page number (1, 2, …)")
    return int(text)


def _label_matches(row: SloRow, key: str, value: str) -> bool:
    if not value:
        return any(key in (k, v) for k, v in row.labels.items())
    return row.labels.get(key) == value


def _period_seconds(spec: SLO | None, info: Mapping[str, str], end: float) -> float:
    """The SLO page's ``period`` range, to ``end``: its spec's period, the current calendar
    period so far for a calendar SLO (:data:`LEAST_PERIOD_SHOWN` at the least), else its info
    series' period (30 days when it says none)."""
    if spec is not None and spec.calendar is not None:
        return max(end - spec.calendar.period_at(end)[0], LEAST_PERIOD_SHOWN)
    if spec is not None:
        return spec.period
    try:
        return parse_duration(info.get(naming.INFO_PERIOD, ""))
    except ValueError:
        return 30 * DAY


def _objective_ratio(row: SloRow) -> float:
    try:
        return percent_ratio(float(row.objective))
    except ValueError:
        return math.nan


def _sli_range(points: Sequence[tuple[float, float]], objective: float) -> tuple[float, float]:
    values = [v for _, v in points if math.isfinite(v)]
    low = min([objective, *values]) if math.isfinite(objective) else min(values, default=0.0)
    span = max(1.0 - low, 1e-4)
    return (max(0.0, low - span * 0.2), 1.0 + span * 0.05)
