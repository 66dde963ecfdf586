"""``sloctl serve`` without a browser: the overview's query count does not grow with the number
of SLOs, reads are cached for a short time, the SLO page's step follows its range, the listener
is read-only and loopback unless exposed with authentication, and the runs index reads each
kind of report (and says why it skipped a file)."""

from __future__ import annotations

import base64
import gc
import html
import json
import math
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sloctl import naming
from sloctl.cli.main import main
from sloctl.egress import Egress
from sloctl.prometheus import Prometheus
from sloctl.prometheus._client import PARALLEL
from sloctl.reports.charts import PALETTE, TIER_COLOURS
from sloctl.serve import App, ListenError, ServeConfig, start
from sloctl.serve.app import PAGE_READS, PAGE_SIZE, Page
from sloctl.serve.data import MAX_POINTS_PER_CHART, OVERVIEW_QUERY_COUNT, TtlCache, details, step_for
from sloctl.serve.runs import alert_owners, find_runs
from sloctl.serve.server import GC_YOUNG_THRESHOLD, settle_heap
from sloctl.spec import load_text
from sloctl.status import collect_from
from tests.fixtures.fake_prometheus import fake_app, fake_prometheus, rule_groups
from tests.fixtures.random_specs import user_catalog
from tests.fixtures.specs import shop_slo
from tests.paths import ROOT

from .conftest import Stack

SPEC = shop_slo(extra="alerting: {name: ShopBudgetBurn}")


@pytest.mark.parametrize("n", [1, 50, 1000])
def test_the_overview_runs_the_same_number_of_queries_for_one_slo_or_a_thousand(n: int) -> None:
    with fake_app(n) as (app, calls):
        page = app.handle("/", {})
    assert page.status == 200
    assert len(calls) == OVERVIEW_QUERY_COUNT == 9
    assert page.body.count(b"<tr data-slo=") == min(n, PAGE_SIZE)
    assert (b'href="?sort=slo&amp;dir=asc&amp;page=2"' in page.body) == (n > PAGE_SIZE)


def test_page_after_page_the_queries_go_out_on_the_same_few_threads() -> None:
    threads: set[threading.Thread] = set()
    fake = fake_prometheus(3, [])

    def handler(request: httpx.Request) -> httpx.Response:
        if threading.current_thread() is not threading.main_thread():  # every read sent together
            threads.add(threading.current_thread())
        return fake.handle_request(request)

    with Prometheus.connect("http://127.0.0.1:9", transport=httpx.MockTransport(handler)) as prom:
        app = App(ServeConfig(cache_seconds=0), prom)
        assert app.handle("/", {}).status == 200
        first = set(threads)
        # Still there for the next page: a pool per page joined its threads before returning.
        assert first and all(t.is_alive() for t in first)
        for _ in range(3):
            assert app.handle("/", {}).status == 200
        # the client's pool, and the App's for the details query sent beside the rule groups
        assert len(threads) <= PARALLEL + PAGE_READS
        app.close()
    assert not any(t.is_alive() for t in threads)  # closed with the client and the App


def test_a_loopback_prometheus_is_asked_not_to_compress_its_answers_and_another_may() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": []}})

    transport = httpx.MockTransport(handler)
    with Prometheus.connect("http://127.0.0.1:9", transport=transport) as prom:
        prom.query("up")
    with Prometheus.connect(
        "http://192.0.2.7:9090", transport=transport, egress=Egress.of(["192.0.2.0/24"])
    ) as prom:
        prom.query("up")
    assert sent[0].headers["accept-encoding"] == "identity"
    assert "gzip" in sent[1].headers["accept-encoding"]


def test_settling_the_heap_freezes_what_lives_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 1000  # the modules, specs and templates loaded so far
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def _ids_asked(calls: list[str]) -> list[set[str]]:
    """The ids of each query that matches ``sloctl_id`` by regular expression (the details)."""
    return [
        {json.loads(f'"{x}"').replace("\\", "") for x in m.group(1).split("|")}
        for m in (re.search(r'sloctl_id=~"([^"]*)"', q) for q in calls)
        if m
    ]


