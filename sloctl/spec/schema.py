"""JSON Schema of the native ``sloctl/v1`` format, for editors (yaml-language-server) and CI.

The loaders remain the authority (they also check PromQL and the semantic rules); this schema
describes the shape, so an editor can complete and flag fields as you type.
"""

from __future__ import annotations

import json
import re

from sloctl.durations import WHOLE_SECONDS_PATTERN
from sloctl.naming import LABEL_SEVERITY
from sloctl.spec.build import LABEL_NAME, METRIC_NAME, NAME, RESERVED_LABEL_PREFIXES, THRESHOLD, URL
from sloctl.spec.native import TIER_KEYS

SCHEMA_ID = "https://sloctl.dev/schemas/sloctl-v1.json"

_DURATION = {
    "type": "string",
    "pattern": WHOLE_SECONDS_PATTERN,
    "description": "Prometheus duration, e.g. 5m, 1h30m, 30d",
}
#: the labels of the service, an SLO and its alerts, which all go on its alerts: not a reserved
#: prefix, nor ``severity``, which sloctl sets on every alert (page or ticket); validate refuses
#: the same names (sloctl.spec.build, sloctl.spec.promcheck), alerts enabled or not
_LABELS = {
    "type": "object",
    "propertyNames": {
        "pattern": LABEL_NAME.pattern,
        "not": {
            "anyOf": [
                {"const": LABEL_SEVERITY},
                {"pattern": "^(" + "|".join(re.escape(p) for p in RESERVED_LABEL_PREFIXES) + ")"},
            ]
        },
    },
    "additionalProperties": {"type": ["string", "number", "boolean"]},
}
_ANNOTATIONS = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
#: an alert's annotations: their names are label names to Prometheus (the metadata's are free notes)
_ALERT_ANNOTATIONS = {**_ANNOTATIONS, "propertyNames": {"pattern": LABEL_NAME.pattern}}
_NAME = {"type": "string", "pattern": NAME.pattern}
_QUERY = {"type": "string", "minLength": 1, "description": "PromQL; {{.window}} is replaced by each window"}


def _obj(props: dict[str, object], required: list[str] | None = None, **extra: object) -> dict[str, object]:
    out: dict[str, object] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = required
    out.update(extra)
    return out


def json_schema() -> dict[str, object]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "sloctl/v1 SLO file",
        "description": "A service and its SLOs, or a burn-rate windows catalog (docs/spec.md).",
        "oneOf": [{"$ref": "#/$defs/Service"}, {"$ref": "#/$defs/AlertWindows"}],
        "$defs": {"Service": _service(), "AlertWindows": _windows()},
    }


# Long but flat: a data table, the JSON Schema of each SLI kind.
def _sli() -> dict[str, object]:
    sli_kinds: dict[str, object] = {
        "events": _obj({"errorQuery": _QUERY, "totalQuery": _QUERY}, ["errorQuery", "totalQuery"]),
        "ratio": _obj({"goodQuery": _QUERY, "totalQuery": _QUERY}, ["goodQuery", "totalQuery"]),
        "raw": _obj({"errorRatioQuery": _QUERY}, ["errorRatioQuery"]),
        "latency": _obj(
            {
                "histogram": {
                    "type": "string",
                    "pattern": METRIC_NAME.pattern,
                    "description": "base name of a classic histogram (without _bucket)",
                },
                "selector": {"type": "string", "description": 'label matchers, e.g. {route="/v1/projects"}'},
                "threshold": {
                    "type": "string",
                    "pattern": THRESHOLD.pattern,
                    "description": "latency with its unit, e.g. 200ms",
                },
            },
            ["histogram", "threshold"],
        ),
        "plugin": _obj(
            {
                "id": {"type": "string", "description": "an SLI plugin id (docs/plugins.md)"},
                "options": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                },
            },
            ["id"],
        ),
        "probe": _obj(
            {"target": _NAME, "selector": {"type": "string"}},
            oneOf=[{"required": ["target"]}, {"required": ["selector"]}],
        ),
        "composite": _obj(
            {
                "components": {
                    "type": "array",
                    "minItems": 1,
                    "items": _obj(
                        {
                            "slo": {**_NAME, "description": "another SLO of this service"},
                            "weight": {"type": "number", "exclusiveMinimum": 0, "description": "default 1"},
                        },
                        ["slo"],
                    ),
                }
            },
            ["components"],
            description="weighted mean of other SLOs' error ratios (OpenSLO compositeWeight)",
        ),
    }
    sli = {
        "type": "object",
        "properties": sli_kinds,
        "additionalProperties": False,
        "minProperties": 1,
        "maxProperties": 1,
    }
    return sli


