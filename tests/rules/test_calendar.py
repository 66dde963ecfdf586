"""Calendar periods: the PromQL that finds where the current week, month or quarter started,
evaluated by a real Prometheus over dates with DST changes, month lengths and year ends, against
the zone database (``sloctl.calendars.period_bounds``) as the oracle."""

from __future__ import annotations

import calendar as pycal
import json
import shutil
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from sloctl import naming
from sloctl.backtest.engine import RuleSet, query_range, replay
from sloctl.calendars import CalendarError, boundary_offsets, period_bounds
from sloctl.model import CalendarUnit
from sloctl.naming import PERIOD_END, PERIOD_START
from sloctl.render import promql
from sloctl.render.rules import render_groups, render_rule_file
from sloctl.servers.prometheus import start_prometheus
from sloctl.shelf import PrometheusEngine
from sloctl.spec import load_text

needs_prometheus = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="no promtool (apt-get install prometheus)"
)

ZONES = ("UTC", "Europe/Paris", "America/New_York", "Australia/Sydney", "Asia/Kathmandu")
UNITS = ("week", "month", "quarter")
PARALLEL = 4
"""Range queries in flight at once in the zone-database test (the machine has two cores)."""


def _spec() -> str:
    slos = []
    for unit in UNITS:
        for zone in ZONES:
            name = f"{unit}-{zone.replace('/', '-').lower()}"
            slos.append(
                f"    - name: {name}\n      objective: 99\n"
                f"      calendar: {{unit: {unit}, timeZone: {zone}}}\n"
                "      sli: {events: {errorQuery: 'sum(rate(e[{{.window}}]))', "
                "totalQuery: 'sum(rate(t[{{.window}}]))'}}\n      alerting: {noData: {enabled: false}}\n"
            )
    return "apiVersion: sloctl/v1\nkind: Service\nmetadata: {name: cal}\nspec:\n  slos:\n" + "".join(slos)


def _boundaries(slo_rules: list[dict[str, object]], sel: str) -> dict[str, str]:
    """CALENDAR_BOUNDARY of one SLO as one expression of ``time()`` per candidate: each
    recording read by a later rule replaced by its own expression (with the labels the rule
    would give it), so that a range query evaluates the chain at every step. One query per
    candidate, not their union in one: the boundary rule reads the union about a
    dozen times, and Prometheus before 2.55 evaluates a query in time quadratic in its node
    count (docs/compat.md): the one query made the test 4.6 times slower there. The rules that take
    the max/min over the candidates are checked by :func:`_period_bounds` and, recorded, by
    the replay test below."""
    inner = sel[1:-1]
    candidates: dict[str, str] = {}
    boundary = None
    for rule in slo_rules:
        record = rule.get("record")
        if record not in (naming.CALENDAR_UTC_START, naming.CALENDAR_BOUNDARY):
            continue
        expr = str(rule["expr"])
        for name, text in candidates.items():
            expr = expr.replace(
                f'{naming.CALENDAR_UTC_START}{{{inner}, {naming.LABEL_CANDIDATE}="{name}"}}', f"({text})"
            )
        if record == naming.CALENDAR_BOUNDARY:
            boundary = expr
        else:
            labels = rule.get("labels") or {}
            assert isinstance(labels, dict)
            candidates[str(labels[naming.LABEL_CANDIDATE])] = expr
    assert boundary is not None and candidates, candidates
    return {
        name: boundary.replace(
            f"{naming.CALENDAR_UTC_START}{sel}",
            f'label_replace(({text}), "{naming.LABEL_CANDIDATE}", "{name}", "", "")',
        )
        for name, text in candidates.items()
    }


def _period_bounds(slo_rules: list[dict[str, object]], sel: str) -> None:
    """PERIOD_START and PERIOD_END are the latest boundary at or before now and the earliest
    after it, over the candidates: what the test computes from the boundaries it evaluated."""
    exprs = {rule.get("record"): rule["expr"] for rule in slo_rules}
    boundary = f"{naming.CALENDAR_BOUNDARY}{sel}"
    assert exprs[PERIOD_START] == f"max without ({naming.LABEL_CANDIDATE}) ({boundary} <= time())"
    assert exprs[PERIOD_END] == f"min without ({naming.LABEL_CANDIDATE}) ({boundary} > time())"


