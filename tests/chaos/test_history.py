"""A rig's healthy history: the OpenMetrics it backfills weighs like the live evaluations it
stands for, and a real Prometheus over it gives every SLO its whole budget, so that
``sloctl gate`` lets a game day start on a fresh rig (it refused the second one before)."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
import yaml

from sloctl import naming
from sloctl.backtest.engine import backfill_openmetrics
from sloctl.chaos.history import healthy_history, history_series
from sloctl.chaos.rig import rig_rules, wait_for_recordings
from sloctl.gate import evaluate
from sloctl.model import with_fast_reset
from sloctl.servers import ServerStartError
from sloctl.servers.prometheus import start_prometheus
from sloctl.spec import load_paths
from tests.paths import ROOT

RULES = ROOT / "rules" / "platform-api.yml"
SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<labels>[^}]*)\} (?P<value>\S+) (?P<t>\d+)$")


def _samples(text: str) -> list[tuple[str, str, float, int]]:
    found = []
    for line in text.splitlines():
        if match := SAMPLE.match(line):
            found.append((match["name"], match["labels"], float(match["value"]), int(match["t"])))
    return found


def test_the_history_covers_every_slo_that_records_its_own_errors() -> None:
    series = history_series(RULES.read_text())
    ids = {dict(s.labels)[naming.LABEL_ID] for s in series}
    # nine SLOs, the composite computed from its components records no errors of its own
    assert len(ids) == 8 and "platform-api-availability-by-dependency" not in ids
    timeslice = {dict(s.labels)[naming.LABEL_ID] for s in series if s.name == naming.TIMESLICE_BAD}
    assert timeslice == {f"platform-api-{p}latency" for p in ("", "postgres-", "redis-", "mongodb-")}


def test_each_history_sample_weighs_as_much_as_the_live_evaluations_it_stands_for() -> None:
    end, period, recent, step, rate = 1_800_000_123.0, 30 * 86400, 86400, 300, 2.0
    text = healthy_history(
        RULES.read_text(), end=end, period=period, recent=recent, rate=rate, base_windows=[step]
    )
    assert text.endswith("# EOF\n")
    samples = _samples(text)
    events = [s for s in samples if s[0] == "sloctl:sli_events:rate5m"]
    assert events
    per_slo: dict[str, float] = {}
    for _, labels, value, _ in events:
        per_slo[labels] = per_slo.get(labels, 0.0) + value
    # sum_over_time over the period = what a month of 1 s evaluations at `rate` would sum to
    assert all(total == pytest.approx(rate * period) for total in per_slo.values()), per_slo
    assert all(s[2] == 0 for s in samples if s[0] != "sloctl:sli_events:rate5m")
    times = sorted({s[3] for s in samples})
    assert times[-1] <= end and end - times[-1] < step
    assert all(t % step == 0 for t in times)  # where the timeslice subqueries evaluate
    assert times[-1] - times[1] == recent - step
    # the older stretch's sample sits in its middle: inside the period's window for half that
    # stretch to come, outside the 3-day alert windows
    assert (period - recent) / 2 - step <= period - (end - times[0]) and end - times[0] > 3 * 86400


def test_each_slo_has_its_history_at_its_own_base_window() -> None:
    """A fast-reset rig's rules record their rates over two base windows (÷ 60: 5 s, and 10 s
    for the timeslice SLOs, whose slices keep a floor): each SLO's samples at its own step."""
    slos = load_paths([ROOT / "slos" / "platform-api.yaml"]).slos
    reset = [with_fast_reset(s, 60) for s in slos]
    end, period, rate = 1_800_000_123.0, 30 * 86400, 2.0
    bases = [s.base_window for s in reset]
    text = healthy_history(rig_rules(slos, 60), end=end, period=period, rate=rate, base_windows=bases)
    samples = _samples(text)
    for step in (5, 10):
        events = [s for s in samples if s[0] == naming.events_rate(step)]
        own = {s.id for s in reset if s.base_window == step and s.sli.kind != "composite"}
        assert {_slo_id(labels) for _, labels, _, _ in events} == own
        assert all(t % step == 0 for *_, t in events)
        assert sum(value for _, _, value, _ in events) == pytest.approx(rate * period * len(own))
    bad = {_slo_id(labels) for name, labels, _, _ in samples if name == naming.TIMESLICE_BAD}
    assert bad == {s.id for s in reset if s.timeslices is not None and s.base_window == 10}
    assert text.count("# TYPE ") == len({name for name, *_ in samples})  # one family each


def _slo_id(labels: str) -> str:
    found = re.search(rf'{naming.LABEL_ID}="([^"]+)"', labels)
    assert found is not None, labels
    return found[1]


@pytest.mark.slow
def test_a_backfilled_prometheus_gives_every_slo_its_whole_budget_and_the_gate_proceeds(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    backfill_openmetrics(healthy_history(RULES.read_text(), end=time.time() - 1), tmp_path, data)
    shutil.copy(RULES, tmp_path / "rules.yml")
    config = "global: {evaluation_interval: 1s}\nrule_files: ['rules.yml']\n"
    with start_prometheus(tmp_path, config_text=config, data_dir=data) as prometheus:
        wait_for_recordings(prometheus.url, expected=9)
        verdict = evaluate(prometheus.url, floor_percent=25)
        assert not verdict.freeze, verdict.reason
        remaining = {v.row.slo: v.row.budget_remaining for v in verdict.slos}
        assert len(remaining) == 9
        assert all(r == pytest.approx(1.0) for r in remaining.values()), remaining


def test_the_wait_counts_slos_not_series(tmp_path: Path) -> None:
    # One SLO with three groups records three budget series: two SLOs are not recorded until
    # the second SLO's group has run (the rig let a game day's gate read Prometheus before the
    # platform's composite SLO group had, and the gate refused: "knows no SLO").
    rules = [
        {
            "record": naming.BUDGET_REMAINING,
            "expr": "vector(1)",
            "labels": {naming.LABEL_ID: "shop-checkout", "group": group},
        }
        for group in ("eu", "us", "ap")
    ]
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "shop", "rules": rules}]}))
    config = "global: {evaluation_interval: 1s}\nrule_files: ['rules.yml']\n"
    with start_prometheus(tmp_path, config_text=config) as prometheus:
        wait_for_recordings(prometheus.url, expected=1)
        with pytest.raises(ServerStartError, match="budget of 1 of 2 SLOs"):
            wait_for_recordings(prometheus.url, expected=2, timeout=3)
