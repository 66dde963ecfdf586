"""What the overview says of each SLO's state: firing and pending by the burn-rate tiers alone
(the no-data ticket is the ``no_data`` state, a policy step's alert the policy column), sorted
the most urgent first, and no SLI or burn rate made up for an SLO without data."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx

from sloctl import naming
from sloctl.prometheus import Prometheus
from sloctl.serve import App, ServeConfig
from sloctl.serve.data import EXTRA_QUERIES
from sloctl.status import QUERIES, STATES, collect_from, render_table
from tests.fixtures.states import ALERTS, IDS

Sample = tuple[Mapping[str, str], float]


@contextmanager
def app_over(answers: Mapping[str, list[Sample]]) -> Iterator[App]:
    """The UI over a Prometheus that answers each of the overview's queries (by its name in
    :data:`sloctl.status.QUERIES` or :data:`EXTRA_QUERIES`) with ``answers``; nothing else."""
    names = {q: name for name, q in {**QUERIES, **EXTRA_QUERIES}.items()}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/query_range"):  # the SLO page's charts: no points
            data: dict[str, object] = {"resultType": "matrix", "result": []}
        elif request.url.path.endswith("/rules"):  # status reads its rules' health
            data = {"groups": _rule_groups(request.url.params)}
        else:
            samples = answers.get(names.get(request.url.params["query"], ""), [])
            result = [{"metric": dict(m), "value": [0, str(v)]} for m, v in samples]
            data = {"resultType": "vector", "result": result}
        return httpx.Response(200, json={"status": "success", "data": data})

    with Prometheus.connect("http://127.0.0.1:9", transport=httpx.MockTransport(handler)) as prom:
        yield App(ServeConfig(), prom)


#: An SLO whose errors' rule fails at every evaluation: its figures are stale, its state rule_error.
BROKEN = "e-broken"
STORY = (*IDS, BROKEN)
FAILURE = "many-to-many matching not allowed: matching labels must be unique on one side"


def _rule_groups(params: httpx.QueryParams) -> list[dict[str, object]]:
    """The rules API of Prometheus 3, with its filters: a group per SLO of the story, its info
    rule healthy, the broken SLO's errors' rule failing."""
    groups = []
    for i in STORY:
        rules: list[dict[str, object]] = [{"name": naming.SLO_INFO, "labels": _id(i), "health": "ok"}]
        if i == BROKEN:
            rules.append(
                {"name": naming.errors_rate(300), "labels": _id(i), "health": "err", "lastError": FAILURE}
            )
        names = params.get_list("rule_name[]")
        rules = [r for r in rules if not names or r["name"] in names]
        group: dict[str, object] = {"name": naming.rule_group(i[0], i[2:]), "rules": rules}
        groups.append(group)
    asked = params.get_list("rule_group[]")
    return [g for g in groups if not asked or g["name"] in asked]


def _id(slo: str) -> dict[str, str]:
    return {naming.LABEL_ID: slo}


def _alert(slo: str, tier: str, state: str) -> Sample:
    return ({**_id(slo), naming.LABEL_TIER: tier, "alertstate": state}, 1.0)


ANSWERS: dict[str, list[Sample]] = {
    "info": [({**_id(i), naming.LABEL_SERVICE: i[0], naming.LABEL_SLO: i[2:]}, 1.0) for i in STORY],
    "no_data": [(_id("a-silent"), 1.0)],
    "policies": [({**_id(i), naming.LABEL_POLICY_ACTION: "freeze"}, 0.0) for i in STORY],
    # The silent SLO's budget is unknown; its rules record a 5m ratio and a burn rate of 0.
    "budget": [(_id(i), 0.5) for i in STORY[1:]],
    "current": [(_id(i), 0.0 if i == "a-silent" else 3.0) for i in STORY],
    "sli": [(_id(i), 0.0 if i == "a-silent" else 0.01) for i in STORY],
    "alerts": [_alert(*a) for a in ALERTS],
}


def _cells(body: str) -> dict[str, list[str]]:
    rows = re.findall(r'<tr data-slo="([^"]+)" data-state="[^"]+">(.*?)</tr>', body, re.S)
    return {slo: re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S) for slo, row in rows}


def test_the_no_data_ticket_and_policy_alerts_are_not_firing_states_nor_firing_tiers() -> None:
    with app_over(ANSWERS) as app:
        rows = {r.id: r for r in app.overview().rows}
        body = app.handle("/", {}).body.decode()
        no_data = app.handle("/", {"state": ["no_data"]}).body.decode()
    assert {i: rows[i].state for i in IDS} == {
        "a-silent": "no_data",
        "b-pending": "pending",
        "c-firing": "firing",
        "d-fine": "ok",
    }
    assert re.findall(r'data-slo="([^"]+)"', no_data) == ["a-silent"]
    firing = {slo: cells[-3] for slo, cells in _cells(body).items()}
    assert firing == {
        "a-silent": "-",
        "b-pending": "-",
        "c-firing": "ticket_slow",
        "d-fine": "-",
        BROKEN: "-",
    }


def test_an_slo_without_data_has_no_sli_nor_burn_rate_now() -> None:
    with app_over(ANSWERS) as app:
        cells = _cells(app.handle("/", {}).body.decode())
        page = app.handle("/slo/a-silent", {}).body.decode()
    # SLO, service, objective, period, state, SLI now, SLI period, budget left, burn now
    assert cells["a-silent"][4:9] == ["no_data", "unknown", "unknown", "unknown", "unknown"]
    assert cells["d-fine"][5:9] == ["99.000 %", "unknown", "50.0 %", "3.00x"]
    assert "burn now unknown" in page


def test_sorting_by_state_puts_the_most_urgent_first() -> None:
    with app_over(ANSWERS) as app:
        up = app.handle("/", {"sort": ["state"]}).body.decode()
        down = app.handle("/", {"sort": ["state"], "dir": ["desc"]}).body.decode()
    order = re.findall(r'data-state="([^"]+)"', up)
    assert order == list(STATES) == ["firing", "pending", "rule_error", "no_data", "ok"]
    assert re.findall(r'data-state="([^"]+)"', down) == order[::-1]


def test_the_overview_and_sloctl_status_give_every_slo_the_same_state() -> None:
    with app_over(ANSWERS) as app:
        shown = {r.id: r.state for r in app.overview().rows}
        table = render_table(collect_from(app.prom))
    said = {line.split()[0]: line.split()[1] for line in table.splitlines()[1 : 1 + len(STORY)]}
    assert said == shown
    assert shown == {
        "a-silent": "no_data",
        "b-pending": "pending",
        "c-firing": "firing",
        "d-fine": "ok",
        BROKEN: "rule_error",
    }
    assert (
        f"rule error: {BROKEN}: rule {naming.errors_rate(300)} of group sloctl-e-broken: {FAILURE}" in table
    )
