"""What sloctl cannot compile in an OpenSLO composite SLO is refused once, at the OpenSLO field at
fault and in OpenSLO's words: a calendar ``timeWindow``, a timeslice ``budgetingMethod``, an
objective with a raw ratio. The calendar window and the raw ratio used to reach the native check
of a composite's components and come out at ``spec.slos[<name>].sli.composite.components`` (a
field no OpenSLO file has), the calendar once per objective; the timeslice method came out again
at each objective."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloctl.cli.main import main
from sloctl.errors import SpecError
from sloctl.spec import load_text
from tests.fixtures.specs import events_slo, shop_slo

PROM = "{type: Prometheus, spec: {query: 'sum(rate(%s[{{.window}}]))'}}"
RATIO = f"{{good: {{metricSource: {PROM % 'ok_total'}}}, total: {{metricSource: {PROM % 'all_total'}}}}}"
PROM_V2 = "{dataSourceSpec: {type: Prometheus}, spec: {query: 'sum(rate(%s[{{.window}}]))'}}"
RATIO_V2 = f"{{good: {PROM_V2 % 'ok_total'}, total: {PROM_V2 % 'all_total'}}}"
RAW = (
    "{rawType: failure, raw: {metricSource: {type: Prometheus, spec: "
    "{query: 'sum(rate(failed_total[{{.window}}])) / sum(rate(all_total[{{.window}}]))'}}}}"
)
CALENDAR = "[{duration: 1M, isRolling: false, calendar: {startTime: '2024-01-01 00:00:00', timeZone: UTC}}]"
ROLLING = "[{duration: 28d, isRolling: true}]"


def composite(
    *,
    window: str = ROLLING,
    method: str = "Occurrences",
    second: str = "",
    api: str = "openslo/v1",
    indicator: str = "indicator",
    ratio: str = RATIO,
) -> str:
    """The OpenSLO SLO ``checkout`` of two objectives that each name their indicator (a
    composite, both ``ratio``), the second's indicator ``second``."""
    return f"""apiVersion: {api}
kind: SLO
metadata: {{name: checkout}}
spec:
  service: shop
  budgetingMethod: {method}
  timeWindow: {window}
  objectives:
    - target: 0.99
      compositeWeight: 3
      {indicator}: {{spec: {{ratioMetric: {ratio}}}}}
    - target: 0.999
      {indicator}: {second or f"{{spec: {{ratioMetric: {ratio}}}}}"}
"""


def errors(text: str) -> list[SpecError]:
    return list(load_text(text, "o.yaml").errors)


def place(text: str, needle: str, after: str = "") -> tuple[int, int]:
    """Line and column (from 1) of the first ``needle`` after ``after`` in ``text``."""
    start = text.index(needle, text.index(after))
    line = text.count("\n", 0, start) + 1
    return line, start - (text.rfind("\n", 0, start) + 1) + 1


def where(error: SpecError) -> tuple[int, int]:
    return error.location.line, error.location.column


def test_the_controls_a_rolling_composite_and_calendar_objectives_that_make_no_composite() -> None:
    """The composite of this module compiles (two components and the whole), and the calendar
    window refused below compiles for objectives that share one indicator (no composite)."""
    assert [s.name for s in load_text(composite(), "o.yaml").slos] == ["checkout-0", "checkout-1", "checkout"]
    shared = f"""apiVersion: openslo/v1
kind: SLO
metadata: {{name: checkout}}
spec:
  service: shop
  budgetingMethod: Occurrences
  timeWindow: {CALENDAR}
  indicator: {{spec: {{ratioMetric: {RATIO}}}}}
  objectives: [{{target: 0.99}}, {{target: 0.999}}]
"""
    result = load_text(shared, "o.yaml")
    assert result.ok, result.errors
    assert [(s.name, s.calendar is not None) for s in result.slos] == [
        ("checkout-0", True),
        ("checkout-1", True),
    ]


