"""What Prometheus says besides the numbers, read by ``sloctl gate``, ``status`` and the game
days from a real Prometheus (2 and 3) that evaluates the generated rules over backfilled series
ending now: the warnings a proxy in front adds to its answers (as Thanos and Mimir do to a
partial answer) and its infos, a rule of an SLO that fails at every evaluation (a many-to-many
match in its SLI's query), the one instant a run reads at, an SLO without traffic, and a
bearer token for the game days' reads."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sloctl import naming
from sloctl.backtest.engine import query
from sloctl.backtest.run import scenario_slo
from sloctl.backtest.scenarios import Scenario, counts
from sloctl.backtest.series import ERRORS, REQUESTS
from sloctl.cli.main import main
from sloctl.model import EventsSLI
from sloctl.prometheus import MAX_POINTS, Prometheus
from sloctl.render.rules import render_rule_file
from sloctl.serve import App, ServeConfig
from sloctl.servers.prometheus import PrometheusServer
from sloctl.shelf import PrometheusEngine
from sloctl.spec import load_text
from tests.fixtures.experiments import SET_TARGETS
from tests.fixtures.prometheus_proxy import prometheus_proxy
from tests.fixtures.specs import shop_policy_slo
from tests.fixtures.stub_http import Answer
from tests.paths import ROOT
from tests.status.backfilled import backfilled_prometheus

SPEC = shop_policy_slo()
SCENARIOS = (
    Scenario("healthy", "", 3600, background_burn=0.1, warmup=0),
    Scenario("quiet", "", 3600, rps=0.0, warmup=0),
    Scenario("broken", "", 3600, background_burn=0.1, warmup=0),
    Scenario("spent", "", 3600, background_burn=2.0, warmup=0),
    Scenario("blind", "", 3600, background_burn=0.1, warmup=0),
)
#: The broken SLO's errors: each side has a series per scenario, and `on()` matches them all
#: with all: "many-to-many matching not allowed" at every evaluation of its errors' rule.
MANY_TO_MANY = (
    f"sum by (scenario) (rate({ERRORS}[{{{{.window}}}}]))"
    f" * on() sum by (scenario) (rate({REQUESTS}[{{{{.window}}}}]))"
)
BROKEN_GROUP = naming.rule_group("backtest", "broken")
BLIND_GROUP = naming.rule_group("backtest", "blind")
#: The blind SLO's info rule: a many-to-one match with two series on the "one" side fails at
#: every evaluation, so that Prometheus knows the SLO by no series at all (its SLI fails too).
FAILING_INFO = (
    'vector(1) * on() group_left() (label_replace(vector(1), "a", "1", "", "")'
    ' or label_replace(vector(1), "a", "2", "", ""))'
)
ERRORS_RULE = naming.errors_rate(300)
WARNING = "store 10.0.3.7:10901 unreachable: partial response"
INFO = "PromQL info: metric might not be a counter, name does not end in _total"
TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJnYW1lZGF5In0.sig"


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, prometheus_engine: PrometheusEngine
) -> Iterator[PrometheusServer]:
    (base,) = load_text(SPEC).slos
    slos = [scenario_slo(base, s) for s in SCENARIOS]
    for i in (2, 4):
        slos[i] = replace(slos[i], sli=EventsSLI(MANY_TO_MANY, slos[i].sli.total_query))  # type: ignore[union-attr]
    items = [(s, counts(s, base.error_budget)) for s in SCENARIOS]
    blind = render_rule_file(slos[4:], ["test"], "test")
    assert blind.count("expr: vector(1)\n") == 1
    rule_files = {
        "rules.yml": render_rule_file(slos[:4], ["test"], "test"),
        "blind.yml": blind.replace("expr: vector(1)\n", f"expr: '{FAILING_INFO}'\n"),
    }

    def ready(url: str) -> bool:
        """Every SLO known, the healthy budget recorded, the spent one overspent and its
        burn-rate alert firing, the quiet one without data and the broken one's rule failed
        (each group at its own offset)."""
        ids = {r["metric"][naming.LABEL_ID] for r in query(url, naming.SLO_INFO)}
        known = query(
            url,
            f'{naming.BUDGET_REMAINING}{{{naming.LABEL_ID}="backtest-healthy"}}'
            f' or {naming.BUDGET_REMAINING}{{{naming.LABEL_ID}="backtest-spent"}} < 0'
            f' or {naming.NO_DATA}{{{naming.LABEL_ID}="backtest-quiet"}} == 1',
        )
        firing = query(
            url,
            f'ALERTS{{alertstate="firing", {naming.LABEL_ID}="backtest-spent",'
            f' {naming.LABEL_TIER}!~"{naming.NOT_BURN_RATE_TIERS}"}}',
        )
        with Prometheus.connect(url) as prom:
            failed = {g["name"] for g in prom.rules() for r in g["rules"] if r.get("health") == "err"}
        return (
            len(ids) == len(SCENARIOS) - 1
            and len(known) == 3
            and bool(firing)
            and failed == {BROKEN_GROUP, BLIND_GROUP}
        )

    tmp = tmp_path_factory.mktemp("besides")
    with backfilled_prometheus(tmp, prometheus_engine, items, rule_files, ready) as server:
        yield server


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


@pytest.mark.promtool
@pytest.mark.slow
def test_the_gate_gives_no_verdict_on_an_answer_prometheus_warned_may_be_partial(
    prometheus: PrometheusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The warnings were dropped: the gate said proceed (exit 0) on a partial answer."""
    code, out, err = _run(capsys, "gate", "--prometheus", prometheus.url, "--slo", "backtest/healthy")
    assert code == 0 and json.loads(out)["verdict"] == "proceed", err
    with prometheus_proxy(prometheus.url, notes={"warnings": [WARNING]}) as proxy:
        code, out, err = _run(capsys, "gate", "--prometheus", proxy.url, "--slo", "backtest/healthy")
        assert (code, out) == (3, ""), err
        assert err == (
            f"sloctl gate: cannot decide from Prometheus at {proxy.url}: Prometheus warned that its answer"
            f" may be partial or wrong: {WARNING}\n"
        )
        # status shows the figures and the warning beside them, once (every answer had it)
        code, out, err = _run(capsys, "status", "--prometheus", proxy.url, "--slo", "backtest/healthy")
        assert code == 0, err
        assert out.splitlines()[-1] == f"warning from Prometheus (the figures may be partial): {WARNING}"
        assert out.count(WARNING) == 1 and out.splitlines()[1].startswith("backtest-healthy ")
        code, out, err = _run(capsys, "status", "--prometheus", proxy.url, "-o", "json")
        assert code == 0 and json.loads(out)["warnings"] == [WARNING], err


