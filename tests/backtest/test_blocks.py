"""A replay's series are backfilled in blocks as long as the replay, not in promtool's default
2-hour blocks: a 4-day replay (3 days of warm-up and a scenario) made some 50 blocks, which
every server start opened and every query merged (sloctl.backtest.engine)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sloctl.backtest.engine import backfill_openmetrics
from sloctl.durations import DAY
from sloctl.shelf import PrometheusEngine

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="no promtool (apt-get install prometheus)"
)


def test_four_days_of_samples_are_backfilled_whole_in_one_or_two_blocks(
    tmp_path: Path, prometheus_engine: PrometheusEngine
) -> None:
    start = 1_772_150_400  # 2026-02-27T00:00Z
    minutes = 4 * DAY // 60
    lines = ["# TYPE x gauge", *(f"x {k} {start + 60 * k}" for k in range(minutes)), "# EOF"]
    data = tmp_path / "data"
    backfill_openmetrics(
        "\n".join(lines) + "\n", tmp_path, data, promtool=str(prometheus_engine.promtool), span=4 * DAY
    )
    metas = [json.loads(p.read_text()) for p in data.glob("*/meta.json")]
    assert sum(m["stats"]["numSamples"] for m in metas) == minutes
    assert min(m["minTime"] for m in metas) == start * 1000
    assert max(m["maxTime"] for m in metas) == (start + 60 * (minutes - 1)) * 1000 + 1
    assert len(metas) <= 2, [(m["minTime"], m["maxTime"]) for m in metas]
