"""The native sloctl/v1 format: what it accepts, and how it reports what it rejects."""

from __future__ import annotations

import gc
import os
import textwrap
import threading
import time
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from sloctl.model import WINDOW_PLACEHOLDER, EventsSLI, LatencySLI, ProbeSLI, RatioSLI, RawSLI, Timeslices
from sloctl.render.rules import render_rule_file
from sloctl.spec import load_paths, load_text
from sloctl.spec.yamlsrc import LIMITS, NO_DOCUMENT, Limits, parse_documents
from tests.fixtures.specs import events_slo, openslo_sli, rate, service_doc
from tests.paths import ROOT, SLOTH

BASE = """\
apiVersion: sloctl/v1
kind: Service
metadata:
  name: api
  labels: {team: core}
spec:
  slos:
    - name: availability
      objective: 99.9
      sli:
        events:
          errorQuery: sum(rate(req_total{code=~"5.."}[{{.window}}]))
          totalQuery: sum(rate(req_total[{{.window}}]))
"""

NODE_LEAK_READS = 3
"""Reads of one file in the node-leak test: each one left its eight scalar nodes behind."""


def load(text: str) -> tuple[list[str], list[str]]:
    result = load_text(textwrap.dedent(text), "f.yaml")
    return [str(e) for e in result.errors], [s.id for s in result.slos]


def with_slo(body: str) -> str:
    head = BASE.split("    - name: availability")[0]
    return head + textwrap.indent(textwrap.dedent(body), "    ")


@pytest.mark.parametrize(
    "sli",
    [
        EventsSLI("sum(rate(e[{{ .window }}]))", "sum(rate(t[{{.window }}]))"),
        RatioSLI("sum(rate(g[{{ .window}}]))", "sum(rate(t[{{  .window  }}]))"),
        RawSLI("avg_over_time(r[{{ .window }}])"),
    ],
    ids=["events", "ratio", "raw"],
)
def test_every_windowed_query_of_an_sli_is_kept_in_the_one_spelling(
    sli: EventsSLI | RatioSLI | RawSLI,
) -> None:
    queries = [getattr(sli, f.name) for f in fields(sli) if f.name != "kind"]
    assert queries
    for q in queries:
        assert q.count("{{") == 1 and f"[{WINDOW_PLACEHOLDER}]" in q, q


def test_a_minimal_service_loads_with_defaults() -> None:
    result = load_text(BASE, "f.yaml")
    assert not result.errors
    (slo,) = result.slos
    assert slo.id == "api-availability"
    assert slo.period == 30 * 86400
    assert dict(slo.labels) == {"team": "core"}
    assert slo.alerting.name == "AvailabilityBudgetBurn"
    assert [t.name for t in slo.alerting.enabled_tiers] == [
        "page_quick",
        "page_slow",
        "ticket_quick",
        "ticket_slow",
    ]
    assert [round(t.window.burn_factor(slo.period), 3) for t in slo.alerting.tiers] == [14.4, 6.0, 3.0, 1.0]
    assert slo.source.line == 8


