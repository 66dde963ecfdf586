"""OpenSLO v1 as the specification defines it: data sources, alert policies, op, thresholdMetric,
multi-valued labels, calendar starts and composite objectives. The fixtures are our own; they
use the features of OpenSLO's repository examples with Prometheus sources."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from sloctl.cli.main import main
from sloctl.model import CompositeSLI, EventsSLI, RatioSLI, Timeslices
from sloctl.shelf import find
from sloctl.spec import load_paths, load_text
from tests.fixtures.specs import ONCALL_TARGET

PROM = "{type: Prometheus, spec: {query: 'sum(rate(%s[{{.window}}]))'}}"
RATIO = f"{{good: {{metricSource: {PROM % 'ok_total'}}}, total: {{metricSource: {PROM % 'all_total'}}}}}"


def slo(spec: str, name: str = "api-slo") -> str:
    return f"apiVersion: openslo/v1\nkind: SLO\nmetadata: {{name: {name}}}\nspec:\n{spec}"


def errors_of(text: str) -> dict[str, str]:
    return {e.path: e.message for e in load_text(text, "o.yaml").errors}


def test_a_threshold_metric_counts_each_sample_as_an_occurrence_good_when_op_value_holds() -> None:
    result = load_text(
        slo(
            """  service: shop
  indicator:
    spec:
      thresholdMetric:
        metricSource: {type: Prometheus, spec: {query: 'search_latency_ms'}}
  timeWindow: [{duration: 2w, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{op: lt, value: 500, target: 0.99}]
  alertPolicies: []
"""
        )
    )
    assert result.ok, result.errors
    (s,) = result.slos
    assert isinstance(s.sli, EventsSLI) and s.objective == pytest.approx(99) and s.period == 14 * 86400
    # lt 500 is good, so >= 500 is an error; both count one sample a minute.
    assert s.sli.error_query == "sum(count_over_time(((search_latency_ms) >= 500)[{{.window}}:1m]))"
    assert s.sli.total_query == "sum(count_over_time((search_latency_ms)[{{.window}}:1m]))"


def test_op_on_a_ratio_objective_accepts_gt_and_gte_and_refuses_lt_with_the_spec_quoted() -> None:
    indicator = f"  indicator: {{spec: {{ratioMetric: {RATIO}}}}}\n"
    base = f"  service: api\n{indicator}  budgetingMethod: Occurrences\n"
    assert load_text(slo(base + "  objectives: [{op: gt, target: 0.99}, {op: gte, target: 0.9}]\n")).ok
    errors = errors_of(slo(base + "  objectives: [{op: lte, target: 0.99}]\n"))
    assert "use gt or gte" in errors["spec.objectives[0].op"]
    assert "OpenSLO v1, Objectives" in errors["spec.objectives[0].op"]


DATA_SOURCE = """apiVersion: openslo/v1
kind: DataSource
metadata: {name: prom}
spec: {type: Prometheus, connectionDetails: {url: 'http://127.0.0.1:9090'}}
---
"""


def test_a_metric_source_takes_its_type_from_the_data_source_it_refers_to() -> None:
    src = "{metricSource: {metricSourceRef: prom, spec: {query: 'sum(rate(%s[{{.window}}]))'}}}"
    text = DATA_SOURCE + slo(
        f"""  service: api
  indicator: {{spec: {{ratioMetric: {{counter: true, good: {src % "ok"}, total: {src % "all"}}}}}}}
  budgetingMethod: Occurrences
  objectives: [{{target: 0.995}}]
"""
    )
    result = load_text(text)
    assert result.ok, result.errors
    assert isinstance(result.slos[0].sli, RatioSLI)
    without_source = errors_of(text.split("---\n", 1)[1])
    assert "no DataSource document named 'prom' among the input files" in without_source.values()


def test_a_metric_source_without_type_or_reference_and_one_of_another_type_are_refused_by_field() -> None:
    no_type = "{metricSource: {spec: {query: 'sum(rate(x[{{.window}}]))'}}}"
    datadog = "{metricSource: {type: Datadog, spec: {query: 'sum:trace.hits{*}.as_count()'}}}"
    errors = errors_of(
        slo(
            f"""  service: api
  indicator: {{spec: {{ratioMetric: {{good: {no_type}, total: {datadog}}}}}}}
  budgetingMethod: Occurrences
  objectives: [{{target: 0.99}}]
"""
        )
    )
    good = errors["spec.indicator.spec.ratioMetric.good.metricSource.type"]
    assert "Field `type` can't be omitted" in good
    total = errors["spec.indicator.spec.ratioMetric.total.metricSource.type"]
    assert "data source type 'Datadog' is not compiled" in total and "OpenSLO v1, SLI" in total


POLICIES = (
    """apiVersion: openslo/v1
kind: AlertCondition
metadata: {name: fast-burn}
spec:
  severity: page
  condition: {kind: burnrate, op: gt, threshold: 14.4, lookbackWindow: 1h, alertAfter: 2m}
---
"""
    + ONCALL_TARGET
    + """apiVersion: openslo/v1
kind: AlertPolicy
metadata: {name: paging}
spec:
  alertWhenBreaching: true
  alertWhenNoData: true
  conditions: [{conditionRef: fast-burn}]
  notificationTargets: [{targetRef: oncall}]
---
"""
)


def test_alert_policies_enable_the_catalog_tiers_their_burn_rate_conditions_name() -> None:
    inline_ticket = """
    - kind: AlertPolicy
      metadata: {name: tickets}
      spec:
        conditions:
          - kind: AlertCondition
            metadata: {name: slow}
            spec: {severity: ticket, condition: {op: gte, threshold: 1, lookbackWindow: 3d}}
        notificationTargets:
          - {kind: AlertNotificationTarget, metadata: {name: tracker}, spec: {target: webhook}}
"""
    text = POLICIES + slo(
        f"""  service: api
  indicator: {{spec: {{ratioMetric: {RATIO}}}}}
  timeWindow: [{{duration: 30d, isRolling: true}}]
  budgetingMethod: Occurrences
  objectives: [{{target: 0.999}}]
  alertPolicies:
    - alertPolicyRef: paging{inline_ticket}"""
    )
    result = load_text(text)
    assert result.ok, result.errors
    alerting = result.slos[0].alerting
    enabled = {t.name: t.for_seconds for t in alerting.tiers if t.enabled}
    assert enabled == {"page_quick": 120, "ticket_slow": 0}
    assert dict(alerting.labels) == {"notification_target": "oncall,tracker"}
    assert alerting.no_data.enabled


def test_an_alert_condition_matching_no_catalog_tier_is_refused_with_the_tiers_it_could_use() -> None:
    text = POLICIES.replace("threshold: 14.4", "threshold: 3") + slo(
        f"""  service: api
  indicator: {{spec: {{ratioMetric: {RATIO}}}}}
  budgetingMethod: Occurrences
  objectives: [{{target: 0.999}}]
  alertPolicies: [{{alertPolicyRef: paging}}]
"""
    )
    message = errors_of(text)["AlertCondition fast-burn.spec.condition"]
    assert "burn rate 3 over 1h is no page tier" in message
    assert "lookbackWindow 1h threshold 14.4" in message


def test_labels_with_several_values_become_one_comma_joined_label_and_empty_lists_none() -> None:
    text = slo(
        f"""  service: api
  indicator: {{spec: {{ratioMetric: {RATIO}}}}}
  budgetingMethod: Occurrences
  objectives: [{{target: 0.99}}]
""",
    ).replace(
        "metadata: {name: api-slo}",
        "metadata: {name: api-slo, labels: {team: [identity, rbac], tier: 'one', none: []}}",
    )
    result = load_text(text)
    assert result.ok, result.errors
    assert dict(result.slos[0].labels) == {"team": "identity,rbac", "tier": "one"}


@pytest.mark.parametrize(
    ("duration", "start", "ok"),
    [
        ("1w", "2024-01-01 00:00:00", True),  # a Monday
        ("1w", "2022-01-01 12:00:00", False),  # a Saturday, at noon
        ("1M", "2024-03-01 00:00:00", True),
        ("1Q", "2024-02-01 00:00:00", False),
    ],
)
def test_a_calendar_start_must_fall_where_sloctl_starts_the_unit(duration: str, start: str, ok: bool) -> None:
    text = slo(
        f"""  service: api
  indicator: {{spec: {{ratioMetric: {RATIO}}}}}
  timeWindow: [{{duration: {duration}, calendar: {{startTime: '{start}', timeZone: America/New_York}}}}]
  budgetingMethod: Timeslices
  objectives: [{{op: gt, target: 0.9995, timeSliceTarget: 0.95, timeSliceWindow: 5m}}]
"""
    )
    result = load_text(text)
    if ok:
        assert result.ok, result.errors
        assert result.slos[0].timeslices == Timeslices(300, 95.0)
        assert result.slos[0].calendar is not None and result.slos[0].calendar.time_zone == "America/New_York"
    else:
        assert "does not start a calendar" in errors_of(text)["spec.timeWindow[0].calendar.startTime"]


def test_a_one_minute_calendar_window_is_named_as_the_minute_the_shorthand_says_it_is() -> None:
    text = slo(
        f"""  service: api
  indicator: {{spec: {{ratioMetric: {RATIO}}}}}
  timeWindow: [{{duration: 1m, isRolling: false, calendar: {{timeZone: UTC}}}}]
  budgetingMethod: Occurrences
  objectives: [{{target: 0.99}}]
"""
    )
    message = errors_of(text)["spec.timeWindow[0].duration"]
    assert "1m is one minute; a month is 1M" in message and "'M – months'" in message


def test_composite_objectives_become_component_slos_and_their_weighted_composite() -> None:
    text = slo(
        f"""  service: shop
  budgetingMethod: Occurrences
  timeWindow: [{{duration: 28d, isRolling: true}}]
  objectives:
    - {{target: 0.99, compositeWeight: 3, indicator: {{spec: {{ratioMetric: {RATIO}}}}}}}
    - target: 0.999
      indicator:
        spec:
          ratioMetric:
            bad: {{metricSource: {PROM % "failed_total"}}}
            total: {{metricSource: {PROM % "checkout_total"}}}
""",
        name="checkout",
    )
    result = load_text(text)
    assert result.ok, result.errors
    names = [s.name for s in result.slos]
    assert names == ["checkout-0", "checkout-1", "checkout"]
    whole = result.slos[2]
    assert isinstance(whole.sli, CompositeSLI)
    assert [(c.slo, c.weight) for c in whole.sli.components] == [("checkout-0", 3.0), ("checkout-1", 1.0)]
    # Budget: (3 x 1 % + 1 x 0.1 %) / 4 = 0.775 %.
    assert whole.objective == pytest.approx(99.225)


def test_a_composites_objective_is_the_float_nearest_the_weighted_mean_of_its_targets() -> None:
    """90 % weighing 1 and 99.95 % weighing 2: (90 + 2 x 99.95) / 3 = 96.6333…, whose nearest
    float is 96.63333333333334; mean budgets in binary arithmetic gave 96.63333333333333, an
    objective no spec writes (``sloctl convert --to openslo`` compares a composite's with it)."""
    text = slo(
        f"""  service: shop
  budgetingMethod: Occurrences
  timeWindow: [{{duration: 28d, isRolling: true}}]
  objectives:
    - {{targetPercent: 90, indicator: {{spec: {{ratioMetric: {RATIO}}}}}}}
    - {{targetPercent: 99.95, compositeWeight: 2, indicator: {{spec: {{ratioMetric: {RATIO}}}}}}}
""",
        name="checkout",
    )
    result = load_text(text)
    assert result.ok, result.errors
    assert result.slos[2].objective == float(Fraction(2899, 30)) == 96.63333333333334


V2 = """\
apiVersion: openslo.com/v2alpha
kind: DataSource
metadata: {name: prom}
spec: {type: Prometheus, connectionDetails: {url: 'http://127.0.0.1:9090'}}
---
apiVersion: openslo.com/v2alpha
kind: SLI
metadata: {name: search-latency}
spec:
  thresholdMetric:
    dataSourceRef: prom
    spec: {query: 'max(search_latency_ms)'}
---
apiVersion: openslo.com/v2alpha
kind: SLO
metadata: {name: search, labels: {team: shop}}
spec:
  service: shop
  sliRef: search-latency
  timeWindow: [{duration: 1w, calendar: {startTime: '2024-01-01 00:00:00', timeZone: UTC}}]
  budgetingMethod: Occurrences
  objectives:
    - {op: lte, value: 300, target: 0.95, labels: {tier: fast}}
    - {op: lte, value: 1000, target: 0.99}
"""


def test_v2alpha_documents_read_sli_refs_data_source_refs_and_several_threshold_objectives() -> None:
    result = load_text(V2)
    assert result.ok, [str(e) for e in result.errors]
    fast, slow = result.slos
    assert (fast.name, slow.name) == ("search-0", "search-1")
    assert fast.spec_version == "openslo.com/v2alpha"
    assert dict(fast.labels) == {"team": "shop", "tier": "fast"} and dict(slow.labels) == {"team": "shop"}
    assert isinstance(fast.sli, EventsSLI) and "> 300" in fast.sli.error_query
    assert fast.calendar is not None and fast.calendar.unit == "week"


def test_v2alpha_takes_serviceRef_as_openslos_go_sdk_writes_it_and_wants_one_service_field() -> None:
    assert load_text(V2.replace("  service: shop", "  serviceRef: shop")).slos[0].service == "shop"
    both = errors_of(V2.replace("  service: shop", "  service: shop\n  serviceRef: shop"))
    neither = errors_of(V2.replace("  service: shop\n", ""))
    for errors in (both, neither):
        assert "give exactly one of service or serviceRef" in errors["spec"], errors
    # v1 has no serviceRef
    indicator = f"  indicator: {{spec: {{ratioMetric: {RATIO}}}}}\n"
    rest = "  budgetingMethod: Occurrences\n  objectives: [{target: 0.9}]\n"
    v1 = errors_of(slo("  serviceRef: api\n" + indicator + rest))
    assert "unknown field" in v1["spec.serviceRef"] and "required" in v1["spec.service"]


def test_v2alpha_refuses_v1_spellings_other_sources_and_months_by_field() -> None:
    text = (
        V2.replace("sliRef: search-latency", "indicatorRef: search-latency")
        .replace("metadata: {name: search, labels", "metadata: {name: search, displayName: S, labels")
        .replace("duration: 1w", "duration: 1M")
        + """---
apiVersion: openslo.com/v2alpha
kind: SLO
metadata: {name: other}
spec:
  service: shop
  sli:
    spec:
      ratioMetric:
        good: {dataSourceSpec: {type: Datadog}, spec: {query: 'sum:hits{ok}'}}
        total: {dataSourceRef: prom, spec: {query: 'sum(rate(all_total[{{.window}}]))'}}
  budgetingMethod: Occurrences
  objectives: [{target: 0.9}]
"""
    )
    errors = errors_of(text)
    assert "v2alpha calls it sliRef" in errors["spec.indicatorRef"]
    assert "unknown field" in errors["metadata.displayName"]
    assert "OpenSLO v2alpha" in errors["spec.timeWindow[0].duration"]
    datadog = errors["spec.sli.spec.ratioMetric.good.dataSourceSpec.type"]
    assert "data source type 'Datadog' is not compiled" in datadog


def test_empty_lists_mean_the_defaults_the_spec_gives_and_an_empty_condition_list_is_refused() -> None:
    base = f"""  service: api
  indicator: {{spec: {{ratioMetric: {RATIO}}}}}
  budgetingMethod: Occurrences
  objectives: [{{target: 0.99}}]
"""
    result = load_text(slo(base + "  timeWindow: []\n  alertPolicies: []\n"))
    assert result.ok, [str(e) for e in result.errors]
    (s,) = result.slos
    assert s.period == 30 * 86400 and s.calendar is None
    assert all(t.enabled for t in s.alerting.tiers)
    empty = "{conditions: [], notificationTargets: []}"
    policy = f"  alertPolicies: [{{kind: AlertPolicy, metadata: {{name: p}}, spec: {empty}}}]\n"
    errors = errors_of(slo(base + policy))
    assert errors["spec.alertPolicies[0].spec.conditions"] == "an alert policy needs its one condition"
    assert (
        "at least one objective" in errors_of(slo(base.replace("[{target: 0.99}]", "[]")))["spec.objectives"]
    )


def _ratio_of(counter: str, good: str, total: str) -> str:
    def source(query: str) -> str:
        return f"{{metricSource: {{type: Prometheus, spec: {{query: '{query}'}}}}}}"

    return slo(
        f"""  service: web
  indicator:
    spec:
      ratioMetric: {{{counter}good: {source(good)}, total: {source(total)}}}
  budgetingMethod: Occurrences
  objectives: [{{target: 0.995}}]
"""
    )


@pytest.mark.parametrize(
    ("counter", "good", "total", "sli"),
    [
        # The specification's own example (README, "Ratio Metric"): counters, no window.
        (
            "counter: true, ",
            'sum(localhost_server_requests{code=~"2xx|3xx",host="*"})',
            'localhost_server_requests{code="total",host="*"}',
            (
                'sum(rate(localhost_server_requests{code=~"2xx|3xx",host="*"}[{{.window}}]))',
                'sum(rate(localhost_server_requests{code="total",host="*"}[{{.window}}]))',
            ),
        ),
        # counter defaults to true; a sum by labels keeps them
        (
            "",
            "sum by (job) (ok_total)",
            "sum(all_total) without (instance)",
            (
                "sum by (job) (rate(ok_total[{{.window}}]))",
                "sum without (instance) (rate(all_total[{{.window}}]))",
            ),
        ),
        # a gauge is averaged over the window
        (
            "counter: false, ",
            "healthy_pods",
            "sum(desired_pods)",
            (
                "sum(avg_over_time(healthy_pods[{{.window}}]))",
                "sum(avg_over_time(desired_pods[{{.window}}]))",
            ),
        ),
        # Sloth's convention, a query over {{.window}}, is taken as written
        (
            "counter: true, ",
            "sum(rate(ok_total[{{ .window }}]))",
            "sum(rate(all_total[{{.window}}]))",
            ("sum(rate(ok_total[{{.window}}]))", "sum(rate(all_total[{{.window}}]))"),
        ),
    ],
    ids=["the spec's example", "sums by labels", "a gauge", "over the window already"],
)
def test_a_ratio_metric_without_a_window_is_read_as_the_counter_or_gauge_it_selects(
    counter: str, good: str, total: str, sli: tuple[str, str]
) -> None:
    """Before, a query without {{.window}} was taken as a rate, with a warning: the spec's own
    example compiled to rules dividing the counters' lifetime totals, the same in every window."""
    result = load_text(_ratio_of(counter, good, total), "o.yaml")
    assert result.ok and not result.warnings, [str(e) for e in (*result.errors, *result.warnings)]
    (s,) = result.slos
    assert isinstance(s.sli, RatioSLI)
    assert (s.sli.good_query, s.sli.total_query) == sli


def test_a_windowless_ratio_query_of_another_shape_is_refused_at_its_field() -> None:
    errors = errors_of(_ratio_of("", "max(ok_total)", "all_total offset 5m"))
    for part, query in (("good", "max(ok_total)"), ("total", "all_total offset 5m")):
        message = errors[f"spec.indicator.spec.ratioMetric.{part}"]
        assert "read as the counter it selects" in message and "neither" in message, (query, message)
        assert "sum(rate(<selector>[{{.window}}]))" in message


OSLO_LIST = """- apiVersion: openslo/v1
  kind: Service
  metadata: {name: api}
  spec: {description: the API}
- apiVersion: openslo/v1
  kind: DataSource
  metadata: {name: prom}
  spec: {type: Prometheus, connectionDetails: {url: 'http://127.0.0.1:9090'}}
- apiVersion: openslo/v1
  kind: SLO
  metadata: {name: api-slo}
  spec:
    service: api
    indicator:
      spec:
        ratioMetric:
          good: {metricSource: {metricSourceRef: prom, spec: {query: 'sum(rate(ok[{{.window}}]))'}}}
          total: {metricSource: {metricSourceRef: prom, spec: {query: 'sum(rate(all[{{.window}}]))'}}}
    budgetingMethod: Occurrences
    objectives: [{target: 0.995%s}]
"""


def test_a_list_of_openslo_objects_as_oslo_reads_it_is_read_item_by_item_with_their_places() -> None:
    result = load_text(OSLO_LIST % "", "o.yaml")
    assert result.ok, result.errors
    (s,) = result.slos
    assert (s.id, s.objective, str(s.source)) == ("api-api-slo", 99.5, "o.yaml:20:18")
    assert isinstance(s.sli, RatioSLI)
    (error,) = load_text(OSLO_LIST % ", bogus: 1", "o.yaml").errors
    assert (str(error.location), error.path) == ("o.yaml:20:34", "[2].spec.objectives[0].bogus")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("- apiVersion: sloctl/v1\n  kind: Service\n", "[0]: a list item with apiVersion sloctl/v1"),
        (
            "- apiVersion: openslo/v1\n  kind: Service\n  metadata: {name: a}\n- 3\n",
            "[1]: a list item that is not",
        ),
    ],
)
def test_a_list_of_anything_but_openslo_objects_is_refused_naming_the_forms_accepted(
    text: str, found: str
) -> None:
    (error,) = load_text(text, "o.yaml").errors
    assert found in str(error)
    assert "or (OpenSLO only, as oslo reads it) a list of OpenSLO objects" in error.message


