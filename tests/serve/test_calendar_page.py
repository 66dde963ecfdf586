"""A calendar SLO's page reads its figures over the calendar period holding now, at its real
length in its time zone, not the nominal 30 days: the budget in minutes, when what is left is
spent at the burn rate now, the tiers' factor, detection and budget spent by then, and the
``period`` range of its charts (the period so far). Through the App's fixed ``now``, in February
(28 days) and in January (31) in Europe/Paris, against the zone database (``zoneinfo``)."""

from __future__ import annotations

import datetime as dt
import html
import re
from zoneinfo import ZoneInfo

import pytest

from sloctl import naming
from sloctl.durations import DAY
from sloctl.prometheus import Prometheus
from sloctl.serve import App, ServeConfig
from sloctl.spec import load_text
from tests.fixtures.one_slo_prometheus import INFO, SLO_ID, SPEC, answer
from tests.fixtures.stub_http import Answer, StubRequest, serve, vector

PARIS = ZoneInfo("Europe/Paris")
MONTHLY = SPEC.replace(
    "      objective: 99.9\n",
    "      objective: 99.9\n      calendar: {unit: month, timeZone: Europe/Paris}\n",
)
LABELS = {k: INFO[k] for k in naming.SLO_LABELS}


def _answer(request: StubRequest) -> Answer:
    """Half the budget left, burning at 2x now."""
    query = request.query.get("query", "") if request.path.endswith("/query") else ""
    if naming.BUDGET_REMAINING in query and naming.SLO_INFO not in query:
        return vector((LABELS, 0.5))
    if naming.CURRENT_BURN_RATE in query:
        return vector(({naming.LABEL_ID: SLO_ID}, 2.0))
    return answer(request)


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page)))


@pytest.mark.parametrize(("month", "days"), [(2, 28), (1, 31)])
def test_a_calendar_slos_page_reads_its_figures_over_the_real_length_of_the_period_holding_now(
    month: int, days: int
) -> None:
    (slo,) = load_text(MONTHLY).slos
    now = dt.datetime(2027, month, 15, 12, tzinfo=dt.UTC).timestamp()
    start = dt.datetime(2027, month, 1, tzinfo=PARIS).timestamp()
    end = dt.datetime(2027, month + 1, 1, tzinfo=PARIS).timestamp()
    assert end - start == days * DAY  # no DST change in either month
    with serve(_answer) as stub, Prometheus.connect(stub.url) as prom:
        app = App(ServeConfig(specs=(slo,)), prom, now=now)
        page = app.handle("/slo/" + SLO_ID, {}).body.decode()
        app.close()
        starts = {float(r.query["start"]) for r in stub.requests if r.path.endswith("/query_range")}
    text = _text(page)
    utc = dt.datetime.fromtimestamp(start, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert f"This calendar month, from {utc} to " in text
    assert f"lasts {days}d: an error budget of {0.001 * days * 1440:.2f} minutes of full outage" in text
    # half the budget left at 2x: a quarter of the period
    quarter = days * 24 / 4
    spent_in = f"{int(quarter // 24)}d{int(quarter % 24)}h" if quarter % 24 else f"{int(quarter // 24)}d"
    assert f"what is left is spent in {spent_in}." in text
    assert starts == {start}  # the charts' period: this month so far
    row = re.search(r'<tr><th scope="row">page_quick</th>.*?</tr>', page, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(0))
    # 2 % of the budget in the 1h window: the factor of this month's length, as the rules record it
    assert cells[1] == f"{0.02 * days * 24:.2f}x"
    detection = float(cells[-2].rstrip("s"))
    assert cells[-1] == f"{round(100 * detection / (0.001 * days * DAY), 4)} %"
