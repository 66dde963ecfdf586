"""Backtests of the SLO math beyond the rolling ratio, on the real Prometheus engine: the
no-data ticket, timeslice latency breaches read from a histogram, a calendar month boundary
(February's budget against March's), a DST change (Europe/Paris) and a composite whose heaviest
dependency fails. Each designed alert fires at its designed time, and the budgets equal the
truth computed from the raw per-step counts."""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import pytest

from sloctl.backtest.run import ScenarioResult, prepare, run_many, truth
from sloctl.backtest.scenarios import SCENARIOS, Scenario, calendar_scenarios, scenario
from sloctl.calendars import period_bounds
from sloctl.model import SLO
from sloctl.shelf import PrometheusEngine
from sloctl.spec import load_text
from tests.fixtures.engines import compat
from tests.fixtures.specs import events_slo, rate, service_doc

pytestmark = [
    pytest.mark.promtool,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool (apt-get install prometheus)"),
]

SCRAPE = 60
SPEC = service_doc(
    "shop",
    [
        events_slo("availability", extra="alerting: {minEvents: 100}"),
        """\
        - name: latency
          objective: 99.5
          timeslices: {slice: 5m, target: 95}
          sli:
            latency: {histogram: http_seconds, threshold: 200ms}
        """,
        *(
            events_slo(f"{unit}ly", extra=f"calendar: {{unit: {unit}, timeZone: Europe/Paris}}")
            for unit in ("month", "week")
        ),
        # the composite's components, each on its own series
        *(
            events_slo(name, errors=rate(f"{m}e"), total=rate(f"{m}t"))
            for name, m in (("pg", "p"), ("redis", "r"), ("mongo", "m"))
        ),
        """\
        - name: api
          objective: 99.9
          sli:
            composite:
              components: [{slo: pg, weight: 2}, {slo: redis}, {slo: mongo}]
        """,
    ],
)


def _slos() -> dict[str, SLO]:
    result = load_text(SPEC, "shop.yaml")
    assert result.ok, result.errors
    return {s.name: s for s in result.slos}


def _designed_alerts_fire_in_time_and_none_is_false(r: ScenarioResult) -> None:
    checked = 0
    for t in r.tiers:
        if t.expected:
            assert t.designed_seconds is not None and t.detection_seconds is not None, (r.scenario.name, t)
            # As in test_backtest: the design assumes scrapes aligned with the 5m base window.
            assert t.detection_seconds <= t.designed_seconds + SCRAPE, (r.scenario.name, t)
            checked += 1
        assert t.false_alerts == 0, (r.scenario.name, t)
    assert checked == len(r.scenario.expect)


def _at(r: ScenarioResult, name: str, second: int) -> float:
    """The recorded value at the last evaluation at or before ``second`` into the scenario."""
    points = [v for t, v in r.series[name] if t <= second]
    assert points, (name, second)
    return points[-1]


@pytest.fixture(scope="module")
def slos() -> dict[str, SLO]:
    return _slos()


class Backtest(Protocol):
    def __call__(self, slo: SLO, s: Scenario, service_slos: Sequence[SLO] = ()) -> ScenarioResult: ...


@pytest.fixture
def backtest(tmp_path: Path, prometheus_engine: PrometheusEngine, request: pytest.FixtureRequest) -> Backtest:
    """Backtests one scenario of an SLO on the engine, counted in the compatibility matrix, and
    checks that its designed alerts fire in time and that none is false."""
    compat(request, prometheus_engine.name, "backtest alerts at designed time")

    def run(slo: SLO, s: Scenario, service_slos: Sequence[SLO] = ()) -> ScenarioResult:
        (r,) = run_many([(slo, [s])], tmp_path, service_slos=service_slos, engine=prometheus_engine)
        _designed_alerts_fire_in_time_and_none_is_false(r)
        return r

    return run