def test_the_burn_rate_of_every_window_is_read_for_the_rows_of_the_page_alone() -> None:
    with fake_app(250) as (app, calls):
        second = app.handle("/", {"page": ["2"]}).body.decode()
        asked = _ids_asked(calls)
        calls.clear()
        one = app.handle("/slo/s-7", {}).body.decode()
    shown = re.findall(r'<tr data-slo="([^"]+)"', second)
    assert len(shown) == PAGE_SIZE and "s-0" not in shown  # page 2 of the ids in order
    assert asked == [set(shown)]
    # Each window's burn rate in its column: 2x over 5m, 14.4x over 1h.
    assert '<th scope="col">burn 5m</th><th scope="col">burn 1h</th>' in second
    assert second.count("<td>2.00x</td><td>14.40x</td>") == PAGE_SIZE
    # The SLO page asks for its one SLO, and shows its tier's threshold read from Prometheus.
    assert _ids_asked(calls) == [{"s-7"}]
    assert "<td>14.40x</td>" in one


@pytest.mark.slow
@pytest.mark.promtool
def test_one_query_for_many_slos_gives_each_the_burn_rates_and_thresholds_of_its_own_series(
    serve_stack: Stack,
) -> None:
    at = serve_stack.at
    with Prometheus.connect(serve_stack.url) as prom:
        rows = {r.slo: r for r in collect_from(prom, at).rows}
        got = details(prom, sorted(rows), at)
        assert set(got.burns) == set(rows) and len(rows) >= 8
        for slo_id, row in rows.items():
            sel = f'{{{naming.LABEL_ID}="{slo_id}"}}'
            (budget,) = prom.query(naming.ERROR_BUDGET + sel, at)
            for window in got.burns[slo_id]:
                (ratio,) = prom.query(f"sloctl:sli_error:ratio_rate{window}{sel}", at)
                want = float(ratio["value"][1]) / float(budget["value"][1])
                # Prometheus divides as Python does (IEEE doubles, written to round-trip).
                burn = got.burn(slo_id, window)
                assert burn == want or (math.isnan(burn) and math.isnan(want)), (slo_id, window)
            # The 5m window's burn rate is what status calls the burn rate now.
            assert got.burn(slo_id, "5m") == pytest.approx(row.current_burn_rate, nan_ok=True)
            tiers = {r["metric"][naming.LABEL_TIER]: float(r["value"][1])
                     for r in prom.query(naming.BURN_RATE_THRESHOLD + sel, at)}  # fmt: skip
            assert dict(got.thresholds[slo_id]) == tiers and tiers
            # And every label of its info series (status reads only those it needs).
            (info,) = prom.query(naming.SLO_INFO + sel, at)
            assert got.info[slo_id] == info["metric"] and "sloctl_objective" in info["metric"]


def test_the_sli_chart_of_a_timeslice_slo_says_it_counts_slices() -> None:
    """A timeslice SLO's 5m ratio is a share of slices, not of requests (its windows count slices)."""
    with fake_app(2) as (app, _calls):
        requests = app.handle("/slo/s-0", {}).body.decode()
        slices = app.handle("/slo/s-1", {}).body.decode()
    assert "SLI (1 − 5m error ratio) with the objective" in requests
    assert "SLI (share of good slices in the last 5m) with the objective" in slices
    assert "error ratio" not in slices


def test_a_second_look_within_the_cache_time_asks_prometheus_nothing() -> None:
    now = [0.0]
    cache = TtlCache(10, now=lambda: now[0])
    computed: list[int] = []
    assert cache.get("k", lambda: computed.append(1) or "a") == "a"  # type: ignore[func-returns-value]
    now[0] = 9.9
    assert cache.get("k", lambda: computed.append(1) or "b") == "a"  # type: ignore[func-returns-value]
    now[0] = 10.0
    assert cache.get("k", lambda: computed.append(1) or "c") == "c"  # type: ignore[func-returns-value]
    assert computed == [1, 1]


def test_the_slo_page_step_keeps_every_range_under_the_chart_points() -> None:
    assert step_for(3600) == 15
    for span in (3600, 6 * 3600, 86400, 7 * 86400, 28 * 86400, 30 * 86400, 91 * 86400, 400 * 86400):
        assert span / step_for(span) <= MAX_POINTS_PER_CHART
    assert step_for(30 * 86400) == 7200