def test_every_sli_kind_is_read() -> None:
    text = with_slo("""\
        - name: events
          objective: 99
          sli: {events: {errorQuery: 'sum(rate(e[{{.window}}]))', totalQuery: 'sum(rate(t[{{.window}}]))'}}
        - name: ratio
          objective: 99
          sli: {ratio: {goodQuery: 'sum(rate(g[{{.window}}]))', totalQuery: 'sum(rate(t[{{.window}}]))'}}
        - name: raw
          objective: 99
          sli: {raw: {errorRatioQuery: 'sum(rate(e[{{.window}}])) / sum(rate(t[{{.window}}]))'}}
        - name: latency
          objective: 95
          period: 7d
          sli:
            latency:
              histogram: http_duration_seconds
              selector: '{route="/v1/x", method=~"GET|PUT"}'
              threshold: 250ms
        - name: probe
          objective: 99.9
          sli: {probe: {target: postgres}}
        """)
    result = load_text(text, "f.yaml")
    assert not result.errors, result.errors
    kinds = {s.name: s.sli for s in result.slos}
    assert isinstance(kinds["events"], EventsSLI)
    assert isinstance(kinds["ratio"], RatioSLI)
    assert isinstance(kinds["raw"], RawSLI)
    latency = kinds["latency"]
    assert isinstance(latency, LatencySLI)
    assert latency.threshold_seconds == 0.25
    assert latency.matchers == (("route", "/v1/x"),)
    probe = kinds["probe"]
    assert isinstance(probe, ProbeSLI) and probe.selector == '{target="postgres"}'


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("objective: 100", "objective 100 is outside (0, 100)"),
        ("objective: 0", "objective 0 is outside (0, 100)"),
        ("objective: high", "expected a number, found str 'high'"),
        ("period: 2h", "period 2h is shorter than the longest alert window (3d)"),
        ("period: 30 days", "is not a Prometheus duration"),
        ("objectiv: 99", "unknown field (did you mean 'objective'?)"),
    ],
)
def test_bad_fields_are_reported_with_what_was_found_and_expected(body: str, expected: str) -> None:
    text = BASE.replace("      objective: 99.9\n", "      objective: 99.9\n      " + body + "\n")
    if body.startswith("objective"):
        text = BASE.replace("      objective: 99.9\n", "      " + body + "\n")
    errors, _ = load(text)
    assert any(expected in e for e in errors), errors
    assert all(e.startswith("f.yaml:") for e in errors)


def test_an_error_query_equal_to_the_total_query_is_rejected() -> None:
    errors, _ = load(BASE.replace('req_total{code=~"5.."}', "req_total"))
    assert any("error query equals total query" in e for e in errors)


def test_events_queries_under_other_names_are_said_missing_not_equal() -> None:
    """Sloth-style ``errors:``/``total:`` keys: both queries missing were "equal" too (0 %)."""
    text = BASE.replace("errorQuery:", "errors:").replace("totalQuery:", "total:")
    errors, _ = load(text)
    assert any("errorQuery: required field is missing" in e for e in errors), errors
    assert any("errors: unknown field (did you mean 'errorQuery'?)" in e for e in errors), errors
    assert not any("equals" in e for e in errors), errors


@pytest.mark.parametrize("missing", [["metadata"], ["spec"], ["metadata", "spec"]])
def test_a_service_without_metadata_or_spec_is_told_once_for_each(missing: list[str]) -> None:
    """Each was said twice: "required field is missing" and "missing; expected a mapping"."""
    doc = yaml.safe_load(textwrap.dedent(BASE))
    for key in missing:
        del doc[key]
    errors, _ = load(yaml.safe_dump(doc, sort_keys=False))
    assert errors == [f"f.yaml:1:1: {key}: required field is missing" for key in missing]


def test_a_latency_threshold_without_a_unit_is_rejected() -> None:
    errors, _ = load(
        with_slo("""\
        - name: lat
          objective: 95
          sli: {latency: {histogram: h, threshold: 200}}
        """)
    )
    assert any("threshold 200 has no unit; write it as 200ms or 200s" in e for e in errors), errors


def test_a_promql_syntax_error_points_at_the_query() -> None:
    errors, _ = load(BASE.replace("sum(rate(req_total[{{.window}}]))", "sum(rate(req_total[{{.window}}])"))
    (error,) = errors
    assert error.startswith("f.yaml:13:23: spec.slos[0].sli.events.totalQuery: PromQL syntax error")


def test_all_errors_of_a_file_are_reported_not_just_the_first() -> None:
    text = BASE.replace("objective: 99.9", "objective: 101\n      period: soon").replace(
        "name: api", "name: 'a pi'"
    )
    errors, _ = load(text)
    assert len(errors) >= 3, errors


def test_alert_tiers_can_be_disabled_and_given_a_for() -> None:
    text = BASE + textwrap.indent(
        textwrap.dedent("""\
        alerting:
          runbookUrl: https://runbooks.example/api
          minEvents: 50
          ticket: {enabled: false}
          tiers:
            pageQuick: {for: 2m}
            pageSlow: {enabled: false}
        """),
        "      ",
    )
    (slo,) = load_text(text, "f.yaml").slos
    assert [t.name for t in slo.alerting.enabled_tiers] == ["page_quick"]
    assert slo.alerting.tiers[0].for_seconds == 120
    assert slo.alerting.min_events == 50
    assert slo.alerting.runbook_url == "https://runbooks.example/api"


