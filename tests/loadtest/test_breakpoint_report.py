"""A breakpoint search's reports (the table, report.json, the HTML page, ``sloctl serve``) say
the same of the gate that broke it: where it broke the search (the step's users, rate and
figure), not a failed gate; the other gates' figures are labelled as over the whole run."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from sloctl.loadtest import Report, RunStats, evaluate, parse_threshold
from sloctl.loadtest.report import render_html, render_json, render_table
from sloctl.loadtest.results import Breakpoint
from sloctl.serve.runs import find_runs
from tests.loadtest.breakpoint_stub import ok_of, route_of


def _searched() -> Report:
    """A search that broke at 15 users on /v1/projects' p(95) <= 200, beside the same expression
    over all requests (which held) and a failure gate."""
    routes = (
        route_of("/v1/projects", {20: 80, 300: 20}),
        route_of("/v1/cache/{key}", {2: 900}),
    )
    run = RunStats(
        routes=routes,
        succeeded=tuple(ok_of(r) for r in routes),
        breakpoint=Breakpoint(10, 49.8, 2, 15, 70.1, "p(95) <= 200", 310.0, "/v1/projects"),
        stopped_by="breakpoint",
    )
    texts = ("/v1/projects:p(95)<=200", "p(95)<=200", "failure_ratio<=0.001")
    gates = evaluate([parse_threshold(t) for t in texts], run)
    return Report("breakpoint", "http://127.0.0.1:8000", 100.0, gates, (), run, "sloctl loadtest breakpoint")


def test_the_table_says_which_gate_broke_the_search_and_labels_the_others_whole_run() -> None:
    text = render_table(_searched())
    rows = [re.split(r"\s{2,}", row) for row in text.splitlines()[2:5]]  # columns: 2 spaces apart
    # Before: "FAIL  p(95) <= 200 ms  /v1/projects  300 ms" beside "PASSED: breakpoint search done".
    assert rows[0] == [
        "broke the search",
        "p(95) <= 200 ms",
        "/v1/projects",
        "310 ms in the step of 15 users (70.1 req/s); 300 ms over the whole run",
        "command line",
    ], rows
    assert [r[0] for r in rows[1:]] == ["PASS", "PASS"], rows
    assert [r[3] for r in rows[1:]] == ["20 ms over the whole run", "0.0000% over the whole run"], rows
    assert "FAIL" not in text
    assert "p(95) <= 200 (/v1/projects) measured 310" in text
    assert text.rstrip().splitlines()[-1].startswith("PASSED: breakpoint search done")


def test_report_json_says_per_threshold_where_the_search_broke() -> None:
    data = json.loads(render_json(_searched()))
    route, every, failures = data["thresholds"]
    # Before: {"passed": false, "value": 300} and nothing else for the gate that broke it.
    assert (route["status"], route["passed"], route["over"]) == ("broke the search", None, "whole run")
    assert route["broke_search"] == {"users": 15, "rps": 70.1, "value": 310.0}
    assert (route["value"], every["value"]) == (300.0, 20.0)
    assert [(t["status"], t["passed"], t["broke_search"]) for t in (every, failures)] == [
        ("PASS", True, None),
        ("PASS", True, None),
    ]
    assert data["breakpoint"]["broken_scope"] == "/v1/projects"


class _Rows(HTMLParser):
    """The cells of the page's first table (its thresholds), and each row's class."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, list[str]]] = []
        self._tables = 0
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._tables += 1
        elif tag == "tr" and self._tables == 1:
            self.rows.append((dict(attrs).get("class") or "", []))
        elif tag == "td" and self._tables == 1:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1][1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_the_html_page_says_the_same_as_the_table() -> None:
    page = _Rows()
    page.feed(render_html(_searched()))
    body = [(cls, cells) for cls, cells in page.rows if cells]
    assert [(cls, cells[0], cells[2]) for cls, cells in body] == [
        ("broke-search", "broke the search", "/v1/projects"),
        ("pass", "PASS", "all requests"),
        ("pass", "PASS", "all requests"),
    ]
    assert body[0][1][3] == "310 ms in the step of 15 users (70.1 req/s); 300 ms over the whole run"
    assert all(cells[3].endswith("over the whole run") for _, cells in body)


def test_serve_shows_the_gate_the_report_says_broke_the_search(tmp_path: Path) -> None:
    """Before, serve matched the search's ``broken_by`` by expression alone: the all-requests
    p(95) <= 200 (which held) was the one shown as breaking the search."""
    (tmp_path / "report.json").write_text(render_json(_searched()))
    (run,) = find_runs({"loadtest": (tmp_path,)}, {}).runs
    assert [(g.name, g.passed, g.broke_search) for g in run.gates] == [
        ("p(95) <= 200 (/v1/projects)", None, True),
        ("p(95) <= 200 (all requests)", True, False),
        ("failure_ratio <= 0.001 (all requests)", True, False),
    ]
    assert run.gates[0].detail == (
        "broke the search at 15 users (70.1 req/s); 310 in that step; measured 300 over the whole run"
    )