def test_filters_and_sort_come_from_the_url() -> None:
    with fake_app(4) as (app, calls):
        team0 = app.handle("/", {"label": ["team=t0"]}).body.decode()
        filtered = len(calls)
        calls.clear()
        desc = app.handle("/", {"sort": ["slo"], "dir": ["desc"]}).body.decode()
        missing = app.handle("/slo/nope", {})
    assert team0.count("<tr data-slo=") == 2 and 'data-slo="s-1"' not in team0
    # The info series' own labels, read for every SLO only when a label filter asks for them.
    assert filtered == OVERVIEW_QUERY_COUNT + 1 and calls.count(naming.SLO_INFO) == 0
    assert team0.count("<td>99.9 %</td>") == 2 and desc.count("<td>30d</td>") == 4
    assert desc.index('data-slo="s-3"') < desc.index('data-slo="s-0"')
    assert missing.status == 404 and b"nope" in missing.body


def test_an_slo_page_with_no_threshold_and_no_burn_rate_yet_draws_its_charts() -> None:
    """A new SLO with its tiers switched off and no traffic: every burn rate is 0/0, NaN, and
    there is no threshold line. The burn chart still needs a scale (it crashed the handler)."""

    def handler(request: httpx.Request) -> httpx.Response:
        labels = {naming.LABEL_ID: "s-0", naming.LABEL_SERVICE: "s", naming.LABEL_SLO: "0"}
        if request.url.path.endswith("query_range"):
            windows = [{naming.LABEL_WINDOW: w} for w in ("5m", "1h")]
            matrix = [{"metric": m, "values": [[0, "NaN"], [60, "NaN"]]} for m in windows]
            return httpx.Response(
                200, json={"status": "success", "data": {"resultType": "matrix", "result": matrix}}
            )
        if request.url.path.endswith("/rules"):
            return rule_groups(1, "s-{}".format, request.url.params.get_list("rule_group[]"))
        query = request.url.params["query"]
        vector = [{"metric": labels, "value": [0, "1"]}] if naming.SLO_INFO in query else []
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "vector", "result": vector}}
        )

    with Prometheus.connect("http://127.0.0.1:9", transport=httpx.MockTransport(handler)) as prom:
        page = App(ServeConfig(), prom).handle("/slo/s-0", {})
    assert page.status == 200
    assert page.body.decode().count("<svg") >= 3


@pytest.mark.parametrize(
    ("path", "key", "value"),
    [
        ("/", "sort", "budgte"),
        ("/", "dir", "down"),
        ("/", "state", "burning"),
        ("/", "page", "two"),
        ("/", "page", "0"),
        ("/", "refresh", "15"),
        ("/slo/s-1", "range", "2h"),
        ("/slo/s-1", "refresh", "-30"),
        ("/runs/gameday", "refresh", "x"),
    ],
)
def test_a_query_parameter_out_of_its_choices_is_a_client_error_naming_it(
    path: str, key: str, value: str
) -> None:
    with fake_app(3) as (app, _calls):
        bad = app.handle(path, {key: [value]})
        # The same page with every parameter's documented values renders.
        good = [app.handle(path, {key: [ok]}).status for ok in _CHOICES[key]]
    assert bad.status == 400
    assert f"{key}=&#39;{value}&#39; is not" in bad.body.decode()
    assert good == [200] * len(_CHOICES[key])


_CHOICES = {
    "sort": ("slo", "service", "state", "sli", "budget", "burn"),
    "dir": ("asc", "desc"),
    "state": ("firing", "pending", "no_data", "ok", ""),
    "page": ("1", "7"),
    "refresh": ("0", "30", "60", "300"),
    "range": ("period", "1h", "6h", "1d", "7d", "30d"),
}


@pytest.fixture
def listener() -> Iterator[str]:
    with fake_app(2) as (app, _calls):
        served = start(app, "127.0.0.1:0", auth="ann:s3cret")
        try:
            yield served.url
        finally:
            served.stop()


def test_the_listener_is_read_only_needs_its_password_and_forbids_scripts(listener: str) -> None:
    good = {"Authorization": "Basic " + base64.b64encode(b"ann:s3cret").decode()}
    with httpx.Client(trust_env=False) as client:
        assert client.get(listener + "/").status_code == 401
        assert client.get(listener + "/", headers={"Authorization": "Basic eDp5"}).status_code == 401
        page = client.get(listener + "/", headers=good)
        assert page.status_code == 200 and "script-src" not in page.headers["content-security-policy"]
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert client.post(listener + "/", headers=good).status_code == 405