def test_a_windows_catalog_among_the_inputs_overrides_the_default(tmp_path: Path) -> None:
    catalog = SLOTH / "windows" / "7d.yaml"
    (tmp_path / "slo.yaml").write_text(BASE.replace("objective: 99.9", "objective: 99.9\n      period: 7d"))
    result = load_paths([tmp_path], windows_dirs=[catalog.parent])
    assert not result.errors
    (slo,) = result.slos
    assert slo.windows.source.endswith("7d.yaml:1")
    assert slo.alerting.tiers[0].window.budget_percent == 8


def test_directories_are_read_recursively_and_duplicates_across_files_are_found(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").mkdir()
    (tmp_path / "a" / "one.yaml").write_text(BASE)
    (tmp_path / "a" / "b" / "two.yml").write_text(BASE)
    result = load_paths([tmp_path])
    assert len(result.slos) == 2
    (error,) = result.errors
    assert "duplicate SLO 'availability' of service 'api'" in str(error)
    assert str(tmp_path / "a" / "one.yaml") in str(error) or str(tmp_path / "a" / "b" / "two.yml") in str(
        error
    )


def test_a_file_given_twice_or_inside_a_folder_also_given_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(BASE)
    same = tmp_path / "sub" / ".." / "ok.yaml"
    (tmp_path / "sub").mkdir()
    for paths in ([tmp_path / "ok.yaml"] * 2, [tmp_path, tmp_path / "ok.yaml"], [tmp_path / "ok.yaml", same]):
        result = load_paths(paths)
        assert (result.errors, [s.id for s in result.slos]) == ((), ["api-availability"])
        assert len(result.files) == 1


def test_a_windows_file_that_holds_slos_is_refused_as_not_a_catalog(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(BASE)
    result = load_paths([tmp_path / "ok.yaml"], windows_dirs=[tmp_path / "ok.yaml"])
    (error,) = result.errors
    assert str(error) == (
        f"{tmp_path / 'ok.yaml'}:1:1: {tmp_path / 'ok.yaml'} is not a windows catalog (it holds SLOs); "
        "--windows takes AlertWindows files"
    )


def test_an_alert_name_written_empty_means_the_default_and_says_so() -> None:
    """``name: ""`` (a template's unset value) took the default name without a word."""
    text = BASE + '      alerting: {name: "", noData: {name: ""}}\n'
    result = load_text(text, "f.yaml")
    assert result.ok and result.slos[0].alerting.name == "AvailabilityBudgetBurn"
    assert [str(w) for w in result.warnings] == [
        "f.yaml:14:24: spec.slos[0].alerting.name: empty: the default name (AvailabilityBudgetBurn) is used",
        "f.yaml:14:43: spec.slos[0].alerting.noData.name: empty: the default name (the burn-rate alert's,"
        " ending NoData) is used",
    ]


def test_multi_document_files_are_read() -> None:
    result = load_text(BASE + "---\n" + BASE.replace("name: api", "name: web"), "f.yaml")
    assert not result.errors
    assert [s.id for s in result.slos] == ["api-availability", "web-availability"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "file holds no YAML document"),
        (
            "- a\n- b\n",
            "1:3: [0]: a list item that is not a mapping; a document is a mapping with apiVersion",
        ),
        (
            "3\n",
            "1:1: expected a mapping at the top of the document: a document is a mapping with apiVersion",
        ),
        ("apiVersion: sloctl/v2\nkind: Service\n", "apiVersion 'sloctl/v2' (did you mean 'sloctl/v1'?)"),
        ("a: 1\n", "a document without apiVersion: start it with one, such as apiVersion: sloctl/v1"),
        ("apiVersion: sloctl/v1\n", "kind: missing: apiVersion sloctl/v1 takes kind AlertWindows, Project"),
        ("apiVersion: sloctl/v1\nkind: 3\n", "2:7: kind: 3 is not a kind of apiVersion sloctl/v1; it takes"),
        ("apiVersion: sloctl/v1\nkind: SLO\n", "2:7: kind: 'SLO' is not a kind of apiVersion sloctl/v1"),
        ("apiVersion: openslo/v1\nkind: Slo\n", "kind of apiVersion openslo/v1 (did you mean 'SLO'?)"),
        ("a: [1,\n", "YAML syntax error"),
        ("a: &x 1\nb: *y\n", "YAML syntax error"),
        ("a: 1\na: 2\n", "duplicate key 'a'"),
    ],
)
def test_malformed_input_gives_a_located_error(text: str, expected: str) -> None:
    result = load_text(text, "f.yaml")
    assert any(expected in str(e) for e in result.errors), result.errors
    assert all(e.location.line >= 1 and e.location.column >= 1 for e in result.errors)