def test_the_new_scenarios_are_offered_to_the_kinds_they_are_for(slos: dict[str, SLO]) -> None:
    from sloctl.backtest.scenarios import applies

    def names(slo: SLO) -> set[str]:
        return {s.name for s in SCENARIOS if applies(s, slo)} | {s.name for s in calendar_scenarios(slo)}

    assert "no_data" in names(slos["availability"]) and "slice_breaches" not in names(slos["availability"])
    assert names(slos["latency"]) == {"slice_breaches"}
    assert names(slos["api"]) == {"dependency_fails"}
    assert names(slos["monthly"]) == {"period_boundary", "dst_change"}
    # A zone without clock changes has no DST scenario.
    utc = load_text(SPEC.replace("Europe/Paris}", "UTC}", 1), "x.yaml").slos
    assert {s.name for s in calendar_scenarios(next(s for s in utc if s.name == "monthly"))} == {
        "period_boundary"
    }


def test_no_data_files_its_ticket_in_time_and_clears_when_traffic_is_back(
    slos: dict[str, SLO], backtest: Backtest
) -> None:
    r = backtest(slos["availability"], scenario("no_data"))
    no_data = next(t for t in r.tiers if t.tier == "no_data")
    # 30m of zeros after the 5m rate reached zero: not before that (less a scrape on either
    # range's left edge, which Prometheus 3 leaves open, and the group's phase).
    assert (
        no_data.detection_seconds is not None and no_data.detection_seconds >= 30 * 60 + 5 * 60 - 3 * SCRAPE
    )
    # Traffic is back after 2 hours: the ticket resolves within a few minutes.
    assert no_data.reset_seconds is not None and no_data.reset_seconds <= 5 * 60
    assert len(no_data.episodes) == 1
    # The silence burns no budget and does not distort it.
    assert r.period_ratio == pytest.approx(r.period_ratio_truth, rel=0.01)
    assert r.budget_left == pytest.approx(r.budget_left_truth, abs=0.01)


def test_timeslice_latency_breaches_page_at_their_designed_times_and_count_bad_slices_exactly(
    slos: dict[str, SLO], backtest: Backtest
) -> None:
    r = backtest(slos["latency"], scenario("slice_breaches"))
    quick = next(t for t in r.tiers if t.tier == "page_quick")
    # One page per breach: each breach is at least one bad slice in an hour of good ones.
    assert len(quick.episodes) == 4
    # 10 bad slices of the day's 288 (287 when the last evaluation falls before the last
    # slice ends), read from the histogram's 200 ms bucket.
    assert r.period_ratio_truth in (pytest.approx(10 / 288), pytest.approx(10 / 287))
    assert r.period_ratio == pytest.approx(r.period_ratio_truth, rel=1e-9)
    assert r.budget_left == pytest.approx(r.budget_left_truth, rel=1e-9)


def test_a_composite_pages_when_its_heaviest_dependency_fails_and_its_budget_is_the_weighted_truth(
    slos: dict[str, SLO], backtest: Backtest
) -> None:
    r = backtest(slos["api"], scenario("dependency_fails"), service_slos=list(slos.values()))
    item = prepare(slos["api"], scenario("dependency_fails"), list(slos.values()))
    # pg (weight 2 of 4) fails for 20 of the 3 days and 2 hours of data; the others do not.
    ratios = [f.counts.truth_ratio() for f in item.feeds]
    assert ratios[0] > 10 * ratios[1] and ratios[1] == pytest.approx(ratios[2])
    # (the truth is taken at the last evaluation, up to a minute before the end)
    assert r.period_ratio_truth == pytest.approx((2 * ratios[0] + ratios[1] + ratios[2]) / 4, rel=1e-3)
    assert r.period_ratio == pytest.approx(r.period_ratio_truth, rel=0.01)
    # A 500x burn leaves -135 % of the budget: the budget is the period ratio's, 1 % included.
    assert r.budget_left == pytest.approx(1 - r.period_ratio / 0.001, rel=1e-9)
    # Within 1 % of the budget *spent* (2.35 budgets here): the remaining budget, 1 minus that,
    # would magnify the period ratio's error by 2.35 / 1.35 (Prometheus 3's left-open ranges move
    # the outage's edge by one 5m point: 0.8 % on the ratio, 1.4 % on what is left).
    assert 1 - r.budget_left == pytest.approx(1 - r.budget_left_truth, rel=0.01)