@pytest.mark.parametrize(
    ("api", "indicator", "duration", "unit", "rolling"),
    [
        ("openslo/v1", "indicator", "1M", "month", "30d"),
        ("openslo/v1", "indicator", "1Q", "quarter", "90d"),
        ("openslo/v1", "indicator", "1w", "week", "1w"),
        ("openslo.com/v2alpha", "sli", "1w", "week", "1w"),  # v2alpha's calendars are weeks
    ],
)
def test_a_calendar_composite_is_refused_once_at_its_time_window_saying_to_make_it_rolling(
    api: str, indicator: str, duration: str, unit: str, rolling: str
) -> None:
    window = f"[{{duration: {duration}, calendar: {{startTime: '2024-01-01 00:00:00', timeZone: UTC}}}}]"
    ratio = RATIO_V2 if api == "openslo.com/v2alpha" else RATIO
    text = composite(window=window, api=api, indicator=indicator, ratio=ratio)
    (error,) = errors(text)
    assert error.path == "spec.timeWindow[0]"
    assert where(error) == place(text, "{duration", "timeWindow")
    assert f"not a calendar {unit}" in error.message
    assert f"write timeWindow: [{{duration: {rolling}, isRolling: true}}]" in error.message
    assert "an SLO document of its own" in error.message


def test_the_command_line_prints_the_calendar_composite_once_in_openslos_terms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = composite(window=CALENDAR)
    path = tmp_path / "o.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    line, column = place(text, "{duration", "timeWindow")
    assert err.splitlines() == [
        f"error: {path}:{line}:{column}: spec.timeWindow[0]: a composite is compiled over a rolling time "
        "window only (its objectives count events on a rolling period), not a calendar month: write "
        "timeWindow: [{duration: 30d, isRolling: true}], or give each objective an SLO document of its "
        "own, which may keep the calendar window",
        "1 error(s) in 1 file(s)",
    ]


@pytest.mark.parametrize("method", ["Timeslices", "RatioTimeslices"])
def test_a_timeslice_composite_is_refused_once_at_its_budgeting_method_not_again_at_each_objective(
    method: str,
) -> None:
    """Its objectives lack timeSliceTarget and timeSliceWindow: asking for them at each objective
    (as the reader did) sends the author to add fields that would still be refused."""
    text = composite(method=method)
    (error,) = errors(text)
    assert error.path == "spec.budgetingMethod"
    assert where(error) == place(text, method, "budgetingMethod")
    assert "Occurrences budgeting only" in error.message


def test_a_timeslice_composite_on_a_calendar_is_refused_at_both_fields_once_each() -> None:
    text = composite(method="Timeslices", window=CALENDAR)
    assert [(e.path, where(e)) for e in errors(text)] == [
        ("spec.budgetingMethod", place(text, "Timeslices", "budgetingMethod")),
        ("spec.timeWindow[0]", place(text, "{duration", "timeWindow")),
    ]


def test_a_raw_objective_in_a_composite_is_refused_at_its_raw_ratio() -> None:
    text = composite(second=f"{{spec: {{ratioMetric: {RAW}}}}}")
    (error,) = errors(text)
    assert error.path == "spec.objectives[1].indicator.spec.ratioMetric.raw"
    assert where(error) == place(text, "{metricSource", "raw:")
    assert "needs event counts (ratioMetric good or bad, with total)" in error.message


def test_a_raw_objective_in_a_composite_by_reference_is_refused_at_its_indicator_ref() -> None:
    sli = f"apiVersion: openslo/v1\nkind: SLI\nmetadata: {{name: failures}}\nspec: {{ratioMetric: {RAW}}}\n"
    text = (
        sli
        + "---\n"
        + composite().replace(
            f"    - target: 0.999\n      indicator: {{spec: {{ratioMetric: {RATIO}}}}}",
            "    - target: 0.999\n      indicatorRef: failures",
        )
    )
    assert text.count("indicatorRef: failures") == 1
    (error,) = errors(text)
    assert error.path == "spec.objectives[1].indicatorRef"
    assert where(error) == place(text, "failures", "indicatorRef")


@pytest.mark.parametrize(
    ("extra", "setting"),
    [("calendar: {unit: month}", "calendar"), ("timeslices: {slice: 5m, target: 95}", "timeslices")],
)
def test_a_native_composite_names_which_setting_of_a_component_keeps_it_out(extra: str, setting: str) -> None:
    """In the native format the component is the field at fault: the error stays there, and says
    which of its settings it is."""
    more = events_slo("odd", extra=extra) + (
        "\n- name: whole\n  objective: 99\n  sli:\n    composite:\n"
        "      components: [{slo: availability}, {slo: odd}]\n"
    )
    text = shop_slo(more_slos=more)
    (error,) = errors(text)
    assert error.path == "spec.slos[2].sli.composite.components[1].slo"
    assert where(error) == place(text, "odd}", "components")
    assert error.message == (
        f"component 'odd' has {setting}; components count events on a rolling period: drop its "
        f"{setting}, or leave it out of the composite"
    )