def test_binary_and_oversized_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "bin.yaml").write_bytes(b"\x00\x01\x02garbage")
    (tmp_path / "big.yaml").write_bytes(b"a: " + b"x" * (9 * 1024 * 1024))
    (tmp_path / "latin1.yaml").write_bytes("a: caf\xe9\n".encode("latin-1"))
    result = load_paths([tmp_path])
    messages = sorted(str(e) for e in result.errors)
    assert any("binary" in m for m in messages)
    assert any("the limit is" in m for m in messages)
    assert any("not valid UTF-8" in m for m in messages)


def test_a_pipe_or_a_device_is_read_as_a_file_and_held_to_the_size_limit(tmp_path: Path) -> None:
    """``sloctl validate <(kustomize build)`` gives a pipe, ``/dev/null`` a device: both were
    "no such file or directory"; a device is sized 0, so the limit holds on what is read."""
    pipe = tmp_path / "pipe.yaml"
    os.mkfifo(pipe)
    writer = threading.Thread(
        target=lambda: pipe.write_text(service_doc("svc", [events_slo("a")])), daemon=True
    )
    writer.start()
    piped = load_paths([pipe])
    writer.join(timeout=10)
    assert not piped.errors and [s.id for s in piped.slos] == ["svc-a"]
    assert [e.message for e in load_paths(["/dev/null"]).errors] == [NO_DOCUMENT]
    (endless,) = load_paths(["/dev/zero"]).errors
    assert (
        endless.message
        == f"file is more than {LIMITS.max_file_bytes} bytes; the limit is {LIMITS.max_file_bytes} bytes"
    )


