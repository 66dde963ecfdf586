"""An error found on the model (an objective out of range, equal queries, a bad alert label) is
reported at the field as each format writes it: its own name in that format and its own line and
column, not the SLO's first line under the model's field name."""

from __future__ import annotations

import textwrap

import pytest

from sloctl.errors import Location
from sloctl.spec import load_text
from sloctl.spec.build import Fields
from sloctl.spec.yamlsrc import YNode, parse_documents
from tests.fixtures.sloth import sloth_spec
from tests.fixtures.specs import openslo_slo, shop_slo

SLOTH = sloth_spec({}).replace("objective: 99.9", "objective: 100") + textwrap.indent(
    "page_alert:\n  annotations:\n    bad-name: x\n", " " * 6
)
NATIVE = shop_slo(objective="101")

PYRRA = """
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata:
  name: api-errors
  namespace: monitoring
spec:
  target: "100"
  window: 2w
  indicator:
    ratio:
      errors:
        metric: req_total{code=~"5.."}
      total:
        metric: req_total
"""


OPENSLO = openslo_slo(
    "v1",
    """  timeWindow:
    - duration: 1w
      isRolling: true
  indicator:
    metadata:
      name: api-ratio
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: Prometheus
            spec:
              query: sum(rate(req_total[{{.window}}]))
        total:
          metricSource:
            type: Prometheus
            spec:
              query: sum(rate(req_total[{{.window}}]))
  objectives:
    - displayName: good
      target: 1.0
""",
)


