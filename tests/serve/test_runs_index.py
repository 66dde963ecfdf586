"""A report file whose fields are not of the shape its command writes is listed under "Files not
read" with the reason, never an error page: the report folders are the user's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sloctl.serve import App, ServeConfig
from sloctl.serve.runs import find_runs
from tests.fixtures.fake_prometheus import fake_app

#: (kind, the document, what the reason names)
MISSHAPEN = [
    ("gameday", {"gameday": "x", "verdict": "pass", "checks": "nope"}, "checks is str, not a list"),
    ("gameday", {"gameday": "x", "verdict": "pass", "checks": [1]}, "checks[0] is int, not an object"),
    (
        "gameday",
        {"gameday": "x", "verdict": "pass", "expected_alerts": [["A"]]},
        "expected_alerts[0] is list",
    ),
    ("loadtest", {"thresholds": 5, "passed": True}, "thresholds is int, not a list"),
    ("loadtest", {"thresholds": [{"value": "fast"}], "passed": True}, "thresholds[0].value is str"),
    ("loadtest", {"thresholds": [], "passed": True, "total": [1]}, "total is list, not an object"),
    ("backtest", [{"slo": "s", "tiers": 3}], "[0].tiers is int, not a list"),
    ("backtest", [{"slo": "s", "tiers": [{"expected": True}]}], "[0].tiers[0] has no tier"),
    (
        "backtest",
        [{"slo": "s", "tiers": [{"tier": "t", "detection_seconds": "soon"}]}],
        "detection_seconds is str",
    ),
]


@pytest.mark.parametrize(("kind", "doc", "reason"), MISSHAPEN)
def test_a_misshapen_report_is_listed_as_not_read_and_every_page_still_answers(
    tmp_path: Path, kind: str, doc: object, reason: str
) -> None:
    folders = {k: tmp_path / k for k in ("gameday", "loadtest", "backtest")}
    for folder in folders.values():
        folder.mkdir()
    bad = folders[kind] / "report.json"
    bad.write_text(json.dumps(doc))
    (folders["gameday"] / "good").mkdir()
    (folders["gameday"] / "good" / "report.json").write_text('{"gameday": "ok", "verdict": "pass"}')
    index = find_runs({k: (v,) for k, v in folders.items()}, {})  # type: ignore[misc]
    assert [r.title for r in index.runs] == ["ok"]
    ((path, why),) = index.skipped
    assert path == str(bad) and reason in why
    with fake_app(1) as (fake, _calls):
        app = App(ServeConfig(run_dirs={k: (v,) for k, v in folders.items()}), fake.prom)  # type: ignore[misc]
        pages = {p: app.handle(p, {}) for p in ("/", "/runs/gameday", "/runs/loadtest", "/runs/backtest")}
    assert {p: page.status for p, page in pages.items()} == dict.fromkeys(pages, 200)
    listed = pages[f"/runs/{kind}"].body.decode()
    assert "Files not read" in listed and str(bad) in listed


def test_a_report_nested_past_the_json_decoders_depth_is_listed_as_not_read(tmp_path: Path) -> None:
    """It raised RecursionError out of the runs index: every page that lists runs was a 500."""
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    index = find_runs({"gameday": (tmp_path,)}, {})
    ((path, why),) = index.skipped
    assert path == str(tmp_path / "deep.json") and "nested more deeply" in why


def test_an_interrupted_load_test_is_listed_as_interrupted_not_failed(tmp_path: Path) -> None:
    """sloctl loadtest writes the part that ran when stopped (interrupted: true, passed: false);
    the runs page called it a failed load test."""
    doc = {"scenario": "steady", "passed": False, "interrupted": True, "thresholds": []}
    (tmp_path / "report.json").write_text(json.dumps(doc))
    (run,) = find_runs({"loadtest": (tmp_path,)}, {}).runs
    assert run.verdict == "interrupted"


def test_a_load_tests_request_count_is_read_from_its_report(tmp_path: Path) -> None:
    """The runs page's request count read ``total.num_requests``, a key the report never had
    (it writes ``total.requests``): every load test's count was blank."""
    doc = {"scenario": "steady", "passed": True, "host": "http://127.0.0.1:8000", "thresholds": []}
    doc["total"] = {"requests": 1234, "failures": 5}
    (tmp_path / "report.json").write_text(json.dumps(doc))
    (run,) = find_runs({"loadtest": (tmp_path,)}, {}).runs
    assert run.facts == {"target": "http://127.0.0.1:8000", "requests": "1234"}


def test_a_passed_breakpoint_search_lists_the_gate_that_broke_it_as_where_it_broke_not_failed(
    tmp_path: Path,
) -> None:
    """A breakpoint search stops on its gates: the report said PASSED, and the runs page showed
    its breaking gate as a failed one (✘ p(95) <= 200 (all requests))."""
    doc = {"scenario": "breakpoint", "passed": True, "interrupted": False, "total": {"requests": 900}}
    doc["thresholds"] = [
        {"expression": "p(95) <= 200", "scope": "all requests", "value": 250, "passed": False},
        {"expression": "failure_ratio <= 0.001", "scope": "all requests", "value": 0, "passed": True},
    ]
    doc["breakpoint"] = {
        "held_users": 10,
        "broke_at_users": 15,
        "broke_at_rps": 70.1,
        "broken_by": "p(95) <= 200",
    }
    (tmp_path / "report.json").write_text(json.dumps(doc))
    (run,) = find_runs({"loadtest": (tmp_path,)}, {}).runs
    assert run.verdict == "pass"
    broke, held = run.gates
    assert (broke.passed, broke.broke_search) == (None, True), broke
    assert broke.detail == "broke the search at 15 users (70.1 req/s); measured 250 over the whole run"
    assert (held.passed, held.broke_search) == (True, False), held
    with fake_app(1) as (fake, _calls):
        app = App(ServeConfig(run_dirs={"loadtest": (tmp_path,)}), fake.prom)
        page = app.handle("/runs/loadtest", {}).body.decode()
    assert "✘" not in page and 'class="fail"' not in page, page
    assert "⤒ p(95) &lt;= 200 (all requests): broke the search at 15 users" in page, page
