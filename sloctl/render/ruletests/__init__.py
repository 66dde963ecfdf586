"""promtool unit tests that prove the generated rules of each SLO behave as designed.

For every SLO this module writes a *test twin* of its rules and promtool test files. The twin
is rendered by the same renderer from the same SLO (objective, period or calendar, budgeting,
windows catalog, tiers, ``for``, low-traffic guard, no-data alert, error-budget policy); only its
SLI reads two synthetic counters, ``sloctl_test_errors_total`` and ``sloctl_test_requests_total``
(a composite's components each read theirs, by a ``component`` label), because arbitrary user
queries cannot be fed synthetic data in general. Everything the rules compute downstream of
those counters — every window, burn rate, slice, alert and budget series — is therefore
exercised by the real Prometheus engine inside promtool.

Expected results come from an exact discrete model of the rules (``_Model``), evaluated with
both engines' range semantics (``promsim``: Prometheus 2's closed ranges, Prometheus 3's
left-open ones): counters scraped every minute, ``rate()`` with its extrapolation, recorded
windows as sums of the recorded 5m rates, slices as the 5m error ratio against the target, each
tier evaluated at an interval of about 1/24 of its long window (timeslice SLOs every slice).
Assertions are placed only at evaluation times where both engines agree, no comparison sits on
its threshold and no printed value on a rounding edge, so the tests pin behaviour, not float
noise, and pass on both engines.

Scenarios, per SLO: for each enabled tier a constant burn just above its factor (fires no later
than the designed detection time) and just below it (never fires) — for timeslices a run of bad
slices just long enough and one slice short; zero traffic (no burn alert, the no-data ticket
once the rules have run for its time, an unknown budget); traffic that stops (the no-data
ticket at its time); a counter reset;
with ``minEvents``, a total outage too quiet to reach it (no page); uneven traffic with ten
times the requests in one hour of each day (the period error ratio equals the events-weighted
truth within the bound documented in docs/rules.md); a budget draining through the error-budget
policy's steps; for calendar SLOs, the period ratio counting only events since the period began.

Each test loads the smallest part of the twin that computes what it asserts on (the rules the
burn alerts read, or those of the period's ratio, budget and policy, else the whole twin):
promtool evaluates every loaded rule at every step of a run that can last days.
"""

from __future__ import annotations

from ._params import ERRORS_METRIC, REQUESTS_METRIC, STEP, UnprovableSLO
from ._profiles import render_rule_tests
from ._scenarios import TestFiles, rule_test_documents, tier_eval
from ._twin import designed_detection, timeslice_slices_to_fire, timeslice_tier_can_fire, twin, twin_slos

__all__ = [
    "ERRORS_METRIC",
    "REQUESTS_METRIC",
    "STEP",
    "TestFiles",
    "UnprovableSLO",
    "designed_detection",
    "render_rule_tests",
    "rule_test_documents",
    "tier_eval",
    "timeslice_slices_to_fire",
    "timeslice_tier_can_fire",
    "twin",
    "twin_slos",
]
