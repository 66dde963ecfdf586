"""The five game days run for real against a rig (real databases, fault proxies, the API with
3 s breakers), with their verdicts asserted; an unapplied fault is inconclusive; SIGINT in the
inject phase leaves no fault behind; a stop condition aborts within 2 s."""

from __future__ import annotations

import contextlib
import gc
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2
import psycopg
import pytest
import redis
from chaoslib.experiment import ensure_experiment_is_valid

from sloctl.chaos.actions import pgbouncer_start
from sloctl.chaos.experiments import build_experiments
from sloctl.chaos.gameday import run_gameday
from sloctl.chaos.ledger import LEDGER
from sloctl.chaos.load import routes_availability
from sloctl.chaos.pagerduty import GamedayPagerDuty
from sloctl.chaos.probes import breaker_state
from sloctl.chaos.profiles import PROFILES
from sloctl.chaos.proxy import ProxyError, control
from sloctl.chaos.result import GamedayResult
from sloctl.chaos.rig import GamedayRig, start_rig, start_rig_prometheus
from sloctl.model import with_fast_reset
from sloctl.spec import load_paths
from tests.chaos.conftest import ABORT_MAY_LEAK_A_CONNECT, FAST_RESET, platform_slos
from tests.fixtures.cli import start_sloctl
from tests.fixtures.pagerduty import Recorder
from tests.fixtures.stub_http import serve, vector
from tests.fixtures.timing import FAST_FAIL_MS
from tests.paths import ROOT as REPO_ROOT
from tests.waiting import wait_until

# One xdist worker runs every test that uses the rig: they break things on purpose, in order.
pytestmark = [pytest.mark.servers, pytest.mark.slow, pytest.mark.xdist_group("chaos-rig")]

CHAOS_DIR = REPO_ROOT / "chaos"

#: The quick rig's timings (sloctl.chaos.profiles), the fast-fail gate the tests' (FAST_FAIL_MS).
TIMINGS: dict[str, Any] = {**PROFILES["quick"].timings, "fast_fail_ms": FAST_FAIL_MS}


def configuration(rig: GamedayRig, **extra: Any) -> dict[str, Any]:
    """The rig's targets and quick timings; its Prometheus only when asked for (``extra``):
    a test that breaks things on purpose does not wait for the pages it causes to resolve."""
    targets = {k: v for k, v in rig.configuration().items() if k != "prometheus_url"}
    return {**targets, **TIMINGS, **extra}


def wait_until_healthy(rig: GamedayRig, timeout: float = 30.0) -> None:
    """Every breaker closed and every route answering before a game day starts: the previous
    one may still be recovering (stale pooled connections after PgBouncer's KILL, half-open
    breakers waiting for a trial call)."""
    metrics = f"{rig.api.url}/metrics"
    deps = ["postgres", "redis", "mongodb"]
    wait_until(
        lambda: (
            routes_availability(rig.api.url, deps, requests=10) == 100.0
            and all(breaker_state(metrics, dep) == "closed" for dep in deps)
        ),
        timeout=timeout,
        what="the rig's recovery between game days",
        interval=0.3,
    )


def assert_no_fault_left(rig: GamedayRig) -> None:
    """Checked against the servers and the proxies themselves, not against our bookkeeping."""
    for proxy in rig.proxies.values():
        assert control(proxy.control_port).fault == "none"
    client = redis.Redis.from_url(rig.redis.url, socket_timeout=2)
    try:
        assert client.config_get("maxmemory")["maxmemory"] == "0"
        assert client.set("sloctl:test:write", b"x" * 65536, ex=5)  # neither paused nor squeezed
    finally:
        client.close()
    with psycopg.connect(rig.pgbouncer.dsn, connect_timeout=3, prepare_threshold=None) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with psycopg.connect(rig.postgres.admin_dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
            " AND query LIKE '%sloctl-gameday-storm%' AND pid <> pg_backend_pid()"
        ).fetchone()
        assert row == (0,)
    assert not LEDGER.pending()


def test_generated_experiments_are_the_ones_in_chaos_and_are_valid() -> None:
    experiments = build_experiments(load_paths([REPO_ROOT / "slos"]).slos)
    assert sorted(experiments) == sorted(p.name for p in CHAOS_DIR.glob("*.json"))
    for name, experiment in experiments.items():
        on_disk = json.loads((CHAOS_DIR / name).read_text())
        assert on_disk == experiment, f"chaos/{name} is stale: run sloctl gameday generate"
        ensure_experiment_is_valid(json.loads(json.dumps(experiment)))


