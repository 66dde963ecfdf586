"""``sloctl gate`` against a real throwaway Prometheus evaluating the generated rules over
backfilled series ending now: one SLO in each state of its error-budget policy (proceed,
notify, freeze, unknown budget with either ``whenUnknown``), plus the usage and read errors."""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sloctl import naming
from sloctl.backtest.engine import query
from sloctl.backtest.run import scenario_slo
from sloctl.backtest.scenarios import Scenario, counts
from sloctl.cli.main import main
from sloctl.gate import evaluate
from sloctl.policy import decide
from sloctl.render.rules import render_rule_file
from sloctl.servers._process import wait_until
from sloctl.servers.prometheus import PrometheusServer, start_prometheus
from sloctl.shelf import PrometheusEngine
from sloctl.spec import load_text
from tests.fixtures.specs import shop_policy_slo, shop_slo
from tests.fixtures.stub_http import Answer, serve
from tests.paths import ROOT
from tests.status.backfilled import backfilled_prometheus

# The live rules record since Prometheus started, so the period ratio is the last minutes'
# error ratio: 0.1x the budget leaves 90 % of it, 0.7x 30 % (notify), 2x -100 % (freeze).
STATES = {
    "proceed": Scenario("proceed", "", 3600, background_burn=0.1, warmup=0),
    "notify": Scenario("notify", "", 3600, background_burn=0.7, warmup=0),
    "freeze": Scenario("freeze", "", 3600, background_burn=2.0, warmup=0),
    "unknown-freeze": Scenario("unknown-freeze", "", 3600, rps=0.0, warmup=0),
    "unknown-proceed": Scenario("unknown-proceed", "", 3600, rps=0.0, warmup=0),
}


def _id(state: str) -> str:
    return f"backtest-{state}"


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, prometheus_engine: PrometheusEngine
) -> Iterator[PrometheusServer]:
    slos = []
    items = []
    for state, s in STATES.items():
        (base,) = load_text(shop_policy_slo("proceed" if state == "unknown-proceed" else "freeze")).slos
        slos.append(scenario_slo(base, s))
        items.append((s, counts(s, base.error_budget)))
    rule_files = {"rules.yml": render_rule_file(slos, ["test"], "test")}

    def recorded(url: str) -> bool:
        """Every SLO's remaining budget (or, without events, its no-data flag) is recorded."""
        states = query(url, f"{naming.NO_DATA} == 1 or {naming.BUDGET_REMAINING}")
        frozen = f'{naming.BUDGET_REMAINING}{{{naming.LABEL_ID}="{_id("freeze")}"}} < 0'
        return len(states) == len(STATES) and bool(query(url, frozen))

    with backfilled_prometheus(
        tmp_path_factory.mktemp("gate"), prometheus_engine, items, rule_files, recorded
    ) as server:
        yield server