def _alerting() -> tuple[dict[str, object], dict[str, object]]:
    """The ``alerting`` and ``policy`` blocks."""
    severity = _obj({"enabled": {"type": "boolean"}, "labels": _LABELS, "annotations": _ALERT_ANNOTATIONS})
    tier = _obj({"enabled": {"type": "boolean"}, "for": _DURATION})
    alert_name = {"type": "string", "description": "any name Prometheus accepts (empty: derived)"}
    no_data = _obj(
        {
            "enabled": {"type": "boolean"},
            "for": {**_DURATION, "description": "time without any event before the alert (default 30m)"},
            "severity": {"enum": ["page", "ticket"]},
            "name": alert_name,
        }
    )
    policy = _obj(
        {
            "steps": {
                "type": "array",
                "items": _obj(
                    {
                        "budgetLeft": {
                            "type": "number",
                            "maximum": 100,
                            "description": "percent of the budget left",
                        },
                        "action": {"enum": ["notify", "freeze"]},
                    },
                    ["budgetLeft", "action"],
                ),
            },
            "whenUnknown": {"enum": ["freeze", "proceed"]},
            "alertName": alert_name,
        }
    )
    alerting = _obj(
        {
            "name": alert_name,
            "labels": _LABELS,
            "annotations": _ALERT_ANNOTATIONS,
            "runbookUrl": {"type": "string", "format": "uri", "pattern": URL.pattern},
            "minEvents": {"type": "number", "minimum": 0},
            "page": severity,
            "ticket": severity,
            "tiers": _obj({k: tier for k in TIER_KEYS}),
            "noData": no_data,
        }
    )
    return alerting, policy


def _service() -> dict[str, object]:
    alerting, policy = _alerting()
    sli = _sli()
    slo = _obj(
        {
            "name": _NAME,
            "description": {"type": "string"},
            "objective": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100},
            "period": _DURATION,
            "calendar": _obj(
                {"unit": {"enum": ["week", "month", "quarter"]}, "timeZone": {"type": "string"}},
                ["unit"],
                description="a budget that resets at the calendar boundary (instead of period)",
            ),
            "timeslices": _obj(
                {
                    "slice": {"const": "5m"},
                    "target": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100},
                },
                ["slice", "target"],
                description="objective: share of good slices; a slice is good when target % of it is",
            ),
            "labels": _LABELS,
            "sli": sli,
            "alerting": alerting,
            "policy": policy,
        },
        ["name", "objective", "sli"],
    )
    service = _obj(
        {
            "apiVersion": {"const": "sloctl/v1"},
            "kind": {"const": "Service"},
            "metadata": _obj({"name": _NAME, "labels": _LABELS, "annotations": _ANNOTATIONS}, ["name"]),
            "spec": _obj({"slos": {"type": "array", "minItems": 1, "items": slo}}, ["slos"]),
        },
        ["apiVersion", "kind", "metadata", "spec"],
    )
    return service


def _windows() -> dict[str, object]:
    window = _obj(
        {
            "errorBudgetPercent": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
            "shortWindow": _DURATION,
            "longWindow": _DURATION,
        },
        ["errorBudgetPercent", "shortWindow", "longWindow"],
    )
    speeds = _obj({"quick": window, "slow": window}, ["quick", "slow"])
    windows = _obj(
        {
            "apiVersion": {"enum": ["sloctl/v1", "sloth.slok.dev/v1"]},
            "kind": {"const": "AlertWindows"},
            "metadata": {"type": "object"},
            "spec": _obj(
                {"sloPeriod": _DURATION, "page": speeds, "ticket": speeds}, ["sloPeriod", "page", "ticket"]
            ),
        },
        ["apiVersion", "kind", "spec"],
    )
    return windows


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
