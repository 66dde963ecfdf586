"""Error-budget policy decisions: what an SLO's policy says given its budget and state.

Pure: the policy's steps (as the generated rules record them, ``sloctl:budget_policy_threshold:
ratio`` by ``sloctl_policy_action``), the remaining budget and the no-data state in; an action and
its reason out. ``sloctl status`` shows the action, ``sloctl gate`` exits on it, and game days
refuse to start on it.

>>> decide(0.3, {"notify": 0.5, "freeze": 0.0}, "freeze", no_data=False).action
'notify'
>>> decide(float("nan"), {"freeze": 0.0}, "freeze", no_data=False).reason.split("; ")[1]
'the policy says freeze when unknown'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["ACTIONS", "Action", "Decision", "decide"]

Action = Literal["proceed", "notify", "freeze"]
ACTIONS: tuple[Action, ...] = ("proceed", "notify", "freeze")
"""From the mildest to the strictest."""


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str


#: A remaining budget this close to 0 is spent: the period's error ratio that the budget is
#: divided into is itself a sum of float rates (9.999999999999998e-5 for exactly one error in
#: 10,000 events, against a budget of 1e-4), whose noise (~1e-16 relative) must not leave a
#: spent budget a hair above 0; a real remainder (one event in a billion of the budget) is far
#: above it.
SPENT_TOLERANCE = 1e-9


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.1f} %"


def decide(
    budget_remaining: float,
    thresholds: Mapping[str, float],
    unknown: str,
    *,
    no_data: bool,
    floor: float | None = None,
) -> Decision:
    """The policy's action for one SLO. ``budget_remaining`` is a ratio (NaN when unknown);
    ``thresholds`` maps ``notify``/``freeze`` to the budget-left ratio at or below which they
    apply; ``unknown`` is the action when the budget or the SLI's state is unknown; ``floor`` is
    an extra freeze threshold of the caller's (a game day's minimum budget)."""
    steps = dict(thresholds)
    if floor is not None:
        steps["freeze"] = max(steps.get("freeze", -math.inf), floor)
    if not steps:
        return Decision("proceed", "no error-budget policy")
    when_unknown: Action = "freeze" if unknown == "freeze" else "proceed"
    if no_data:
        return Decision(
            when_unknown,
            f"the SLI has no data, so its state is unknown; the policy says {when_unknown} when unknown",
        )
    if not math.isfinite(budget_remaining):
        return Decision(
            when_unknown,
            # A timeslice SLO counts a slice once it ends on its 5m boundary: until then, none.
            "the error budget is unknown (no event or slice counted in the period yet); "
            f"the policy says {when_unknown} when unknown",
        )
    if abs(budget_remaining) <= SPENT_TOLERANCE:
        budget_remaining = 0.0
    for action in ("freeze", "notify"):
        limit = steps.get(action)
        if limit is not None and budget_remaining <= limit:
            return Decision(
                "freeze" if action == "freeze" else "notify",
                f"{_pct(budget_remaining)} of the error budget left, at or below the {action} step "
                f"at {_pct(limit)}",
            )
    return Decision("proceed", f"{_pct(budget_remaining)} of the error budget left, above every step")
