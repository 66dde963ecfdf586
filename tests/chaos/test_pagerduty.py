"""PagerDuty through the ``pagerduty`` package on an httpx2 mock transport: nothing reaches
the network, and every request is checked. The maintenance window around a game day is checked
on a real ``run_gameday`` of a one-probe experiment (no server needed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import chaoslib.experiment
import httpx2
import pytest

from sloctl.chaos.gameday import maintenance_minutes, run_gameday
from sloctl.chaos.pagerduty import (
    GamedayPagerDuty,
    MaintenanceWindowError,
    check_maintenance_services,
    plan_maintenance_window,
)
from tests.fixtures.experiments import TINY
from tests.fixtures.pagerduty import Recorder

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def client(recorder: Recorder, **overrides: Any) -> GamedayPagerDuty:
    options: dict[str, Any] = {
        "routing_key": "R" * 32,
        "api_key": "k" * 20,
        "from_email": "sre@example.com",
        "transport": httpx2.MockTransport(recorder),
        "clock": lambda: NOW,
        **overrides,
    }
    return GamedayPagerDuty(**options)


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


def test_the_keys_stay_out_of_the_repr(recorder: Recorder) -> None:
    text = repr(client(recorder))
    assert "R" * 32 not in text and "k" * 20 not in text and "sre@example.com" in text


def test_a_maintenance_window_needs_a_protected_service_to_be_checked_against() -> None:
    assert check_maintenance_services(["PNOISY2", "PNOISY1", "PNOISY2"], ["PAPI"]) == ["PNOISY1", "PNOISY2"]
    with pytest.raises(MaintenanceWindowError, match="receive the alert under test"):
        check_maintenance_services(["PNOISY1"], [])
    with pytest.raises(MaintenanceWindowError, match="receive the alert under test"):
        plan_maintenance_window(["PNOISY1"], [], NOW, 10, "x")


@pytest.mark.parametrize(
    ("configuration", "minutes"),
    [
        ({}, 2 + 5),  # the defaults: 60 s of game day, 60 s to recover
        ({"gameday_seconds": 5, "recover_timeout_seconds": 5}, 1 + 5),
        ({"gameday_seconds": "600", "recover_timeout_seconds": 61}, 12 + 5),
        ({"gameday_seconds": "${gameday_seconds}", "recover_timeout_seconds": None}, 2 + 5),
        ({"gameday_seconds": 0, "recover_timeout_seconds": -3}, 0 + 5),
        ({"gameday_seconds": float("nan"), "recover_timeout_seconds": True}, 2 + 5),
        ({"gameday_seconds": 10**9}, 24 * 60),
        # with Prometheus, the wait for the pages to resolve (the plan's 15 min by default)
        ({"prometheus_url": "http://127.0.0.1:9090"}, 2 + 15 + 5),
        ({"prometheus_url": "http://127.0.0.1:9090", "resolve_deadline_seconds": 300}, 2 + 5 + 5),
    ],
)
def test_the_maintenance_window_covers_the_run_with_a_margin(
    configuration: dict[str, Any], minutes: int
) -> None:
    assert maintenance_minutes(configuration) == minutes


# -- the maintenance window around a real run_gameday -------------------------------------------

REST = "https://api.pagerduty.com"
CHANGE = ("POST", "https://events.pagerduty.com/v2/change/enqueue")
OPEN = ("POST", f"{REST}/maintenance_windows")
CLOSE = ("DELETE", f"{REST}/maintenance_windows/PMW1")


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch, recorder: Recorder) -> list[list[tuple[str, str]]]:
    """The real run_experiment, recording which requests PagerDuty had seen when it started."""
    seen: list[list[tuple[str, str]]] = []
    real = chaoslib.experiment.run_experiment

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append([(method, url) for method, url, _ in recorder.requests])
        return real(*args, **kwargs)

    monkeypatch.setattr(chaoslib.experiment, "run_experiment", spy)
    return seen


def _calls(recorder: Recorder) -> list[tuple[str, str]]:
    return [(method, url) for method, url, _ in recorder.requests]


def test_a_game_day_opens_the_window_before_the_run_and_closes_it_after(
    tmp_path: Path, tiny: Path, recorder: Recorder, runs: list[list[tuple[str, str]]]
) -> None:
    result = run_gameday(
        tiny,
        out_dir=tmp_path / "out",
        pagerduty=client(recorder),
        practice_incident=True,
        maintenance_services=["PNOISY2", "PNOISY1"],
        protected_services=["PAPI"],
    )
    assert result.verdict == "pass", result.reasons
    trigger = ("POST", "https://events.pagerduty.com/v2/enqueue")
    # start, window, practice incident | run | resolve, end, window closed
    assert runs == [[CHANGE, OPEN, trigger]]
    assert _calls(recorder) == [CHANGE, OPEN, trigger, trigger, CHANGE, CLOSE]
    window = recorder.requests[1][2]["maintenance_window"]
    assert [s["id"] for s in window["services"]] == ["PNOISY1", "PNOISY2"]
    assert window["description"] == "sloctl game day tiny"
    # 5 s of game day + 5 s to recover: one minute, plus the margin
    assert (window["start_time"], window["end_time"]) == ("2026-11-26T15:00:00Z", "2026-11-26T15:06:00Z")
    for index in (1, 5):  # the REST API requests carry the From header and the API key
        assert recorder.headers[index]["from"] == "sre@example.com"
        assert recorder.headers[index]["authorization"] == "Token token=" + "k" * 20
    assert not any("maintenance window" in r for r in result.reasons)


@pytest.mark.parametrize(
    ("maintenance", "protected", "overrides", "match"),
    [
        (["PNOISY1", "PAPI"], ["PAPI"], {}, "a maintenance window on PAPI would silence the alert"),
        (["PNOISY1"], [], {}, "receive the alert under test"),
        (["PNOISY1"], ["PAPI"], {"api_key": None}, "a REST API key is needed"),
        (["PNOISY1"], ["PAPI"], {"from_email": ""}, "a From email address"),
    ],
)
def test_a_window_that_cannot_be_opened_safely_is_refused_before_anything_runs(
    tmp_path: Path,
    tiny: Path,
    recorder: Recorder,
    runs: list[list[tuple[str, str]]],
    maintenance: list[str],
    protected: list[str],
    overrides: dict[str, Any],
    match: str,
) -> None:
    with pytest.raises(MaintenanceWindowError, match=match):
        run_gameday(
            tiny,
            out_dir=tmp_path / "out",
            pagerduty=client(recorder, **overrides),
            maintenance_services=maintenance,
            protected_services=protected,
        )
    assert recorder.requests == []  # no change event, no window
    assert runs == []  # nothing ran, so no fault was injected
    assert not (tmp_path / "out").exists()  # and no report claims otherwise


def test_a_protected_overlap_is_refused_even_without_a_client_or_on_a_dry_run(
    tmp_path: Path, tiny: Path, recorder: Recorder
) -> None:
    for dry_run in (False, True):
        with pytest.raises(MaintenanceWindowError, match="PAPI"):
            run_gameday(
                tiny,
                out_dir=tmp_path,
                dry_run=dry_run,
                maintenance_services=["PAPI"],
                protected_services=["PAPI"],
            )
    with pytest.raises(TypeError, match="not the string"):
        run_gameday(tiny, out_dir=tmp_path, maintenance_services="PNOISY1", protected_services=["PAPI"])


def test_a_dry_run_opens_no_window(
    tmp_path: Path, tiny: Path, recorder: Recorder, runs: list[list[tuple[str, str]]]
) -> None:
    result = run_gameday(
        tiny,
        out_dir=tmp_path,
        dry_run=True,
        pagerduty=client(recorder),
        maintenance_services=["PNOISY1"],
        protected_services=["PAPI"],
    )
    assert result.verdict == "dry-run"
    assert recorder.requests == [] and runs == []


def test_a_window_that_does_not_close_is_a_reason_not_an_exception(
    tmp_path: Path, tiny: Path, recorder: Recorder
) -> None:
    recorder.delete_status = 404
    result = run_gameday(
        tiny,
        out_dir=tmp_path,
        pagerduty=client(recorder),
        maintenance_services=["PNOISY1"],
        protected_services=["PAPI"],
    )
    assert _calls(recorder) == [CHANGE, OPEN, CHANGE, CLOSE]
    assert result.verdict == "pass"
    (problem,) = [r for r in result.reasons if "maintenance window" in r]
    assert problem.startswith("PagerDuty: maintenance window PMW1 was not closed, close it by hand: ")
    report = json.loads((tmp_path / "report.json").read_text())
    assert problem in report["reasons"] and report["verdict"] == "pass"


@pytest.mark.parametrize("error_type", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("delete_status", [204, 404])
def test_the_window_is_closed_when_the_run_raises_or_is_interrupted(
    tmp_path: Path,
    tiny: Path,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    error_type: type[BaseException],
    delete_status: int,
) -> None:
    error = error_type("the run broke")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(chaoslib.experiment, "run_experiment", broken)
    recorder.delete_status = delete_status
    with pytest.raises(error_type) as raised:
        run_gameday(
            tiny,
            out_dir=tmp_path,
            pagerduty=client(recorder),
            maintenance_services=["PNOISY1"],
            protected_services=["PAPI"],
        )
    assert raised.value is error  # the run's own exception, never the close failure
    assert _calls(recorder) == [CHANGE, OPEN, CLOSE]
    notes: list[str] = getattr(error, "__notes__", [])
    if delete_status == 204:
        assert notes == []
    else:  # the close failure travels with the exception, as a note
        (note,) = notes
        assert note.startswith("PagerDuty: maintenance window PMW1 was not closed")