def place(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """Line and column (from 1) of the ``nth`` occurrence of ``needle`` in ``text``."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1


@pytest.mark.parametrize(
    ("text", "path", "needle", "message"),
    [
        (NATIVE, "spec.slos[0].objective", "101", "objective 101 is outside"),
        (SLOTH, "slos[0].objective", "100", "objective 100 is outside"),
        (SLOTH, "slos[0].alerting.page_alert.annotations.bad-name", "x\n", "not a valid annotation name"),
        (PYRRA, "spec.target", '"100"', "target 100 is outside (0, 100)"),
        (
            PYRRA.replace(
                "namespace: monitoring", "namespace: monitoring\n  labels: {pyrra.dev/sloth_id: x}"
            ),
            "metadata.labels.pyrra.dev/sloth_id",
            "x}",
            "reserved prefix",
        ),
        (OPENSLO, "spec.objectives[0].target", "1.0", "target 1 is 100 %, which is outside (0, 100)"),
        (
            OPENSLO.replace("target: 1.0", "target: 1.5"),
            "spec.objectives[0].target",
            "1.5",
            "target 1.5 is 150 %, which is outside (0, 100)",
        ),
        (OPENSLO, "spec.indicator", "metadata:\n      name: api-ratio", "good query equals total query"),
    ],
    ids=[
        "native",
        "sloth",
        "sloth-page-alert",
        "pyrra",
        "pyrra-label",
        "openslo-target",
        "openslo-target-above-1",
        "openslo-indicator",
    ],
)
def test_a_model_error_is_reported_at_the_field_as_its_format_writes_it(
    text: str, path: str, needle: str, message: str
) -> None:
    text = textwrap.dedent(text).lstrip()
    result = load_text(text, "slo.yaml")
    found = [e for e in result.errors if message in e.message]
    assert len(found) == 1, [str(e) for e in result.errors]
    line, column = place(text, needle)
    assert (found[0].path, found[0].location) == (path, Location("slo.yaml", line, column)), str(found[0])


def test_a_field_the_file_does_not_write_is_named_below_the_nearest_node_that_holds_it() -> None:
    text = "slo:\n  alerting:\n    labels: {a: b}\n"
    (doc,), errors = parse_documents(text, "f.yaml")
    assert not errors
    assert isinstance(doc.value, dict)
    slo: YNode = doc.value["slo"]
    fields = Fields("slo", slo, Location("f.yaml", 9, 9), {"period": ("--flag", None)})
    assert fields.at("alerting.labels.a") == (Location("f.yaml", 3, 17), "slo.alerting.labels.a")
    # alerting is written, its name is not: the path goes on, the place stays at alerting's value
    assert fields.at("alerting.name") == (Location("f.yaml", 3, 5), "slo.alerting.name")
    # a field a flag sets: the flag, at the SLO's own place
    assert fields.at("period") == (Location("f.yaml", 9, 9), "--flag")
    assert fields.at("objective") == (Location("f.yaml", 2, 3), "slo.objective")


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (NATIVE.replace("metadata: {name: shop}", "metadata: {name: shop, labels: {bad-label: x}}"), None),
        (
            PYRRA.replace(
                "namespace: monitoring", "namespace: monitoring\n  labels: {pyrra.dev/bad-label: x}"
            ),
            "metadata.labels.pyrra.dev/bad-label",
        ),
        # two objectives: the document's label is one error, not one more per objective
        (
            OPENSLO.replace("name: api-availability", "name: api-availability\n  labels: {bad-label: x}")
            + "    - displayName: better\n      target: 0.999\n",
            None,
        ),
        # an alert label: once by the reader, not again when the alert's labels are checked
        (
            SLOTH.replace("annotations:\n          bad-name: x", "labels:\n          bad-label: x"),
            "slos[0].alerting.page_alert.labels.bad-label",
        ),
    ],
    ids=["native-service", "pyrra", "openslo-two-objectives", "sloth-page-alert"],
)
def test_an_invalid_label_name_is_reported_once_at_its_key(text: str, path: str | None) -> None:
    text = textwrap.dedent(text).lstrip()
    result = load_text(text, "slo.yaml")
    found = [e for e in result.errors if "is not a valid Prometheus label name" in e.message]
    assert len(found) == 1, [str(e) for e in result.errors]
    line, column = place(text, "pyrra.dev/bad-label" if path and "pyrra" in path else "bad-label")
    assert found[0].location == Location("slo.yaml", line, column), str(found[0])
    assert found[0].path == (path or "metadata.labels.bad-label")


def test_errors_of_fields_read_by_the_native_reader_stand_at_the_fields_value() -> None:
    text = shop_slo(
        extra="""\
            policy:
              steps:
                - {budgetLeft: 150, action: notify}
                - {budgetLeft: 10, action: explode}
            alerting:
              name: ShopErrors
              minEvents: -5
              noData: {severity: sms}
            """
    )
    result = load_text(text, "slo.yaml")
    where = {e.path: e.location for e in result.errors}
    expected = {
        "spec.slos[0].policy.steps[0].budgetLeft": "150",
        "spec.slos[0].policy.steps[1].action": "explode",
        "spec.slos[0].alerting.minEvents": "-5",
        "spec.slos[0].alerting.noData.severity": "sms",
    }
    assert set(where) == set(expected), [str(e) for e in result.errors]
    for path, needle in expected.items():
        assert where[path] == Location("slo.yaml", *place(text, needle)), path


OPENSLO_V1ALPHA = openslo_slo(
    "v1alpha",
    """  timeWindows:
    - count: 30
      unit: Day
      isRolling: true
  objectives:
    - target: 0.999
      ratioMetrics:
        incremental: true
        good:
          source: prometheus
          queryType: promql
          query: sum(rate(ok_total[{{.window}}]))
        total:
          source: prometheus
          queryType: promql
          query: sum(rate(req_total[{{.window}}]))
""",
)


@pytest.mark.parametrize(
    ("text", "path", "needle", "name"),
    [
        (
            SLOTH.replace("service: svc", 'service: "../../evil x"'),
            "service",
            '"../../evil x"',
            "../../evil x",
        ),
        (
            PYRRA.replace("namespace: monitoring", "namespace: Bad NS"),
            "metadata.namespace",
            "Bad NS",
            "Bad NS",
        ),
        (OPENSLO.replace("service: api", "service: Bad NS"), "spec.service", "Bad NS", "Bad NS"),
        (OPENSLO_V1ALPHA.replace("service: api", "service: a/b"), "spec.service", "a/b", "a/b"),
    ],
    ids=["sloth", "pyrra-namespace", "openslo", "openslo-v1alpha"],
)
def test_a_service_name_is_held_to_the_native_check_at_the_formats_own_field(
    text: str, path: str, needle: str, name: str
) -> None:
    """A service name names the rules, dashboard and route files: a path-like or spaced one from
    a Sloth, Pyrra or OpenSLO file is refused as a native one is, where the file writes it."""
    text = textwrap.dedent(text).lstrip()
    result = load_text(text, "slo.yaml")
    assert not result.ok
    (found,) = [e for e in result.errors if "service name" in e.message]
    assert (found.path, found.location) == (path, Location("slo.yaml", *place(text, needle)))
    assert found.message == (
        f"service name {name!r} must be letters, digits, '-', '_' or '.', starting and ending with a "
        "letter or digit"
    )
    native = load_text(shop_slo(service=name), "native.yaml")
    assert [e.message for e in native.errors] == [found.message]


@pytest.mark.parametrize(
    ("native", "path", "sloth"),
    [
        ("labels", "alerting.labels", "labels"),
        ("page:\n    labels", "alerting.page.labels", "page_alert:\n  labels"),
        ("ticket:\n    labels", "alerting.ticket.labels", "ticket_alert:\n  labels"),
    ],
)
def test_a_severity_alert_label_is_refused_in_a_native_file_and_a_warning_in_a_sloth_one(
    native: str, path: str, sloth: str
) -> None:
    """Found by generating with ``alerting.labels: {severity: critical}``: no word, and every
    alert said severity page or ticket (what the Alertmanager fragment routes on), so routes on
    ``severity="critical"`` never saw them. Sloth's own example sets
    ``page_alert.labels.severity: pageteam``: ``--compat sloth`` keeps it, sloctl's rules replace it."""
    labels = "{team: shop, severity: critical}"
    text = shop_slo() + textwrap.indent(f"alerting:\n  {native}: {labels}\n", " " * 6)
    result = load_text(text, "slo.yaml")
    (error,) = result.errors
    assert (error.path, error.location) == (
        f"spec.slos[0].{path}.severity",
        Location("slo.yaml", *place(text, "critical")),
    )
    assert "severity page or ticket" in error.message and "Alertmanager" in error.message
    text = sloth_spec({}) + textwrap.indent(f"{sloth}: {{severity: pageteam}}\n", " " * 6)
    result = load_text(text, "sloth.yaml")
    assert not result.errors and len(result.slos) == 1
    (warning,) = result.warnings
    assert warning.location == Location("sloth.yaml", *place(text, "pageteam"))
    assert warning.path.endswith("labels.severity") and "--compat sloth keeps it" in warning.message


def test_a_sloth_severity_label_is_a_warning_while_only_the_no_data_alert_is_on() -> None:
    """With page_alert and ticket_alert disabled there was no word, though the no-data alert
    still carried severity ticket in its place."""
    off = "page_alert: {disable: true}\nticket_alert: {disable: true}\n"
    text = (
        sloth_spec({})
        + textwrap.indent(off, " " * 6)
        + textwrap.indent("labels: {severity: pageteam}\n", "    ")
    )
    result = load_text(text, "sloth.yaml")
    assert not result.errors and len(result.slos) == 1 and result.slos[0].alerting.no_data.enabled
    (warning,) = result.warnings
    assert warning.path == "slos[0].labels.severity" and "replaced on sloctl's alerts" in warning.message


def test_a_severity_label_of_the_slo_is_refused_as_an_alert_labels_is() -> None:
    """The SLO's labels go on its alerts too, where sloctl's severity (page, ticket) replaced a
    ``labels: {severity: critical}`` without a word. With its burn tiers off it was taken, though
    its no-data alert still replaced it (and the JSON Schema refused it): refused alerts or not."""
    text = shop_slo() + textwrap.indent("labels: {team: shop, severity: critical}\n", " " * 6)
    (error,) = load_text(text, "slo.yaml").errors
    assert (error.path, error.location) == (
        "spec.slos[0].labels.severity",
        Location("slo.yaml", *place(text, "critical")),
    )
    assert "severity page or ticket" in error.message
    quiet = text + textwrap.indent("alerting: {page: {enabled: false}, ticket: {enabled: false}}\n", " " * 6)
    assert [e.path for e in load_text(quiet, "slo.yaml").errors] == ["spec.slos[0].labels.severity"]
