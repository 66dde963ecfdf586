"""Rejections are right: what Prometheus and Sloth accept is accepted, read as they read it, and
what is refused names the reason (a MetricsQL function names MetricsQL)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sloctl.generate import GenerateOptions, plan_outputs, write_outputs
from sloctl.promtool import run_rule_tests
from sloctl.spec import load_text
from sloctl.spec.metricsql import METRICSQL_ONLY, metricsql_functions
from tests.fixtures.sloth import QUOTED_NUMBERS, SLOTH_LABELS, Quoted, sloth_spec
from tests.fixtures.specs import shop_slo

GOOD_ERROR = 'sum(rate(req_total{code=~"5.."}[{{.window}}]))'


def native(name: str = "ApiAvailability", error: str = GOOD_ERROR) -> str:
    """The service ``api`` with one events SLO (its errorQuery ``error`` on line 10) alerting as
    ``name``."""
    total = "sum(rate(req_total[{{.window}}]))"
    return shop_slo(service="api", errors=error, total=total, extra=f"alerting:\n  name: {name}")


@pytest.mark.promtool
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_alert_names_prometheus_accepts_but_no_metric_name_would_load_generate_and_pass_promtool(
    tmp_path: Path,
) -> None:
    names = ["Disk full / 90 % — é", "1-api.availability", "api availability (checkout)"]
    text = "---\n".join(
        native(f'"{n}"').replace("name: api}", f"name: api{i}}}") for i, n in enumerate(names)
    )
    result = load_text(text, "f.yaml")
    assert result.ok, [str(e) for e in result.errors]
    assert [s.alerting.name for s in result.slos] == names
    write_outputs(tmp_path, plan_outputs(result.slos, GenerateOptions(dashboards=False)))
    report = run_rule_tests([tmp_path / "rules"], jobs=2)
    assert report.ok, "\n".join(report.lines())
    assert sum(1 for r in report.results if r.kind == "test") >= 3
    generated = "".join(p.read_text() for p in (tmp_path / "rules").glob("*.yml"))
    assert all(f"alert: {n}" in generated or f"alert: '{n}'" in generated for n in names)


def test_an_empty_native_alert_name_means_the_derived_one() -> None:
    result = load_text(native('""'), "f.yaml")
    assert result.ok, "an empty native name means the default one"
    assert result.slos[0].alerting.name == "AvailabilityBudgetBurn"


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ('rollup_rate(req_total{code=~"5.."}[{{.window}}])', "rollup_rate()"),
        ("sum(histogram_share(1, rate(b[{{.window}}])))", "histogram_share()"),
        ("range_first(sum(rate(e[{{.window}}]))) + median(rate(e[{{.window}}]))", "range_first(), median()"),
    ],
)
def test_a_metricsql_only_function_names_metricsql_and_the_function_in_its_error(
    query: str, named: str
) -> None:
    result = load_text(native(error=query), "f.yaml")
    (error,) = [str(e) for e in result.errors]
    assert f"{named}: MetricsQL (VictoriaMetrics) only, not PromQL" in error
    assert "spec.slos[0].sli.events.errorQuery" in error and "f.yaml:10" in error


def test_a_plain_promql_syntax_error_does_not_blame_metricsql_even_with_a_metricsql_word_in_a_string() -> (
    None
):
    result = load_text(native(error='sum(rate(req_total{fn="rollup_rate("}[{{.window}}])'), "f.yaml")
    (error,) = [str(e) for e in result.errors]
    assert "PromQL syntax error" in error and "MetricsQL" not in error


def test_no_name_on_the_metricsql_list_is_a_function_promql_parses() -> None:
    import promql_parser

    # Each name called with the argument shapes PromQL functions take: none may parse, else the
    # list would blame MetricsQL for a query Prometheus runs.
    shapes = ["x", "x[5m]", "1, x[5m]", "x, 1", "", "1", "x[5m], 1", "x, 'a', 'b'", "x, 'a', 'b', 'c', 'd'"]
    for name in sorted(METRICSQL_ONLY):
        for args in shapes:
            with pytest.raises(ValueError):
                promql_parser.parse(f"{name}({args})")
    assert metricsql_functions('any(x) + Sum(rate(y[1m])) + label_set(z, "a", "b")') == ["any", "label_set"]


def test_sloth_label_values_that_go_reads_as_numbers_or_booleans_are_the_strings_sloth_writes() -> None:
    result = load_text(sloth_spec(SLOTH_LABELS), "s.yaml")
    assert result.ok, [str(e) for e in result.errors]
    got = dict(result.slos[0].labels)
    assert {v: got[f"k{i}"] for i, v in enumerate(SLOTH_LABELS)} == SLOTH_LABELS


@pytest.mark.parametrize("case", QUOTED_NUMBERS, ids=lambda q: q.name)
def test_a_quoted_number_in_a_sloth_file_is_one_error_at_its_value_as_sloth_refuses_it(case: Quoted) -> None:
    result = load_text(case.text, case.name)
    assert not result.slos
    assert [(e.location.file, e.location.line, e.location.column, e.path) for e in result.errors] == [
        (case.name, case.line, case.column, case.path)
    ]
    assert result.errors[0].message.endswith("without quotes")


def test_an_empty_sloth_alert_name_with_alerts_on_is_one_error_at_the_field() -> None:
    """Sloth's validate testdata (bad-multi-k8s.yaml): ``name: ""`` with the page alert on."""
    errors = load_text(sloth_spec({}).replace("name: A", 'name: ""'), "s.yaml").errors
    assert [(e.path, e.message) for e in errors] == [
        ("slos[0].alerting.name", "an alert name is required while alerts are enabled")
    ]
