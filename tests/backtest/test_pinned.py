"""A calendar SLO's period ratio pins its period's start to the evaluation time (``@ end()``):
the replay cannot backfill it with promtool's range queries, and reads it per run of evaluation
times over which the pinned selectors hold still, one range query a run
(sloctl.backtest.engine). At every evaluation time the replayed recording equals what an
instant query of the rule at that time answers, the oracle of the rule manager's own
evaluation, across a month boundary (the period's start moves) and the hours around it (the
partial hour's start moves), on each engine."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from sloctl import naming
from sloctl.backtest.engine import evaluate_pinned, query, replay, rule_groups, value_at
from sloctl.backtest.run import plan_scenarios
from sloctl.backtest.scenarios import calendar_scenarios
from sloctl.backtest.series import openmetrics
from sloctl.calendars import period_bounds
from sloctl.durations import DAY
from sloctl.shelf import PrometheusEngine
from sloctl.spec import load_text
from tests.fixtures.metrics import in_text
from tests.fixtures.specs import events_slo, service_doc

pytestmark = [
    pytest.mark.promtool,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool (apt-get install prometheus)"),
]

SPEC = service_doc("shop", [events_slo("monthly", extra="calendar: {unit: month, timeZone: Europe/Paris}")])
HOUR = 3600


def _queries(url: str) -> float:
    """Queries the server has answered, instant and range."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        sum(in_text(text, "prometheus_http_requests_total", handler=f"/api/v1/{h}").values())
        for h in ("query", "query_range")
    )


def test_the_pinned_period_ratio_is_replayed_as_instant_queries_answer_it_at_each_time(
    tmp_path: Path, prometheus_engine: PrometheusEngine
) -> None:
    (slo,) = load_text(SPEC, "shop.yaml").slos
    (s,) = [x for x in calendar_scenarios(slo) if x.name == "period_boundary"]
    assert s.epoch is not None
    boundary = period_bounds("month", "Europe/Paris", s.epoch + 40 * HOUR)[0]
    (plan,) = plan_scenarios(slo, [s])
    (group,) = [g for g in rule_groups(plan.rules.text) if any("@ end()" in str(r) for r in g["rules"])]  # type: ignore[attr-defined]
    (pinned,) = [r for r in group["rules"] if "@ end()" in r["expr"]]  # type: ignore[attr-defined]
    start, end = boundary - 2 * HOUR, boundary + 2 * HOUR
    with replay(
        plan.rules,
        openmetrics(plan.feeds, start=plan.start),
        tmp_path,
        start=start,
        end=end,
        step=plan.step,
        engine=prometheus_engine,
    ) as bt:
        # What the replay recorded, from 2 hours before the boundary to 2 hours after it, against
        # the rule evaluated by an instant query at each of those times.
        sel = f'{{sloctl_id="{plan.items[0].slo.id}"}}'
        (recorded,) = query(bt.url, f"{pinned['record']}{sel}[{4 * HOUR}s]", end, "matrix")
        values = {float(t): v for t, v in recorded["values"]}
        first = start + min(values) % 60
        times = [first + k * 60 for k in range(4 * 60)]
        # (no ratio before the replay's first 5m points, nor in the first minutes of March)
        assert set(values) <= set(times) and len(values) > 4 * 60 - 20
        for t in times:
            want = [v["value"][1] for v in query(bt.url, pinned["expr"], t)]  # type: ignore[arg-type]
            assert want == ([values[t]] if t in values else []), (t - boundary, want, values.get(t))
        # The pins moved in it: the period's start at midnight (and the partial hour's each hour).
        starts = {value_at(bt, f"{naming.PERIOD_START}{sel}", t) for t in (boundary - 600, boundary + 600)}
        assert starts == {boundary - 28 * DAY, boundary}
        # Four hours of evaluations read in a few queries, not one each (240 before): the group's
        # offset, each pinned selector's values (2), one range query per hour (the boundary is
        # on one), and a run of one where an hour's first evaluation falls on the 5m grid.
        sent = _queries(bt.url)
        text = evaluate_pinned(bt.url, group, [pinned], start, end, plan.step)
        assert text.count(pinned["record"] + "{") == len(values)
        assert _queries(bt.url) - sent <= 1 + 2 + 4 + 4, _queries(bt.url) - sent
