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
from sloctl.model import SLO
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


@dataclass(frozen=True)
class Prom:
    url: str

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
        yield prom
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_every_panel_query_of_every_dashboard_returns_data(prometheus: Prom) -> None:
    files = render_dashboards(_slos())
    empty: list[str] = []
    count = 0
    for name, text in sorted(files.items()):
        for q in iter_queries(json.loads(text)):
            count += 1
            if not prometheus.query(expand_macros(q.expr, VARIABLES)):
                empty.append(f"{name} panel {q.panel} {q.title!r} {q.ref_id}: {q.expr}")
    assert empty == []
    assert count > 80


def test_the_overview_lists_every_slo_and_the_firing_page(prometheus: Prom) -> None:
    budget = prometheus.query(f"max by ({naming.LABEL_ID}) ({naming.BUDGET_REMAINING})")
    assert sorted(r["metric"][naming.LABEL_ID] for r in budget) == sorted(s.id for s in _slos())  # type: ignore[index]
    firing = prometheus.query('ALERTS{alertstate="firing", severity="page"}')
    ids = {r["metric"][naming.LABEL_ID] for r in firing}  # type: ignore[index]
    # The incident burns platform-api's budget at ~250x; pg-main's steady 1 % of failed probes
    # burns a 99.5 % SLO at 2x, above the 7d catalog's slow page factor (5 % × 168h / 6h = 1.4).
    assert "platform-api-availability" in ids
    assert "provisioning-provision-success" not in ids