def _ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


# Spans with DST changes on both hemispheres, a month end on a DST day in Paris (2024: last
# Sunday of March is the 31st), the US autumn change on November 1st (2026), a year end and a
# leap February.
SPANS = (
    ("2024-03-29T00:00", "2024-04-02T12:00"),
    ("2026-03-27T00:00", "2026-04-07T00:00"),
    ("2026-09-29T00:00", "2026-10-02T00:00"),
    ("2026-10-24T00:00", "2026-11-03T00:00"),
    ("2026-12-30T00:00", "2027-01-05T00:00"),
    ("2028-02-26T00:00", "2028-03-02T12:00"),
)
STEP = 900
"""Backfill evaluation interval of the recorded-chain test."""


def test_zone_offsets_are_data_and_a_zone_whose_rules_move_is_refused() -> None:
    rows = boundary_offsets("month", "Europe/Paris")
    assert (4, 1, 1, 7200) in rows and (11, 1, 1, 3600) in rows
    # Paris: a Monday from the 26th of March on is after the last Sunday of March (CEST).
    assert (3, 26, 31, 7200) in boundary_offsets("week", "Europe/Paris")
    with pytest.raises(CalendarError, match="Africa/Casablanca"):
        boundary_offsets("month", "Africa/Casablanca")
    with pytest.raises(CalendarError, match="unknown time zone"):
        boundary_offsets("month", "Mars/Olympus")


def test_a_calendar_slo_with_a_zone_the_rules_cannot_follow_is_a_validation_error() -> None:
    text = _spec().replace("timeZone: UTC}", "timeZone: Africa/Casablanca}", 1)
    result = load_text(text, "cal.yaml")
    assert not result.ok
    assert any("timeZone" in e.path and "Casablanca" in e.message for e in result.errors)


@needs_prometheus
@pytest.mark.promtool
@pytest.mark.slow
def test_period_start_and_end_match_the_zone_database_across_dst_month_and_year_boundaries(
    tmp_path: Path, prometheus_engine: PrometheusEngine
) -> None:
    slos = load_text(_spec(), "cal.yaml").slos
    assert len(slos) == len(UNITS) * len(ZONES)
    groups = render_groups(slos)
    checked = 0
    with start_prometheus(
        tmp_path, config_text="scrape_configs: []\n", binary=prometheus_engine.prometheus
    ) as prom:
        # Independent range queries, a few in flight: each is one evaluation on the server,
        # which uses one core for it.
        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            evaluated = []
            for slo, group in zip(slos, groups, strict=True):
                assert slo.calendar is not None
                rules = group["rules"]
                assert isinstance(rules, list)
                sel = promql.slo_selector(slo)
                _period_bounds(rules, sel)
                ranges = _ranges(slo.calendar.unit, slo.calendar.time_zone)
                exprs = _boundaries(rules, sel).values()
                evaluated.append((slo, [pool.submit(_evaluated, prom.url, e, ranges) for e in exprs]))
        for slo, futures in evaluated:
            assert slo.calendar is not None
            boundaries = [f.result() for f in futures]
            times = boundaries[0].keys()
            assert all(b.keys() == times for b in boundaries)
            for t in sorted(times):
                want = period_bounds(slo.calendar.unit, slo.calendar.time_zone, t)
                start = max(b[t] for b in boundaries if b[t] <= t)
                end = min(b[t] for b in boundaries if b[t] > t)
                got = (start, end)
                assert got == want, (slo.id, datetime.fromtimestamp(t, UTC).isoformat(), got, want)
                checked += 1
    assert checked > 1_000


Range = tuple[int, int, int]
"""``(start, end, step)`` of one range query: Prometheus evaluates ``time()`` at each step."""


