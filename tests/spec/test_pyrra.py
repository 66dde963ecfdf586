"""Pyrra's ``pyrra.dev/v1alpha1`` ``ServiceLevelObjective``: every field Pyrra's own examples use
(tests/spec/fixtures/pyrra, written for sloctl), read with Pyrra's meaning."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloctl.cli.main import main
from sloctl.model import SLO, EventsSLI, RatioSLI
from sloctl.spec import load_paths, load_text
from tests.fixtures.cli import run_sloctl
from tests.fixtures.specs import pyrra_slo
from tests.paths import ROOT

FIXTURES = ROOT / "tests" / "spec" / "fixtures" / "pyrra"
DAY = 86400


def by_id() -> dict[str, SLO]:
    result = load_paths([FIXTURES])
    assert result.ok, [str(e) for e in result.errors]
    return {s.id: s for s in result.slos}


def test_every_pyrra_fixture_loads_one_slo_per_object_in_its_namespace() -> None:
    slos = by_id()
    assert sorted(slos) == [
        "default-api-latency-native",
        "monitoring-targets-up",
        "shop-checkout-errors",
        "shop-checkout-latency",
    ]
    errors = slos["shop-checkout-errors"]
    assert (errors.objective, errors.period, errors.spec_version) == (99.5, 14 * DAY, "pyrra.dev/v1alpha1")
    assert (errors.document_name, errors.document_namespace) == ("checkout-errors", "shop")
    assert errors.description.startswith("Checkout requests")
    # Only pyrra.dev/ labels and annotations propagate, without their prefix (as in Pyrra).
    assert dict(errors.labels) == {"team": "payments"}
    assert dict(errors.alerting.annotations) == {"runbook": "https://runbooks.example.test/checkout"}


def test_pyrra_windows_pick_the_catalog_of_their_period_with_no_tier_below_1x() -> None:
    slos = by_id()
    for slo_id, days in [
        ("shop-checkout-errors", 14),
        ("shop-checkout-latency", 28),
        ("default-api-latency-native", 28),
        ("monitoring-targets-up", 7),
    ]:
        slo = slos[slo_id]
        assert slo.windows.period == days * DAY
        assert min(t.window.burn_factor(slo.period) for t in slo.alerting.tiers) >= 1


def test_a_ratio_indicator_sums_by_its_grouping_and_a_group_without_errors_reads_as_zero() -> None:
    sli = by_id()["shop-checkout-errors"].sli
    assert isinstance(sli, EventsSLI)
    total = 'sum by (route) (rate(shop_http_requests_total{job="checkout"}[{{.window}}]))'
    assert sli.total_query == total
    assert sli.error_query == (
        '(sum by (route) (rate(shop_http_requests_total{job="checkout",code=~"5.."}[{{.window}}])))'
        f" or ({total} * 0)"
    )


def test_a_latency_indicator_counts_the_bucket_as_good_events_per_group() -> None:
    sli = by_id()["shop-checkout-latency"].sli
    assert isinstance(sli, RatioSLI)
    assert sli.good_query.startswith(
        "sum by (route, method) (rate(shop_http_request_duration_seconds_bucket{"
    )
    assert 'le="0.3"' in sli.good_query
    assert sli.total_query.startswith(
        "sum by (route, method) (rate(shop_http_request_duration_seconds_count{"
    )


def test_native_latency_and_bool_gauge_indicators_count_the_events_pyrra_counts() -> None:
    slos = by_id()
    native = slos["default-api-latency-native"].sli
    assert isinstance(native, EventsSLI)
    assert "histogram_fraction(0, 0.25, sum(rate(api_request_duration_seconds{" in native.error_query
    assert (
        native.total_query
        == 'histogram_count(sum(rate(api_request_duration_seconds{job="api"}[{{.window}}])))'
    )
    gauge = slos["monitoring-targets-up"].sli
    assert isinstance(gauge, EventsSLI)
    assert gauge.total_query == 'sum by (job) (count_over_time(up{job=~"api|worker"}[{{.window}}]))'
    assert (
        gauge.error_query
        == f'{gauge.total_query} - sum by (job) (sum_over_time(up{{job=~"api|worker"}}[{{{{.window}}}}]))'
    )


def test_alerting_disabled_burnrates_name_and_absent_options_are_honoured() -> None:
    slos = by_id()
    errors = slos["shop-checkout-errors"]
    assert errors.alerting.name == "CheckoutErrorBudgetBurn"
    assert errors.no_data_alert_name == "CheckoutMetricsAbsent"
    assert len(errors.alerting.enabled_tiers) == 4 and errors.alerting.no_data.enabled
    latency = slos["shop-checkout-latency"]  # burnrates: false keeps the absent alert
    assert latency.alerting.enabled_tiers == () and latency.alerting.no_data.enabled
    assert latency.alerting.name == "CheckoutLatencyBudgetBurn"
    up = slos["monitoring-targets-up"]  # disabled: no alert at all
    assert up.alerting.enabled_tiers == () and not up.alerting.no_data.enabled


def test_settings_sloctl_has_no_use_for_are_warnings_that_say_why() -> None:
    result = load_paths([FIXTURES / "platform.yaml"])
    warnings = {w.path: w.message for w in result.warnings}
    assert set(warnings) == {
        "spec.partial_response_strategy",
        "spec.performanceOverAccuracy",
        "spec.ruleOutput",
        "spec.alerting.severities",
    }
    assert all(m.startswith("ignored: ") for m in warnings.values())


#: a valid indicator, for the objects below whose point lies elsewhere
RATIO = "ratio: {errors: {metric: e}, total: {metric: t}}"


@pytest.mark.parametrize(
    ("window", "indicator", "message"),
    [
        ("10d", RATIO, "no burn-rate windows catalog for a 10d"),
        ("4w", "{}", "exactly one indicator is needed"),
        ("4w", "ratio: {errors: {metric: e}, total: {metric: 't{'}}", "PromQL syntax error"),
        (
            "4w",
            "ratio: {errors: {metric: e}, total: {metric: t}, grouping: [bad-label]}",
            "'bad-label' is not a label name",
        ),
        ("4w", "latencyNative: {latency: fast, total: {metric: h}}", "expected a positive duration"),
        (
            "4w",
            "bool_gauge: {grouping: [job]}",
            "spec.indicator.bool_gauge.metric: required field is missing",
        ),
    ],
)
def test_a_broken_pyrra_object_is_refused_with_the_field_and_the_reason(
    window: str, indicator: str, message: str
) -> None:
    result = load_text(pyrra_slo(indicator, window=window), "p.yaml")
    assert not result.slos
    assert any(message in str(e) for e in result.errors), [str(e) for e in result.errors]


def test_a_namespace_that_is_no_service_name_is_refused_and_nothing_is_generated(tmp_path: Path) -> None:
    """The namespace is the service: it names rules/<service>.yml and the dashboards, so it is
    held to the native service-name check (``Bad NS`` generated rules/bad-ns.yml); without one
    the service is ``default``, which passes."""
    spec = tmp_path / "slo.yaml"
    spec.write_text(pyrra_slo(RATIO, metadata='{name: api, namespace: "Bad NS"}'))
    proc = run_sloctl("generate", str(spec), "-o", str(tmp_path / "out"))
    assert proc.returncode == 1
    assert (
        f"{spec}:3:34: metadata.namespace: service name 'Bad NS' must be letters, digits, '-', '_' or "
        "'.', starting and ending with a letter or digit"
    ) in proc.stderr
    assert not (tmp_path / "out").exists()
    (slo,) = load_text(pyrra_slo(RATIO), "p.yaml").slos
    assert slo.service == "default"


def test_a_grouping_label_that_is_no_label_name_is_the_one_error_not_three() -> None:
    """The queries built with it did not parse: two PromQL syntax errors came on top of it."""
    text = pyrra_slo("ratio: {errors: {metric: e}, total: {metric: t}, grouping: [job, bad-label]}")
    assert [str(e) for e in load_text(text, "p.yaml").errors] == [
        "p.yaml:8:64: spec.indicator.ratio.grouping: 'bad-label' is not a label name"
    ]


def test_an_object_label_pyrra_does_not_put_on_the_rules_is_a_warning_naming_the_operator_flag() -> None:
    """``prometheus: k8s`` selects Pyrra's PrometheusRule for the operator; it was dropped
    without a word (only ``pyrra.dev/`` labels go on the rules)."""
    text = pyrra_slo(RATIO, metadata="{name: api, labels: {prometheus: k8s, pyrra.dev/team: a}}")
    result = load_text(text, "p.yaml")
    assert result.ok and dict(result.slos[0].labels) == {"team": "a"}
    assert [(w.path, w.message.split(";")[0]) for w in result.warnings] == [
        (
            "metadata.labels.prometheus",
            "ignored: a label of the Kubernetes object, not of the rules (only pyrra.dev/ labels are)",
        )
    ]
    assert "--operator-label prometheus=" in result.warnings[0].message


@pytest.mark.parametrize("command", [["convert", "--to", "native"], ["explain", "-o", "json"]])
def test_convert_and_explain_say_what_the_reader_ignored_as_every_command_does(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both read quietly: the label above was neither in their output nor on standard error."""
    spec = tmp_path / "p.yaml"
    spec.write_text(pyrra_slo(RATIO, metadata="{name: api, labels: {prometheus: k8s}}"))
    assert main([command[0], str(spec), *command[1:]]) == 0
    out, err = capsys.readouterr()
    assert "prometheus" not in out
    assert (
        f"warning: {spec}:3:44: metadata.labels.prometheus: ignored: a label of the Kubernetes object" in err
    )


