"""Every name that crosses a module boundary is defined here once: recording rules, labels and
dashboard uids (the metrics the collector and the platform API export are in
:mod:`sloctl.contract`). docs/rules.md documents them and a test keeps it in step with this
module.

Recording rules follow ``level:metric:operations``; the level ``sloctl`` marks series computed
per SLO by the rules that sloctl generates.
"""

from __future__ import annotations

import hashlib
import re

from sloctl.durations import format_duration

#: The ``apiVersion`` of every document of sloctl's own: SLO services, alert-window catalogs,
#: the project file, collector configs, game-day schedules.
API_VERSION = "sloctl/v1"

# Labels carried by every generated series and alert.
LABEL_SERVICE = "sloctl_service"
LABEL_SLO = "sloctl_slo"
LABEL_ID = "sloctl_id"
LABEL_WINDOW = "sloctl_window"
LABEL_TIER = "sloctl_tier"
LABEL_SEVERITY = "severity"
LABEL_CANDIDATE = "sloctl_candidate"
LABEL_POLICY_ACTION = "sloctl_policy_action"
LABEL_POLICY_UNKNOWN = "sloctl_policy_unknown"
"""On ``sloctl_slo_info``: the policy's action when the budget is unknown."""
# The other labels of ``sloctl_slo_info`` (docs/rules.md), read back by ``sloctl serve``.
INFO_OBJECTIVE = "sloctl_objective"
INFO_PERIOD = "sloctl_period"
INFO_SLI = "sloctl_sli"
INFO_SPEC = "sloctl_spec"
INFO_BUDGETING = "sloctl_budgeting"
INFO_TIME_ZONE = "sloctl_time_zone"
INFO_SLICE = "sloctl_slice"
SLO_LABELS = (LABEL_ID, LABEL_SERVICE, LABEL_SLO)
# The alert tiers (``sloctl_tier``) that are not burn-rate tiers (docs/rules.md, "Alerts"): the
# no-data ticket and one per error-budget policy step (``policy_notify``, ``policy_freeze``).
TIER_NO_DATA = "no_data"
_TIER_POLICY = "policy_"
NOT_BURN_RATE_TIERS = f"{TIER_NO_DATA}|{_TIER_POLICY}.+"
"""The tiers :func:`is_burn_rate_tier` is false for, as a regular expression for matchers (the
Alertmanager fragment's inhibition leaves these alerts alone)."""
LABEL_NOTIFICATION_TARGET = "notification_target"
"""On the alerts of an OpenSLO SLO with alert policies: its ``AlertNotificationTarget`` names,
comma-joined, for Alertmanager routes to match."""

# Aggregated numerator and denominator, recorded once at the base window; longer windows are
# derived from these (docs/rules.md).
BASE_WINDOW = 300  # seconds: rate() over 5m tolerates a missed 1m scrape


def errors_rate(window: int = BASE_WINDOW) -> str:
    return f"sloctl:sli_errors:rate{format_duration(window)}"


def events_rate(window: int = BASE_WINDOW) -> str:
    return f"sloctl:sli_events:rate{format_duration(window)}"


def errors_known_rate(window: int = BASE_WINDOW) -> str:
    """A latency SLI's errors where they are known, 0 where they are NaN (no bucket at the
    threshold): what its period sums, so that unknown samples are skipped, not poisoning."""
    return f"sloctl:sli_errors_known:rate{format_duration(window)}"


def events_known_rate(window: int = BASE_WINDOW) -> str:
    """A latency SLI's events where its errors are known, 0 where they are not."""
    return f"sloctl:sli_events_known:rate{format_duration(window)}"


def error_ratio(window: int) -> str:
    return f"sloctl:sli_error:ratio_rate{format_duration(window)}"


def period_window_label(unit: str | None, period: int) -> str:
    """``sloctl_window`` of the period ratio: the calendar unit (``month``) or the rolling
    period (``30d``)."""
    return unit if unit is not None else format_duration(period)


