"""Readers of what a platform API exports: breaker figures and problem documents."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from sloctl import contract

PROBLEM = "application/problem+json"


def breaker_figures(client: httpx.Client) -> dict[str, float]:
    """Breaker states (``state:<dep>``, 0 closed, 2 open), failed or timed-out calls
    (``failure:<dep>``, ``timeout:<dep>``) and transitions (``opened:<dep>``) from /metrics."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            dep = s.labels.get("dependency", "")
            if s.name == contract.BREAKER_STATE.name:
                out[f"state:{dep}"] = s.value
            elif s.name == contract.BREAKER_CALLS.name and s.labels["result"] in (
                "failure",
                "timeout",
            ):
                out[f"{s.labels['result']}:{dep}"] = s.value
            elif s.name == contract.BREAKER_TRANSITIONS.name and s.labels["to_state"] == "open":
                out[f"opened:{dep}"] = out.get(f"opened:{dep}", 0.0) + s.value
    return out


def is_problem(response: httpx.Response) -> bool:
    """An RFC 9457 problem document: the media type, a JSON object with a title or type and
    the response's own status."""
    if response.headers.get("content-type", "").split(";")[0] != PROBLEM:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and ("title" in body or "type" in body)
        and body.get("status") == response.status_code
    )