KUBECTL_LIST = """\
apiVersion: v1
kind: List
metadata: {resourceVersion: ""}
items:
- apiVersion: pyrra.dev/v1alpha1
  kind: ServiceLevelObjective
  metadata: {name: api-errors, namespace: monitoring}
  spec:
    target: "99"
    window: 2w
    indicator:
      ratio:
        errors: {metric: 'http_requests_total{code=~"5.."}'}
        total: {metric: http_requests_total}
- apiVersion: sloth.slok.dev/v1
  kind: PrometheusServiceLevel
  metadata: {name: wifi, namespace: monitoring}
  spec:
    service: home-wifi
    slos:
      - name: satisfaction
        objective: 95
        sli: {raw: {errorRatioQuery: 'avg_over_time(bad_ratio[{{.window}}])'}}
        alerting: {name: WifiSatisfaction}
"""


def test_a_kubectl_get_list_of_pyrra_and_sloth_objects_reads_each_item_named_by_its_index() -> None:
    """``kubectl get slo -A -o yaml`` prints one ``v1`` ``List``: a team's export from its cluster."""
    result = load_text(KUBECTL_LIST, "slos.yaml")
    assert result.ok, [str(e) for e in result.errors]
    assert [s.id for s in result.slos] == ["monitoring-api-errors", "home-wifi-satisfaction"]
    typed = KUBECTL_LIST.replace(
        "apiVersion: v1\nkind: List", "apiVersion: pyrra.dev/v1alpha1\nkind: ServiceLevelObjectiveList"
    )
    bad = load_text(typed.replace('target: "99"', 'target: "101"'), "slos.yaml")
    assert [(e.path, e.location.line) for e in bad.errors] == [("items[0].spec.target", 9)]


