"""Data smoke test: every panel query of every generated dashboard returns data from a real
Prometheus (Debian's /usr/bin/prometheus) that holds synthetic series for every metric of
docs/metrics.md (backfilled with ``promtool tsdb create-blocks-from openmetrics``) and evaluates
the rules that ``sloctl.render.rules`` generates for the same SLOs."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sloctl import naming
from sloctl.model import SLO, RawSLI
from sloctl.render.dashboards import render_dashboards
from sloctl.render.dashboards_check import expand_macros, iter_queries
from tests.dashboards.factories import all_test_slos
from tests.dashboards.synthetic import openmetrics

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool")
VARIABLES = {"target": ".*", "service": ".*"}

pytestmark = [
    pytest.mark.promtool,
    pytest.mark.slow,
    pytest.mark.skipif(
        PROMTOOL is None or not Path(PROMETHEUS).is_file(), reason="Debian's prometheus package is missing"
    ),
]


@dataclass
class Prom:
    url: str
    slices_ready: bool = False
    """A 5m slice has ended since the rules started (timeslice windows have data)."""

    def query(self, expr: str) -> list[dict[str, object]]:
        data = urllib.parse.urlencode({"query": expr}).encode()
        with urllib.request.urlopen(f"{self.url}/api/v1/query", data=data, timeout=10) as resp:
            body = json.load(resp)
        assert body["status"] == "success", body
        result = body["data"]["result"]
        if body["data"]["resultType"] == "scalar":
            return [{"value": result}]
        assert isinstance(result, list)
        return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _slos() -> list[SLO]:
    return all_test_slos()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prom]:
    from sloctl.render.rules import render_rule_file

    assert PROMTOOL is not None
    tmp = tmp_path_factory.mktemp("prometheus")
    end = int(time.time())
    (tmp / "series.om").write_text(openmetrics(end - 3 * 3600, end))
    data = tmp / "data"
    subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(tmp / "series.om"), str(data)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (tmp / "rules.yml").write_text(render_rule_file(_slos(), ["tests"], "test"))
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(tmp / "rules.yml")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (tmp / "prometheus.yml").write_text(
        "global:\n  evaluation_interval: 1s\nrule_files:\n  - rules.yml\nscrape_configs: []\n"
    )
    port = _free_port()
    log = (tmp / "prometheus.log").open("w")
    started = time.time()
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=30d",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    prom = Prom(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp / "prometheus.log").read_text()[-3000:]
            try:
                # Ready once every SLO's rules have run and the incident's page alert fires.
                info = prom.query(f"count({naming.SLO_INFO})")
                firing = prom.query('ALERTS{alertstate="firing", severity="page"}')
                if info and info[0]["value"][1] == str(len(_slos())) and firing:  # type: ignore[index]
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp / "prometheus.log").read_text()[-3000:]
            time.sleep(0.5)
        time.sleep(2)  # a couple more evaluations, so that every rule of every group has run
        # Timeslice windows read the slices ending on 5m boundaries: until the first one after
        # the rules started, a freshly deployed timeslice SLO is unknown. Either that boundary is
        # under 40 s away (wait for it) or the test runs well before it.
        boundary = started - started % 300 + 300
        if boundary - time.time() < 40:
            while time.time() < boundary + 10:  # real timer: the wall clock's 5m boundary
                assert proc.poll() is None
                time.sleep(1)
        prom.slices_ready = time.time() > boundary
        yield prom
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _unknown_without_data(slo: SLO, ready: bool = True) -> tuple[str, ...]:
    """Series that are unknown (absent) while the SLO's SLI has seen no event: the period's
    ratio and budget; every ratio of a raw SLI (its query returns nothing)."""
    unit = slo.calendar.unit if slo.calendar else None
    names = (
        naming.BUDGET_REMAINING,
        naming.PERIOD_BURN_RATE,
        f"{naming.period_error_ratio(unit, slo.period)}{{",
    )
    if isinstance(slo.sli, RawSLI) or (slo.timeslices is not None and not ready):
        names += ("sloctl:sli_error:ratio_rate", naming.CURRENT_BURN_RATE)
    return names


def test_every_panel_query_of_every_dashboard_returns_data(prometheus: Prom) -> None:
    """Every query returns data — except the period's budget and ratio of an SLO whose SLI has
    no data at all (here: the Sloth fixtures' metrics and a few slos/ SLIs the synthetic series
    do not cover), which must be unknown (empty), not a full budget."""
    slos = _slos()
    silent = {
        r["metric"][naming.LABEL_ID]  # type: ignore[index]
        for r in prometheus.query(f"{naming.NO_DATA} == 1")
    }
    if not prometheus.slices_ready:
        # No slice has ended yet: every window of a timeslice SLO is unknown too.
        fresh = {s.id for s in slos if s.timeslices is not None}
        silent |= fresh
    files = render_dashboards(slos)
    empty: list[str] = []
    unknown_but_not_empty: list[str] = []
    count = unknown = 0
    for name, text in sorted(files.items()):
        for q in iter_queries(json.loads(text)):
            count += 1
            expected_unknown = any(
                f'"{s.id}"' in q.expr
                and any(m in q.expr for m in _unknown_without_data(s, prometheus.slices_ready))
                for s in slos
                if s.id in silent
            ) and not any(f'"{s.id}"' in q.expr for s in slos if s.id not in silent)
            result = prometheus.query(expand_macros(q.expr, VARIABLES))
            where = f"{name} panel {q.panel} {q.title!r} {q.ref_id}: {q.expr}"
            if expected_unknown:
                unknown += 1
                if result:
                    unknown_but_not_empty.append(where)
            elif not result:
                empty.append(where)
    assert empty == []
    assert unknown_but_not_empty == []
    assert count > 80
    # Both halves were exercised: SLOs with data, and silent ones shown as unknown.
    assert 0 < len(silent) < len(slos) and unknown > 0


def test_the_overview_lists_every_slo_and_the_firing_page(prometheus: Prom) -> None:
    info = prometheus.query(f"max by ({naming.LABEL_ID}) ({naming.SLO_INFO})")
    assert sorted(r["metric"][naming.LABEL_ID] for r in info) == sorted(s.id for s in _slos())  # type: ignore[index]
    # Budgets are known for every SLO whose SLI has data, and unknown for the others.
    budget = {r["metric"][naming.LABEL_ID] for r in prometheus.query(f"{naming.BUDGET_REMAINING}")}  # type: ignore[index]
    silent = {r["metric"][naming.LABEL_ID] for r in prometheus.query(f"{naming.NO_DATA} == 1")}  # type: ignore[index]
    if not prometheus.slices_ready:
        silent |= {s.id for s in _slos() if s.timeslices is not None}
    assert budget == {s.id for s in _slos()} - silent and "platform-api-availability" in budget
    firing = prometheus.query('ALERTS{alertstate="firing", severity="page"}')
    ids = {r["metric"][naming.LABEL_ID] for r in firing}  # type: ignore[index]
    # The incident burns platform-api's budget at ~250x; pg-main's steady 1 % of failed probes
    # burns a 99.5 % SLO at 2x, above the 7d catalog's slow page factor (5 % × 168h / 6h = 1.4).
    assert "platform-api-availability" in ids
    assert "provisioning-provision-success" not in ids
