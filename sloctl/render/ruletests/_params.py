"""The numbers every rule test is built on: scrape step, slice, evaluation intervals, margins."""

from __future__ import annotations

from sloctl import naming


class UnprovableSLO(ValueError):
    """The generator cannot write a proof for an SLO: its exact model of the rules misses a
    designed time or finds no evaluation where both engines agree. A defect of sloctl, not of the
    SLO; ``sloctl generate`` reports it (exit 1) and ``--no-tests`` writes the rules alone."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"cannot write the promtool proofs of {what} (a sloctl defect: please report it with"
            " the SLO file); `sloctl generate --no-tests` writes the rules without them"
        )


STEP = 60
"""Scrape interval of the synthetic series. Shorter than the 5m base window so that a ``[5m]``
range holds several samples on both engines (6 on Prometheus 2, 5 on the left-open ranges of
Prometheus 3); ``promsim`` models both exactly."""
SLICE = naming.BASE_WINDOW
"""Evaluation interval of the timeslice, no-data, policy and calendar scenarios: their
subqueries read one point every 5m, each an evaluation's recording."""
SLICE_STEPS = SLICE // STEP
SAMPLES_PER_WINDOW = 24
"""Each tier is tested at an evaluation interval of about 1/24 of its long window (5m for 1h,
15m for 6h, 1h for 1d, 3h for 3d): promtool's cost grows with steps × rules, and 24 samples per
window keep the crossing of the threshold within a few evaluations while a 3d tier needs about
100 steps instead of 1,700."""
UNEVEN_EVAL = 900
ERRORS_METRIC = "sloctl_test_errors_total"
REQUESTS_METRIC = "sloctl_test_requests_total"
COMPONENT_LABEL = "component"
ABOVE = 1.15
BELOW = 0.85
PERIOD_BOUND = 0.01
"""Relative bound asserted between the period error ratio and the events-weighted truth."""
MAX_SLICES = 2400
"""Longest run of 5m slices in a timeslice scenario: promtool's test engine refuses queries
that load more than 10,000 samples, and a period's subquery reads every slice of the run."""