def test_what_the_api_server_adds_to_an_exported_object_is_read_without_warnings() -> None:
    """``kubectl get -o yaml`` adds ObjectMeta bookkeeping, and Sloth's controller a ``status``:
    the cluster's, not the SLO's; a warning per field and object would bury the real ones."""
    server = "creationTimestamp: '2026-01-01T00:00:00Z', generation: 2, resourceVersion: '7', uid: 0b0a"
    text = KUBECTL_LIST.replace("namespace: monitoring}", f"namespace: monitoring, {server}}}") + (
        "  status: {observedGeneration: 2, processedSLOs: 1, ready: true}\n"
    )
    result = load_text(text, "slos.yaml")
    assert result.ok, [str(e) for e in result.errors]
    assert [str(w) for w in result.warnings] == []
    typo = load_text(text.replace("namespace: monitoring,", "namespce: monitoring,", 1), "slos.yaml")
    assert [w.path for w in typo.warnings] == ["items[0].metadata.namespce"]


def test_a_pyrra_copy_in_another_folder_is_a_duplicate_at_metadata_name_saying_what_to_do() -> None:
    """Pyrra's own examples hold each SLO in three deployments' folders (kubernetes, webhook,
    openshift): reading them together names the Pyrra field and the way out."""
    one = KUBECTL_LIST.split("- ", 2)[1].replace("\n  ", "\n")
    errors = load_text(one + "---\n" + one, "slos.yaml").errors
    assert [(e.path, e.location.line) for e in errors] == [("metadata.name", 12)]
    assert "duplicate SLO 'api-errors' of service 'monitoring'" in errors[0].message
    assert "--exclude GLOB" in errors[0].message


