"""The shape of the native format's documents, declared once (:mod:`sloctl.spec.shape`): the JSON
Schema (:mod:`sloctl.spec.schema`) is generated from it.

A value constraint that every format's SLOs are held to after reading (an objective in (0, 100),
label names, reserved prefixes, name lengths, URLs, selectors) is ``held_by`` the model check that
says it for all of them (:func:`sloctl.spec.build.check_slo` and :mod:`sloctl.spec.promcheck`):
the declaration gives it to the JSON Schema, the check words it once for every format.
"""

from __future__ import annotations

import re

from sloctl.calendars import ZONE_NAME
from sloctl.model import CALENDAR_UNITS, POLICY_ACTIONS, SEVERITIES
from sloctl.naming import API_VERSION, LABEL_SEVERITY
from sloctl.spec.build import (
    LABEL_NAME,
    METRIC_NAME,
    NAME,
    NAMES_MAX,
    RESERVED_LABEL_PREFIXES,
    SPACE,
    THRESHOLD,
    URL,
)
from sloctl.spec.shape import Field, Shape

__all__ = [
    "BUDGET_LEFT",
    "HISTOGRAM_SUFFIXES",
    "NO_DATA_MIN_SECONDS",
    "SERVICE",
    "SLICE_SECONDS",
    "SLI_KINDS",
    "TIER_KEYS",
    "WHEN_UNKNOWN",
    "WINDOWS",
    "ZERO_FOR",
]