def _gate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code = main(["gate", *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else {}, captured.err


@pytest.mark.promtool
@pytest.mark.slow
@pytest.mark.parametrize(
    ("state", "code", "action", "reason"),
    [
        ("proceed", 0, "proceed", "above every step"),
        ("notify", 0, "notify", "at or below the notify step at 50.0 %"),
        ("freeze", 1, "freeze", "at or below the freeze step at 0.0 %"),
        ("unknown-freeze", 1, "freeze", "the policy says freeze when unknown"),
        ("unknown-proceed", 0, "proceed", "the policy says proceed when unknown"),
    ],
)
def test_the_gate_exits_on_what_the_policy_says_in_each_state(
    prometheus: PrometheusServer,
    capsys: pytest.CaptureFixture[str],
    state: str,
    code: int,
    action: str,
    reason: str,
) -> None:
    got, verdict, err = _gate(capsys, "--prometheus", prometheus.url, "--slo", _id(state))
    assert got == code, (verdict, err)
    assert verdict["verdict"] == ("freeze" if code else "proceed")
    (slo,) = verdict["slos"]
    assert slo["slo"] == _id(state) and slo["action"] == action
    assert reason in slo["reason"] and reason in str(verdict["reason"])
    assert f"sloctl gate: {verdict['verdict']}" in err
    if state.startswith("unknown"):
        # No event in the period: the budget is unknown, not 100 %, and the SLI has no data.
        assert slo["budget_remaining"] is None and slo["state"] == "no_data"
    else:
        assert slo["state"] != "no_data"
        assert slo["policy"] == {"freeze": 0.0, "notify": 0.5}


@pytest.mark.promtool
@pytest.mark.slow
def test_without_slo_the_gate_judges_every_slo_and_freezes_on_any(
    prometheus: PrometheusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    got, verdict, _err = _gate(capsys, "--prometheus", prometheus.url)
    assert got == 1
    actions = {s["slo"]: s["action"] for s in verdict["slos"]}
    assert actions == {
        _id("proceed"): "proceed",
        _id("notify"): "notify",
        _id("freeze"): "freeze",
        _id("unknown-freeze"): "freeze",
        _id("unknown-proceed"): "proceed",
    }
    # The reason names the SLOs that freeze, and only those.
    assert _id("freeze") in str(verdict["reason"]) and _id("notify") not in str(verdict["reason"])
    got, verdict, _err = _gate(
        capsys, "--prometheus", prometheus.url, "--slo", _id("proceed"), "--slo", "backtest/notify"
    )
    assert got == 0 and [s["action"] for s in verdict["slos"]] == ["notify", "proceed"]
    # Several SLOs all proceeding: a count, and by name the one whose unknown budget proceeds
    # (it listed every SLO's reason, a line as long as the inventory).
    got, verdict, err = _gate(
        capsys, "--prometheus", prometheus.url, "--slo", _id("proceed"), "--slo", _id("unknown-proceed")
    )
    assert got == 0 and verdict["reason"] == (
        "2 SLOs, none at a step of its error-budget policy (2 have one); unknown budget or state, "
        f"which their policies let proceed: {_id('unknown-proceed')}"
    )
    assert err == f"sloctl gate: proceed: {verdict['reason']}\n"


@pytest.mark.promtool
@pytest.mark.slow
def test_a_floor_of_the_callers_and_an_override_for_unknown_budgets_change_the_verdict(
    prometheus: PrometheusServer,
) -> None:
    # What a game day asks: 25 % minimum, unknown budgets do not stop it.
    assert evaluate(prometheus.url, slos=[_id("notify")], floor_percent=25).freeze is False
    assert evaluate(prometheus.url, slos=[_id("notify")], floor_percent=40).freeze is True
    # in decimal, as the policy steps' thresholds are: a budget left at exactly 33.3 % is at it
    assert evaluate(prometheus.url, slos=[_id("notify")], floor_percent=33.3).floor == 0.333
    assert evaluate(prometheus.url, slos=[_id("unknown-freeze")], when_unknown="proceed").freeze is False


@pytest.mark.promtool
@pytest.mark.slow
def test_status_shows_the_no_data_state_an_unknown_budget_and_the_policy_action(
    prometheus: PrometheusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # The policy steps' alerts (no `for:`) fire once the budget is recorded, each in its SLO's
    # own group: wait for all three (the freeze SLO's two steps, the notify SLO's one).
    expected = {(_id("freeze"), "freeze"), (_id("freeze"), "notify"), (_id("notify"), "notify")}
    policy_alerts = f'ALERTS{{alertstate="firing", {naming.LABEL_TIER}=~"{naming.policy_tier(".+")}"}}'

    def policy_alerts_fire() -> bool:
        firing = {
            (a["metric"][naming.LABEL_ID], a["metric"][naming.LABEL_TIER])
            for a in query(prometheus.url, policy_alerts)
        }
        return {(slo, naming.policy_tier(action)) for slo, action in expected} <= firing

    assert wait_until(policy_alerts_fire, timeout=30, interval=0.25)
    assert main(["status", "--prometheus", prometheus.url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "SLO",
        "STATE",
        "BUDGET LEFT",
        "BURN NOW",
        "BURN PERIOD",
        "POLICY",
        "POLICY ALERTS",
        "FIRING",
    ]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows[_id("unknown-freeze")][1:3] == ["no_data", "unknown"]
    # A policy step's alert is the policy's, not a firing burn-rate tier nor the SLO's state.
    freeze = rows[_id("freeze")]
    assert freeze[5:7] == ["freeze", "freeze,notify"], freeze
    assert not any(naming.policy_tier(a) in freeze[7] for a in ("freeze", "notify")), freeze
    assert freeze[1] in (("firing",) if freeze[7] != "-" else ("pending", "ok")), freeze
    assert rows[_id("notify")][5:7] == ["notify", "notify"]
    assert main(["status", "--prometheus", prometheus.url, "-o", "json"]) == 0
    doc = {r["slo"]: r for r in json.loads(capsys.readouterr().out)["slos"]}
    unknown = doc[_id("unknown-freeze")]
    assert unknown["state"] == "no_data" and unknown["budget_remaining"] is None
    assert unknown["policy_action"] == "freeze"
    assert doc[_id("proceed")]["budget_remaining"] == pytest.approx(0.9, abs=0.02)
    # --slo picks rows as gate does, by id or service/name.
    assert (
        main(["status", "--prometheus", prometheus.url, "--slo", _id("notify"), "--slo", "backtest/freeze"])
        == 0
    )
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == [
        _id("freeze"),
        _id("notify"),
    ]


@pytest.mark.promtool
@pytest.mark.slow
def test_an_slo_prometheus_does_not_know_is_a_usage_error_naming_the_known_ones(
    prometheus: PrometheusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("gate", "status"):
        for nope in ("shop-nope", "shop/*"):
            assert main([command, "--prometheus", prometheus.url, "--slo", nope]) == 2
            captured = capsys.readouterr()
            assert captured.out == "" and "Traceback" not in captured.err
            assert f"no SLO {nope!r}" in captured.err and _id("notify") in captured.err
    # A pattern picks every SLO it matches: the unknown budgets, one of whose policies freezes.
    assert main(["gate", "--prometheus", prometheus.url, "--slo", "backtest/unknown-*"]) == 1
    verdict = json.loads(capsys.readouterr().out)
    assert sorted(s["slo"] for s in verdict["slos"]) == [_id("unknown-freeze"), _id("unknown-proceed")]


def test_an_unreadable_prometheus_gives_no_verdict_and_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["gate", "--prometheus", f"http://127.0.0.1:{port}"]) == 3
    captured = capsys.readouterr()
    assert captured.out == "" and "cannot read Prometheus" in captured.err


def _with_password(url: str, password: str) -> str:
    return url.replace("http://", f"http://ci:{password}@", 1)


@pytest.mark.promtool
@pytest.mark.slow
def test_a_password_in_the_prometheus_url_is_sent_but_never_printed(
    prometheus: PrometheusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Basic-auth credentials given in the URL (the one way to give them) reached the CI log
    whole: in the verdict's ``prometheus`` field of ``gate``'s stdout."""
    secret = "s3cret-in-url"
    url = _with_password(prometheus.url, secret)
    got, verdict, err = _gate(capsys, "--prometheus", url, "--slo", _id("proceed"))
    assert got == 0, err
    assert verdict["prometheus"] == _with_password(prometheus.url, "[secret]")
    assert main(["status", "--prometheus", url, "--slo", _id("proceed"), "-o", "json"]) == 0
    captured = capsys.readouterr()
    assert secret not in f"{verdict}{err}{captured.out}{captured.err}"


@pytest.mark.parametrize(
    "argv",
    [
        ["gate"],
        ["status"],
        ["validate", str(ROOT / "slos" / "platform-api.yaml")],
        ["serve", "--listen", "127.0.0.1:0", "--for", "10ms"],
    ],
    ids=["gate", "status", "validate", "serve"],
)
def test_a_password_in_the_prometheus_url_is_masked_where_the_url_is_said(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """ "cannot read Prometheus at http://ci:<password>@…" and serve's "(Prometheus …)" line
    printed it whole."""
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://ci:s3cret-in-url@127.0.0.1:{s.getsockname()[1]}"
    main([argv[0], "--prometheus", url, *argv[1:]])
    captured = capsys.readouterr()
    assert "http://ci:[secret]@127.0.0.1:" in captured.err, captured.err
    assert "s3cret" not in captured.out + captured.err


#: answers no Prometheus sends, and what the error says of each
UNREADABLE = {
    "nested too deep": (b"[" * 100_000, "answered 200 without a JSON body (invalid JSON)"),
    "a list for data": (
        b'{"status":"success","data":[1,2,3]}',
        "could not be read: its data is a list, not an object",
    ),
    "a matrix": (
        b'{"status":"success","data":{"resultType":"matrix","result":[]}}',
        "could not be read: its resultType is 'matrix', not 'vector'",
    ),
    "null": (b"null", "answered 200 OK with JSON that is not Prometheus' API answer (null, not an object"),
}


@pytest.mark.parametrize(("body", "said"), list(UNREADABLE.values()), ids=list(UNREADABLE))
@pytest.mark.parametrize(
    ("argv", "code"),
    [(["gate"], 3), (["status"], 1), (["validate", str(ROOT / "slos" / "platform-api.yaml")], 3)],
    ids=["gate", "status", "validate"],
)
def test_an_answer_that_cannot_be_read_gives_no_verdict_naming_what_is_wrong(
    argv: list[str], code: int, body: bytes, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """These were a RecursionError traceback (gate exit 1: "freeze"), "Prometheus knows no SLO"
    (exit 2) or "did not answer …: None"."""
    with serve(lambda request: Answer(body)) as stub:
        assert main([*argv, "--prometheus", stub.url]) == code
    err = capsys.readouterr().err
    assert f"sloctl {argv[0]}: cannot read Prometheus at {stub.url}: " in err and said in err, err
    assert "Traceback" not in err and "knows no SLO" not in err


@pytest.mark.parametrize(("command", "code"), [("gate", 3), ("status", 1)])
def test_a_prometheus_that_never_answers_is_given_up_after_timeout(
    command: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server that takes the connection and never answers (a hung Prometheus) holds a CI
    job only as long as ``--timeout`` says, not the 30 s default."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        assert main([command, "--prometheus", url, "--timeout", "500ms"]) == code
        took = time.monotonic() - started
    assert took < 0.5 * 8, took  # one query's wait (status sends its queries together), not 30 s
    err = capsys.readouterr().err
    assert f"{url}/api/v1/query: no answer within 0.5 s" in err and "Traceback" not in err


@contextlib.contextmanager
def _trickling(seconds: float) -> Iterator[str]:
    """A server that answers every request at once with a status line and headers, then sends
    its body a byte every 50 ms for ``seconds`` (a stuck proxy, a Prometheus swapping): each
    byte comes well within any read timeout. The URL; every connection closed on exit."""
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))

    def trickle(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
            )
            deadline = time.monotonic() + seconds
            with contextlib.suppress(OSError):  # the client gave up and closed
                while time.monotonic() < deadline and not stop.wait(0.05):
                    conn.sendall(b" ")

    def accept() -> None:
        with contextlib.suppress(OSError):  # the listener closed on exit
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() that close() alone leaves waiting
        listener.close()
        acceptor.join(timeout=5)


@pytest.mark.waits
@pytest.mark.parametrize(("command", "code"), [("gate", 3), ("status", 1)])
def test_a_prometheus_that_trickles_its_answer_is_given_up_after_timeout(
    command: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--timeout`` bounded each wait for a byte, not the answer: a server sending a byte every
    50 ms held the gate for as long as it kept sending (here 20 s; a stuck proxy, forever)."""
    with _trickling(20) as url:
        started = time.monotonic()
        assert main([command, "--prometheus", url, "--timeout", "500ms"]) == code
        took = time.monotonic() - started
    assert took < 5, took
    err = capsys.readouterr().err
    assert f"{url}/api/v1/query: no answer within 0.5 s (the answer was still arriving" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("value", ["0s", "-1s", "10m1s", "soon", "30"])
def test_a_timeout_outside_0_to_10_minutes_or_not_a_duration_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["status", "--prometheus", "http://127.0.0.1:9", "--timeout", value])
    assert exc.value.code == 2
    assert "argument --timeout:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "value"), [("status", "nan"), ("gate", "inf"), ("status", "-1"), ("gate", "now")]
)
def test_a_time_that_is_not_unix_seconds_is_a_usage_error(
    command: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--prometheus", "http://127.0.0.1:9", "--time", value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "argument --time:" in err and "Unix seconds" in err, err


def test_the_timeout_flag_defaults_to_the_clients_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    from sloctl.prometheus import TIMEOUT

    with pytest.raises(SystemExit):
        main(["status", "--help"])
    assert f"(default {TIMEOUT:g}s; at most 10m)" in " ".join(capsys.readouterr().out.split())


def test_the_gate_refuses_a_prometheus_outside_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gate", "--prometheus", "http://192.0.2.1:9090"]) == 2
    assert "192.0.2.1" in capsys.readouterr().err


def test_the_decision_is_the_strictest_step_reached() -> None:
    steps = {"notify": 0.5, "freeze": 0.0}
    assert decide(0.51, steps, "freeze", no_data=False).action == "proceed"
    assert decide(0.5, steps, "freeze", no_data=False).action == "notify"
    assert decide(0.0, steps, "freeze", no_data=False).action == "freeze"
    assert decide(-3.0, {"notify": 0.5}, "freeze", no_data=False).action == "notify"
    assert decide(0.9, {}, "freeze", no_data=True).reason == "no error-budget policy"
    # No data now with a known budget: the state is unknown, so the policy's unknown action.
    assert decide(0.9, steps, "freeze", no_data=True).action == "freeze"
    assert decide(0.9, steps, "proceed", no_data=True).action == "proceed"
    assert decide(0.3, steps, "proceed", no_data=False, floor=0.25).action == "notify"
    assert decide(0.2, steps, "proceed", no_data=False, floor=0.25).action == "freeze"


def test_gate_help_is_plain_text_with_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["gate", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--prometheus URL" in out and "--slo ID" in out and "1 freeze" in out


def test_an_unknown_budget_is_explained_for_events_and_for_slices() -> None:
    """A timeslice SLO counts no slice before its first 5m boundary, however many events flow: the
    reason said "no event in the period" then."""
    reason = decide(float("nan"), {"freeze": 0.0}, "proceed", no_data=False).reason
    assert reason == (
        "the error budget is unknown (no event or slice counted in the period yet); "
        "the policy says proceed when unknown"
    )


@pytest.mark.promtool
@pytest.mark.slow
def test_a_prometheus_without_the_generated_rules_gives_no_verdict_rather_than_proceed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A gate pointed at the wrong Prometheus, or at one the rules were never loaded into, must
    not let a deploy through: it knew no SLO and said "proceed" before."""
    with start_prometheus(
        tmp_path, config_text="global:\n  evaluation_interval: 1s\nscrape_configs: []\n"
    ) as bare:
        for command in ("gate", "status"):
            assert main([command, "--prometheus", bare.url]) == 2
            captured = capsys.readouterr()
            assert captured.out == "" and "Traceback" not in captured.err
            assert (
                "Prometheus knows no SLO (no sloctl_slo_info series): load the generated rules"
                in captured.err
            )


@pytest.mark.parametrize(("command", "code"), [("gate", 3), ("status", 1)])
def test_an_answer_past_the_size_bound_is_given_up_not_read_until_memory_runs_out(
    command: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A gzip answer that decompresses past MAX_ANSWER_BYTES (here 1 MiB more, from some 65 KB on
    the wire: a stuck proxy's endless stream or a decompression bomb did the same) was read
    whole into memory before JSON decoding failed."""
    from sloctl.egress import MAX_ANSWER_BYTES

    bomb = gzip.compress(b" " * (MAX_ANSWER_BYTES + 2**20), compresslevel=9)
    headers = (("Content-Encoding", "gzip"),)
    with serve(lambda request: Answer(bomb, "application/json", 200, headers)) as stub:
        assert main([command, "--prometheus", stub.url]) == code
    err = capsys.readouterr().err
    assert (
        f"{stub.url}/api/v1/query: the answer passed {MAX_ANSWER_BYTES // 2**20} MiB (decompressed)" in err
    ), err
    assert "Traceback" not in err


@pytest.mark.promtool
@pytest.mark.slow
@pytest.mark.parametrize("command", ["gate", "status"])
def test_a_time_later_than_now_is_said_to_be_in_the_future_not_before_the_rules_ran(
    prometheus: PrometheusServer, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """A --time a day ahead (a typo in the digits, milliseconds for seconds) read "knows no SLO
    at --time 1.8e+09 (is it before the rules first ran?)", which sent one looking at the past."""
    later = int(time.time()) + 86_400
    assert main([command, "--prometheus", prometheus.url, "--time", str(later)]) == 2
    err = capsys.readouterr().err
    assert f"knows no SLO at --time {later} (it is later than now: Prometheus has no sample from the" in err
    assert "before the rules first ran" not in err and "Traceback" not in err


@pytest.mark.promtool
@pytest.mark.slow
def test_a_gate_on_slos_without_a_policy_proceeds_and_says_it_never_freezes(
    tmp_path: Path, prometheus_engine: PrometheusEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    """An SLO without an error-budget policy at -100 % of its budget: the gate proceeded with
    "no error-budget policy" on stdout's JSON alone, a green light from a gate that cannot say
    freeze. It still proceeds (the policy is the SLO's to set), and says why on stderr."""
    (base,) = load_text(shop_slo()).slos
    assert not base.policy.steps
    burning = STATES["freeze"]
    slo = scenario_slo(base, burning)

    def recorded(url: str) -> bool:
        return bool(query(url, f'{naming.BUDGET_REMAINING}{{{naming.LABEL_ID}="{slo.id}"}} < 0'))

    rules = {"rules.yml": render_rule_file([slo], ["test"], "test")}
    items = [(burning, counts(burning, base.error_budget))]
    with backfilled_prometheus(tmp_path, prometheus_engine, items, rules, recorded) as server:
        code, verdict, err = _gate(capsys, "--prometheus", server.url, "--slo", slo.id)
    assert code == 0 and verdict["verdict"] == "proceed", (verdict, err)
    assert verdict["slos"][0]["budget_remaining"] < 0
    assert f"sloctl gate: {slo.id}: no error-budget policy, so this gate proceeds whatever the budget" in err