def _calendar_checks(r: ScenarioResult, item_slo: SLO, boundary: int, start: int) -> None:
    item = prepare(item_slo, r.scenario)
    for second in (
        boundary - start - 2 * 3600,
        boundary - start + 600,
        boundary - start + 2 * 3600,
        r.scenario.duration,
    ):
        got = _at(r, "period_ratio", second)
        # The ratio reads 5m points: up to the last one at or before its evaluation, which is
        # `second` itself or up to a minute before it (the group's phase).
        wants = [truth(item, start, at=t) for t in (second - second % 300, (second - 1) // 300 * 300)]
        assert any(got == pytest.approx(w, rel=0.01) for w in wants), (r.scenario.name, second, got, wants)


@pytest.mark.cpu(20)
def test_a_month_boundary_restarts_the_budget_and_the_quick_page_follows_the_months_length(
    slos: dict[str, SLO], backtest: Backtest
) -> None:
    monthly = slos["monthly"]
    (s,) = [x for x in calendar_scenarios(monthly) if x.name == "period_boundary"]
    assert s.epoch is not None
    boundary = period_bounds("month", "Europe/Paris", s.epoch + 40 * 3600)[0]
    # March starts at local midnight, 2026-02-28T23:00Z (CET).
    assert boundary == 1772319600
    r = backtest(monthly, s)
    quick = next(t for t in r.tiers if t.tier == "page_quick")
    # The burn (14.15x) is above February's factor (0.02 × 28 d / 1 h = 13.44) and below
    # March's (0.02 × (31 d − 1 h) / 1 h = 14.86): it pages in February and stops at midnight.
    (episode,) = quick.episodes
    assert abs(s.epoch + episode.end - boundary) <= 2 * SCRAPE, (episode, boundary - s.epoch)
    _calendar_checks(r, monthly, boundary, s.epoch)
    # Right after the boundary the ratio is March's alone, the incident's 1.415 % of errors,
    # where February's included a day of background before the incident.
    after = _at(r, "period_ratio", boundary - s.epoch + 600)
    assert after == pytest.approx(14.15 * 0.001, rel=1e-3)
    assert _at(r, "period_ratio", boundary - s.epoch - 600) < after / 5
    assert r.budget_left == pytest.approx(r.budget_left_truth, abs=0.01)


#: The calendar unit each engine replays across the DST change: the month's scenario is four
#: days of 1m evaluations (80-140 s a replay), the week's one; each engine proves one of the two,
#: the month boundary test above proves months on both.
DST_UNIT = {"prometheus-2": "month", "prometheus-3": "week"}


@pytest.mark.cpu(40)
def test_a_dst_change_then_the_period_boundary_in_paris_page_in_time_and_restart_at_local_midnight(
    slos: dict[str, SLO], backtest: Backtest, prometheus_engine: PrometheusEngine
) -> None:
    unit = DST_UNIT[prometheus_engine.name]
    slo = slos["weekly" if unit == "week" else "monthly"]
    (s,) = [x for x in calendar_scenarios(slo) if x.name == "dst_change"]
    assert s.epoch is not None
    # The clock moves forward at 2026-03-29T01:00Z; the week then starts on Monday at 00:00
    # CEST (22:00Z on Sunday), the month on April 1st at 00:00 CEST (22:00Z on March 31st).
    assert s.epoch + 30 * 3600 == 1774746000
    boundary = {"week": 1774821600, "month": 1774994400}[unit]
    assert period_bounds(unit, "Europe/Paris", boundary)[0] == boundary  # type: ignore[arg-type]
    r = backtest(slo, s)
    _calendar_checks(r, slo, boundary, s.epoch)
    assert r.budget_left == pytest.approx(r.budget_left_truth, abs=0.01)
    assert math.isfinite(r.period_ratio)


def test_the_bundled_slos_no_data_scenario_passes_each_tickets_for_included(
    tmp_path: Path,
    prometheus_engine: PrometheusEngine,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``sloctl backtest slos/ --scenario no_data``: the series stay flat long enough for each
    SLO's no-data ticket (platform-jobs-provisioning waits 6h), so every one fires within its
    design, and clears when traffic is back. The SLOs share one replay (one Prometheus per rule
    level, not one per SLO and level), each SLO's series and rules apart from the others'
    (promtool refuses two groups of one name), and each budget equals its truth. Its progress
    says each step of the replay and each scenario evaluated (every step said here: the ticker
    speaks at once, not after two seconds)."""
    from functools import partial

    import sloctl.backtest.run as backtest_run
    from sloctl import progress
    from sloctl.backtest.engine import replay
    from sloctl.cli.main import main
    from sloctl.progress import Ticker
    from tests.paths import ROOT

    replays: list[object] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        replays.append(args[0])
        return replay(*args, **kwargs)

    monkeypatch.setattr(backtest_run, "replay", counted)
    monkeypatch.setattr(progress, "Ticker", partial(Ticker, every=0))
    compat(request, prometheus_engine.name, "backtest alerts at designed time")
    argv = ["backtest", str(ROOT / "slos"), "--scenario", "no_data", "-o", "json", "--workdir", str(tmp_path)]
    code = main([*argv, "--engine", prometheus_engine.name])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    rows = json.loads(captured.out)
    tickets = {row["slo"]: t for row in rows for t in row["tiers"] if t["tier"] == "no_data"}
    assert "platform-jobs-provisioning" in tickets and len(tickets) > 1
    for slo, t in tickets.items():
        assert t["expected"] and t["detection_seconds"] <= t["designed_seconds"] + SCRAPE, (slo, t)
        assert t["reset_seconds"] is not None, (slo, t)
    assert len(replays) == 1
    for row in rows:
        assert row["budget_left"] == pytest.approx(row["budget_left_truth"], abs=0.01), row["slo"]
    said = re.findall(r"^sloctl backtest: (replay|evaluate): (\d+)/(\d+)$", captured.err, re.MULTILINE)
    steps = [(what, int(done), int(total)) for what, done, total in said]
    levels = steps[0][2]
    assert levels > 2  # the raw series and each rule level
    assert steps == [
        *(("replay", k, levels) for k in range(levels + 1)),
        *(("evaluate", k, len(rows)) for k in range(1, len(rows) + 1)),
    ]
    assert captured.err.index("evaluate: ") < captured.err.index("replayed together")


def test_a_no_data_ticket_longer_than_the_longest_flat_part_is_designed_silent(slos: dict[str, SLO]) -> None:
    """The flat part grows with ``noData.for`` up to its bound; past it the ticket is expected
    silent (the report says why) rather than missed."""
    from sloctl.backtest.run import tier_result
    from sloctl.backtest.scenarios import NO_DATA_FLAT, NO_DATA_LONGEST_FLAT, designed_no_data, fitted

    base = slos["availability"]
    assert fitted(scenario("no_data"), base) == scenario("no_data")
    for hours, flat in ((6, None), (48, NO_DATA_LONGEST_FLAT)):
        slo = replace(
            base,
            alerting=replace(base.alerting, no_data=replace(base.alerting.no_data, for_seconds=hours * 3600)),
        )
        s = fitted(scenario("no_data"), slo)
        ((a, b),) = s.quiet
        if flat is None:
            assert b - a > designed_no_data(slo, SCRAPE) and b - a > NO_DATA_FLAT
            continue
        assert b - a == flat
        t = tier_result(prepare(slo, s), "no_data", [], SCRAPE, 0)
        assert not t.expected and t.designed_seconds is None and "designed silent" in t.note
