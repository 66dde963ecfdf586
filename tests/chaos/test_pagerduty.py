"""PagerDuty through the ``pagerduty`` package on an httpx2 mock transport: nothing reaches
the network, and every request is checked."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest

from sloctl.chaos.pagerduty import GamedayPagerDuty, MaintenanceWindowError, plan_maintenance_window

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        response = self.answer(request)
        # pagerduty's REST client logs response.elapsed, which a mock response lacks.
        response.elapsed = timedelta(milliseconds=1)
        return response

    def answer(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content) if request.content else {}
        self.requests.append((request.method, str(request.url), body))
        if request.url.path == "/v2/enqueue":
            return httpx2.Response(202, json={"status": "success", "dedup_key": body.get("dedup_key", "k")})
        if request.url.path == "/v2/change/enqueue":
            return httpx2.Response(202, json={"status": "success"})
        if request.url.path == "/maintenance_windows" and request.method == "POST":
            return httpx2.Response(
                201, json={"maintenance_window": {"id": "PMW1", **body["maintenance_window"]}}
            )
        if request.url.path == "/maintenance_windows/PMW1" and request.method == "DELETE":
            return httpx2.Response(204)
        return httpx2.Response(404, json={"error": "unexpected"})


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def client(recorder: Recorder) -> GamedayPagerDuty:
    return GamedayPagerDuty(
        routing_key="R" * 32,
        api_key="k" * 20,
        from_email="sre@example.com",
        transport=httpx2.MockTransport(recorder),
        clock=lambda: NOW,
    )


def test_change_events_mark_the_start_and_the_end_with_explicit_timestamps(recorder: Recorder) -> None:
    pd = client(recorder)
    pd.start("connection-loss")
    pd.end("connection-loss", "pass", {"time_to_detect_s": 4.2})
    (m1, url1, start), (_, _, end) = recorder.requests
    assert (m1, url1) == ("POST", "https://events.pagerduty.com/v2/change/enqueue")
    assert start["routing_key"] == "R" * 32
    assert start["payload"]["summary"] == "Game day connection-loss starts"
    assert start["payload"]["timestamp"] == "2026-11-26T15:00:00Z"
    assert end["payload"]["custom_details"] == {
        "gameday": "connection-loss",
        "phase": "end",
        "verdict": "pass",
        "time_to_detect_s": 4.2,
    }


def test_a_practice_incident_is_triggered_then_resolved_with_the_same_key(recorder: Recorder) -> None:
    pd = client(recorder)
    key = pd.trigger_practice_incident("memory-exhaustion")
    pd.resolve_practice_incident(key)
    (_, url, trigger), (_, _, resolve) = recorder.requests
    assert url == "https://events.pagerduty.com/v2/enqueue"
    assert trigger["event_action"] == "trigger" and trigger["payload"]["severity"] == "info"
    assert trigger["payload"]["summary"].startswith("[PRACTICE]")
    assert resolve == {"event_action": "resolve", "dedup_key": key, "routing_key": "R" * 32}


def test_the_maintenance_window_covers_other_services_and_is_closed(recorder: Recorder) -> None:
    pd = client(recorder)
    window = pd.open_maintenance_window("cascading-failure", ["PNOISY1", "PNOISY2"], ["PAPI"], minutes=30)
    pd.close_maintenance_window(window)
    (method, url, body), (delete, delete_url, _) = recorder.requests
    assert (method, url) == ("POST", "https://api.pagerduty.com/maintenance_windows")
    mw = body["maintenance_window"]
    assert [s["id"] for s in mw["services"]] == ["PNOISY1", "PNOISY2"]
    assert (mw["start_time"], mw["end_time"]) == ("2026-11-26T15:00:00Z", "2026-11-26T15:30:00Z")
    assert (delete, delete_url) == ("DELETE", "https://api.pagerduty.com/maintenance_windows/PMW1")


def test_a_maintenance_window_never_silences_the_alert_under_test(recorder: Recorder) -> None:
    pd = client(recorder)
    with pytest.raises(MaintenanceWindowError, match="PAPI"):
        pd.open_maintenance_window("connection-loss", ["PNOISY1", "PAPI"], ["PAPI"])
    assert recorder.requests == []  # refused before any request
    with pytest.raises(MaintenanceWindowError, match="no service"):
        plan_maintenance_window([], ["PAPI"], NOW, 10, "x")