V1ALPHA = """apiVersion: openslo/v1alpha
kind: SLO
metadata: {name: latency, labels: {team: core}}
spec:
  service: shop
  budgetingMethod: Occurrences
  INDICATOR
  timeWindows: [WINDOW]
  objectives:
    - OBJECTIVE
"""
V1ALPHA_RATIO = (
    "{target: 0.99, ratioMetrics: {"
    "good: {source: prometheus, queryType: promql, query: 'sum(rate(ok[{{.window}}]))'},"
    " total: {source: prometheus, queryType: promql, query: 'sum(rate(all[{{.window}}]))'}}}"
)


def v1alpha(
    indicator: str = "", window: str = "{unit: Day, count: 30}", objective: str = V1ALPHA_RATIO
) -> str:
    return V1ALPHA.replace("INDICATOR", indicator).replace("WINDOW", window).replace("OBJECTIVE", objective)


def test_an_openslo_v1alpha_service_is_read_like_a_v1_one_and_holds_no_slo() -> None:
    service = "apiVersion: openslo/v1alpha\nkind: Service\nmetadata: {name: shop}\nspec: {description: x}\n"
    result = load_text(service + "---\n" + v1alpha(), "o.yaml")
    assert not result.errors
    # metadata.labels is a v1alpha field, not an unknown one: Sloth ignores it, and says so once.
    (ignored,) = result.warnings
    assert (ignored.path, ignored.message.split(":")[0]) == ("metadata.labels", "ignored")
    assert [s.id for s in result.slos] == ["shop-latency-0"]
    (error,) = load_text("apiVersion: openslo/v1alpha\nkind: SLI\n", "o.yaml").errors
    assert error.message.endswith("it takes SLO or Service")


