"""``sloctl explain`` promises no detection a tier cannot deliver: a tier whose threshold is at
or above the most there can be (an error ratio of 100 %, every slice of its window bad) is
"n/a" with the reason, as the alert's strict ``>`` never trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sloctl.cli.main import main
from tests.fixtures.specs import alert_windows, events_slo, service_doc

# objective 90: a budget of 10 %, so a full outage burns at 10x
SLICED = (
    "- name: sliced\n  objective: 90\n  timeslices: {slice: 5m, target: 95}\n"
    + events_slo("x")[events_slo("x").index("  sli:") :]
)
# The ticket-slow tier at a factor of exactly 10 (100 % of the budget in 3 of 30 days).
CATALOG = alert_windows("30d", ((2, "5m", "1h"), (5, "30m", "6h")), ((10, "2h", "1d"), (100, "6h", "3d")))


def _explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, dict[str, object]]]:
    (tmp_path / "windows.yaml").write_text(CATALOG)
    (tmp_path / "shop.yaml").write_text(service_doc("shop", [events_slo("events", objective="90"), SLICED]))
    assert main(["explain", str(tmp_path), "-o", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    return {d["slo"]: {t["tier"]: t for t in d["tiers"]} for d in data}


def test_explain_says_n_a_for_tiers_that_can_never_fire(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiers = _explain(tmp_path, capsys)
    sliced = tiers["sliced"]
    # 14.4 × 10 % of an hour's 12 slices is 17.3: 18 bad slices, and the hour holds 12
    assert sliced["page_quick"]["trips_at_bad_slices"] == 18
    assert sliced["page_quick"]["full_outage_detection_seconds"] == 0
    assert "holds only 12" in str(sliced["page_quick"]["cannot_fire"])
    assert (
        sliced["page_slow"]["cannot_fire"] is None
        and sliced["page_slow"]["full_outage_detection_seconds"] != 0
    )
    events = tiers["events"]
    assert events["page_quick"]["full_outage_detection_seconds"] == 0
    assert "cannot fire" in str(events["page_quick"]["cannot_fire"])
    # exactly the most there can be: 10 x 10 % = 100 %, and `ratio > 1` never holds
    assert events["ticket_slow"]["burn_factor"] == 10
    assert "cannot fire" in str(events["ticket_slow"]["cannot_fire"])
    assert events["ticket_slow"]["full_outage_detection_seconds"] == 0
    assert events["page_slow"]["cannot_fire"] is None
    assert main(["explain", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "page_quick: cannot fire: it takes 18 bad slices in its 1h window, which holds only 12" in text