def test_a_page_that_fails_is_answered_500_and_logged_and_the_server_goes_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with fake_app(2) as (app, _calls):
        served = start(app, "127.0.0.1:0")
        try:
            with httpx.Client(trust_env=False) as client:
                broken = client.get(served.url + "/slo/s-0", params={"range": "1h"})
                # A defect of one page (here a chart drawn from a value it cannot take) …
                app._slo_page = lambda *_a: Page(200, bytes(1 // 0))  # type: ignore[method-assign]
                failed = client.get(served.url + "/slo/s-0")
                after = client.get(served.url + "/")
        finally:
            served.stop()
    assert broken.status_code == 200
    assert failed.status_code == 500 and "internal error on /slo/s-0" in failed.text
    assert "ZeroDivisionError" in capsys.readouterr().err
    assert after.status_code == 200


def test_a_non_loopback_listen_needs_expose_and_then_authentication() -> None:
    app = App(ServeConfig(), None)  # type: ignore[arg-type]
    with pytest.raises(ListenError, match="--expose"):
        start(app, "0.0.0.0:0")
    with pytest.raises(ListenError, match="--basic-auth-file"):
        start(app, "0.0.0.0:0", expose=True)
    with pytest.raises(ListenError, match="IP address"):
        start(app, "localhost:8080")


@pytest.mark.parametrize(
    "auth", ["admin", ":secret", "admin:secret\nsecond:line", "<!DOCTYPE html>\n<p>a:b</p>"]
)
def test_a_basic_auth_file_that_is_not_one_line_user_colon_password_is_refused(auth: str) -> None:
    """Any file with a colon somewhere was taken whole as the credentials (an HTML page too)."""
    app = App(ServeConfig(), None)  # type: ignore[arg-type]
    with pytest.raises(ListenError, match="one line user:password"):
        start(app, "127.0.0.1:0", auth=auth)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"\xff\xfeadmin:secret", "not UTF-8 text; give one line user:password"),
        (b"admin secret\n", "must hold one line user:password"),  # named neither file nor flag
    ],
)
def test_a_basic_auth_file_that_is_not_credentials_is_a_usage_error_naming_flag_and_file(
    content: bytes, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "auth"
    secret.write_bytes(content)
    assert main(["serve", "--prometheus", "http://127.0.0.1:9", "--basic-auth-file", str(secret)]) == 2
    err = capsys.readouterr().err
    assert f"--basic-auth-file {secret}: {said}" in err
    assert "secret" not in err.replace(str(secret), "")  # the file's text is not echoed


def test_slo_files_with_errors_are_printed_as_every_command_prints_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Service\n")
    assert main(["serve", "--prometheus", "http://127.0.0.1:9", str(bad), "--for", "1s"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}:1:1: ") and err.endswith("1 error(s) in 1 file(s)\n"), err


def test_serve_refuses_a_prometheus_outside_loopback_and_a_bad_listen(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        main(["serve", "--prometheus", "http://192.0.2.1:9090", "--listen", "127.0.0.1:0", "--for", "1s"])
        == 2
    )
    assert "192.0.2.1" in capsys.readouterr().err
    assert (
        main(["serve", "--prometheus", "http://127.0.0.1:9", "--listen", "10.0.0.1:80", "--for", "1s"]) == 2
    )
    assert "--expose" in capsys.readouterr().err


@pytest.mark.parametrize("source", [["--prometheus", "http://127.0.0.1:9"], ["--demo", str(ROOT / "slos")]])
def test_a_listen_address_in_use_is_a_usage_error_naming_the_flag(
    source: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        assert main(["serve", *source, "--listen", listen, "--for", "1s"]) == 2
    err = capsys.readouterr().err
    assert f"sloctl serve: --listen {listen}: cannot listen there (Address already in use)" in err
    assert "HOST:0" in err and "Traceback" not in err
    # found before --demo starts and fills its Prometheus (a minute of work), not after
    assert "demo:" not in err


def test_serve_says_so_when_a_runs_folder_does_not_exist_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    later = tmp_path / "reports"
    argv = ["serve", "--prometheus", "http://127.0.0.1:9", "--listen", "127.0.0.1:0", "--for", "1s"]
    assert main([*argv, "--gamedays", str(later), "--loadtests", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert f"sloctl serve: --gamedays {later}: no such folder yet; its runs show once it exists" in err
    assert "--loadtests" not in err


@pytest.mark.parametrize("flag", ["--gamedays", "--loadtests", "--backtests"])
def test_serve_refuses_a_file_given_as_a_runs_folder_before_it_listens(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: "no such folder yet; its runs show once it exists", exit 0, and it served a page
    that would never list a run (a file never becomes a folder)."""
    report = tmp_path / "report.json"
    report.write_text("{}")
    argv = ["serve", "--prometheus", "http://127.0.0.1:9", "--listen", "127.0.0.1:0", "--for", "1s"]
    assert main([*argv, flag, str(report)]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"sloctl serve: {flag} {report}: that is a file, not a folder; give the folder of the reports\n"
    )


def test_the_runs_index_reads_each_kind_and_names_the_file_it_could_not(tmp_path: Path) -> None:
    (slo,) = load_text(SPEC).slos
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "report.json").write_text(json.dumps({
        "gameday": "db-loss", "experiment": "DB loss", "verdict": "fail", "time_to_detect_s": 61.5,
        "budget_consumed_percent": 1.25, "expected_alerts": ["ShopBudgetBurn"],
        "checks": [{"name": "check: breaker", "status": "failed"}],
    }))  # fmt: skip
    (tmp_path / "g" / "journal.json").write_text("{}")
    (tmp_path / "l").mkdir()
    (tmp_path / "l" / "report.json").write_text(json.dumps({
        "scenario": "steady", "passed": True, "host": "h", "total": {"num_requests": 5},
        "thresholds": [
            {"expression": "p(95) < 200", "passed": True, "value": 12.0, "source": "SLO shop-availability"}
        ],
    }))  # fmt: skip
    (tmp_path / "l" / "notes.json").write_text("[1, 2]")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.json").write_text(json.dumps([{
        "slo": "shop-availability", "scenario": "full_outage", "budget_left": 0.25,
        "tiers": [{"tier": "page_quick", "expected": True, "detection_seconds": 120, "designed_seconds": 180,
                   "false_alerts": 0}],
    }]))  # fmt: skip
    index = find_runs(
        {"gameday": (tmp_path / "g",), "loadtest": (tmp_path / "l",), "backtest": (tmp_path / "b",)},
        alert_owners([slo]),
    )
    by_kind = {r.kind: r for r in index.runs}
    assert set(by_kind) == {"gameday", "loadtest", "backtest"}
    g, ld, b = by_kind["gameday"], by_kind["loadtest"], by_kind["backtest"]
    assert (g.verdict, g.time_to_detect_s, g.budget_spent_percent, g.slos) == (
        "fail",
        61.5,
        1.25,
        ("shop-availability",),
    )
    assert [x.passed for x in g.gates] == [False]
    assert (ld.verdict, ld.slos, ld.gates[0].passed) == ("pass", ("shop-availability",), True)
    assert (b.verdict, b.time_to_detect_s, b.budget_spent_percent) == ("pass", 120.0, 75.0)
    assert index.skipped == (
        (str(tmp_path / "l" / "notes.json"), "not a game-day, load-test or backtest report"),
    )
    assert len(index.for_slo("shop-availability")) == 3 and index.for_slo("other") == []


def test_serve_reads_slo_files_as_generate_does_window_catalogs_included(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    slos, catalogs = tmp_path / "slos", tmp_path / "catalogs"
    slos.mkdir()
    catalogs.mkdir()
    (slos / "api.yaml").write_text(
        "apiVersion: sloctl/v1\nkind: Service\nmetadata: {name: api}\nspec:\n  slos:\n"
        "    - {name: availability, objective: 99.9, period: 10d,\n"
        "       sli: {events: {errorQuery: 'sum(rate(e[{{.window}}]))',\n"
        "                      totalQuery: 'sum(rate(t[{{.window}}]))'}}}\n"
    )
    (catalogs / "10d.yaml").write_text(yaml.safe_dump(user_catalog("10d")))
    argv = ["serve", "--prometheus", "http://127.0.0.1:9", "--listen", "127.0.0.1:0", "--for", "1s"]
    argv.append(str(slos))
    assert main(argv) == 1  # a 10d period has no catalog of its own
    assert "no burn-rate windows catalog for a 10d" in capsys.readouterr().err
    assert main([*argv, "--windows", str(catalogs)]) == 0


def test_an_slo_page_links_its_generated_dashboard_with_the_grafana_url_of_the_flag_or_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = naming.dashboard_uid("sloctl", "service", "s")
    calls: list[str] = []
    with Prometheus.connect("http://127.0.0.1:9", transport=fake_prometheus(2, calls)) as prom:
        linked = App(ServeConfig(grafana_url="http://127.0.0.1:3000/"), prom).handle("/slo/s-1", {})
        bare = App(ServeConfig(), prom).handle("/slo/s-1", {})
    assert f'<a href="http://127.0.0.1:3000/d/{uid}?var-slo=1" rel="noreferrer">Grafana dashboard</a>' in (
        linked.body.decode()
    )
    assert "Grafana dashboard" not in bare.body.decode()
    # From the command line: the flag, else grafana.url of the project file beside the SLOs.
    seen: list[str] = []

    def recorded(**fields: Any) -> ServeConfig:
        seen.append(fields["grafana_url"])
        return ServeConfig(**fields)

    monkeypatch.setattr("sloctl.serve.ServeConfig", recorded)
    slos = tmp_path / "slos"
    slos.mkdir()
    (slos / "shop.yaml").write_text(SPEC)
    (slos / "sloctl.yaml").write_text(
        "apiVersion: sloctl/v1\nkind: Project\ngrafana: {url: 'http://127.0.0.1:3000'}\n"
    )
    argv = ["serve", "--prometheus", "http://127.0.0.1:9", "--listen", "127.0.0.1:0", "--for", "1s"]
    argv.append(str(slos))
    assert main(argv) == 0
    assert main([*argv, "--grafana-url", "http://127.0.0.1:3001"]) == 0
    assert seen == ["http://127.0.0.1:3000", "http://127.0.0.1:3001"]


def test_the_slo_page_reads_its_budget_in_percent_and_draws_thresholds_in_their_own_colours() -> None:
    """The budget axis read as a ratio (-61 … 1) beside a budget said in percent, and the tier
    thresholds were drawn in the windows' colours (page_quick as the 30m window)."""
    with fake_app(2) as (app, _calls):
        page = app.handle("/slo/s-0", {}).body.decode()
    budget = page[page.index("budget remaining") :]
    assert re.search(r'text-anchor="end">-?\d+ %</text>', budget)
    thresholds = set(re.findall(r'<polyline[^>]*class="threshold"[^>]*stroke="(#[0-9a-f]{6})"', page))
    thresholds |= set(re.findall(r'<polyline[^>]*stroke="(#[0-9a-f]{6})"[^>]*class="threshold"', page))
    assert thresholds and thresholds <= set(TIER_COLOURS.values())
    assert not thresholds & set(PALETTE)


def test_a_window_an_slo_does_not_record_reads_not_applicable_on_the_overview() -> None:
    """Two window catalogs side by side: each SLO's cells of the other's windows read "unknown",
    as if its data were missing; now "n/a"."""
    calls: list[str] = []
    own = {0: {"5m": "2", "1h": "14.4"}, 1: {"5m": "2", "2h": "3"}}
    with Prometheus.connect(
        "http://127.0.0.1:9", transport=fake_prometheus(2, calls, windows_of=own.__getitem__)
    ) as prom:
        page = App(ServeConfig(), prom).handle("/", {}).body.decode()
    head = re.search(r"<thead>.*?</thead>", page, re.S)
    assert head is not None
    columns = [
        re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<th[^>]*>(.*?)</th>", head.group(0), re.S)
    ]
    rows = {m.group(1): m.group(0) for m in re.finditer(r'<tr data-slo="(s-\d)".*?</tr>', page, re.S)}
    cells = {
        slo: [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for slo, row in rows.items()
    }
    shown = {
        slo: {w: row[columns.index(f"burn {w}")] for w in ("5m", "1h", "2h")} for slo, row in cells.items()
    }
    assert shown == {
        "s-0": {"5m": "2.00x", "1h": "14.40x", "2h": "n/a"},
        "s-1": {"5m": "2.00x", "1h": "n/a", "2h": "3.00x"},
    }, (columns, shown)


def _table_cells(page: str, table: str) -> dict[str, list[str]]:
    """The text of each body row's cells of the table ``table``, by the row's first cell."""
    body = re.search(rf'<table id="{table}".*?<tbody>(.*?)</tbody>', page, re.S)
    assert body is not None, table
    cell = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>", re.S)
    rows = [
        [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cell.findall(tr)]
        for tr in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    ]
    return {r[0]: r[1:] for r in rows}


def test_each_alert_tier_shows_the_burn_rate_of_its_long_and_its_short_window() -> None:
    """A tier fires when both its windows burn faster than its threshold (Pyrra's "Short Burn"
    and "Long Burn"): the page showed the long window's burn alone, so a tier whose long window
    was over its threshold and whose short one had recovered read as if it should fire."""
    (slo,) = load_text(SPEC).slos
    windows = {"5m": "20", "1h": "10", "30m": "7", "6h": "2", "2h": "0.5", "1d": "4", "3d": "1.5"}
    with Prometheus.connect(
        "http://127.0.0.1:9",
        transport=fake_prometheus(1, [], id_of=lambda _: slo.id, windows=windows),
    ) as prom:
        page = App(ServeConfig(specs=(slo,)), prom).handle(f"/slo/{slo.id}", {}).body.decode()
    tiers = _table_cells(page, "tiers")
    assert {t: cells[2:4] for t, cells in tiers.items()} == {
        "page_quick": ["10.00x (1h)", "20.00x (5m) > threshold"],
        "page_slow": ["2.00x (6h)", "7.00x (30m) > threshold"],
        "ticket_quick": ["4.00x (1d) > threshold", "0.50x (2h)"],
        "ticket_slow": ["1.50x (3d) > threshold", "2.00x (6h) > threshold"],
    }, tiers


def test_a_slow_burn_is_drawn_above_the_burn_charts_axis_not_on_it() -> None:
    """A healthy service burns 0.1x of its budget's pace and less: the log axis started at 0.1x,
    so each window's line lay on the axis itself (or was pinned to it), out of sight."""
    burns = {"5m": 0.1, "1h": 0.02}  # error ratios of a 99.9 % SLO: 0.0001 and 0.00002

    def handler(request: httpx.Request) -> httpx.Response:
        labels = {naming.LABEL_ID: "s-0", naming.LABEL_SERVICE: "s", naming.LABEL_SLO: "0"}
        if request.url.path.endswith("/rules"):
            return rule_groups(1, "s-{}".format, request.url.params.get_list("rule_group[]"))
        query = request.url.params["query"]
        if request.url.path.endswith("query_range"):
            matrix = [
                {
                    "metric": {naming.LABEL_WINDOW: w},
                    "values": [[t, str(b * 0.001)] for t in range(0, 3600, 60)],
                }
                for w, b in burns.items()
                if naming.LABEL_WINDOW in query
            ]
            return httpx.Response(
                200, json={"status": "success", "data": {"resultType": "matrix", "result": matrix}}
            )
        info = {**labels, "sloctl_objective": "99.9", "sloctl_period": "30d"}
        vector = [{"metric": info, "value": [0, "1"]}] if naming.SLO_INFO in query else []
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "vector", "result": vector}}
        )

    with Prometheus.connect("http://127.0.0.1:9", transport=httpx.MockTransport(handler)) as prom:
        page = App(ServeConfig(), prom, now=3600).handle("/slo/s-0", {"range": ["1h"]}).body.decode()
    chart = page[page.index('aria-label="burn rate per window') :]
    chart = chart[: chart.index("</svg>")]
    # The x axis: the dark horizontal line (the grid's are light, the legend's below the plot).
    (axis,) = (
        float(y)
        for y in re.findall(r'<line x1="[\d.]+" y1="([\d.]+)" x2="[\d.]+" y2="\1" stroke="#333"', chart)
    )
    for window in burns:
        line = re.search(rf'points="([^"]+)"><title>{window} window</title>', chart)
        assert line is not None, window
        ys = {float(p.split(",")[1]) for p in line.group(1).split()}
        assert max(ys) < axis - 5, (window, ys, axis)


def test_a_listen_address_of_no_interface_here_says_so_rather_than_asking_for_another_port(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """192.0.2.1 (TEST-NET-1, documentation only) is no interface's here: the line said "give
    another port", which no port could cure. Binding sends nothing on any network."""
    listen = "192.0.2.1:8080"
    argv = ["serve", "--prometheus", "http://127.0.0.1:9", "--listen", listen, "--expose", "--behind-proxy"]
    assert main([*argv, "--for", "1s"]) == 2
    err = capsys.readouterr().err
    assert f"sloctl serve: --listen {listen}: cannot listen there (Cannot assign requested address)" in err
    assert "no interface of this machine has that address" in err and "127.0.0.1" in err
    assert "another port" not in err and "Traceback" not in err