def test_a_pyrra_copy_in_a_kubectl_list_is_a_duplicate_named_by_its_item_and_the_first_one() -> None:
    """``kubectl get slo -A -o yaml`` of two clusters concatenated: the error names the item
    the copy is (``items[1]``) and where the first is, not the list's line 1."""
    item = KUBECTL_LIST.split("- ", 2)[1]
    text = "apiVersion: v1\nkind: List\nitems:\n- " + item + "- " + item
    errors = load_text(text, "slos.yaml").errors
    assert [(e.path, e.location.line, e.location.column) for e in errors] == [
        ("items[1].metadata.name", 14, 3)
    ]
    assert "first defined at slos.yaml:4:3 (items[0].metadata.name)" in errors[0].message


def test_a_sloth_copy_in_a_kubectl_list_is_a_duplicate_named_by_its_item_and_slo_and_the_first_one() -> None:
    """The same for a Sloth object of the list, whose SLOs are items of ``spec.slos``: the
    error names the item and the SLO (``items[2].spec.slos[1].name``) and the first one's."""
    copy = """\
- apiVersion: sloth.slok.dev/v1
  kind: PrometheusServiceLevel
  metadata: {name: wifi-copy, namespace: monitoring}
  spec:
    service: home-wifi
    slos:
      - name: uptime
        objective: 99
        sli: {raw: {errorRatioQuery: 'avg_over_time(down[{{.window}}])'}}
        alerting: {name: WifiUptime}
      - name: satisfaction
        objective: 95
        sli: {raw: {errorRatioQuery: 'avg_over_time(bad_ratio[{{.window}}])'}}
        alerting: {name: WifiSatisfaction}
"""
    errors = load_text(KUBECTL_LIST + copy, "slos.yaml").errors
    assert [(e.path, e.location.line, e.location.column) for e in errors] == [
        ("items[2].spec.slos[1].name", 35, 9)
    ]
    assert "first defined at slos.yaml:21:9 (items[1].spec.slos[0].name)" in errors[0].message


def test_objects_of_other_kinds_in_a_kubectl_list_are_skipped_with_one_warning_naming_each() -> None:
    """``kubectl get slo,configmap,prometheusrule -o yaml`` lists the kinds together: the SLOs are
    read, the others named in one warning; a typo of an apiVersion sloctl reads stays an error, and
    so does an object of another kind standing alone."""
    others = """\
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: pyrra-recording-rule-api-errors, namespace: monitoring}
  data: {}
- apiVersion: monitoring.coreos.com/v1
  kind: PrometheusRule
  metadata: {name: api-errors, namespace: monitoring}
"""
    text = KUBECTL_LIST.replace("items:\n", "items:\n" + others)
    result = load_text(text, "slos.yaml")
    assert result.ok, [str(e) for e in result.errors]
    assert [s.id for s in result.slos] == ["monitoring-api-errors", "home-wifi-satisfaction"]
    assert [(w.location.line, w.path, w.message.split(": not SLOs")[0]) for w in result.warnings] == [
        (
            5,
            "items",
            "skipped items[0] (ConfigMap pyrra-recording-rule-api-errors of v1), "
            "items[1] (PrometheusRule api-errors of monitoring.coreos.com/v1)",
        )
    ]
    typo = load_text(text.replace("pyrra.dev/v1alpha1", "pyrra.dev/v1alpha2"), "slos.yaml")
    assert [e.path for e in typo.errors] == ["items[2].apiVersion"]
    alone = load_text(others.replace("- ", "", 1).replace("\n  ", "\n").split("- ")[0], "cm.yaml")
    assert [e.message.split(";")[0] for e in alone.errors] == ["unsupported apiVersion 'v1'"]