@pytest.mark.parametrize("levels", [9, 13], ids=["1e9-nodes", "1e13-nodes"])
def test_an_alias_bomb_fails_fast_with_a_clear_error(levels: int) -> None:
    """At once, whatever the bomb's size: the document's expanded size is counted before any
    node is converted. It was converted node by node up to the limit: 1.9 s of CPU on an idle
    machine, 10 s in the suite under load. This thread's CPU time, not wall time: a busy
    machine's scheduling does not count."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    started = time.thread_time()
    result = load_text("\n".join(lines) + "\n", "bomb.yaml")
    cpu = time.thread_time() - started
    (error,) = result.errors
    assert "more than 200000 nodes" in str(error) and error.location.line >= 1
    assert cpu < 0.25, cpu  # about a millisecond


def test_reading_a_file_keeps_none_of_its_yaml_nodes_alive() -> None:
    """A module-wide scalar reader kept every scalar node of every file read since start-up
    (PyYAML's constructor remembers each node it has constructed): memory a long-running
    process never got back, and a heap its garbage collector went through again and again.
    At most as many nodes afterwards as before: some other node may be freed meanwhile, none
    of the file's may be kept."""

    def nodes() -> int:
        gc.collect()
        return sum(isinstance(o, yaml.Node) for o in gc.get_objects())

    before = nodes()
    for _ in range(NODE_LEAK_READS):
        result = load_text(BASE, "f.yaml")
        assert result.slos and not result.errors
    assert nodes() <= before


@pytest.mark.parametrize(("limit", "loads"), [(11, True), (10, False)])
def test_the_node_limit_counts_each_alias_as_its_expanded_nodes(limit: int, loads: bool) -> None:
    """``a`` is 3 nodes (the list and its items), ``b`` 7 (the list and ``a`` twice), the root
    one more: 11 nodes, as many as converting them makes."""
    docs, errors = parse_documents("a: &a [x, x]\nb: [*a, *a]\n", "f.yaml", Limits(max_nodes=limit))
    assert (len(docs), errors == []) == ((1, True) if loads else (0, False)), errors


def test_openslo_v1_reads_a_referenced_sli_and_rejects_unsupported_features_by_name() -> None:
    sli = openslo_sli("good-requests", good=rate("ok_total"), total=rate("all_total"))
    text = (
        f"apiVersion: openslo/v1\nkind: SLI\n{sli}---\n"
        + """\
apiVersion: openslo/v1
kind: SLO
metadata: {name: api-availability}
spec:
  service: api
  indicatorRef: good-requests
  budgetingMethod: Occurrences
  timeWindow: [{duration: 28d, isRolling: true}]
  objectives: [{target: 0.995}]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: latency}
spec:
  service: api
  indicatorRef: good-requests
  budgetingMethod: Timeslices
  timeWindow:
    - {duration: 1M, isRolling: false, calendar: {startTime: "2024-01-01 00:00:00", timeZone: Europe/Paris}}
  objectives: [{target: 0.995, timeSliceTarget: 0.95, timeSliceWindow: 5m}]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: ratio-slices}
spec:
  service: api
  indicatorRef: good-requests
  budgetingMethod: RatioTimeslices
  timeWindow: [{duration: 2M, isRolling: false, calendar: {timeZone: UTC}}]
  objectives: [{target: 0.99, compositeWeight: 2}]
"""
    )
    result = load_text(text, "o.yaml")
    assert [s.id for s in result.slos] == ["api-api-availability", "api-latency"]
    assert isinstance(result.slos[0].sli, RatioSLI) and result.slos[0].objective == pytest.approx(99.5)
    latency = result.slos[1]
    assert latency.timeslices == Timeslices(300, 95.0) and latency.objective == pytest.approx(99.5)
    assert latency.calendar is not None
    assert (latency.calendar.unit, latency.calendar.time_zone) == ("month", "Europe/Paris")
    messages = " ".join(str(e) for e in result.errors)
    assert "RatioTimeslices is compiled as a raw SLI" in " ".join(str(w) for w in result.warnings)
    assert "calendar window '2M' is not compiled; sloctl's calendar windows are 1w, 1M and 1Q" in messages
    assert "compositeWeight belongs to composite SLOs" in messages


NEW_FIELDS = """\
apiVersion: sloctl/v1
kind: Service
metadata: {name: api}
spec:
  slos:
    - name: a
      objective: 99.9
      sli: {events: {errorQuery: 'sum(rate(e[{{.window}}]))', totalQuery: 'sum(rate(t[{{.window}}]))'}}
    - name: b
      objective: 99.9
      period: 28d
      sli: {events: {errorQuery: 'sum(rate(e2[{{.window}}]))', totalQuery: 'sum(rate(t2[{{.window}}]))'}}
    - name: c
      objective: 99
      period: 7d
      calendar: {unit: month}
      timeslices: {slice: 1m, target: 95}
      sli: {raw: {errorRatioQuery: 'avg(rate(x[{{.window}}]))'}}
      alerting: {noData: {for: 1m, severity: loud}}
      policy:
        steps:
          - {budgetLeft: 50, action: notify}
          - {budgetLeft: 20, action: notify}
          - {budgetLeft: 0, action: pray}
        whenUnknown: maybe
    - name: d
      objective: 99.9
      calendar: {unit: fortnight}
      sli: {composite: {components: [{slo: a, weight: 0}, {slo: b}, {slo: nope}, {slo: d}]}}
"""


def test_new_fields_report_every_mistake_with_its_field() -> None:
    result = load_text(NEW_FIELDS, "api.yaml")
    errors = {e.path: e.message for e in result.errors}
    assert errors["spec.slos[2].period"] == "give either period (rolling) or calendar, not both"
    assert "slices are 5m" in errors["spec.slos[2].timeslices.slice"]
    assert "a raw SLI has none" in errors["spec.slos[2].timeslices"]
    assert errors["spec.slos[2].alerting.noData.for"] == "must be at least 5m (the base window)"
    assert "expected page or ticket" in errors["spec.slos[2].alerting.noData.severity"]
    assert "at most one notify step" in errors["spec.slos[2].policy.steps[1].action"]
    assert "unknown action 'pray'" in errors["spec.slos[2].policy.steps[2].action"]
    assert "expected freeze or proceed" in errors["spec.slos[2].policy.whenUnknown"]
    assert "unknown unit 'fortnight'" in errors["spec.slos[3].calendar.unit"]
    assert "weight 0 must be greater than 0" in errors["spec.slos[3].sli.composite.components[0].weight"]


def test_a_composite_names_its_components_problems() -> None:
    text = NEW_FIELDS.split("    - name: c")[0] + (
        "    - name: d\n      objective: 99.9\n"
        "      sli: {composite: {components: [{slo: a, weight: 2}, {slo: b}, {slo: nope}, {slo: d}]}}\n"
        "    - name: e\n      objective: 99\n"
        "      sli: {composite: {components: [{slo: a}]}}\n"
    )
    result = load_text(text, "api.yaml")
    # Each at its component's index, the SLO's index (not its name) in the path.
    errors = {e.path: e.message for e in result.errors}
    where = "spec.slos[2].sli.composite.components"
    assert "'b' does not record every window" in errors[f"{where}[1].slo"]
    assert "period 4w against 30d" in errors[f"{where}[1].slo"]
    assert "'nope' is not another SLO of service 'api' (known: a, b, e)" in errors[f"{where}[2].slo"]
    assert "'d' is not another SLO" in errors[f"{where}[3].slo"]
    assert (
        errors["spec.slos[3].sli.composite.components[0].slo"]
        == "component 'a' is already a component of 'd'"
    )


def test_a_composite_with_other_mistakes_names_an_unknown_component_in_the_same_run() -> None:
    """Timeslices on a composite, a weight of 0 and an unknown component: all three at once,
    each at its own line and column (the unknown one came only after the others were fixed)."""
    text = textwrap.dedent(
        """\
        apiVersion: sloctl/v1
        kind: Service
        metadata: {name: shop}
        spec:
          slos:
            - name: pg
              objective: 99.9
              sli:
                events: {errorQuery: 'sum(rate(e[{{.window}}]))', totalQuery: 'sum(rate(t[{{.window}}]))'}
            - name: agg
              objective: 99.9
              timeslices: {slice: 5m, target: 95}
              sli:
                composite:
                  components:
                    - {slo: pg, weight: 0}
                    - {slo: nope}
        """
    )
    result = load_text(text, "shop.yaml")
    found = {e.path: (e.location.line, e.location.column) for e in result.errors}
    where = "spec.slos[1].sli.composite.components"
    assert found == {
        "spec.slos[1].timeslices": (12, 19),
        f"{where}[0].weight": (16, 33),
        f"{where}[1].slo": (17, 21),
    }, result.errors


def test_a_valid_composite_timeslice_and_calendar_spec_loads_into_the_model() -> None:
    from sloctl.model import Component, CompositeSLI

    result = load_text(ROOT.joinpath("slos", "platform-api.yaml").read_text(), "platform-api.yaml")
    assert result.ok, result.errors
    by = {s.name: s for s in result.slos}
    assert by["latency"].timeslices == Timeslices(300, 95.0)
    assert by["availability-by-dependency"].sli == CompositeSLI(
        (
            Component("postgres-availability", 2),
            Component("redis-availability", 1),
            Component("mongodb-availability", 1),
        )
    )
    policy = by["availability"].policy
    assert [(s.budget_left_percent, s.action) for s in policy.steps] == [(50, "notify"), (0, "freeze")]
    assert (
        policy.unknown == "freeze"
        and by["availability"].policy_alert_name == "PlatformApiAvailabilityBudgetPolicy"
    )
    assert by["availability"].no_data_alert_name == "PlatformApiAvailabilityNoData"


def _sloth(sli: str, alerting: str) -> str:
    """A Sloth ``prometheus/v1`` spec of one SLO ``s`` (99 %) with this ``sli`` and ``alerting``."""
    head = "version: prometheus/v1\nservice: svc\nslos:\n  - name: s\n    objective: 99\n"
    return f"{head}    sli: {sli}\n    alerting: {alerting}\n"


def test_sloth_unknown_fields_are_warnings_as_sloth_ignores_them() -> None:
    sli = "{events: {error_query: 'sum(rate(e[{{.window}}]))', total_query: 'sum(rate(t[{{.window}}]))'}}"
    result = load_text(_sloth(sli, "{name: A, pageAlert: {labels: {a: b}}}"), "s.yaml")
    assert not result.errors
    assert "unknown field ignored (did you mean 'page_alert'?)" in str(result.warnings[0])


def test_a_sloth_slo_with_alerts_disabled_and_no_alert_name_names_its_no_data_ticket_after_itself() -> None:
    """Sloth asks for ``alerting.name`` only while an alert is on; the no-data ticket sloctl adds
    is ``<Name>NoData`` then, not ``NoData`` for every such SLO."""
    sli = "{events: {error_query: 'sum(rate(e[{{.window}}]))', total_query: 'sum(rate(t[{{.window}}]))'}}"
    no_alerts = "{page_alert: {disable: true}, ticket_alert: {disable: true}}"
    text = _sloth(sli, no_alerts) + f"  - name: queue-depth\n    objective: 99\n    sli: {sli}\n"
    text += f"    alerting: {no_alerts}\n"
    result = load_text(text, "s.yaml")
    assert result.ok, result.errors
    assert [s.no_data_alert_name for s in result.slos] == ["SNoData", "QueueDepthNoData"]
    groups = yaml.safe_load(render_rule_file(result.slos, ["s.yaml"], "test"))["groups"]
    names = [r["alert"] for g in groups for r in g["rules"] if "alert" in r]
    assert names == ["SNoData", "QueueDepthNoData"]
    # with an alert on, Sloth's name stays required
    result = load_text(_sloth(sli, "{page_alert: {disable: true}}"), "s.yaml")
    assert ["an alert name is required while alerts are enabled" in str(e) for e in result.errors] == [True]


def test_an_unported_sloth_sli_plugin_is_rejected_by_name() -> None:
    no_alerts = "{page_alert: {disable: true}, ticket_alert: {disable: true}}"
    result = load_text(_sloth("{plugin: {id: sloth-common/availability}}", no_alerts), "s.yaml")
    assert "SLI plugin 'sloth-common/availability' has no sloctl port" in str(result.errors[0])


def test_the_complete_example_of_docs_spec_md_is_valid() -> None:
    text = (ROOT / "docs" / "spec.md").read_text()
    example = text.split("## A complete example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    result = load_text(example, "docs/spec.md")
    assert result.ok, result.errors
    kinds = {s.name: (s.sli.kind, s.budgeting, s.calendar.unit if s.calendar else None) for s in result.slos}
    assert kinds["latency"] == ("latency", "timeslices", None)
    assert kinds["availability-monthly"] == ("events", "occurrences", "month")
    assert kinds["availability-by-dependency"][0] == "composite"


def test_an_objective_written_as_a_ratio_or_with_a_percent_sign_is_said_so() -> None:
    ratio = load_text(BASE.replace("objective: 99.9", "objective: 0.999"), "f.yaml")
    assert ratio.ok and ratio.slos[0].objective == 0.999  # a warning, not an error: valid, if unlikely
    assert [str(w) for w in ratio.warnings] == [
        "f.yaml:9:18: spec.slos[0].objective: objective 0.999 is a percentage: 0.999 % of events good; "
        "for 99.9 % write 99.9"
    ]
    assert not load_text(BASE, "f.yaml").warnings
    percent = load_text(BASE.replace("objective: 99.9", "objective: 99.9%"), "f.yaml")
    assert [str(e) for e in percent.errors] == [
        "f.yaml:9:18: spec.slos[0].objective: expected a number, found str '99.9%'; write 99.9, "
        "without the % sign"
    ]


def test_two_slos_whose_service_and_name_join_alike_are_refused_naming_both() -> None:
    """Service ``a-b``'s SLO ``c`` and service ``a``'s SLO ``b-c`` share the id ``a-b-c``."""
    sli = "{raw: {errorRatioQuery: 'avg(avg_over_time(x[{{.window}}]))'}}"
    text = "".join(
        f"---\napiVersion: sloctl/v1\nkind: Service\nmetadata: {{name: {svc}}}\nspec:\n  slos:\n"
        f"  - {{name: {name}, objective: 99, sli: {sli}}}\n"
        for svc, name in (("a-b", "c"), ("a", "b-c"))
    )
    (error,) = load_text(text, "ids.yaml").errors
    assert error.message.startswith("SLO 'b-c' of service 'a' has the id 'a-b-c' of SLO 'c' of service 'a-b'")
