"""A report file whose fields are not of the shape its command writes is listed under "Files not
read" with the reason, never an error page: the report folders are the user's."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from sloctl.prometheus import Prometheus
from sloctl.serve import App, ServeConfig
from sloctl.serve.runs import find_runs
from tests.fixtures.fake_prometheus import fake_app

#: (kind, the document, the reason given: the kind of report, the field's key path, what it is)
MISSHAPEN = [
    (
        "gameday",
        {"gameday": "x", "verdict": "pass", "checks": "nope"},
        "the game day's report: checks: a string, not a list",
    ),
    (
        "gameday",
        {"gameday": "x", "verdict": "pass", "checks": [1]},
        "the game day's report: checks[0]: a number, not an object",
    ),
    (
        "gameday",
        {"gameday": "x", "verdict": "pass", "expected_alerts": [["A"]]},
        "the game day's report: expected_alerts[0]: a list, not a string",
    ),
    (
        "gameday",
        {"gameday": 5, "verdict": ["pass"]},
        "the game day's report: gameday: a number, not a string (and 1 more)",
    ),
    (  # the writers write null for a figure not measured, never NaN (json.dumps would)
        "gameday",
        {"gameday": "x", "verdict": "pass", "time_to_detect_s": math.nan},
        "the game day's report: time_to_detect_s: a number, not a finite number",
    ),
    (
        "loadtest",
        {"thresholds": 5, "passed": True},
        "the load test's report: thresholds: a number, not a list",
    ),
    (
        "loadtest",
        {"thresholds": [{"value": "fast"}], "passed": True},
        "the load test's report: thresholds[0].value: a string, not a number",
    ),
    (
        "loadtest",
        {"thresholds": [], "passed": True, "total": [1]},
        "the load test's report: total: a list, not an object",
    ),
    ("backtest", [{"slo": "s", "tiers": 3}], "the backtest's report: [0].tiers: a number, not a list"),
    (
        "backtest",
        [{"slo": "s", "tiers": [{"expected": True}]}],
        "the backtest's report: [0].tiers[0].tier: missing required field 'tier'",
    ),
    (
        "backtest",
        [{"slo": "s", "tiers": [{"tier": "t", "detection_seconds": "soon"}]}],
        "the backtest's report: [0].tiers[0].detection_seconds: a string, not a number",
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
    assert (path, why) == (str(bad), reason)
    with fake_app(1) as (fake, _calls):
        app = App(ServeConfig(run_dirs={k: (v,) for k, v in folders.items()}), fake.prom)  # type: ignore[misc]
        pages = {p: app.handle(p, {}) for p in ("/", "/runs/gameday", "/runs/loadtest", "/runs/backtest")}
    assert {p: page.status for p, page in pages.items()} == dict.fromkeys(pages, 200)
    listed = pages[f"/runs/{kind}"].body.decode()
    assert "Files not read" in listed and str(bad) in listed


#: One value of each JSON kind.
KINDS_OF_VALUE: dict[str, object] = {
    "string": "x",
    "number": 5,
    "bool": True,
    "null": None,
    "list": [],
    "object": {},
}
#: (kind, what the reason calls it, a report of that kind with every field its reader uses)
WHOLE = {
    "gameday": (
        "the game day's report",
        {
            "gameday": "connection-loss", "verdict": "pass", "experiment": "Connection loss",
            "status": "completed", "time_to_detect_s": 41.0, "budget_consumed_percent": 0.4,
            "expected_alerts": ["ApiBudgetBurn"],
            "checks": [{"name": "check: breaker", "status": "succeeded"}],
        },
    ),
    "loadtest": (
        "the load test's report",
        {
            "scenario": "breakpoint", "host": "http://127.0.0.1:8000", "passed": True, "interrupted": False,
            "total": {"requests": 900},
            "thresholds": [{
                "expression": "p(95) <= 200", "scope": "all requests", "source": "SLO api-latency",
                "value": 250.0, "passed": True, "broke_search": {"users": 15, "rps": 70.1, "value": 260.0},
            }],
            "breakpoint": {"broken_by": "p(95) <= 200", "broke_at_users": 15, "broke_at_rps": 70.1},
        },
    ),
    "backtest": (
        "the backtest's report",
        [{
            "slo": "api-availability", "scenario": "full_outage", "budget_left": 0.25,
            "tiers": [{
                "tier": "page_quick", "expected": True, "detection_seconds": 120, "designed_seconds": 180,
                "false_alerts": 0,
            }],
        }],
    ),
}  # fmt: skip
_TEXT, _FIGURE, _OPEN = {"string", "null"}, {"number", "null"}, {"object", "null"}
#: (kind, key path, the JSON kinds its command writes there): every field the readers use, its
#: kinds written down here from the writers (not read from the shapes the reader checks)
FIELDS = [
    ("gameday", "gameday", {"string"}),
    ("gameday", "verdict", {"string"}),
    ("gameday", "experiment", _TEXT),
    ("gameday", "status", _TEXT),
    ("gameday", "time_to_detect_s", _FIGURE),
    ("gameday", "budget_consumed_percent", _FIGURE),
    ("gameday", "expected_alerts", {"list", "null"}),
    ("gameday", "expected_alerts[0]", {"string"}),
    ("gameday", "checks", {"list", "null"}),
    ("gameday", "checks[0]", {"object"}),
    ("gameday", "checks[0].name", _TEXT),
    ("gameday", "checks[0].status", _TEXT),
    ("loadtest", "passed", {"bool"}),
    ("loadtest", "interrupted", {"bool", "null"}),
    ("loadtest", "scenario", _TEXT),
    ("loadtest", "host", _TEXT),
    ("loadtest", "total", _OPEN),
    ("loadtest", "total.requests", _FIGURE),
    ("loadtest", "thresholds", {"list"}),
    ("loadtest", "thresholds[0]", {"object"}),
    ("loadtest", "thresholds[0].expression", _TEXT),
    ("loadtest", "thresholds[0].scope", _TEXT),
    ("loadtest", "thresholds[0].source", _TEXT),
    ("loadtest", "thresholds[0].value", _FIGURE),
    ("loadtest", "thresholds[0].passed", {"bool", "null"}),
    ("loadtest", "thresholds[0].broke_search", _OPEN),
    ("loadtest", "thresholds[0].broke_search.users", _FIGURE),
    ("loadtest", "thresholds[0].broke_search.rps", _FIGURE),
    ("loadtest", "thresholds[0].broke_search.value", _FIGURE),
    ("loadtest", "breakpoint", _OPEN),
    ("loadtest", "breakpoint.broken_by", _TEXT),
    ("loadtest", "breakpoint.broke_at_users", _FIGURE),
    ("loadtest", "breakpoint.broke_at_rps", _FIGURE),
    ("backtest", "[0].slo", {"string"}),
    ("backtest", "[0].scenario", _TEXT),
    ("backtest", "[0].budget_left", _FIGURE),
    ("backtest", "[0].tiers", {"list"}),
    ("backtest", "[0].tiers[0]", {"object"}),
    ("backtest", "[0].tiers[0].tier", {"string"}),
    ("backtest", "[0].tiers[0].expected", {"bool", "null"}),
    ("backtest", "[0].tiers[0].detection_seconds", _FIGURE),
    ("backtest", "[0].tiers[0].designed_seconds", _FIGURE),
    ("backtest", "[0].tiers[0].false_alerts", _FIGURE),
]


def _with(doc: object, path: str, value: object) -> object:
    """A deep copy of ``doc`` with the value at ``path`` (``a[0].b``) replaced by ``value``."""
    out = copy.deepcopy(doc)
    steps: list[str | int] = [int(i) if i else k for k, i in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path)]
    parent: Any = out
    for step in steps[:-1]:
        parent = parent[step]
    parent[steps[-1]] = value
    return out


@pytest.mark.parametrize(("kind", "path", "written"), FIELDS, ids=[f"{k}:{p}" for k, p, _ in FIELDS])
def test_every_field_a_reader_uses_of_another_kind_is_a_file_not_read_naming_its_path(
    tmp_path: Path, kind: str, path: str, written: set[str]
) -> None:
    """Each JSON kind in turn at one field: a kind its command writes there is read as a run; any
    other is listed under "Files not read" with the field's key path, never a traceback (a
    ``TypeError`` out of a reader) nor a page other than 200."""
    what, whole = WHOLE[kind]
    with Prometheus.connect("http://127.0.0.1:9") as closed:  # the runs pages read files only
        for name, value in KINDS_OF_VALUE.items():
            folder = tmp_path / name
            folder.mkdir()
            # a kind written there is the whole report's own value (an object holding its keys)
            doc = whole if name in written and value is not None else _with(whole, path, value)
            (folder / "report.json").write_text(json.dumps(doc))
            index = find_runs({kind: (folder,)}, {})  # type: ignore[dict-item]
            page = App(ServeConfig(run_dirs={kind: (folder,)}), closed).handle(f"/runs/{kind}", {})  # type: ignore[dict-item]
            assert page.status == 200, (name, page.body.decode()[-600:])
            if name in written:
                assert (len(index.runs), index.skipped) == (1, ()), (name, index.skipped)
                continue
            ((file, why),) = index.skipped
            assert index.runs == () and file == str(folder / "report.json"), name
            assert why.startswith(f"{what}: {path}: "), (name, why)
            assert f"<code>{escape(file)}</code>: {escape(why)}</li>" in page.body.decode(), name


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