def _ranges(unit: CalendarUnit, zone: str) -> list[Range]:
    """Every 12 hours through the spans, and around every period boundary and DST change in them
    (1 h and 15 min either side on a 15-minute step, and 1 s either side on a 1-second step).
    Range queries, not one instant query per time: thousands of round trips are what costs on
    a busy machine."""
    tz = ZoneInfo(zone)
    out: list[Range] = []
    for a, b in SPANS:
        start, end = _ts(a), _ts(b)
        out.append((start, end, 12 * 3600))
        marks: set[int] = set()
        for t in range(start, end, 6 * 3600):
            marks.update(period_bounds(unit, zone, t))
            if datetime.fromtimestamp(t, tz).utcoffset() != datetime.fromtimestamp(t + 3600, tz).utcoffset():
                marks.add(t + 3600)
        for m in sorted(marks):
            if start <= m <= end:
                out += [(max(start, m - 3600), min(end, m + 3600), 900), (m - 1, m + 1, 1)]
    return out


def _evaluated(url: str, expr: str, ranges: list[Range]) -> dict[int, int]:
    """``{time: value}`` of ``expr`` (one series) over every range. (One query per bound: joined
    by ``or``, Prometheus 2 evaluates the pair several times slower.)"""
    out: dict[int, int] = {}
    for start, end, step in ranges:
        data = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step}).encode()
        with urllib.request.urlopen(f"{url}/api/v1/query_range", data=data, timeout=60) as resp:
            body = json.load(resp)
        assert body["status"] == "success", body
        (series,) = body["data"]["result"]
        out.update((int(t), int(float(v))) for t, v in series["values"])
    return out


@needs_prometheus
@pytest.mark.promtool
@pytest.mark.slow
def test_the_recorded_chain_gives_the_same_bounds_when_prometheus_evaluates_it_group_by_group(
    tmp_path: Path, prometheus_engine: PrometheusEngine
) -> None:
    # The same rules as recordings, backfilled level by level (sloctl.backtest.engine): the
    # Paris month around the DST change and the end of March.
    (slo,) = [s for s in load_text(_spec(), "cal.yaml").slos if s.id == "cal-month-europe-paris"]
    text = render_rule_file([slo], ["test"], "test")
    doc = yaml.safe_load(text)
    wanted = {naming.CALENDAR_UTC_START, naming.CALENDAR_BOUNDARY, naming.PERIOD_START, naming.PERIOD_END}
    for g in doc["groups"]:
        g["rules"] = [r for r in g["rules"] if r.get("record") in wanted]
    start, end = _ts("2026-03-31T12:00"), _ts("2026-04-01T06:00")
    dummy = "# TYPE x gauge\nx 1 1700000000\n# EOF\n"
    with replay(
        RuleSet("calendar", yaml.safe_dump(doc)),
        dummy,
        tmp_path,
        start=start,
        end=end,
        step=STEP,
        engine=prometheus_engine,
    ) as bt:
        # Every minute, so that each evaluation (at the group's offset within 15 minutes) is seen.
        (series,) = query_range(
            bt.url, f'{naming.PERIOD_START}{{{naming.LABEL_ID}="{slo.id}"}}', start, end, 60
        )
        values = series["values"]
        assert isinstance(values, list) and len(values) > 60
        for t, v in values:
            # The value is of the evaluation up to 15 minutes before the query time.
            assert int(float(v)) in {
                period_bounds("month", "Europe/Paris", float(t) - d)[0] for d in (0, STEP)
            }
        firsts = {int(float(v)) for _t, v in values}
    # March started at 2026-02-28T23:00Z (CET), April at 2026-03-31T22:00Z (CEST).
    assert firsts == {_ts("2026-02-28T23:00"), _ts("2026-03-31T22:00")}


def test_the_oracle_knows_the_month_lengths_and_the_dst_hour() -> None:
    # March 2026 in Paris: 31 days minus the hour lost on the 29th.
    start, end = period_bounds("month", "Europe/Paris", _ts("2026-03-15T12:00"))
    assert end - start == 31 * 86400 - 3600
    start, end = period_bounds("month", "UTC", _ts("2028-02-10T00:00"))
    assert end - start == pycal.monthrange(2028, 2)[1] * 86400 == 29 * 86400
