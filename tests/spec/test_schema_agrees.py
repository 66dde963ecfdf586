"""The checked-in JSON Schema (``sloctl schema``) and ``sloctl validate`` give the same verdict on
each field value: an editor must not flag what validate takes, nor pass what it refuses."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
import yaml

from sloctl.spec import load_text
from sloctl.spec.build import NAMES_MAX
from sloctl.spec.schema import json_schema
from tests.fixtures.specs import shop_slo

BASE = shop_slo(extra="alerting: {}")

# (field under the SLO, value, accepted by both)
CASES: list[tuple[tuple[str, ...], Any, bool]] = [
    (("alerting", "name"), "Disk full / 90 %", True),
    (("alerting", "name"), "ShopAvailabilityBudgetBurn", True),
    (("alerting", "name"), 5, False),
    (("alerting", "noData"), {"name": "Shop: no data"}, True),
    (("alerting", "runbookUrl"), "https://runbooks.example.com/shop", True),
    (("alerting", "runbookUrl"), "HTTP://runbooks.example.com/shop", True),
    (("alerting", "runbookUrl"), "https://user@runbooks.example.com/", True),
    (("alerting", "runbookUrl"), "https://[::1]:8080/x", True),
    (("alerting", "runbookUrl"), "https://a@b@runbooks.example.com", True),
    (("alerting", "runbookUrl"), "https:///x", False),
    (("alerting", "runbookUrl"), "https://:80/x", False),
    (("alerting", "runbookUrl"), "https://user@/x", False),
    (("alerting", "runbookUrl"), "ftp://runbooks.example.com/x", False),
    (("alerting", "runbookUrl"), "javascript:alert(1)", False),
    (("description",), "Requests that succeed.", True),
    (("description",), 5, False),
    (("description",), True, False),
    (("name",), "availability-2", True),
    (("name",), "-availability", False),
    (("labels",), {"team": "shop"}, True),
    # sloctl's own on every alert (page or ticket): the editor flagged nothing validate refuses
    (("alerting", "labels"), {"severity": "critical"}, False),
    (("alerting", "page"), {"labels": {"team": "shop", "severity": "critical"}}, False),
    (("alerting", "labels"), {"team": "shop"}, True),
    # the SLO's labels go on its alerts: the editor passed a severity that validate refuses
    (("labels",), {"severity": "critical"}, False),
    (("labels",), {"sloctl_team": "shop"}, False),
    (("labels",), {"__team": "shop"}, False),
    (("alerting", "labels"), {"sloth_team": "shop"}, False),
    # reserved prefixes, on any alert label: validate refuses them, so must the editor
    (("alerting", "labels"), {"sloctl_team": "shop"}, False),
    (("alerting", "labels"), {"sloth_id": "shop"}, False),
    (("alerting", "ticket"), {"labels": {"sloctl_tier": "x"}}, False),
    (("alerting", "labels"), {"slothful": "yes", "sloctlx": "y", "_team": "shop"}, True),
    # an alert's annotation names are label names to Prometheus
    (("alerting", "annotations"), {"grafana_dashboard": "https://grafana.example.com/d/x"}, True),
    (("alerting", "annotations"), {"grafana-dashboard": "https://grafana.example.com/d/x"}, False),
    (("alerting", "page"), {"annotations": {"on call": "x"}}, False),
    (("labels",), {"1team": "shop"}, False),
    (("objective",), 99.5, True),
    (("objective",), 100, False),
    (("alerting", "minEvents"), -1, False),
    (("sli",), {"latency": {"histogram": "http_seconds", "threshold": "200ms"}}, True),
    (("sli",), {"latency": {"histogram": "http_seconds", "threshold": "1.5s"}}, True),
    (("sli",), {"latency": {"histogram": "http seconds", "threshold": "200ms"}}, False),
    (("sli",), {"latency": {"histogram": "http_seconds", "threshold": "200"}}, False),
    # a quoted number: Go's YAML reader (Sloth's) and a JSON Schema refuse it; so does validate
    (("objective",), "99.9", False),
    (("alerting", "minEvents"), "100", False),
    (("policy",), {"steps": [{"budgetLeft": "50", "action": "notify"}]}, False),
    # every spelling of the one slice size in a single unit
    (("timeslices",), {"slice": "300s", "target": 90}, True),
    (("timeslices",), {"slice": "5m", "target": 90}, True),
    (("timeslices",), {"slice": "1m", "target": 90}, False),
    # a label or annotation written with no value is an empty one; true is no text
    (("labels",), {"team": None}, True),
    (("alerting", "annotations"), {"summary": None}, True),
    (("labels",), {"team": True}, False),
    (("alerting", "page"), {"annotations": {"summary": False}}, False),
    (("period",), "0s", False),
    (("period",), "0d30d", False),  # no catalog for it, but a duration to both: the catalog says no
    (("alerting", "noData"), {"for": "1m"}, False),
    (("alerting", "noData"), {"for": "299s"}, False),
    (("alerting", "noData"), {"for": "5m"}, True),
    (("alerting", "noData"), {"for": "0h300s"}, True),
    (("alerting", "tiers"), {"pageQuick": {"for": 0}}, True),
    (("alerting", "tiers"), {"pageQuick": {"for": "0s"}}, True),
    (("alerting", "tiers"), {"pageQuick": {"for": False}}, False),
    (("calendar",), {"unit": "month", "timeZone": "Europe/Paris"}, True),
    (("calendar",), {"unit": "month", "timeZone": "Etc/GMT+5"}, True),
    (("calendar",), {"unit": "month", "timeZone": "utc"}, False),
    # the machine's own zone: rules that differ from machine to machine
    (("calendar",), {"unit": "month", "timeZone": "localtime"}, False),
    (("sli",), {"latency": {"histogram": "http_seconds_bucket", "threshold": "200ms"}}, False),
    (("sli",), {"latency": {"histogram": "http_seconds_count", "threshold": "200ms"}}, False),
    (("sli",), {"latency": {"histogram": "http_buckets", "threshold": "200ms"}}, True),
    (("sli",), {"latency": {"histogram": "h", "threshold": "200ms", "selector": "route=x"}}, False),
    (("sli",), {"latency": {"histogram": "h", "threshold": "200ms", "selector": ' {route="x"} '}}, True),
    (("sli",), {"probe": {"selector": "target=api"}}, False),
    (("sli",), {"latency": {"histogram": "h", "threshold": "0ms"}}, False),
    (("sli",), {"latency": {"histogram": "h", "threshold": "00.00s"}}, False),
    (("sli",), {"latency": {"histogram": "h", "threshold": "0.5ms"}}, True),
    (("sli",), {"latency": {"histogram": "h", "threshold": "10ms"}}, True),
    (
        ("policy",),
        {"steps": [{"budgetLeft": 50, "action": "freeze"}, {"budgetLeft": 0, "action": "freeze"}]},
        False,
    ),
    (
        ("policy",),
        {"steps": [{"budgetLeft": 50, "action": "notify"}, {"budgetLeft": 0, "action": "freeze"}]},
        True,
    ),
    (("policy",), {"steps": [{"budgetLeft": -1001, "action": "notify"}]}, False),
    (("policy",), {"steps": [{"budgetLeft": -1000, "action": "notify"}]}, True),
    # a key written with nothing after it (`key:`): an optional one reads as not set, a required
    # one is refused (the editor refused both)
    (("description",), None, True),
    (("period",), None, True),
    (("labels",), None, True),
    (("alerting", "noData"), {"for": None}, True),
    (("alerting", "tiers"), {"pageQuick": {"for": None}}, True),
    (("alerting", "runbookUrl"), None, True),
    (("objective",), None, False),
    (("sli",), None, False),
    (("name",), None, False),
    (("alerting",), None, False),
    (("timeslices",), {"slice": None, "target": 90}, False),
]


def _doc(field: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc: dict[str, Any] = copy.deepcopy(yaml.safe_load(BASE))
    node = doc["spec"]["slos"][0]
    for key in field[:-1]:
        node = node[key]
    node[field[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("field", "value", "valid"), CASES, ids=[f"{'.'.join(f)}={v!r}" for f, v, _ in CASES]
)
def test_the_schema_and_validate_agree(field: tuple[str, ...], value: Any, valid: bool) -> None:
    doc = _doc(field, value)
    schema_errors = [e.message for e in jsonschema.Draft202012Validator(json_schema()).iter_errors(doc)]
    result = load_text(yaml.safe_dump(doc, sort_keys=False), "shop.yaml")
    assert (not schema_errors, result.ok) == (valid, valid), (schema_errors, result.errors)
    if not valid:
        # validate names the field, at its own line
        path = "spec.slos[0]." + ".".join(field)
        assert any(str(e.path).startswith(path) for e in result.errors), result.errors


#: every alert of an SLO switched off: its burn tiers, its no-data alert (no policy)
ALERTS_OFF = {"page": {"enabled": False}, "ticket": {"enabled": False}, "noData": {"enabled": False}}


@pytest.mark.parametrize("alerting", [ALERTS_OFF, {**ALERTS_OFF, "noData": {"enabled": True}}])
@pytest.mark.parametrize("where", ["slo", "service"])
def test_a_severity_label_is_refused_by_both_whatever_alerts_are_on(
    where: str, alerting: dict[str, Any]
) -> None:
    """validate took an SLO's (or its service's) severity label while no burn tier was on,
    though the no-data alert then carried ticket in its place, and the schema took it always."""
    doc = _doc(("alerting",), alerting)
    owner = doc["metadata"] if where == "service" else doc["spec"]["slos"][0]
    owner["labels"] = {"severity": "critical"}
    schema_errors = list(jsonschema.Draft202012Validator(json_schema()).iter_errors(doc))
    result = load_text(yaml.safe_dump(doc, sort_keys=False), "shop.yaml")
    assert schema_errors and not result.ok
    assert [(e.path, e.message.split(":")[0]) for e in result.errors] == [
        ("spec.slos[0].labels.severity", "label 'severity' is sloctl's")
    ], result.errors


@pytest.mark.parametrize("where", ["service", "slo"])
def test_a_name_too_long_for_a_file_name_is_refused_by_both(where: str) -> None:
    """A service or SLO name that alone leaves no room for the other in a generated file name
    (promcheck's limit on the two together): the schema took any length."""
    doc = _doc(("name",), "availability")
    owner = doc["metadata"] if where == "service" else doc["spec"]["slos"][0]
    owner["name"] = "a" * NAMES_MAX
    schema_errors = list(jsonschema.Draft202012Validator(json_schema()).iter_errors(doc))
    result = load_text(yaml.safe_dump(doc, sort_keys=False), "shop.yaml")
    assert schema_errors and not result.ok
    assert [e.message.split(" make ")[0] for e in result.errors] == [
        f"service and SLO names of {NAMES_MAX + len('shop' if where == 'slo' else 'availability')} characters"
    ]
    owner["name"] = "a" * (NAMES_MAX - len("shop" if where == "slo" else "availability"))
    assert not list(jsonschema.Draft202012Validator(json_schema()).iter_errors(doc))
    assert load_text(yaml.safe_dump(doc, sort_keys=False), "shop.yaml").ok