def test_v1alpha_refusals_say_what_sloctl_does_not_compile_and_why_each_once() -> None:
    threshold = v1alpha(
        indicator="indicator: {thresholdMetric: {source: prometheus, queryType: promql, query: latency_p95}}",
        window="{unit: Month, count: 1, calendar: {startTime: '2020-01-01 00:00:00', timeZone: UTC}}",
        objective="{op: lte, value: 0.2, target: 0.99}",
    )
    result = load_text(threshold, "o.yaml")
    assert [w.path for w in result.warnings] == ["metadata.labels"]  # spec.indicator is a v1alpha field
    errors = {e.path: e.message for e in result.errors}
    assert len(result.errors) == 2 and set(errors) == {
        "spec.indicator.thresholdMetric",
        "spec.timeWindows[0]",
    }
    assert "thresholdMetric SLIs" in errors["spec.indicator.thresholdMetric"]
    assert "write the SLO as openslo/v1" in errors["spec.indicator.thresholdMetric"]
    assert "calendar-aligned time windows" in errors["spec.timeWindows[0]"]
    (unit,) = load_text(v1alpha(window="{unit: Month, count: 1, isRolling: true}"), "o.yaml").errors
    assert (unit.path, unit.message.split(",")[0]) == (
        "spec.timeWindows[0].unit",
        "Month is a unit of openslo/v1alpha's calendar-aligned windows",
    )
    (missing,) = load_text(v1alpha(objective="{target: 0.99}"), "o.yaml").errors
    assert missing.path == "spec.objectives[0].ratioMetrics"
    (compared,) = load_text(v1alpha(objective="{target: 0.99, op: lte, value: 1}"), "o.yaml").errors
    assert compared.path == "spec.objectives[0].op" and "thresholdMetric SLIs" in compared.message