def test_chaos_validate_accepts_a_generated_experiment() -> None:
    chaos = Path(sys.executable).parent / "chaos"
    done = subprocess.run(
        [str(chaos), "--no-log-file", "validate", str(CHAOS_DIR / "memory-exhaustion.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# Every game day passes since the testbed counts the PostgreSQL callers waiting *now*: the first
# runs of connection-loss failed "the pool is not exhausted" because psycopg_pool keeps callers
# that timed out in its queue (docs/gameday.md, findings).
EXPECTED = {
    "connection-loss": "pass",
    "network-latency-spike": "pass",
    "slow-query-storm": "pass",
    "memory-exhaustion": "pass",
    "cascading-failure": "pass",
}


def _the_schedule_in_sequence(rig: GamedayRig, tmp_path: Path) -> list[GamedayResult]:
    """The schedule's five game days one after the other against one rig and its one
    Prometheus (over the rig's backfilled healthy month): ``sloctl gate`` lets each start,
    each pages within the quick profile's 30 s, and each waits until its pages resolve before
    the next starts (the plan's MTTR bound, 15 min)."""
    from sloctl.chaos.detection import firing_pages, settle_seconds
    from sloctl.chaos.gameday import run_gamedays
    from sloctl.chaos.schedule import load_schedule

    assert rig.prometheus is not None
    prometheus = rig.prometheus.url
    # Each wait holds the pages quiet for the rig's longest slice and two 1 s evaluations, read
    # from its Prometheus: a page tripped by a run's last slice is waited for (CI, 2026-12-07).
    slice_ = max(s.base_window for s in platform_slos() for s in [with_fast_reset(s, rig.fast_reset)])
    assert settle_seconds(prometheus, {}) == slice_ + 2 * 1.0
    wait_until_healthy(rig)
    # The tests before this one may have left pages to resolve (their short windows' length).
    wait_until(lambda: not firing_pages(prometheus), timeout=900, what="the earlier pages to resolve")
    paths = [REPO_ROOT / e.experiment for e in load_schedule(CHAOS_DIR / "schedule.yaml").gamedays]
    assert [p.stem for p in paths] == list(EXPECTED)
    recorder = Recorder()
    pagerduty = GamedayPagerDuty(routing_key="R" * 32, transport=httpx2.MockTransport(recorder))
    said: list[str] = []
    results = run_gamedays(
        paths,
        configuration=configuration(rig, prometheus_url=prometheus),
        out_dir=tmp_path,
        progress=said.append,
        pagerduty=pagerduty,
        practice_incident=True,
    )
    summary = {
        r.gameday: (r.verdict, r.reasons, r.time_to_detect_s, r.time_to_resolve_s, r.pages) for r in results
    }
    assert [r.verdict for r in results] == list(EXPECTED.values()), summary
    for result in results:
        _assert_detected_and_resolved(result, tmp_path / result.gameday, rig.fast_reset)
    assert not firing_pages(prometheus)  # the last one resolved too
    assert_no_fault_left(rig)
    # Progress while they ran: each activity as it started, and the waits for the pages.
    assert any("inject:" in line for line in said) and any("waiting for its pages" in line for line in said)
    # PagerDuty (mock transport), per game day: change event, practice incident, resolve, change event.
    sent = [(url.rsplit("/", 2)[-2:], body) for _, url, body in recorder.requests]
    assert [s[0] for s in sent] == [
        ["change", "enqueue"],
        ["v2", "enqueue"],
        ["v2", "enqueue"],
        ["change", "enqueue"],
    ] * 5
    assert all(s[1]["payload"]["custom_details"]["time_to_resolve_s"] for s in sent[3::4])
    return results


# Five runs, each followed by a few seconds until its pages resolve (the quick page's short
# window is 5 s on this rig, a latency slice 10 s; about a minute when a slow page trips) and
# stay quiet for the settle (12 s after the run): about 3 minutes, each bounded by the plan's
# 15 minutes.
@pytest.mark.timeout(5 * (60 + 900) + 120)
def test_the_five_game_days_pass_in_sequence_on_one_rig_each_detected_and_resolved(
    rig: GamedayRig, tmp_path: Path
) -> None:
    results = _the_schedule_in_sequence(rig, tmp_path)
    # The fast reset at work: a page resolves once its short window after the fault holds no
    # bad second (or slice): the quick pages' 5 s (11 to 13 s measured from the fault), a quick
    # latency page's 10 s slice (17 to 19 s). Three bad slices in its long window trip a slow
    # latency page, whose short window is a minute (÷ 30: slices keep 10 s); with 5 s slices one
    # tripped in most sequences (3 bad slices in its 6 minutes, one from each of three game
    # days: docs/gameday.md). The generated rules keep a quick page firing 5 minutes after a
    # fault and a slow one 30.
    reset = [with_fast_reset(s, FAST_RESET) for s in platform_slos()]
    slowest = max(w.short_window for s in reset for w in s.windows.windows if w.severity == "page")
    slice_ = max(s.base_window for s in reset)
    assert slowest == 60 and slice_ == 10, (slowest, slice_)
    for r in results:
        assert r.fault_at_s is not None
        assert r.resolve_settle_s == slice_ + 2 * 1.0  # the settle, stated in the report
        fault = r.phases["recover"][0] - r.fault_at_s  # how long the fault lasted
        # the short window after the fault, a slice to end and one to be judged, 1 s scrapes
        # and evaluations, and the wait's own polling
        bound = fault + slowest + 2 * slice_ + 10
        assert r.time_to_resolve_s is not None and r.time_to_resolve_s <= bound, (
            f"{r.gameday}: resolved {r.time_to_resolve_s} s after the fault, bound {bound:.1f} s; "
            f"pages {r.pages}"
        )


# The same with the generated rules themselves (no fast reset): five runs of about a minute,
# each followed by 5 to 10 minutes until its pages resolve (the quick page's 5-minute window;
# latency pages judge 5-minute slices): about 45 minutes, in `make drills`.
@pytest.mark.drill
@pytest.mark.timeout(5 * (60 + 900) + 300)
def test_with_the_generated_rules_the_five_game_days_pass_in_sequence_on_one_rig(tmp_path: Path) -> None:
    with start_rig(tmp_path / "rig", slos=platform_slos()) as rig:
        assert rig.fast_reset == 1
        _the_schedule_in_sequence(rig, tmp_path / "reports")


def _assert_detected_and_resolved(result: GamedayResult, report_dir: Path, fast_reset: int) -> None:
    reasons = (result.gameday, result.reasons, result.alerts, result.pages, result.checks)
    assert result.verdict == EXPECTED[result.gameday], reasons
    assert result.timing_profile == "quick" and result.fast_reset == fast_reset
    assert result.breaker_open_s is not None and result.breaker_open_s <= TIMINGS["breaker_window_seconds"]
    assert result.time_to_recover_s is not None
    # Detection, from the real Prometheus: every expected page fired after the fault, within
    # the deadline (the verdict checks it too), and is listed among the run's pages.
    assert result.expected_alerts and all(
        result.alerts[a].startswith("fired ") for a in result.expected_alerts
    )
    assert all(result.pages[a].startswith("expected, fired ") for a in result.expected_alerts), reasons
    assert result.time_to_detect_s is not None and 0 <= result.time_to_detect_s <= 30
    # Resolution: after detection, within the plan's 15 minutes.
    assert result.time_to_resolve_s is not None and result.time_to_detect_s < result.time_to_resolve_s <= 900
    # The budget gate let it start (the rig's history), and the run spent a sane share of it.
    assert result.budget_consumed_percent is not None
    assert 0 < result.budget_consumed_percent < TIMINGS.get("stop_budget_percent", 2)
    assert result.load is not None
    spent = _budget_from_load(result.load, result.duration_s)
    assert spent / 2 <= result.budget_consumed_percent <= spent * 2, (result.budget_consumed_percent, spent)
    assert set(result.phases) == {"baseline", "inject", "recover"}
    report = json.loads((report_dir / "report.json").read_text())
    assert (
        report["verdict"] == EXPECTED[result.gameday]
        and report["time_to_resolve_s"] == result.time_to_resolve_s
    )
    assert json.loads((report_dir / "journal.json").read_text())["status"] == "completed"
    page = (report_dir / "report.html").read_text()
    assert "<svg" in page and "<polyline" in page and "Timing profile: quick" in page
    assert (f"÷ {fast_reset} (fast reset" in page) == (fast_reset > 1)


def _budget_from_load(load: dict[str, Any], seconds: float) -> float:
    """The share of a 30-day, 99.9 % budget that a run of ``seconds`` spends at the error ratio
    the load saw (burn rate × length / period): a rough oracle (the checks' own requests are
    not in it) for the figure Prometheus gives."""
    totals = load["totals"].values()
    failed = sum(t["errors"] + t["rejected"] for t in totals)
    ratio: float = failed / sum(t["ok"] + t["errors"] + t["rejected"] for t in totals)
    return 100 * ratio / 0.001 * seconds / (30 * 86400)


def test_a_fault_that_is_not_applied_is_inconclusive(rig: GamedayRig, tmp_path: Path) -> None:
    wait_until_healthy(rig)
    experiment = json.loads((CHAOS_DIR / "memory-exhaustion.json").read_text())
    for activity in experiment["method"]:
        if activity["name"].startswith("inject:"):
            activity["provider"]["arguments"]["apply"] = False
    path = tmp_path / "not-applied.json"
    path.write_text(json.dumps(experiment))
    # With no fault the breaker never opens: its check fails after the breaker window whatever
    # its length, so the shortest (1 s) rather than the quick profile's 10 s.
    config = configuration(rig, breaker_window_seconds=1)
    result = run_gameday(path, configuration=config, out_dir=tmp_path / "report")
    assert result.verdict == "inconclusive", result.reasons
    assert any("fault not confirmed active" in r for r in result.reasons)
    assert_no_fault_left(rig)


def test_a_run_that_deviates_is_rolled_back_and_fails(rig: GamedayRig, tmp_path: Path) -> None:
    """The deviation exit path: the recover step is taken out of the method, so the steady
    state does not come back; the rollbacks (and the control's ledger) still remove the fault."""
    wait_until_healthy(rig)
    experiment = json.loads((CHAOS_DIR / "memory-exhaustion.json").read_text())
    experiment["method"] = [
        a
        for a in experiment["method"]
        if not a["name"].startswith("recover:") and "closes after its open time" not in a["name"]
    ]
    path = tmp_path / "deviates.json"
    path.write_text(json.dumps(experiment))
    result = run_gameday(path, configuration=configuration(rig), out_dir=tmp_path / "report")
    journal = json.loads((tmp_path / "report" / "journal.json").read_text())
    assert journal["deviated"] is True and journal["status"] == "completed"
    assert result.verdict == "fail"
    assert "the steady state did not come back after recovery" in result.reasons, result.reasons
    assert [r["activity"]["name"] for r in journal["rollbacks"]] == ["rollback: redis_maxmemory_restore"]
    assert_no_fault_left(rig)


def test_dry_run_changes_nothing(rig: GamedayRig, tmp_path: Path) -> None:
    result = run_gameday(
        CHAOS_DIR / "connection-loss.json", configuration=configuration(rig), out_dir=tmp_path, dry_run=True
    )
    assert result.verdict == "dry-run"
    assert not (tmp_path / "journal.json").exists()
    assert_no_fault_left(rig)


def _interruptible(rig: GamedayRig) -> dict[str, Any]:
    """Three faults at once (proxy latency, Redis squeeze, PgBouncer stopped), then a long pause."""
    experiment: dict[str, Any] = json.loads((CHAOS_DIR / "memory-exhaustion.json").read_text())
    inject = next(a for a in experiment["method"] if a["name"].startswith("inject:"))
    extra = json.loads(json.dumps(inject))
    extra["name"] = "inject: pgbouncer_stop"
    extra["provider"]["func"] = "pgbouncer_stop"
    extra["provider"]["arguments"] = {"admin_dsn": "${pgbouncer_admin_dsn}"}
    latency = json.loads(json.dumps(inject))
    latency["name"] = "inject: proxy_fault"
    latency["provider"]["func"] = "proxy_fault"
    latency["provider"]["arguments"] = {
        "control_port": "${postgres_proxy_control_port}",
        "fault": "latency",
        "latency_ms": 500,
    }
    latency["pauses"] = {"after": 40}
    index = experiment["method"].index(inject)
    experiment["method"][index + 1 : index + 1] = [extra, latency]
    return experiment


def test_sigint_in_the_inject_phase_leaves_no_fault_behind(rig: GamedayRig, tmp_path: Path) -> None:
    wait_until_healthy(rig)
    path = tmp_path / "interrupted.json"
    path.write_text(json.dumps(_interruptible(rig)))
    config = tmp_path / "config.json"
    config.write_text(json.dumps(configuration(rig)))
    proc = start_sloctl(
        "gameday",
        "run",
        str(path),
        "--config",
        str(config),
        "--report-dir",
        str(tmp_path / "report"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(
            lambda: control(rig.proxies["postgres"].control_port).fault == "latency",
            timeout=30,
            what="the inject phase",
            interval=0.1,
        )
        client = redis.Redis.from_url(rig.redis.url, socket_timeout=2)
        assert client.config_get("maxmemory")["maxmemory"] != "0"  # the faults are really on
        client.close()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 130, out  # the interrupt's exit code, the report written
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["verdict"] == "fail" and report["status"] == "interrupted" and report["interrupted"]
    assert report["faults_left"] == []
    assert_no_fault_left(rig)


@pytest.fixture
def firing() -> threading.Event:
    """Set it, and the stub Prometheus's ``ALERTS`` fires."""
    return threading.Event()


@pytest.fixture
def stub_prometheus(firing: threading.Event) -> Iterator[str]:
    """The part of the Prometheus HTTP API that stop conditions read."""
    with serve(lambda _request: vector(({}, 1.0), at=time.time()) if firing.is_set() else vector()) as stub:
        yield stub.url


@ABORT_MAY_LEAK_A_CONNECT
def test_a_page_alert_aborts_the_run_within_two_seconds(
    rig: GamedayRig, tmp_path: Path, stub_prometheus: str, firing: threading.Event
) -> None:
    wait_until_healthy(rig)
    experiment = _interruptible(rig)
    experiment["controls"][0]["provider"]["arguments"]["stop_conditions"] = [
        {
            "kind": "alert",
            "prometheus_url": "${prometheus_url}",
            "alertname": "PlatformApiRedisAvailabilityBudgetBurn",
        }
    ]
    # The stub only answers ALERTS: no budget for sloctl gate to judge (it would refuse an SLO
    # Prometheus does not know), and no budget figure to read.
    experiment["extensions"][0]["budget"] = {}
    path = tmp_path / "stopped.json"
    path.write_text(json.dumps(experiment))

    def injected() -> bool:
        with contextlib.suppress(ProxyError):
            return control(rig.proxies["postgres"].control_port).fault == "latency"
        return False

    def fire_when_injected() -> None:
        # In a thread: a timeout here shows as the game day's own failure below.
        with contextlib.suppress(AssertionError):
            wait_until(injected, timeout=30, what="the inject phase")
            firing.set()

    firer = threading.Thread(target=fire_when_injected, daemon=True)
    firer.start()
    result = run_gameday(
        path,
        configuration=configuration(rig, prometheus_url=stub_prometheus, resolve_deadline_seconds=0),
        out_dir=tmp_path / "r",
    )
    firer.join(5)
    from sloctl.chaos.control import STATUS

    assert result.verdict == "fail", result.reasons
    assert result.stop_reason and "PlatformApiRedisAvailabilityBudgetBurn" in result.stop_reason
    assert STATUS.stopped_at is not None and STATUS.undone_at is not None
    assert STATUS.undone_at - STATUS.stopped_at < 2.0  # faults removed
    journal = json.loads((tmp_path / "r" / "journal.json").read_text())
    ended = datetime.fromisoformat(journal["end"]).timestamp()
    assert ended - STATUS.stopped_at < 2.0  # the run itself over, rollbacks played
    assert journal["status"] == "aborted"
    assert [r["activity"]["name"] for r in journal["rollbacks"]] == ["rollback: redis_maxmemory_restore"]
    assert_no_fault_left(rig)
    pgbouncer_start(rig.pgbouncer.admin_dsn)  # idempotent; the assertion above already saw it enabled
    gc.collect()


@ABORT_MAY_LEAK_A_CONNECT
def test_the_budget_stop_condition_trips_on_a_real_prometheus(rig: GamedayRig, tmp_path: Path) -> None:
    """The whole chain: failed requests → scrape → the generated recordings → the control's
    budget check → abort. A limit of 0.01 % trips a few seconds into the fault (a full game day
    spends about 0.08 %). Its own Prometheus: the pages of the earlier tests' faults, still
    firing on the rig's, would trip the protected-alert stop condition first. The pages it
    causes are listed, not waited for (deadline 0)."""
    wait_until_healthy(rig)
    prometheus_dir = tmp_path / "prometheus"
    with start_rig_prometheus(rig.api.url, prometheus_dir, platform_slos(), 20.0, FAST_RESET) as prometheus:
        result = run_gameday(
            CHAOS_DIR / "connection-loss.json",
            configuration=configuration(
                rig, prometheus_url=prometheus.url, stop_budget_percent=0.01, resolve_deadline_seconds=0
            ),
            out_dir=tmp_path / "report",
        )
    from sloctl.chaos.control import STATUS

    assert result.verdict == "fail" and result.status == "aborted", result.reasons
    assert result.stop_reason and result.stop_reason.startswith("budget of platform-api/availability")
    assert STATUS.stopped_at is not None and STATUS.undone_at is not None
    assert STATUS.undone_at - STATUS.stopped_at < 2.0
    assert_no_fault_left(rig)
    gc.collect()
