"""``sloctl status`` against a real throwaway Prometheus that evaluates the generated rules over
backfilled series ending now: one SLO in a full outage (its page fires), one healthy."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator

import httpx
import pytest

from sloctl import naming
from sloctl.backtest.engine import query
from sloctl.backtest.run import scenario_slo
from sloctl.backtest.scenarios import Incident, Scenario, counts
from sloctl.cli.main import main
from sloctl.egress import EgressDenied
from sloctl.render.rules import render_rule_file
from sloctl.servers.prometheus import PrometheusServer
from sloctl.shelf import PrometheusEngine
from sloctl.spec import load_text
from sloctl.status import QUERIES, Snapshot, StatusRow, collect, render_json, render_table, rows_from
from tests.fixtures.engines import compat
from tests.fixtures.slow_prometheus import slow_prometheus
from tests.fixtures.specs import shop_slo
from tests.fixtures.states import ALERTS, IDS
from tests.status.backfilled import backfilled_prometheus

SPEC = shop_slo(extra="alerting: {name: ShopBudgetBurn}")
OUTAGE = Scenario("outage", "", 2 * 3600, (Incident(5400, 7200, math.inf),), warmup=0)
HEALTHY = Scenario("healthy", "", 2 * 3600, warmup=0)


def test_status_refuses_a_prometheus_outside_loopback_without_sending_a_request() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    with pytest.raises(EgressDenied):
        collect("http://192.0.2.1:9090", transport=httpx.MockTransport(handler))
    assert sent == []


def test_status_rows_come_from_the_generated_series_through_an_injected_transport() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/rules":
            return httpx.Response(200, json={"status": "success", "data": {"groups": []}})
        url = request.url.params["query"]

        def vec(value: float, **labels: str) -> dict[str, object]:
            return {"metric": {"sloctl_id": "a-b", "sloctl_service": "a", "sloctl_slo": "b", **labels},
                    "value": [0, str(value)]}  # fmt: skip

        if "ALERTS" in url:
            result = [
                vec(1, sloctl_tier="page_quick", alertname="X", alertstate="firing"),
                vec(1, sloctl_tier="ticket_slow", alertname="X", alertstate="pending"),  # not firing
            ]
        elif "no_data" in url:
            result = [vec(0)]
        elif "policy_threshold" in url:
            result = [vec(0.5, sloctl_policy_action="notify"), vec(0.0, sloctl_policy_action="freeze")]
        elif "remaining" in url:
            result = [vec(0.25)]
        elif "current_burn" in url:
            result = [vec(20.0)]
        elif "period_burn" in url:
            result = [vec(0.75)]
        else:
            result = [vec(1)]
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "vector", "result": result}}
        )

    snapshot = collect("http://127.0.0.1:9", transport=httpx.MockTransport(handler))
    rows = snapshot.rows
    assert rows == (
        StatusRow(
            "a-b",
            "a",
            "b",
            0.25,
            20.0,
            0.75,
            (("page_quick", "firing"), ("ticket_slow", "pending")),
            False,
            (("freeze", 0.0), ("notify", 0.5)),
        ),
    )
    assert rows[0].firing == ("page_quick",) and rows[0].pending == ("ticket_slow",)
    table = render_table(snapshot)
    assert "25.0%" in table and "page_quick" in table and " notify " in table and " firing " in table


def _sample(slo: str, value: float = 1.0, /, **labels: str) -> dict[str, object]:
    return {"metric": {naming.LABEL_ID: slo, **labels}, "value": [0, str(value)]}


def _alert(slo: str, tier: str, state: str) -> dict[str, object]:
    return _sample(slo, **{naming.LABEL_TIER: tier, "alertstate": state})


#: Prometheus's answers to :data:`sloctl.status.QUERIES` for the four SLOs of
#: :mod:`tests.fixtures.states`, the firing one's tier also pending in another group.
ANSWERS = {
    "info": [_sample(i, **{naming.LABEL_SERVICE: i[0], naming.LABEL_SLO: i[2:]}) for i in IDS],
    "no_data": [_sample("a-silent")],
    "policies": [_sample(i, 0.0, **{naming.LABEL_POLICY_ACTION: "freeze"}) for i in IDS[:2]],
    "budget": [_sample(i, 0.5) for i in IDS[1:]],
    "current": [_sample(i, 3.0) for i in IDS[1:]],
    "period": [_sample(i, 0.5) for i in IDS[1:]],
    "alerts": [*(_alert(*a) for a in ALERTS), _alert("c-firing", "ticket_slow", "pending")],
}


def test_status_says_firing_by_the_burn_rate_tiers_alone_and_shows_policy_alerts_apart() -> None:
    snapshot = Snapshot(tuple(rows_from(ANSWERS)), 0.0)
    lines = render_table(snapshot).splitlines()
    assert lines[0].split("  ")[0:1] == ["SLO"] and "POLICY ALERTS" in lines[0]
    table = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    # STATE, BUDGET LEFT, BURN NOW, BURN PERIOD, POLICY, POLICY ALERTS, FIRING
    assert table["a-silent"] == ["no_data", "unknown", "unknown", "unknown", "proceed", "freeze", "-"]
    assert table["b-pending"][0] == "pending" and table["b-pending"][-2:] == ["notify", "-"]
    assert table["c-firing"][0] == "firing" and table["c-firing"][-2:] == ["-", "ticket_slow"]
    assert table["d-fine"][0] == "ok" and table["d-fine"][-2:] == ["-", "-"]
    doc = {r["slo"]: r for r in json.loads(render_json(snapshot))["slos"]}
    silent = doc["a-silent"]
    assert (silent["state"], silent["firing"], silent["pending"]) == ("no_data", [], [])
    assert silent["policy_firing"] == ["freeze"] and silent["no_data"] is True
    assert silent["alerts"] == {naming.TIER_NO_DATA: "firing", naming.policy_tier("freeze"): "firing"}
    assert (doc["b-pending"]["state"], doc["b-pending"]["pending"]) == ("pending", ["page_quick"])
    assert (doc["c-firing"]["state"], doc["c-firing"]["firing"]) == ("firing", ["ticket_slow"])


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory,
    prometheus_engine: PrometheusEngine,
    request: pytest.FixtureRequest,
) -> Iterator[PrometheusServer]:
    (base,) = load_text(SPEC).slos
    items = [(s, counts(s, base.error_budget)) for s in (OUTAGE, HEALTHY)]
    slos = [scenario_slo(base, s) for s in (OUTAGE, HEALTHY)]
    rule_files = {"rules.yml": render_rule_file(slos, ["test"], "test")}

    def firing(url: str) -> bool:
        return bool(query(url, 'ALERTS{alertstate="firing", sloctl_id="backtest-outage"}'))

    tmp = tmp_path_factory.mktemp("status")
    with backfilled_prometheus(tmp, prometheus_engine, items, rule_files, firing) as server:
        server.engine = prometheus_engine.name  # type: ignore[attr-defined]
        yield server


#: ``status(*flags)``: what ``sloctl status`` printed (it exited 0)
Status = Callable[..., str]


@pytest.fixture
def status(
    prometheus: PrometheusServer, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> Status:
    """``sloctl status --prometheus <the module's Prometheus> *flags``; the test counts in the
    compatibility matrix's status cell of that Prometheus."""
    compat(request, prometheus.engine, "status")  # type: ignore[attr-defined]

    def run(*flags: str) -> str:
        assert main(["status", "--prometheus", prometheus.url, *flags]) == 0
        return capsys.readouterr().out

    return run