def period_error_ratio(unit: str | None, period: int) -> str:
    """The period's error ratio: rolling (``…ratio_rate30d``) or calendar-to-date
    (``…ratio_month``)."""
    return f"sloctl:sli_error:ratio_{unit}" if unit is not None else error_ratio(period)


# No data, timeslices and calendar periods (docs/rules.md).
NO_DATA = "sloctl:sli_no_data:bool"
TIMESLICE_BAD = "sloctl:sli_timeslice_bad:bool"
CALENDAR_UTC_START = "sloctl:calendar_utc_start:timestamp"
CALENDAR_BOUNDARY = "sloctl:calendar_boundary:timestamp"
PERIOD_START = "sloctl:period_start:timestamp"
PERIOD_END = "sloctl:period_end:timestamp"
CALENDAR_PARTIAL_START = "sloctl:calendar_partial_start:timestamp"
CALENDAR_NUMERATOR = "sloctl:calendar_numerator:sum1h"
CALENDAR_DENOMINATOR = "sloctl:calendar_denominator:sum1h"
POLICY_THRESHOLD = "sloctl:budget_policy_threshold:ratio"

# Metadata series for dashboards and `sloctl status`.
OBJECTIVE = "sloctl:objective:ratio"
ERROR_BUDGET = "sloctl:error_budget:ratio"
PERIOD_SECONDS = "sloctl:period:seconds"
CURRENT_BURN_RATE = "sloctl:current_burn_rate:ratio"
PERIOD_BURN_RATE = "sloctl:period_burn_rate:ratio"
BUDGET_REMAINING = "sloctl:period_error_budget_remaining:ratio"
BURN_RATE_THRESHOLD = "sloctl:burn_rate_threshold:ratio"
SLO_INFO = "sloctl_slo_info"


def policy_tier(action: str) -> str:
    """The ``sloctl_tier`` of an error-budget policy step's alert."""
    return f"{_TIER_POLICY}{action}"


def policy_action(tier: str) -> str | None:
    """The action of a policy step's ``sloctl_tier`` (:func:`policy_tier`), None for another tier.

    >>> policy_action(policy_tier("freeze")), policy_action("page_quick")
    ('freeze', None)
    """
    return tier.removeprefix(_TIER_POLICY) if tier.startswith(_TIER_POLICY) else None


def is_burn_rate_tier(tier: str) -> bool:
    """Whether an alert's ``sloctl_tier`` is a burn-rate tier (``page_quick``, …, a catalog's
    own): not the no-data ticket nor a policy step's.

    >>> [t for t in ("page_quick", TIER_NO_DATA, policy_tier("freeze")) if is_burn_rate_tier(t)]
    ['page_quick']
    >>> [t for t in ("page_quick", TIER_NO_DATA, policy_tier("freeze")) if not is_burn_rate_tier(t)]
    ['no_data', 'policy_freeze']
    >>> all(re.fullmatch(NOT_BURN_RATE_TIERS, t) for t in _)
    True
    """
    return tier != TIER_NO_DATA and not tier.startswith(_TIER_POLICY)


_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """Lower-case, dash-separated form of a name, for file names and group names."""
    return _NON_SLUG.sub("-", text.lower()).strip("-") or "x"


def rule_group(service: str, slo: str) -> str:
    return f"sloctl-{slug(service)}-{slug(slo)}"


def dashboard_uid(*parts: str) -> str:
    """Stable Grafana uid (at most 40 characters) derived from names, so that re-generation
    updates a dashboard instead of adding a copy."""
    base = slug("-".join(parts))
    if len(base) <= 40:
        return base
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    return f"{base[:31]}-{digest}"


#: the first-lines markers of files that ``sloctl generate`` (or Sloth) wrote: a directory search
#: for SLO files skips them, and ``generate --check`` knows them as its own
GENERATED_MARKERS = ("Code generated by sloctl", "Code generated by Sloth")
