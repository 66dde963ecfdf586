"""The native reader checks a document's structure by walking its one shape declaration
(sloctl.spec.native_shape), the one the JSON Schema is generated from: what the schema refuses,
the reader refuses too, in the reader's words and at the field's own line."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from sloctl.spec import load_text
from tests.fixtures.specs import shop_slo


def _errors(field: str, value: Any) -> list[str]:
    """The errors of the shop SLO with its ``field`` set to ``value``."""
    doc = yaml.safe_load(shop_slo())
    doc["spec"]["slos"][0][field] = value
    result = load_text(yaml.safe_dump(doc, sort_keys=False), "shop.yaml")
    return [f"{e.path}: {e.message}" for e in result.errors]


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        # read as the default (30d, 5m) without a word, though the schema refused them
        ("period", "", "spec.slos[0].period: '' is not a Prometheus duration"),
        ("timeslices", {"slice": "", "target": 90}, "timeslices.slice: '' is not a Prometheus duration"),
        # read as a notify step, though the schema refused it
        ("policy", {"steps": [{"budgetLeft": 0, "action": None}]}, "steps[0].action: must not be empty"),
        # the message showed the reader's internal nodes
        (
            "sli",
            {"latency": {"histogram": "h", "threshold": {"value": 200}}},
            "threshold: expected a string, found a mapping",
        ),
    ],
)
def test_what_the_json_schema_refuses_the_reader_refuses_in_its_words(
    field: str, value: Any, error: str
) -> None:
    errors = _errors(field, value)
    assert any(error in e for e in errors), errors
    assert not any("YNode" in e for e in errors), errors


def test_an_unknown_field_beside_an_sli_kind_is_said_and_the_kind_still_read() -> None:
    errors = _errors("sli", {"latency": {"histogram": "h", "threshold": 200}, "latncy": {}})
    assert "spec.slos[0].sli.latncy: unknown field (did you mean 'latency'?)" in errors
    assert any("threshold 200 has no unit" in e for e in errors), errors


def test_the_sli_kinds_are_exactly_one_of_in_the_readers_words() -> None:
    errors = _errors("sli", {})
    assert errors == [
        "spec.slos[0].sli: exactly one SLI kind is needed (events, ratio, raw, latency, probe, composite, "
        "plugin); found none"
    ]
