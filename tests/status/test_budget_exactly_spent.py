"""Exactly one error in 10,000 events at 99.99 % spends the whole budget: the policy freezes.

The budget was ``(100 − 99.99) / 100`` in binary floating point, 0.00010000000000005117, so the
remaining budget came out at 5 × 10⁻¹³ ("0.0 %"), above the freeze step at 0: notify, and the
gate passed. The budget is now exact in decimal, and a remaining budget within float noise of 0
(the period ratio Prometheus sums is 9.999999999999998e-05, not 1e-4) is spent.
"""

from __future__ import annotations

import pytest

from sloctl.policy import decide
from sloctl.spec import load_text
from sloctl.status import StatusRow
from tests.fixtures.specs import shop_slo

SPEC = shop_slo(
    objective="99.99",
    extra="""
    policy:
      steps:
        - {budgetLeft: 50, action: notify}
        - {budgetLeft: 0, action: freeze}
    """,
)
STEPS = {"notify": 0.5, "freeze": 0.0}


def test_the_budget_is_exact_from_the_objective_as_written() -> None:
    (slo,) = load_text(SPEC, "shop.yaml").slos
    assert slo.error_budget == 0.0001
    (three_nines,) = load_text(shop_slo(objective="99.9"), "shop.yaml").slos
    assert three_nines.error_budget == 0.001


@pytest.mark.parametrize("period_ratio", [1 / 10_000, 9.999999999999998e-05])
def test_one_error_in_ten_thousand_events_at_99_99_freezes(period_ratio: float) -> None:
    (slo,) = load_text(SPEC, "shop.yaml").slos
    burn = period_ratio / slo.error_budget
    row = StatusRow(
        slo=slo.id,
        service=slo.service,
        name=slo.name,
        budget_remaining=1 - burn,
        current_burn_rate=burn,
        period_burn_rate=burn,
        policy=tuple(STEPS.items()),
    )
    assert row.decision().action == "freeze", row.decision().reason
    assert decide(1 - burn, STEPS, "proceed", no_data=False).action == "freeze"


def test_a_real_remainder_is_not_spent() -> None:
    assert decide(1e-6, STEPS, "proceed", no_data=False).action == "notify"
