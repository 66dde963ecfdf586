"""The SLO page shows the PromQL behind its figures (Pyrra's "show query"), to paste into
Prometheus or Grafana; the oracle is that query itself, sent to the real Prometheus the page
read, at the same instant: it gives the figure the page shows, for each SLO of the demo stack."""

from __future__ import annotations

import html
import re

import pytest

from sloctl.prometheus import Prometheus
from sloctl.reports import percent, rate
from sloctl.serve import App, ServeConfig

from .conftest import Stack

pytestmark = [pytest.mark.slow, pytest.mark.promtool]


def _shown_queries(page: str) -> dict[str, str]:
    block = re.search(r'<details id="queries">(.*?)</details>', page, re.S)
    assert block is not None, "no queries on the page"
    return {
        name: html.unescape(query)
        for name, query in re.findall(r"<li>([^:<]+): <code>(.*?)</code></li>", block.group(1), re.S)
    }


def _tier_burns(page: str) -> dict[str, str]:
    """Each window's burn rate as the alert tiers' table shows it, by window."""
    cells = re.findall(r'<td class="window-burn[^"]*" data-window="([^"]+)">([^ <]+)', page)
    return dict(cells)


WINDOWS = "burn of each window (the alert tiers' below)"
HEADER = re.compile(
    r'Budget left: <strong class="budget">([^<]+)</strong>;\s+burn now ([-\d.]+x|unknown),'
    r"\s+over the period ([-\d.]+x|unknown)\."
)


def _value(prom: Prometheus, query: str, at: float) -> float | None:
    result = prom.query(query, at)
    return float(result[0]["value"][1]) if result else None


def _check_page(prom: Prometheus, slo_id: str, page: str, at: float) -> None:
    queries = _shown_queries(page)
    assert set(queries) == {"SLI over the period", "budget left", "burn now", "burn over the period", WINDOWS}
    sli = re.search(r'SLI over the period: <strong class="sli-period">([^<]+)</strong>', page)
    assert sli is not None, slo_id
    assert percent(_value(prom, queries["SLI over the period"], at), 3) == html.unescape(sli.group(1)), slo_id
    header = HEADER.search(page)
    assert header is not None, slo_id
    budget, burn_now, burn_period = header.groups()
    assert percent(_value(prom, queries["budget left"], at)) == html.unescape(budget), slo_id
    assert rate(_value(prom, queries["burn over the period"], at)) == burn_period, slo_id
    # Burn now is unknown without data (no event is no burn of 0x), whatever is recorded.
    if burn_now != "unknown":
        assert rate(_value(prom, queries["burn now"], at)) == burn_now, slo_id
    windows = {
        r["metric"]["sloctl_window"]: rate(float(r["value"][1])) for r in prom.query(queries[WINDOWS], at)
    }
    shown = _tier_burns(page)
    assert shown and {w: windows.get(w, "unknown") for w in shown} == shown, (slo_id, shown, windows)
    # Each chart's query returns this SLO's series.
    charts = re.findall(r'<details class="query"><summary>PromQL</summary><code>(.*?)</code>', page)
    assert len(charts) == 4, slo_id
    for query in charts:
        assert prom.query(html.unescape(query), at), (slo_id, query)
    # The last chart's query: this SLO's events and errors per second, as its rules record them.
    rates = prom.query(html.unescape(charts[3]), at)
    traffic = {r["metric"]["__name__"]: float(r["value"][1]) for r in rates}
    for name in traffic:
        recorded = prom.query(f'sum({name}{{sloctl_id="{slo_id}"}})', at)
        assert traffic[name] == pytest.approx(float(recorded[0]["value"][1])), (slo_id, name)
    assert "sloctl:sli_events:rate5m" in traffic, (slo_id, traffic)


def test_each_query_the_slo_page_shows_gives_the_figure_it_shows(serve_stack: Stack) -> None:
    config = ServeConfig(specs=serve_stack.slos, cache_seconds=0, default_range="1h")
    with Prometheus.connect(serve_stack.url) as prom:
        app = App(config, prom, now=serve_stack.at)
        for slo in serve_stack.slos:
            _check_page(prom, slo.id, app.handle(f"/slo/{slo.id}", {}).body.decode(), serve_stack.at)
