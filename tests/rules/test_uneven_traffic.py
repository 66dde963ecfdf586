"""Acceptance: under uneven traffic our period ratio is events-weighted, Sloth's is not.

Both rule sets (ours and ``--compat sloth``) are generated from the same SLO and evaluated by
promtool on the same series: two days, 1m scrapes and evaluations, with ten times the traffic
(and a higher error ratio) in one hour of each day.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sloctl.render.rules import render_rule_file
from sloctl.render.sloth_compat import render_sloth
from sloctl.spec import load_text
from tests.fixtures.promtool import assert_unit_test_passes
from tests.fixtures.specs import shop_slo

pytestmark = pytest.mark.promtool

SPEC = shop_slo(
    errors='sum(rate(http_requests_total{code="500"}[{{.window}}]))',
    total="sum(rate(http_requests_total[{{.window}}]))",
    period="30d",
)
QUIET_OK, QUIET_ERR = 600, 1  # per minute: 0.17 % errors
BUSY_OK, BUSY_ERR = 5_700, 300  # ten times the traffic, 5 % errors


def _counter(per_minute: list[int]) -> str:
    parts: list[str] = ["0"]
    value = 0
    i = 0
    while i < len(per_minute):
        j = i
        while j < len(per_minute) and per_minute[j] == per_minute[i]:
            j += 1
        step, n = per_minute[i], j - i
        parts.append(f"{value + step}+{step}x{n - 1}")
        value += step * n
        i = j
    return " ".join(parts)


@pytest.mark.cpu(30)
def test_events_weighted_period_ratio_is_exact_where_sloths_average_of_ratios_is_off(tmp_path: Path) -> None:
    (slo,) = load_text(SPEC, "shop.yaml").slos
    ok: list[int] = []
    err: list[int] = []
    for _day in range(2):
        for hour in range(24):
            busy = hour == 12
            ok += [BUSY_OK if busy else QUIET_OK] * 60
            err += [BUSY_ERR if busy else QUIET_ERR] * 60
    minutes = len(ok)
    truth = sum(err) / (sum(err) + sum(ok))
    end = f"{minutes}m"
    sel_ours = '{sloctl_id="shop-availability"}'
    sel_sloth = '{sloth_id="shop-availability"}'
    assert_unit_test_passes(
        tmp_path,
        {
            "ours.yml": render_rule_file([slo], ["shop.yaml"], "test"),
            "sloth.yml": render_sloth([slo], version="test"),
        },
        [
            {"series": 'http_requests_total{code="200"}', "values": _counter(ok)},
            {"series": 'http_requests_total{code="500"}', "values": _counter(err)},
        ],
        [
            # ours: within 1 % of the truth
            {
                "expr": f"abs(sloctl:sli_error:ratio_rate30d{sel_ours} - {truth!r}) <= bool {truth * 0.01!r}",
                "eval_time": end,
                "exp_samples": [
                    {
                        "labels": '{sloctl_id="shop-availability", sloctl_service="shop", '
                        'sloctl_slo="availability", sloctl_window="30d"}',
                        "value": 1,
                    }
                ],
            },
            # Sloth's: off by more than 10 %
            {
                "expr": f"abs(slo:sli_error:ratio_rate30d{sel_sloth} - {truth!r}) > bool {truth * 0.10!r}",
                "eval_time": end,
                "exp_samples": [
                    {
                        "labels": '{sloth_id="shop-availability", sloth_service="shop", '
                        'sloth_slo="availability", sloth_window="30d"}',
                        "value": 1,
                    }
                ],
            },
        ],
    )
