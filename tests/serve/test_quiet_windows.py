"""A window that saw no event has no burn rate: the rules clamp the ratio's denominator, so it
read 0.00x, a healthy burn, on the overview's window columns and the SLO page's tier table. On a
real Prometheus evaluating the generated rules, an SLO whose requests never come reads "no
traffic" in every window, beside one with traffic that reads its burn rates."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import pytest

from sloctl import naming
from sloctl.backtest.engine import backfill_openmetrics
from sloctl.durations import format_duration
from sloctl.prometheus import Prometheus
from sloctl.render.rules import render_rule_file
from sloctl.serve import App, ServeConfig
from sloctl.servers._process import wait_until
from sloctl.servers.prometheus import start_prometheus
from sloctl.spec import load_text
from tests.fixtures.histories import two_routes
from tests.fixtures.one_slo_prometheus import answer
from tests.fixtures.stub_http import Answer, StubRequest, serve, vector

SPEC = """\
apiVersion: sloctl/v1
kind: Service
metadata: {name: shop}
spec:
  slos:
"""
SLO = """\
    - name: {name}
      objective: 99.5
      sli:
        events:
          errorQuery: sum(rate(http_requests_total{{route="{route}", code=~"5.."}}[{{{{.window}}}}]))
          totalQuery: sum(rate(http_requests_total{{route="{route}"}}[{{{{.window}}}}]))
      alerting: {{name: Shop{name}}}
"""


def _cells(page: str, css: str) -> list[str]:
    return [html.unescape(c) for c in re.findall(rf'<td class="{css}[^"]*"[^>]*>([^<]*)</td>', page)]


def _window_columns(page: str, slo_id: str) -> list[str]:
    """The texts of the overview's window columns of ``slo_id``'s row."""
    row = re.search(rf'<tr data-slo="{re.escape(slo_id)}".*?</tr>', page, re.S)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(0), re.S)
    return [re.sub(r"<[^>]+>", "", c) for c in cells if "x" in c or "traffic" in c or "unknown" in c]


@pytest.mark.promtool
def test_a_window_without_events_reads_no_traffic_not_a_healthy_burn(tmp_path: Path) -> None:
    text = SPEC + SLO.format(name="busy", route="/b") + SLO.format(name="quiet", route="/c")
    busy, quiet = load_text(text, "shop.yaml").slos
    end = int(time.time())
    backfill_openmetrics(two_routes(end - 3600, end), tmp_path, tmp_path / "data")
    (tmp_path / "rules.yml").write_text(render_rule_file([busy, quiet], ["tests"], "test"))
    config = "global:\n  evaluation_interval: 1s\nrule_files:\n  - rules.yml\nscrape_configs: []\n"
    with start_prometheus(tmp_path, config_text=config) as server, Prometheus.connect(server.url) as prom:
        ratios = f'{{__name__=~"{re.escape(naming.error_ratio(3600)[: -len("1h")])}.+"}}'
        windows = len(
            {w for s in (busy, quiet) for t in s.windows.windows for w in (t.short_window, t.long_window)}
        )
        assert wait_until(lambda: len(prom.query(ratios)) >= 2 * windows, timeout=60, interval=0.25)
        app = App(ServeConfig(specs=(busy, quiet)), prom, now=time.time())
        overview = app.handle("/", {}).body.decode()
        busy_page = app.handle("/slo/" + busy.id, {"range": ["1h"]}).body.decode()
        quiet_page = app.handle("/slo/" + quiet.id, {"range": ["1h"]}).body.decode()
        app.close()
    quiet_columns, busy_columns = _window_columns(overview, quiet.id), _window_columns(overview, busy.id)
    assert quiet_columns and set(quiet_columns) == {"no traffic"}, quiet_columns
    assert busy_columns and all(float(c.rstrip("x")) > 10 for c in busy_columns), busy_columns
    quiet_tiers, busy_tiers = _cells(quiet_page, "window-burn"), _cells(busy_page, "window-burn")
    assert len(quiet_tiers) == 2 * len(quiet.alerting.tiers)
    assert all(c.startswith("no traffic (") for c in quiet_tiers), quiet_tiers
    # /b fails 1 in 6: every window of the busy SLO burns its 0.5 % budget some 33 times over
    assert busy_tiers and all(float(c.split("x (")[0]) > 10 for c in busy_tiers), busy_tiers
    assert 'title="no event in the last 1h: no burn rate, not a healthy 0x"' in quiet_page


def test_only_the_windows_without_events_read_no_traffic_and_their_query_is_the_details_one() -> None:
    (slo,) = load_text(SPEC + SLO.format(name="night", route="/n"), "shop.yaml").slos
    labels = {naming.LABEL_ID: slo.id, naming.LABEL_SERVICE: slo.service, naming.LABEL_SLO: slo.name}
    info = {"__name__": naming.SLO_INFO, **labels, naming.INFO_OBJECTIVE: "99.5", naming.INFO_PERIOD: "30d"}
    quiet = ("5m", "30m", "1h")  # the night: nothing for an hour, a 2x burn over the day before

    def answering(request: StubRequest) -> Answer:
        query = request.query.get("query", "")
        if request.path.endswith("/rules") or request.path.endswith("/query_range"):
            return answer(request)
        if naming.LABEL_WINDOW not in query:
            return vector((info, 1.0)) if naming.SLO_INFO in query else vector()
        windows = {format_duration(w) for t in slo.windows.windows for w in (t.short_window, t.long_window)}
        burns = [({**labels, naming.LABEL_WINDOW: w}, 0.0 if w in quiet else 2.0) for w in windows]
        marked = [({**labels, naming.LABEL_WINDOW: w, "sloctl_no_events": "true"}, 0.0) for w in quiet]
        return vector((info, 1.0), *burns, *marked)

    with serve(answering) as stub, Prometheus.connect(stub.url) as prom:
        app = App(ServeConfig(specs=(slo,)), prom)
        page = app.handle("/slo/" + slo.id, {"range": ["1h"]}).body.decode()
        app.close()
        (sent,) = [q for q in stub.queries if naming.BURN_RATE_THRESHOLD in q]
    cells = dict(re.findall(r'data-window="([^"]+)"[^>]*>([^<]*)</td>', page))
    assert {w for w, c in cells.items() if c.startswith("no traffic")} == set(quiet) & set(cells)
    assert all(c.startswith("2.00x") for w, c in cells.items() if w not in quiet), cells
    # asked in the details query itself: the 5m rate now, every longer window's highest 5m rate
    assert f"max by ({naming.LABEL_ID}) ({naming.events_rate()}{{" in sent
    assert f"max_over_time({naming.events_rate()}{{{naming.LABEL_ID}=~" in sent and "[3d])" in sent