@pytest.mark.promtool
@pytest.mark.slow
def test_status_table_shows_the_outage_burning_and_paging_and_the_healthy_slo_quiet(status: Status) -> None:
    lines = status().splitlines()
    assert lines[0].split()[:4] == ["SLO", "STATE", "BUDGET", "LEFT"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"backtest-outage", "backtest-healthy"}
    assert "page_quick" in rows["backtest-outage"]
    assert rows["backtest-healthy"].endswith("-")


@pytest.mark.promtool
@pytest.mark.slow
def test_status_json_has_budget_burn_rates_and_firing_tiers(status: Status) -> None:
    doc = json.loads(status("-o", "json"))
    by_id = {r["slo"]: r for r in doc["slos"]}
    outage, healthy = by_id["backtest-outage"], by_id["backtest-healthy"]
    # Every request fails: the 5m burn rate is 1 / budget = 1000x, the budget is overspent.
    assert outage["current_burn_rate"] == pytest.approx(1000, rel=0.01)
    assert outage["budget_remaining"] < 0
    assert "page_quick" in outage["firing"]
    assert healthy["current_burn_rate"] == pytest.approx(0.1, rel=0.01)
    assert healthy["budget_remaining"] == pytest.approx(0.9, abs=0.01)
    assert healthy["firing"] == []
    empty = {
        "slos": [],
        "time": 1.5,
        "warnings": [],
        "infos": [],
        "rule_health_checked": True,
        "rule_health_unknown": None,
    }
    assert render_json(Snapshot((), 1.5)) == json.dumps(empty, indent=2, sort_keys=True) + "\n"


def test_status_cli_says_why_a_remote_prometheus_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--prometheus", "http://192.0.2.1:9090"]) == 2
    assert "192.0.2.1" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["status", "gate"])
def test_status_and_gate_send_the_info_rules_with_their_queries_two_steps_of_reads_not_three(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The SLOs' info rules were read from the rules API after the queries' answers, which they
    do not need: three steps of reads (the queries, the info rules, the groups) where two do."""
    with slow_prometheus() as slow:
        assert main([command, "--prometheus", slow.url]) == 0
    assert "svc-avail" in capsys.readouterr().out
    # the 7 queries and the info rules together; then the group of the SLO they name
    assert slow.answered == len(QUERIES) + 2
    assert slow.steps == 2, slow
    assert slow.most_in_flight == len(QUERIES) + 1
