"""A replay's series are backfilled in blocks as long as the replay, not in promtool's default
2-hour blocks: a 4-day replay (3 days of warm-up and a scenario) made some 50 blocks, which
every server start opened and every query merged (sloctl.backtest.engine)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

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


@pytest.mark.parametrize("gogc", [None, "100"])
def test_promtool_backfills_without_collecting_garbage_unless_the_caller_sets_gogc(
    tmp_path: Path, prometheus_engine: PrometheusEngine, monkeypatch: pytest.MonkeyPatch, gogc: str | None
) -> None:
    """promtool's backfill runs with Go's garbage collector held off (up to a heap of 256 MiB):
    collecting each rule's answer and block as it went was most of its CPU. Go's own trace
    (``GODEBUG=gctrace=1``, one ``gc N @…`` line on stderr per collection) shows none; a
    ``GOGC`` of the caller's wins."""
    runs: list[subprocess.CompletedProcess[bytes]] = []
    run = subprocess.run

    def kept(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        runs.append(run(*args, **kwargs))
        return runs[-1]

    monkeypatch.setattr(subprocess, "run", kept)
    monkeypatch.setenv("GODEBUG", "gctrace=1")
    if gogc is not None:
        monkeypatch.setenv("GOGC", gogc)
    start = 1_772_150_400
    lines = [
        "# TYPE x gauge",
        *(f'x{{k="{k % 50}"}} {k} {start + 60 * k}' for k in range(4 * DAY // 60)),
        "# EOF",
    ]
    backfill_openmetrics(
        "\n".join(lines) + "\n",
        tmp_path,
        tmp_path / "data",
        promtool=str(prometheus_engine.promtool),
        span=4 * DAY,
    )
    (done,) = runs
    collections = re.findall(rb"^gc \d+ @", done.stderr, re.MULTILINE)
    assert (len(collections) > 0) == (gogc is not None), done.stderr[-2000:]