TIER_KEYS = {
    "pageQuick": "page_quick",
    "pageSlow": "page_slow",
    "ticketQuick": "ticket_quick",
    "ticketSlow": "ticket_slow",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")
"""A classic histogram's series; ``histogram`` is the name before them."""
SLICE_SECONDS = 300
"""The one timeslice size: slices are judged from the 5m base recordings."""
NO_DATA_MIN_SECONDS = 300
"""The shortest ``noData.for``: the base window."""
BUDGET_LEFT = (-1000.0, 100.0)
"""The range of a policy step's ``budgetLeft`` (percent of the budget left; below 0 is overspent)."""
WHEN_UNKNOWN = ("freeze", "proceed")
ZERO_FOR = ("0", "0s", 0)
SLI_KINDS = ("events", "ratio", "raw", "latency", "probe", "composite", "plugin")
"""The kinds of SLI, of which an SLO's ``sli`` holds exactly one."""
"""How a tier's ``for`` says "at once" (any other duration is positive)."""

_MODEL = "build.check_slo"  # the model checks every format's SLOs go through
_DURATION = "Prometheus duration, e.g. 5m, 1h30m, 30d"


def _duration(
    description: str = _DURATION,
    *,
    required: bool = False,
    minimum: int = 1,
    maximum: int | None = None,
    message: str = "",
) -> Field:
    """A rule's duration: whole seconds, ``minimum`` seconds at least (and ``maximum`` at most)."""
    return Field(
        "duration",
        description,
        required,
        whole_seconds=True,
        minimum=minimum,
        maximum=maximum,
        message=message,
    )


def _labels(description: str) -> Field:
    """The labels of the service, an SLO and its alerts, which all go on its alerts: label names,
    not a reserved prefix, nor ``severity``, which sloctl sets on every alert (page or ticket)."""
    reserved = "|".join([f"{LABEL_SEVERITY}$", *(re.escape(p) for p in RESERVED_LABEL_PREFIXES)])
    name = Field("string", pattern=LABEL_NAME.pattern, not_pattern=f"^({reserved})", held_by=_MODEL)
    return Field("map", description, keys=name, values=_TEXT)


#: label and annotation values: text, a number read as its text, or nothing (an empty value);
#: true and false are refused (quote them if they are text)
_TEXT = Field("text")
_ANNOTATIONS = Field("map", "free notes", values=_TEXT)
#: an alert's annotations: their names are label names to Prometheus
_ALERT_ANNOTATIONS = Field(
    "map",
    "annotations of the alerts (names are label names)",
    keys=Field("string", pattern=LABEL_NAME.pattern, held_by=_MODEL),
    values=_TEXT,
)


def _name(description: str, **more: object) -> Field:
    return Field("string", description, pattern=NAME.pattern, held_by=_MODEL, **more)  # type: ignore[arg-type]


#: a service's or an SLO's name: the two together make generated file names (promcheck), so each
#: alone leaves at least one character to the other
_OWNER_NAME = "letters, digits, '-', '_' or '.'; with the other name, part of generated file names"
#: label matchers in braces; what is inside them is checked by validate (a PromQL parser)
_SELECTOR = Field(
    "string",
    'label matchers, e.g. {route="/v1/projects"}',
    pattern=rf"^{SPACE}*(\{{[\s\S]*\}})?{SPACE}*$",
    held_by=_MODEL,
)
_QUERY = Field("string", "PromQL; {{.window}} is replaced by each window", required=True, min_length=1)
_ALERT_NAME = Field("string", "any name Prometheus accepts (empty: derived)", strict_text=True)


def _kind(description: str, fields: dict[str, Field], exactly_one: tuple[str, ...] = ()) -> Field:
    """A mapping of ``fields``, described on the field (where an editor shows it)."""
    return Field("mapping", description, shape=Shape(fields, exactly_one=exactly_one))


def _sli() -> Field:
    """The SLI: exactly one kind."""
    latency = {
        "histogram": Field(
            "string",
            "base name of a classic histogram (without _bucket)",
            required=True,
            min_length=1,
            pattern="^(?!.*(" + "|".join(HISTOGRAM_SUFFIXES) + ")$)" + METRIC_NAME.pattern[1:],
            held_by=_MODEL,
        ),
        "selector": _SELECTOR,
        "threshold": Field(
            "string",
            "latency with its unit, e.g. 200ms",
            required=True,
            pattern=rf"^(?={SPACE}*0*\.?0*[1-9])" + THRESHOLD.pattern[1:],
            held_by=_MODEL,
        ),
    }
    component = Shape(
        {
            "slo": _name("another SLO of this service", required=True, min_length=1),
            "weight": Field(
                "number", "default 1", exclusive_minimum=0, message="weight {value:g} must be greater than 0"
            ),
        }
    )
    components = Field(
        "list",
        required=True,
        min_items=1,
        items=Field("mapping", shape=component),
        message="a composite needs at least one component",
    )
    plugin = {
        "id": Field("string", "an SLI plugin id (docs/plugins.md)", required=True, min_length=1),
        "options": Field("map", "the plugin's options", values=Field("scalar")),
    }
    probe = {"target": _name("a collector target name", min_length=1), "selector": _SELECTOR}
    kinds = {
        "events": _kind("error events over all events", {"errorQuery": _QUERY, "totalQuery": _QUERY}),
        "ratio": _kind("good events over all events", {"goodQuery": _QUERY, "totalQuery": _QUERY}),
        "raw": _kind("an error ratio, as a query", {"errorRatioQuery": _QUERY}),
        "latency": _kind("share of requests faster than threshold (a classic histogram)", latency),
        "probe": _kind("the collector's probe results", probe, exactly_one=("target", "selector")),
        "composite": _kind(
            "weighted mean of other SLOs' error ratios (OpenSLO compositeWeight)", {"components": components}
        ),
        "plugin": _kind("a query made by an SLI plugin", plugin),
    }
    assert tuple(kinds) == SLI_KINDS
    return Field(
        "mapping",
        "what counts as good: one kind",
        required=True,
        shape=Shape(kinds, exactly_one=SLI_KINDS, one_of="SLI kind"),
    )


def _alerting() -> Field:
    """The ``alerting`` block."""
    severity = {
        "enabled": Field("boolean", "default true"),
        "labels": _labels("labels of these alerts"),
        "annotations": _ALERT_ANNOTATIONS,
    }
    tier = {
        "enabled": Field("boolean", "default true"),
        "for": Field(
            "duration",
            "how long the burn lasts before the alert fires (default 0: at once)",
            any_of=(_duration(), Field("string", enum=ZERO_FOR)),
        ),
    }
    no_data = {
        "enabled": Field("boolean", "default true"),
        "for": _duration(
            "time without any event before the alert (default 30m, at least 5m)",
            minimum=NO_DATA_MIN_SECONDS,
            message="must be at least 5m (the base window)",
        ),
        "severity": Field("string", "default ticket", enum=SEVERITIES),
        "name": _ALERT_NAME,
    }
    fields = {
        "name": _ALERT_NAME,
        "labels": _labels("labels of every alert of the SLO"),
        "annotations": _ALERT_ANNOTATIONS,
        "runbookUrl": Field(
            "string",
            "http(s) link put on every alert",
            pattern=URL.pattern,
            held_by=_MODEL,
            schema={"format": "uri"},
        ),
        "minEvents": Field(
            "number",
            "fewer events in a window than this: no alert (default 0)",
            minimum=0,
            message="must be zero or more",
        ),
        "page": _kind("the page alerts (quick and slow burn)", severity),
        "ticket": _kind("the ticket alerts (quick and slow burn)", severity),
        "tiers": _kind("each burn-rate tier", {k: Field("mapping", shape=Shape(tier)) for k in TIER_KEYS}),
        "noData": _kind("the alert on an SLI without events", no_data),
    }
    return Field("mapping", "multi-window multi-burn-rate alerts", shape=Shape(fields))


def _policy() -> Field:
    """The ``policy`` block: the error-budget policy."""
    step = {
        "budgetLeft": Field(
            "number",
            "percent of the budget left",
            required=True,
            minimum=BUDGET_LEFT[0],
            maximum=BUDGET_LEFT[1],
            message="{value:g} is a percentage of the budget left, at most 100",
        ),
        "action": Field(
            "string",
            required=True,
            enum=POLICY_ACTIONS,
            message="unknown action {value!r}; expected notify or freeze",
        ),
    }
    fields = {
        "steps": Field(
            "list",
            "one step of each action at most",
            items=Field("mapping", shape=Shape(step)),
            unique="action",
            message="a policy has at most one {value} step",
        ),
        "whenUnknown": Field("string", "when the budget cannot be read (default freeze)", enum=WHEN_UNKNOWN),
        "alertName": _ALERT_NAME,
    }
    return Field("mapping", "the error-budget policy (sloctl gate)", shape=Shape(fields))


def _slo() -> Shape:
    calendar = {
        "unit": Field(
            "string",
            required=True,
            enum=CALENDAR_UNITS,
            message="unknown unit {value!r}; expected week, month or quarter",
        ),
        "timeZone": Field(
            "string", "IANA name", pattern=ZONE_NAME.pattern, held_by="calendars.boundary_offsets"
        ),
    }
    timeslices = {
        "slice": _duration(
            "the slice size: 5m",
            required=True,
            minimum=SLICE_SECONDS,
            maximum=SLICE_SECONDS,
            message="slice {value} is not supported; slices are 5m (the base window)",
        ),
        "target": Field(
            "number",
            "percent of a slice that is good for the slice to be good",
            required=True,
            exclusive_minimum=0,
            exclusive_maximum=100,
            message="target {value:g} is outside (0, 100)",
        ),
    }
    fields = {
        "name": _name(_OWNER_NAME, required=True, min_length=1, max_length=NAMES_MAX - 1),
        "description": Field("string", strict_text=True),
        "objective": Field(
            "number",
            "percent of good events",
            required=True,
            exclusive_minimum=0,
            exclusive_maximum=100,
            held_by=_MODEL,
        ),
        "period": _duration("rolling period (default 30d)"),
        "calendar": _kind("a budget that resets at the calendar boundary (instead of period)", calendar),
        "timeslices": _kind(
            "objective: share of good slices; a slice is good when target % of it is", timeslices
        ),
        "labels": _labels("labels of the SLO's rules and alerts"),
        "sli": _sli(),
        "alerting": _alerting(),
        "policy": _policy(),
    }
    return Shape(fields)


SERVICE = Shape(
    {
        "apiVersion": Field("string", required=True, enum=(API_VERSION,)),
        "kind": Field("string", required=True, enum=("Service",)),
        "metadata": Field(
            "mapping",
            required=True,
            shape=Shape(
                {
                    "name": _name(_OWNER_NAME, required=True, min_length=1, max_length=NAMES_MAX - 1),
                    "labels": _labels("labels of every SLO of the service"),
                    "annotations": _ANNOTATIONS,
                }
            ),
        ),
        "spec": Field(
            "mapping",
            required=True,
            shape=Shape(
                {
                    "slos": Field(
                        "list",
                        required=True,
                        min_items=1,
                        items=Field("mapping", shape=_slo()),
                        message="a service needs at least one SLO",
                    )
                }
            ),
        ),
    }
)
"""A service and its SLOs (``kind: Service``)."""


def _windows() -> Shape:
    window = Shape(
        {
            "errorBudgetPercent": Field(
                "number",
                required=True,
                exclusive_minimum=0,
                maximum=100,
                message="{value:g} is outside (0, 100]",
            ),
            "shortWindow": _duration(required=True),
            "longWindow": _duration(required=True),
        }
    )
    speeds = Shape({k: Field("mapping", required=True, shape=window) for k in ("quick", "slow")})
    spec = {
        "sloPeriod": _duration(required=True),
        "page": Field("mapping", required=True, shape=speeds),
        "ticket": Field("mapping", required=True, shape=speeds),
    }
    return Shape(
        {
            "apiVersion": Field("string", required=True, enum=(API_VERSION, "sloth.slok.dev/v1")),
            "kind": Field("string", required=True, enum=("AlertWindows",)),
            "metadata": Field("mapping"),
            "spec": Field("mapping", required=True, shape=Shape(spec)),
        }
    )


WINDOWS = _windows()
"""A burn-rate windows catalog (``kind: AlertWindows``): the JSON Schema describes it and the
catalog reader (:mod:`sloctl.spec.catalog`) walks it."""
