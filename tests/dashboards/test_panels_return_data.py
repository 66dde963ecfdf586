"""Data smoke test: every panel query of every generated dashboard returns data from a real
Prometheus (2.42 and 3.x: ``prometheus_engine``) that holds synthetic series for every metric of
docs/metrics.md (backfilled with ``promtool tsdb create-blocks-from openmetrics``) and evaluates
the rules that ``sloctl.render.rules`` generates for the same SLOs."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from sloctl import naming
from sloctl.backtest.engine import backfill_openmetrics
from sloctl.model import SLO
from sloctl.servers._process import wait_until
from sloctl.servers.prometheus import start_prometheus
from sloctl.shelf import PrometheusEngine
from tests.dashboards.factories import all_test_slos
from tests.dashboards.synthetic import openmetrics
from tests.fixtures.dashboards import Prom, check_panels
from tests.fixtures.engines import compat

pytestmark = [
    pytest.mark.promtool,
    pytest.mark.slow,
    # One worker builds each engine's Prometheus (a backfill and 50 s of rule evaluations on
    # Prometheus 2) for both tests: split over two workers, it was built twice (CI: 55 + 50 s).
    pytest.mark.xdist_group("dashboards-prometheus"),
]


#: seconds after a 5m boundary by which the records reading its slice have settled (chained
#: records, each group evaluated every second: a few evaluations, with a margin)
SLICE_SETTLES = 10


def _slos() -> list[SLO]:
    return all_test_slos()


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, prometheus_engine: PrometheusEngine
) -> Iterator[Prom]:
    from sloctl.render.rules import render_rule_file

    tmp = tmp_path_factory.mktemp("prometheus")
    end = int(time.time())
    backfill_openmetrics(
        openmetrics(end - 3 * 3600, end), tmp, tmp / "data", promtool=str(prometheus_engine.promtool)
    )
    (tmp / "rules.yml").write_text(render_rule_file(_slos(), ["tests"], "test"))
    checked = subprocess.run(
        [str(prometheus_engine.promtool), "check", "rules", str(tmp / "rules.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    started = time.time()
    with start_prometheus(
        tmp,
        config_text="global:\n  evaluation_interval: 1s\nrule_files:\n  - rules.yml\nscrape_configs: []\n",
        binary=prometheus_engine.prometheus,
    ) as server:
        prom = Prom(server.url, prometheus_engine.name)

        def rules_ran() -> bool:
            # Every SLO's rules have run and the incident's page alert fires.
            info = prom.query(f"count({naming.SLO_INFO})")
            firing = prom.query('ALERTS{alertstate="firing", severity="page"}')
            return bool(info and firing) and info[0]["value"][1] == str(len(_slos()))  # type: ignore[index]

        assert wait_until(rules_ran, timeout=90, interval=0.25), (tmp / "prometheus.log").read_text()[-3000:]
        # Then two more evaluations of every group, so that rules reading recordings of an
        # earlier evaluation (windows of windows) have data too.
        since = time.time() + 2
        assert wait_until(lambda: prom.groups_evaluated_after(since), timeout=60, interval=0.25)
        # Timeslice windows read the slices ending on 5m boundaries: until the first one after
        # the rules started, a freshly deployed timeslice SLO is unknown, and its records are
        # known a few evaluations after that boundary. Every query is evaluated at one instant,
        # so the tests see the slices before the boundary or settled after it, never a boundary
        # crossed between two queries (before, the fixture waited up to 50 s whenever the
        # boundary was under 40 s away).
        boundary = started - started % 300 + 300
        if boundary <= time.time() < boundary + SLICE_SETTLES:
            # real timer: the wall clock's 5m boundary, then the records that read it
            assert wait_until(lambda: time.time() > boundary + SLICE_SETTLES, timeout=60, interval=0.5)
        prom.at = time.time()
        prom.slices_ready = prom.at > boundary
        yield prom


def test_every_panel_query_of_every_dashboard_returns_data(
    prometheus: Prom, request: pytest.FixtureRequest
) -> None:
    """Every query returns data — except the period's budget and ratio of an SLO whose SLI has
    no data at all (here: the Sloth fixtures' metrics and a few slos/ SLIs the synthetic series
    do not cover), which must be unknown (empty), not a full budget."""
    compat(request, prometheus.engine, "dashboards' queries return data")
    slos = _slos()
    check = check_panels(prometheus, slos)
    assert check.empty == []
    assert check.unknown_but_not_empty == []
    assert check.count > 80
    # Both halves were exercised: SLOs with data, and silent ones shown as unknown.
    assert 0 < len(check.silent) < len(slos) and check.unknown > 0


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
