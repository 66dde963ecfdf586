"""Prometheus-backed probes on an httpx mock transport (the generated recording rules'
names), the /metrics parser, and the discovery document ``chaos discover`` gets."""

from __future__ import annotations

import math
from collections.abc import Callable

import httpx
import pytest
from chaoslib.exceptions import ActivityFailed

from sloctl import contract, naming
from sloctl.chaos import discover, probes

PROM = "http://127.0.0.1:9090"


def prometheus(values: dict[str, float]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        for needle, value in values.items():
            if needle in query:
                result = [{"metric": {}, "value": [0, str(value)]}]
                return httpx.Response(
                    200, json={"status": "success", "data": {"resultType": "vector", "result": result}}
                )
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": []}})

    return httpx.MockTransport(handler)


def test_burn_rate_and_budget_come_from_the_generated_recording_rules() -> None:
    transport = prometheus({naming.CURRENT_BURN_RATE: 14.4, naming.BUDGET_REMAINING: 0.97})
    assert probes.slo_burn_rate(PROM, "platform-api", "availability", transport=transport) == 14.4
    assert probes.budget_consumed(PROM, "platform-api", "availability", transport=transport) == pytest.approx(
        3.0
    )


def test_alert_firing_reads_the_alerts_series() -> None:
    assert probes.alert_firing(PROM, "X", transport=prometheus({'alertname="X"': 1}))
    assert not probes.alert_firing(PROM, "X", transport=prometheus({}))
    assert math.isnan(probes.prometheus_query(PROM, "up", transport=prometheus({})))


@pytest.mark.parametrize(
    "ask",
    [
        lambda t: probes.prometheus_query(PROM, "up", transport=t),
        lambda t: probes.prometheus_labels(PROM, "up", transport=t),
        lambda t: probes.prometheus_range(PROM, "up", 0.0, 60.0, transport=t),
    ],
    ids=["query", "labels", "range"],
)
def test_a_failing_prometheus_fails_the_activity_with_its_answer(
    ask: Callable[[httpx.MockTransport], object],
) -> None:
    refusing = httpx.MockTransport(
        lambda request: httpx.Response(422, json={"status": "error", "error": "parse error at char 3"})
    )
    with pytest.raises(ActivityFailed, match=r"Prometheus query failed: .*parse error at char 3"):
        ask(refusing)


def test_metrics_text_is_parsed_with_labels() -> None:
    text = (
        f"# HELP {contract.BREAKER_STATE.name} x\n"
        f'{contract.BREAKER_STATE.name}{{dependency="redis"}} 2.0\n'
        f'{contract.POOL_SIZE.name}{{dependency="a,b"}} 5\n'
    )
    samples = probes.parse_metrics(text)
    assert samples[(contract.BREAKER_STATE.name, frozenset({("dependency", "redis")}))] == 2.0
    assert samples[(contract.POOL_SIZE.name, frozenset({("dependency", "a,b")}))] == 5.0


def test_breaker_state_names_the_gauge_value() -> None:
    body = f'{contract.BREAKER_STATE.name}{{dependency="redis"}} 2.0\n'
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text=body))
    assert probes.breaker_state("http://127.0.0.1:1/metrics", "redis", transport=transport) == "open"


def test_discovery_lists_the_actions_and_probes() -> None:
    found = {(a["type"], a["name"]) for a in discover()["activities"]}
    assert ("action", "pgbouncer_stop") in found
    assert ("action", "proxy_fault") in found
    assert ("action", "generate_load") in found
    assert ("probe", "breaker_state") in found
    assert ("probe", "budget_consumed") in found
    assert not any(name.startswith("_") for _, name in found)
