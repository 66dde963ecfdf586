"""``sloctl validate --prometheus``: a real Prometheus scrapes the real platform API, and every
latency SLO's threshold is checked against the histogram bounds Prometheus holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sloctl.cli.main import main
from sloctl.contract import API_DURATION
from sloctl.servers.prometheus import PrometheusServer, start_prometheus
from sloctl.testbed_runner import ApiServer
from tests.waiting import wait_until

pytestmark = [pytest.mark.servers, pytest.mark.promtool]

ROOT = Path(__file__).resolve().parents[2]
HIST = API_DURATION.name


def _slo(threshold: str) -> str:
    return f"""apiVersion: sloctl/v1
kind: Service
metadata: {{name: probe-api}}
spec:
  slos:
    - name: fast
      objective: 99
      period: 30d
      sli:
        latency:
          histogram: {HIST}
          selector: '{{route="/v1/projects"}}'
          threshold: {threshold}
"""


@pytest.fixture(scope="module")
def scraping(platform_api: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    target = platform_api.url.removeprefix("http://")
    config = (
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: api\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    for path in ("/v1/projects", "/v1/cache/k", "/v1/documents/0"):  # one observation per group
        httpx.get(f"{platform_api.url}{path}", timeout=10)
    with start_prometheus(tmp_path_factory.mktemp("prom-buckets"), config_text=config) as prom:
        query = f'count({HIST}_bucket{{route="/v1/projects"}})'

        def stored() -> bool:
            body = httpx.get(f"{prom.url}/api/v1/query", params={"query": query}, timeout=5).json()
            return bool(body["data"]["result"])

        wait_until(stored, timeout=30, what="the first scrape of the API's histogram", interval=0.2)
        yield prom


def test_a_threshold_on_a_bucket_bound_passes_without_a_warning(
    scraping: PrometheusServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "slo.yaml").write_text(_slo("20ms"))
    code = main(["validate", str(tmp_path / "slo.yaml"), str(ROOT / "slos"), "--prometheus", scraping.url])
    err = capsys.readouterr().err
    assert code == 0
    assert "bucket" not in err


def test_a_threshold_between_bucket_bounds_is_warned_about_with_the_bounds(
    scraping: PrometheusServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "slo.yaml").write_text(_slo("30ms"))
    code = main(["validate", str(tmp_path / "slo.yaml"), "--prometheus", scraping.url])
    err = capsys.readouterr().err
    assert code == 0
    assert f"probe-api-fast: threshold 30 ms is not a bucket bound of {HIST}" in err
    assert "25 ms, 50 ms" in err


def test_a_histogram_prometheus_does_not_have_is_named(
    scraping: PrometheusServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "slo.yaml").write_text(_slo("20ms").replace(HIST, "nowhere_seconds"))
    assert main(["validate", str(tmp_path / "slo.yaml"), "--prometheus", scraping.url]) == 0
    assert "Prometheus has no nowhere_seconds_bucket series matching" in capsys.readouterr().err


def test_a_prometheus_outside_loopback_is_refused_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "slo.yaml").write_text(_slo("20ms"))
    assert main(["validate", str(tmp_path / "slo.yaml"), "--prometheus", "http://192.0.2.10:9090"]) == 2
    assert "refusing to query Prometheus at 192.0.2.10" in capsys.readouterr().err
