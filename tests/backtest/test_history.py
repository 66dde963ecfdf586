"""``sloctl backtest --prometheus URL --from --to``: history read from a real Prometheus (raw
series backfilled there, a 30-minute outage at the end) is replayed on a second, throwaway one."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from sloctl.backtest.engine import backfill_openmetrics
from sloctl.backtest.scenarios import Incident, Scenario, counts
from sloctl.backtest.series import openmetrics
from sloctl.cli.main import main
from sloctl.servers import free_port
from sloctl.servers.prometheus import start_prometheus
from sloctl.shelf import PrometheusEngine
from tests.fixtures.specs import shop_slo
from tests.fixtures.stub_http import Answer, serve

SPEC = shop_slo(
    errors='sum(rate(sloctl_backtest_errors_total{scenario="history"}[{{.window}}]))',
    total='sum(rate(sloctl_backtest_requests_total{scenario="history"}[{{.window}}]))',
    extra="alerting: {name: ShopBudgetBurn}",
)
HISTORY = Scenario("history", "", 4 * 3600, (Incident(3 * 3600, 4 * 3600, math.inf),), warmup=0)


@pytest.mark.promtool
@pytest.mark.slow
def test_history_of_an_outage_replays_with_its_page_and_the_budget_of_the_raw_series(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], prometheus_engine: PrometheusEngine
) -> None:
    end = int(time.time()) // 3600 * 3600 - 3600
    start = end - HISTORY.duration
    backfill_openmetrics(
        openmetrics([(HISTORY, counts(HISTORY, 0.001))], start=start),
        tmp_path,
        tmp_path / "data",
        promtool=str(prometheus_engine.promtool),
    )
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    with start_prometheus(
        tmp_path / "source",
        config_text="scrape_configs: []\n",
        data_dir=tmp_path / "data",
        binary=prometheus_engine.prometheus,
    ) as src:
        code = main(
            ["backtest", str(spec), "--prometheus", src.url, "--from", str(start + 3600), "--to", str(end),
             "-o", "json", "--workdir", str(tmp_path / "work"), "--engine", prometheus_engine.name]
        )  # fmt: skip
    assert code == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["slo"] == "shop-availability"
    page = next(t for t in row["tiers"] if t["tier"] == "page_quick")
    assert page["alerts"] == 1  # the outage, and nothing before it
    # The period holds the 3-day warm-up too: four hours of traffic, the last one a full outage.
    # The replayed counts are a 5m moving average of the history, and the period window's 5m
    # edge (docs/rules.md) weighs the last minutes of the outage less: measured 3.3 % low.
    assert row["period_error_ratio"] == pytest.approx(row["period_error_ratio_truth"], rel=0.05)
    assert row["period_error_ratio_truth"] == pytest.approx(1 / 4, rel=0.05)


def test_history_refuses_a_prometheus_outside_loopback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    code = main(
        ["backtest", str(spec), "--prometheus", "http://192.0.2.1:9090", "--from", "0", "--to", "3600"]
    )
    assert code == 2
    assert "192.0.2.1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("start", "end", "said"),
    [
        ("yesterday", "3600", "argument --from: 'yesterday': give an RFC 3339 time"),
        ("0", "inf", "argument --to: 'inf': give an RFC 3339 time"),
        ("-5", "3600", "argument --from: '-5': give an RFC 3339 time"),
    ],
)
def test_a_history_bound_that_is_not_a_time_is_a_usage_error(
    start: str, end: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    with pytest.raises(SystemExit) as exited:
        main(["backtest", str(spec), "--prometheus", "http://127.0.0.1:9", "--from", start, "--to", end])
    assert exited.value.code == 2
    assert said in capsys.readouterr().err


def test_a_history_longer_than_a_quarter_is_refused_before_any_query(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """2020 to 2026 at a 1m step was 3.2 million points a series read, then replayed."""
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    argv = ["backtest", str(spec), "--prometheus", "http://127.0.0.1:9"]
    assert main([*argv, "--from", "2020-01-01T00:00:00Z", "--to", "2026-11-01T00:00:00Z"]) == 2
    err = capsys.readouterr().err
    assert "--from/--to: 2496d of history; give at most 93d" in err and "query_range" not in err


@pytest.mark.promtool
def test_a_history_that_cannot_be_read_names_the_slo_and_the_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing listens on the port: a traceback before, now the SLO without a verdict (exit 1)."""
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    url = f"http://127.0.0.1:{free_port()}"
    # a time without an offset is UTC
    argv = [
        "backtest",
        str(spec),
        "--prometheus",
        url,
        "--from",
        "2026-11-01T00:00:00",
        "--to",
        "2026-11-01T01:00",
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"shop-availability: cannot read its history: {url}/api/v1/query_range" in err, err
    assert "Traceback" not in err


@pytest.mark.promtool
@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"[" * 100_000, "answered 200 without a JSON body (invalid JSON)"),
        (b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{}}]}}', "it has no values"),
    ],
    ids=["nested too deep", "a series without values"],
)
def test_a_history_answer_that_cannot_be_read_names_the_slo_and_what_is_wrong(
    body: bytes, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A RecursionError or a KeyError traceback before; now the SLO without a verdict (exit 1)."""
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    with serve(lambda request: Answer(body)) as stub:
        argv = ["backtest", str(spec), "--prometheus", stub.url, "--from", "0", "--to", "3600"]
        assert main(argv) == 1
    err = capsys.readouterr().err
    assert "shop-availability: cannot read its history: " in err and said in err, err
    assert "Traceback" not in err
