"""JSON Schema of the native ``sloctl/v1`` format, for editors (yaml-language-server) and CI.

The loaders remain the authority (they also check PromQL and the semantic rules); this schema
describes the shape, so an editor can complete and flag fields as you type. Its names, patterns,
enums and limits are the ones validate checks, imported from where validate declares them; what
a JSON Schema cannot say is listed in docs/spec.md ("Editor support").
"""

from __future__ import annotations

import json
import re

from sloctl.calendars import ZONE_NAME
from sloctl.durations import at_least_pattern, spellings
from sloctl.model import CALENDAR_UNITS, POLICY_ACTIONS, SEVERITIES
from sloctl.naming import LABEL_SEVERITY
from sloctl.spec.build import LABEL_NAME, METRIC_NAME, NAME, RESERVED_LABEL_PREFIXES, THRESHOLD, URL
from sloctl.spec.native import (
    BUDGET_LEFT,
    HISTOGRAM_SUFFIXES,
    NO_DATA_MIN_SECONDS,
    SLICE_SECONDS,
    TIER_KEYS,
    WHEN_UNKNOWN,
    ZERO_FOR,
)
from sloctl.spec.promcheck import NAMES_MAX

SCHEMA_ID = "https://sloctl.dev/schemas/sloctl-v1.json"

_DURATION = {
    "type": "string",
    "pattern": at_least_pattern(1),
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
    "additionalProperties": {"type": ["string", "number", "null"]},
}
#: label and annotation values: text, a number read as its text, or nothing (an empty value);
#: true and false are refused (quote them if they are text)
_ANNOTATIONS = {"type": "object", "additionalProperties": {"type": ["string", "number", "null"]}}
#: an alert's annotations: their names are label names to Prometheus (the metadata's are free notes)
_ALERT_ANNOTATIONS = {**_ANNOTATIONS, "propertyNames": {"pattern": LABEL_NAME.pattern}}
_NAME = {"type": "string", "pattern": NAME.pattern}
#: a service's or an SLO's name: the two together make generated file names (promcheck), so
#: each alone leaves at least one character to the other
_OWNER_NAME = {**_NAME, "maxLength": NAMES_MAX - 1}
#: label matchers in braces; what is inside them is checked by validate (a PromQL parser)
_SELECTOR = {"type": "string", "pattern": r"^\s*(\{[\s\S]*\})?\s*$"}
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
                    "pattern": "^(?!.*(" + "|".join(HISTOGRAM_SUFFIXES) + ")$)" + METRIC_NAME.pattern[1:],
                    "description": "base name of a classic histogram (without _bucket)",
                },
                "selector": {**_SELECTOR, "description": 'label matchers, e.g. {route="/v1/projects"}'},
                "threshold": {
                    "type": "string",
                    "pattern": r"^(?=\s*0*\.?0*[1-9])" + THRESHOLD.pattern[1:],
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
                    "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
                },
            },
            ["id"],
        ),
        "probe": _obj(
            {"target": _NAME, "selector": _SELECTOR},
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


_ALERT_NAME = {"type": "string", "description": "any name Prometheus accepts (empty: derived)"}


def _alerting() -> dict[str, object]:
    """The ``alerting`` block."""
    severity = _obj({"enabled": {"type": "boolean"}, "labels": _LABELS, "annotations": _ALERT_ANNOTATIONS})
    tier = _obj({"enabled": {"type": "boolean"}, "for": {"anyOf": [_DURATION, {"enum": list(ZERO_FOR)}]}})
    no_data = _obj(
        {
            "enabled": {"type": "boolean"},
            "for": {
                **_DURATION,
                "pattern": at_least_pattern(NO_DATA_MIN_SECONDS),
                "description": "time without any event before the alert (default 30m, at least 5m)",
            },
            "severity": {"enum": list(SEVERITIES)},
            "name": _ALERT_NAME,
        }
    )
    alerting = _obj(
        {
            "name": _ALERT_NAME,
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
    return alerting


def _policy() -> dict[str, object]:
    """The ``policy`` block."""
    policy = _obj(
        {
            "steps": {
                "type": "array",
                # one step of each action at most
                "allOf": [
                    {
                        "not": {
                            "contains": {"properties": {"action": {"const": a}}, "required": ["action"]},
                            "minContains": 2,
                        }
                    }
                    for a in POLICY_ACTIONS
                ],
                "items": _obj(
                    {
                        "budgetLeft": {
                            "type": "number",
                            "minimum": BUDGET_LEFT[0],
                            "maximum": BUDGET_LEFT[1],
                            "description": "percent of the budget left",
                        },
                        "action": {"enum": list(POLICY_ACTIONS)},
                    },
                    ["budgetLeft", "action"],
                ),
            },
            "whenUnknown": {"enum": list(WHEN_UNKNOWN)},
            "alertName": _ALERT_NAME,
        }
    )
    return policy


def _service() -> dict[str, object]:
    alerting, policy = _alerting(), _policy()
    sli = _sli()
    slo = _obj(
        {
            "name": _OWNER_NAME,
            "description": {"type": "string"},
            "objective": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100},
            "period": _DURATION,
            "calendar": _obj(
                {
                    "unit": {"enum": list(CALENDAR_UNITS)},
                    "timeZone": {"type": "string", "pattern": ZONE_NAME.pattern, "description": "IANA name"},
                },
                ["unit"],
                description="a budget that resets at the calendar boundary (instead of period)",
            ),
            "timeslices": _obj(
                {
                    "slice": {"enum": spellings(SLICE_SECONDS)},
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
            "metadata": _obj({"name": _OWNER_NAME, "labels": _LABELS, "annotations": _ANNOTATIONS}, ["name"]),
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