@pytest.mark.promtool
@pytest.mark.slow
def test_infos_are_shown_in_json_and_never_stop_the_gate(
    prometheus: PrometheusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with prometheus_proxy(prometheus.url, notes={"infos": [INFO]}) as proxy:
        code, out, err = _run(capsys, "gate", "--prometheus", proxy.url, "--slo", "backtest/healthy")
        assert code == 0 and json.loads(out)["verdict"] == "proceed", err
        code, out, err = _run(capsys, "status", "--prometheus", proxy.url)
        assert code == 0 and INFO not in out and "warning" not in out, out
        code, out, err = _run(capsys, "status", "--prometheus", proxy.url, "-o", "json")
        doc = json.loads(out)
        assert code == 0 and INFO in doc["infos"] and doc["warnings"] == [], err


@pytest.mark.promtool
@pytest.mark.slow
def test_the_client_keeps_the_notes_of_every_endpoint_and_of_every_chunk_of_a_long_range(
    prometheus: PrometheusServer,
) -> None:
    with (
        prometheus_proxy(prometheus.url, notes={"warnings": [WARNING], "infos": [INFO]}) as proxy,
        Prometheus.connect(proxy.url) as prom,
    ):
        now = time.time()
        long = prom.query_range("vector(1)", now - MAX_POINTS - 100, now, 1)  # two chunks, each warned
        assert len(long[0]["values"]) == MAX_POINTS + 101 and long.warnings == (WARNING,)
        for answer in (prom.query("vector(1)"), prom.rules(), prom.alerts(), long):
            assert answer.warnings == (WARNING,) and INFO in answer.infos
        assert sum(r.path.endswith("/query_range") for r in proxy.requests) == 2
    with Prometheus.connect(prometheus.url) as prom:  # Prometheus itself warns of nothing here
        assert prom.query("vector(1)").warnings == ()


@pytest.mark.promtool
@pytest.mark.slow
def test_a_rule_that_fails_to_evaluate_stops_the_gate_for_its_slo_and_status_names_it(
    prometheus: PrometheusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The broken SLO's errors are never recorded, so its budget is unknown: the gate said
    "proceed" (its policy's whenUnknown) and status showed it ok."""
    code, out, err = _run(capsys, "gate", "--prometheus", prometheus.url, "--slo", "backtest/broken")
    assert (code, out) == (3, ""), err
    said = re.fullmatch(
        rf"sloctl gate: cannot decide from Prometheus at {prometheus.url}: backtest-broken: rule "
        rf"{re.escape(ERRORS_RULE)} of group {BROKEN_GROUP}: (.+) "
        r"\(its figures are stale or absent\)\n",
        err,
    )
    assert said is not None and "many-to-many matching not allowed" in said[1], err
    # Only the SLOs asked about: the healthy one's verdict stands.
    code, out, err = _run(capsys, "gate", "--prometheus", prometheus.url, "--slo", "backtest/healthy")
    assert code == 0, err
    code, out, err = _run(capsys, "status", "--prometheus", prometheus.url)
    assert code == 0, err
    (line,) = [line for line in out.splitlines() if line.startswith("rule error: backtest-broken")]
    assert line.startswith(f"rule error: backtest-broken: rule {ERRORS_RULE} of group {BROKEN_GROUP}: ")
    code, out, err = _run(capsys, "status", "--prometheus", prometheus.url, "-o", "json")
    slos = {s["slo"]: s for s in json.loads(out)["slos"]}
    (error,) = slos["backtest-broken"]["rule_errors"]
    assert (error["rule"], error["group"]) == (ERRORS_RULE, BROKEN_GROUP)
    assert "many-to-many" in error["error"] and slos["backtest-healthy"]["rule_errors"] == []


@pytest.mark.promtool
@pytest.mark.slow
def test_every_query_of_a_run_reads_one_instant_and_the_verdict_names_it(
    prometheus: PrometheusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --time the verdict's time was null, and each query read its own "now"."""
    with prometheus_proxy(prometheus.url) as proxy:
        before = time.time()
        code, out, err = _run(capsys, "gate", "--prometheus", proxy.url, "--slo", "backtest/spent")
        after = time.time()
        verdict = json.loads(out)
        assert code == 1 and isinstance(verdict["time"], float), err
        assert before - 0.001 <= verdict["time"] <= after
        times = [r.query.get("time") for r in proxy.requests if r.path.endswith("/query")]
        assert len(times) > 1 and set(times) == {f"{verdict['time']:.3f}"}
        code, out, err = _run(capsys, "status", "--prometheus", proxy.url, "-o", "json")
        at = json.loads(out)["time"]
        assert at > verdict["time"] and at == round(at, 3)
    # with --time, that one, as given
    code, out, err = _run(
        capsys, "gate", "--prometheus", prometheus.url, "--slo", "backtest/healthy", "--time", f"{at:.3f}"
    )
    assert code == 0 and json.loads(out)["time"] == at, err


@pytest.mark.promtool
@pytest.mark.slow
def test_an_slo_without_traffic_burns_at_an_unknown_rate_not_at_0x(
    prometheus: PrometheusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "status", "--prometheus", prometheus.url)
    assert code == 0, err
    rows = {line.split()[0]: re.split(r"\s{2,}", line) for line in out.splitlines()[1:5]}
    # SLO, STATE, BUDGET LEFT, BURN NOW, ...
    assert rows["backtest-quiet"][1:4] == ["no_data", "unknown", "unknown"], rows
    assert rows["backtest-healthy"][3] == "0.10x", rows
    code, out, err = _run(capsys, "status", "--prometheus", prometheus.url, "-o", "json")
    slos = {s["slo"]: s for s in json.loads(out)["slos"]}
    assert slos["backtest-quiet"]["current_burn_rate"] is None
    assert slos["backtest-healthy"]["current_burn_rate"] == pytest.approx(0.1, rel=0.05)


def _experiment(tmp: Path) -> Path:
    """The connection-loss game day spending the budget of backtest/spent, its alerts this
    Prometheus' (so that the alert-rule check, which reads the rules, lets it through)."""
    text = re.sub(
        r"PlatformApi\w*BudgetBurn", "ShopBudgetBurn", (ROOT / "chaos" / "connection-loss.json").read_text()
    )
    experiment: dict[str, Any] = json.loads(text)
    (ext,) = [e for e in experiment["extensions"] if e["name"] == "sloctl"]
    ext["budget"] = {**ext["budget"], "service": "backtest", "slo": "spent"}
    path = tmp / "connection-loss.json"
    path.write_text(json.dumps(experiment))
    return path


@pytest.mark.promtool
@pytest.mark.slow
def test_a_game_day_reads_a_prometheus_behind_a_bearer_token_from_a_file(
    prometheus: PrometheusServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """gameday run had no --prometheus-token-file: its budget gate could not read such a
    Prometheus and refused every game day for that, whatever the budget."""
    experiment = _experiment(tmp_path)
    (tmp_path / "token").write_text(TOKEN + "\n")
    with prometheus_proxy(prometheus.url, token=TOKEN) as proxy:
        argv = [
            "gameday",
            "run",
            str(experiment),
            *SET_TARGETS,
            "--set",
            f"prometheus_url={proxy.url}",
            "--quiet",
        ]
        code, out, err = _run(capsys, *argv, "--report-dir", str(tmp_path / "without"))
        report = json.loads((tmp_path / "without" / "report.json").read_text())
        assert code == 1 and report["reasons"][0].startswith(
            "refused: the error budget of backtest/spent could not be read:"
        )
        assert "--prometheus-token-file" in report["reasons"][0]
        code, out, err = _run(
            capsys,
            *argv,
            "--report-dir",
            str(tmp_path / "with"),
            "--prometheus-token-file",
            str(tmp_path / "token"),
        )
        report = json.loads((tmp_path / "with" / "report.json").read_text())
        # The budget gate read it (and the alert-rule check before it): the budget is spent.
        assert code == 1 and report["reasons"][0].startswith(
            "refused: sloctl gate says freeze for backtest/spent: backtest-spent: -100.0 % of the error"
            " budget left"
        ), report["reasons"]
        sent = [r for r in proxy.requests if r.headers.get("Authorization") == f"Bearer {TOKEN}"]
        assert {r.path for r in sent} == {"/api/v1/query", "/api/v1/rules"}
    assert TOKEN not in (tmp_path / "with" / "report.json").read_text() + out + err


def _rows(table: str) -> dict[str, list[str]]:
    """The rows of a status table by SLO: its columns."""
    lines = table.splitlines()
    return {line.split()[0]: re.split(r"\s{2,}", line) for line in lines[1:] if line.startswith("backtest-")}


@pytest.mark.promtool
@pytest.mark.slow
def test_an_slo_whose_rules_fail_is_in_the_rule_error_state_in_status_and_serve(
    prometheus: PrometheusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its figures are unknown, yet its STATE said ok (or no_data), and serve showed neither
    its rule errors nor Prometheus' warnings."""
    code, out, err = _run(capsys, "status", "--prometheus", prometheus.url)
    assert code == 0, err
    states = {slo: cols[1] for slo, cols in _rows(out).items()}
    assert states == {
        "backtest-blind": "rule_error",
        "backtest-broken": "rule_error",
        "backtest-healthy": "ok",
        "backtest-quiet": "no_data",
        "backtest-spent": "firing",
    }, out
    code, out, err = _run(capsys, "status", "--prometheus", prometheus.url, "-o", "json")
    doc = json.loads(out)
    assert {s["slo"]: s["state"] for s in doc["slos"]} == states
    assert doc["rule_health_checked"] is True and doc["rule_health_unknown"] is None
    with (
        prometheus_proxy(prometheus.url, notes={"warnings": [WARNING]}) as proxy,
        Prometheus.connect(proxy.url) as prom,
    ):
        app = App(ServeConfig(), prom)
        shown = {r.id: r.state for r in app.overview().rows}
        body = html.unescape(app.handle("/", {}).body.decode())
        broken = html.unescape(app.handle("/", {"state": ["rule_error"]}).body.decode())
        page = html.unescape(app.handle("/slo/backtest-broken", {}).body.decode())
    assert shown == states
    assert re.findall(r'data-slo="([^"]+)"', broken) == ["backtest-blind", "backtest-broken"]
    banner = re.search(
        r'<div class="banner warn" role="alert" id="prometheus-warnings">(.*?)</div>', body, re.S
    )
    assert banner is not None and f"<li>{WARNING}</li>" in banner[1]
    row = re.search(r'<tr data-slo="backtest-broken" data-state="rule_error">(.*?)</tr>', body, re.S)
    assert row is not None and f"<li>rule {ERRORS_RULE} of group {BROKEN_GROUP}: " in row[1]
    assert (
        "many-to-many matching not allowed" in row[1]
        and 'class="rule-errors"' not in body.split('data-slo="backtest-healthy"')[1].split("</tr>")[0]
    )
    assert f"rule {ERRORS_RULE} of group {BROKEN_GROUP}: " in page and 'id="rule-errors"' in page


@pytest.mark.promtool
@pytest.mark.slow
def test_an_slo_whose_info_rule_fails_is_a_rule_error_not_an_unknown_slo(
    prometheus: PrometheusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Prometheus has no series of it at all: gate and status said "Prometheus knows no SLO
    'backtest/blind'" (a usage error, exit 2) where its rules say why."""
    code, out, err = _run(capsys, "gate", "--prometheus", prometheus.url, "--slo", "backtest/blind")
    assert (code, out) == (3, ""), err
    said = f"backtest-blind: rule {naming.SLO_INFO} of group {BLIND_GROUP}: found duplicate series"
    assert said in err and "knows no SLO" not in err, err
    code, out, err = _run(capsys, "status", "--prometheus", prometheus.url, "--slo", "backtest/blind")
    assert code == 0, err
    assert _rows(out)["backtest-blind"][1:5] == ["rule_error", "unknown", "unknown", "unknown"], out
    assert f"rule error: {said}" in out
    # An SLO no rule knows is still unknown.
    code, out, err = _run(capsys, "status", "--prometheus", prometheus.url, "--slo", "backtest/nowhere")
    assert code == 2 and "knows no SLO 'backtest/nowhere'" in err, err


@pytest.mark.promtool
@pytest.mark.slow
def test_without_a_rules_api_status_says_rule_health_is_unknown_and_the_gate_decides_on_the_numbers(
    prometheus: PrometheusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A proxy that passes queries alone (404 on the rules API) made status "cannot read"
    (exit 1) and the gate give no verdict (exit 3); a failing one (500) still does."""
    with prometheus_proxy(prometheus.url, refuse={"/api/v1/rules": 404}) as proxy:
        code, out, err = _run(capsys, "status", "--prometheus", proxy.url, "--slo", "backtest/healthy")
        assert code == 0, err
        assert out.splitlines()[-1] == (
            f"rule health unknown: {proxy.url}/api/v1/rules answered 404: no rules API there (an engine"
            " without one, such as Mimir without its ruler, or a proxy that passes queries alone)"
        )
        code, out, err = _run(capsys, "gate", "--prometheus", proxy.url, "--slo", "backtest/healthy")
        verdict = json.loads(out)
        assert code == 0 and verdict["verdict"] == "proceed", err
        assert verdict["rule_health_checked"] is False and "answered 404" in verdict["rule_health_unknown"]
        assert "sloctl gate: rule health not checked: " in err
        argv = ["gate", "--prometheus", proxy.url, "--slo", "backtest/healthy", "--require-rule-health"]
        code, out, err = _run(capsys, *argv)
        assert (code, out) == (3, "") and "rule health unknown (--require-rule-health): " in err, err
    with prometheus_proxy(prometheus.url, refuse={"/api/v1/rules": 500}) as proxy:
        code, out, err = _run(capsys, "status", "--prometheus", proxy.url)
        assert code == 1 and "cannot read Prometheus" in err and "answered 500" in err, err
        code, out, err = _run(capsys, "gate", "--prometheus", proxy.url, "--slo", "backtest/healthy")
        assert code == 3 and "cannot read Prometheus" in err, err
    code, out, err = _run(capsys, "gate", "--prometheus", prometheus.url, "--slo", "backtest/healthy")
    assert code == 0 and json.loads(out)["rule_health_checked"] is True, err


@pytest.mark.promtool
@pytest.mark.slow
def test_a_rules_api_not_found_in_json_is_rule_health_unknown_too(
    prometheus: PrometheusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A gateway or query frontend that answers its 404 in JSON (``errorType: not_found``)
    made status "cannot read Prometheus" (exit 1) and the gate give no verdict (exit 3)."""
    not_found = b'{"status":"error","errorType":"not_found","error":"the ruler is not enabled"}'
    with prometheus_proxy(prometheus.url, refuse={"/api/v1/rules": Answer(not_found, status=404)}) as proxy:
        code, out, err = _run(capsys, "status", "--prometheus", proxy.url, "--slo", "backtest/healthy")
        assert code == 0, err
        assert out.splitlines()[-1].startswith(
            f"rule health unknown: {proxy.url}/api/v1/rules answered 404: no rules API there"
        ), out
        code, out, err = _run(capsys, "gate", "--prometheus", proxy.url, "--slo", "backtest/healthy")
        assert code == 0 and json.loads(out)["rule_health_checked"] is False, err
        argv = ["gate", "--prometheus", proxy.url, "--slo", "backtest/healthy", "--require-rule-health"]
        code, out, err = _run(capsys, *argv)
        assert (code, out) == (3, "") and "rule health unknown (--require-rule-health): " in err, err
    failing = b'{"status":"error","errorType":"internal","error":"the ruler is failing"}'
    with prometheus_proxy(prometheus.url, refuse={"/api/v1/rules": Answer(failing, status=500)}) as proxy:
        code, out, err = _run(capsys, "status", "--prometheus", proxy.url, "--slo", "backtest/healthy")
        assert code == 1 and "cannot read Prometheus" in err and "the ruler is failing" in err, err


@pytest.mark.promtool
@pytest.mark.slow
def test_the_rules_api_is_asked_for_the_selected_slos_groups_alone(
    prometheus: PrometheusServer, prometheus_engine: PrometheusEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was read whole, every group with its alerts' instances (~20 KB an SLO): past ~3,000
    SLOs the answer passes the client's 64 MiB bound. Prometheus 3 honours the filters; 2.42
    ignores them and answers the first request with every rule, which then serves alone."""
    with prometheus_proxy(prometheus.url) as proxy:
        code, _out, err = _run(capsys, "gate", "--prometheus", proxy.url, "--slo", "backtest/broken")
        assert code == 3 and ERRORS_RULE in err, err
        asked = [r.raw_query for r in proxy.requests if r.path == "/api/v1/rules"]
    info = f"rule_name%5B%5D={naming.SLO_INFO}&exclude_alerts=true"
    if prometheus_engine.major == 2:
        assert asked == [info]
    else:
        assert asked == [info, f"rule_group%5B%5D={BROKEN_GROUP}&exclude_alerts=true"]