# openslo/v1alpha's time-window units (its README), and spellings of Day Sloth takes or refuses
V1ALPHA_UNITS = ("Day", "day", "DAY", "Days", "Second", "Minute", "Hour", "Week", "Month", "Quarter", "Year")


@pytest.mark.parametrize("unit", V1ALPHA_UNITS)
def test_a_v1alpha_time_window_is_read_as_sloth_reads_it_in_days_only(unit: str) -> None:
    """Sloth v0.16 refuses every v1alpha unit but Day ("only days based time windows are
    supported", in any case): so does sloctl, at the unit, saying the days to write."""
    result = load_text(v1alpha(window=f"{{unit: {unit}, count: 28}}"), "o.yaml")
    if unit.lower() == "day":
        assert not result.errors and [s.period for s in result.slos] == [28 * 86400]
        return
    (error,) = result.errors
    assert error.path == "spec.timeWindows[0].unit"
    assert (error.location.line, error.location.column) == (8, 24)
    assert "only days based time windows are supported" in error.message
    if unit == "Week":
        assert "write count: 196, unit: Day" in error.message
    if unit == "Hour":  # 28 hours are no whole number of days
        assert "write unit: Day, or the SLO as openslo/v1" in error.message


SLOTH = find("sloth")


@pytest.mark.skipif(SLOTH is None, reason="sloth is not on the tool shelf: run scripts/tools.sh sloth")
def test_sloctl_takes_the_v1alpha_time_window_units_the_real_sloth_takes(tmp_path: Path) -> None:
    """Oracle: ``sloth generate`` (v0.16, the tool shelf's) on the same document, unit by unit."""
    assert SLOTH is not None
    taken: dict[str, tuple[bool, bool]] = {}
    for unit in V1ALPHA_UNITS:
        spec = tmp_path / f"{unit}.yaml"
        spec.write_text(v1alpha(window=f"{{unit: {unit}, count: 28}}"))
        sloth = subprocess.run(
            [str(SLOTH), "generate", "-i", str(spec), "-o", str(tmp_path / f"{unit}.rules.yaml")],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        taken[unit] = (sloth.returncode == 0, not load_text(spec.read_text(), spec.name).errors)
    assert {u for u, (by_sloth, _) in taken.items() if by_sloth} == {"Day", "day", "DAY"}
    assert {u: by_sloth for u, (by_sloth, _) in taken.items()} == {u: ours for u, (_, ours) in taken.items()}


def _openslo_slo(name: str, service: str) -> str:
    return slo(
        f"  service: {service}\n  indicator: {{spec: {{ratioMetric: {RATIO}}}}}\n"
        "  timeWindow: [{duration: 30d, isRolling: true}]\n  budgetingMethod: Occurrences\n"
        "  objectives: [{target: 0.999}]\n",
        name,
    )


def test_two_openslo_documents_of_one_kind_and_name_are_refused_naming_both_all_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An SLO named twice (of two services: two SLO ids, yet one OpenSLO object), a Service
    # twice in one file, a DataSource in two files, a list item of oslo's form as the second.
    (tmp_path / "a.yaml").write_text(
        _openslo_slo("avail", "shop")
        + "---\napiVersion: openslo/v1\nkind: DataSource\nmetadata: {name: prom}\nspec: {type: Prometheus}\n"
    )
    (tmp_path / "b.yaml").write_text(_openslo_slo("avail", "cart"))
    service = "apiVersion: openslo/v1\nkind: Service\nmetadata: {name: api}\nspec: {}\n"
    (tmp_path / "c.yaml").write_text(f"{service}---\n{service}")
    (tmp_path / "d.yaml").write_text(OSLO_LIST % "")
    errors = {(e.location.file.rsplit("/", 1)[-1], e.location.line, e.path): e.message
              for e in load_paths([tmp_path]).errors}  # fmt: skip
    a = str(tmp_path / "a.yaml")
    c = str(tmp_path / "c.yaml")
    assert errors == {
        ("b.yaml", 3, "metadata.name"): f"a second SLO named 'avail'; the first is at {a}:3:18: "
        "OpenSLO names each SLO by its metadata.name, so rename one or remove the copy",
        ("c.yaml", 8, "metadata.name"): f"a second Service named 'api'; the first is at {c}:3:18: "
        "OpenSLO names each Service by its metadata.name, so rename one or remove the copy",
        ("d.yaml", 3, "[0].metadata.name"): f"a second Service named 'api'; the first is at {c}:3:18: "
        "OpenSLO names each Service by its metadata.name, so rename one or remove the copy",
        ("d.yaml", 7, "[1].metadata.name"): f"a second DataSource named 'prom'; the first is at {a}:13:18: "
        "OpenSLO names each DataSource by its metadata.name, so rename one or remove the copy",
    }
    assert main(["validate", str(tmp_path)]) == 1
    assert "4 error(s)" in capsys.readouterr().err


def test_an_alert_policy_written_as_its_name_says_how_to_refer_to_it() -> None:
    """``alertPolicies: [payments-fast]`` said "expected a mapping, found str" and no more."""
    base = f"""  service: api
  indicator: {{spec: {{ratioMetric: {RATIO}}}}}
  budgetingMethod: Occurrences
  objectives: [{{target: 0.99}}]
  alertPolicies: [payments-fast]
"""
    assert errors_of(slo(base)) == {
        "spec.alertPolicies[0]": "expected a mapping, found str 'payments-fast'; refer to the AlertPolicy by "
        "name as alertPolicyRef: payments-fast, or write the AlertPolicy inline (kind, metadata, spec)"
    }
