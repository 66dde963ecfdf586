"""The UI's pages fit the window in real headless Chromium (the system's, driven by
playwright-core from tests/browser/): at 1280 px the overview of an SLO set with many windows,
an overspent budget and an id without break characters is no wider than the window, and at
375 px a wide table scrolls inside itself rather than widening (and so shrinking) the page.
Over a fake Prometheus (no demo stack), so it takes seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sloctl.prometheus import Prometheus
from sloctl.serve import App, ServeConfig, start
from tests.fixtures.browser import NEEDS_BROWSER, drive
from tests.fixtures.fake_prometheus import fake_prometheus

pytestmark = NEEDS_BROWSER

#: An id with no character a line may break at: it widened its column to thousands of pixels.
LONG_ID = "platform-api-" + "availabilitybydependencyandregion" * 12
#: Two window catalogs side by side: ten burn-rate columns.
WINDOWS = {w: "3.2" for w in ("5m", "30m", "1h", "2h", "6h", "7h", "1d", "3d", "3d12h", "1w")}


def _drive(tmp_path: Path, steps: list[dict[str, object]]) -> dict[str, dict[str, Any]]:
    calls: list[str] = []
    fake = fake_prometheus(
        3, calls, id_of=lambda i: LONG_ID if i == 0 else f"s-{i}", windows=WINDOWS, remaining="-54.193"
    )
    with Prometheus.connect("http://127.0.0.1:9", transport=fake) as prom:
        listener = start(App(ServeConfig(), prom), "127.0.0.1:0")
        try:
            return drive(listener.url, steps, tmp_path)
        finally:
            listener.stop()


def test_the_overview_fits_the_window_and_a_wide_table_scrolls_in_itself(tmp_path: Path) -> None:
    seen = _drive(
        tmp_path,
        [
            {"viewport": [1280, 900]}, {"goto": "/"}, {"snapshot": "wide"},
            {"viewport": [375, 800]}, {"goto": "/"}, {"snapshot": "narrow"},
            {"goto": "/slo/s-1"}, {"snapshot": "narrow-slo"},
        ],
    )  # fmt: skip
    wide = seen["wide"]
    assert LONG_ID in [r["cells"][0] for r in wide["tables"]["slos"]]
    assert "-5419.3 %" in wide["tables"]["slos"][0]["cells"]
    for name, s in seen.items():
        assert s["width"]["scroll"] <= s["width"]["window"], (name, s["width"])
        bad = [v for v in s["axe"] if v["impact"] in ("serious", "critical")]
        assert bad == [], (name, bad)
    # Ten windows' columns are wider than 1280 px (one catalog's seven fit): the table, not the
    # page, scrolls sideways to its last columns, at 1280 px as at 375 px.
    for name in ("wide", "narrow"):
        table = seen[name]["tableWidths"]["slos"]
        assert table["client"] <= seen[name]["width"]["window"] < table["scroll"], (name, table)
