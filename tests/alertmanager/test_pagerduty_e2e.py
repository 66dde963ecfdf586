"""End to end: a generated page alert goes from a real Prometheus 3 through a real Alertmanager
(the shelf's 0.35 and Debian's 0.25), configured with the generated fragment, to PagerDuty's
Events API v2 (a loopback stub, the one thing that cannot run here): one trigger with the
dashboard and runbook links, then, once the series heal, one resolve with the same dedup_key.

The SLO is platform-api availability from slos/. Its raw counters are backfilled for the last
hour with 5 % of requests failing (budget 0.1 %: a 50x burn), and a loopback exporter that
Prometheus scrapes every second continues them; healing is a flood of successful requests, which
drops every window's error ratio below every tier's threshold at the same evaluation.

Timing, and why exactly one trigger is deterministic here: Prometheus sends each alerting
rule's alerts in its own request, a few milliseconds apart, and Alertmanager re-notifies a group
whenever a flush (every group_interval, counted from the previous flush) finds its alerts
changed. So the heal happens right after the first notification: every resolve (a scrape, an
evaluation and Prometheus' send later: over 3 s measured, not the 2 s of the intervals alone)
reaches Alertmanager before the group's next flush (group_interval 5 s), which then sees all of
them at once; 2 s and 3 s for group_wait and group_interval each failed once in three or four
runs (a first trigger with one tier only, a second trigger instead of the resolve). group_wait
4 s gathers both page tiers even when Prometheus' first send is a second late (its notifier may
not know the Alertmanager yet at the first evaluation; the resend delay is 1 s).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import pytest

from sloctl import contract, naming
from sloctl.backtest.engine import backfill_openmetrics
from sloctl.model import SLO
from sloctl.render.alertmanager import (
    AlertmanagerOptions,
    TeamReceivers,
    alertmanager_fragment,
    standalone_config,
)
from sloctl.render.dashboards import service_uid
from sloctl.render.rules import render_rule_file
from sloctl.servers._process import wait_until
from sloctl.servers.alertmanager import start_alertmanager
from sloctl.servers.prometheus import start_prometheus
from sloctl.shelf import PrometheusEngine, ToolMissing, engine_named
from sloctl.spec import load_paths
from tests.fixtures.engines import compat
from tests.fixtures.stub_http import Answer, StubRequest, serve, text
from tests.paths import ROOT

pytestmark = pytest.mark.slow

ROUTING_KEY = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12"  # 32 characters, as PagerDuty's are
GRAFANA = "https://grafana.example.test"
EVENTS_PATH = "/v2/enqueue"
TICKETS_PATH = "/tickets"
STEP = 15  # seconds between backfilled samples
HISTORY = 3600
RATE = 2.0  # requests per second
ERROR_RATIO = 0.05
FLOOD = 1e9  # successful requests that heal the series: a ratio of 1e-5 at most in every window
WAIT = 90.0  # seconds: a bound on each wait below, not an expectation


def _availability() -> SLO:
    loaded = load_paths([ROOT / "slos" / "platform-api.yaml"])
    assert not loaded.errors, loaded.errors
    (slo,) = [s for s in loaded.slos if s.name == "availability"]
    return slo


@dataclass
class Recorder:
    """A loopback HTTP server: PagerDuty's Events API v2 (``POST /v2/enqueue``, answered 202 as
    PagerDuty does), the ticket webhook, and the platform API's ``/metrics``."""

    requests: list[tuple[float, str, dict[str, object]]] = field(default_factory=list)
    healed_at: float | None = None
    start: float = 0.0
    """Unix time at which the counters below were zero (the backfill's first sample)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def counters(self, now: float) -> tuple[float, float]:
        """(all requests, 5xx requests) at ``now``: steady traffic with 5 % errors, then the flood."""
        total = RATE * (now - self.start)
        if self.healed_at is None:
            return total, total * ERROR_RATIO
        return total + FLOOD, RATE * (self.healed_at - self.start) * ERROR_RATIO

    def events(self, path: str) -> list[dict[str, object]]:
        with self.lock:
            return [body for _t, p, body in self.requests if p == path]


def _series(labels: str, value: float) -> str:
    return f"{contract.API_REQUESTS.name}{{{labels}}} {value:.3f}"


def _labels(code: str, target: str | None = None) -> str:
    """The API's labels; with ``target``, also the ``job`` and ``instance`` that Prometheus adds
    when it scrapes it (the backfill must name the very series the scrape continues)."""
    scraped = f',instance="{target}",job="platform-api"' if target else ""
    return f'code="{code}",dependency="postgres",method="GET",route="/v1/projects"{scraped}'


@pytest.fixture
def engine() -> PrometheusEngine:
    """The shelf's Prometheus 3, which evaluates the rules and sends to Alertmanager."""
    try:
        return engine_named("prometheus-3")
    except ToolMissing as exc:
        pytest.skip(f"Prometheus 3 is not on this machine: {exc}")


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, int]]:
    """PagerDuty's Events API (POST) and the platform API's /metrics (GET), on one stub."""
    rec = Recorder()

    def answer(request: StubRequest) -> Answer:
        if request.method == "POST":
            body = json.loads(request.body or b"{}")
            with rec.lock:
                rec.requests.append((time.time(), request.path, body))
            if request.path != EVENTS_PATH:
                return Answer(b"")
            accepted = {"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")}
            return Answer(json.dumps(accepted).encode(), status=202)
        total, errors = rec.counters(time.time())
        return text(
            f"# TYPE {contract.API_REQUESTS.name} counter\n"
            f"{_series(_labels('200'), total - errors)}\n"
            f"{_series(_labels('500'), errors)}\n"
        )

    with serve(answer) as stub:
        yield rec, stub.port


def _backfill(rec: Recorder, target: str, now: int, workdir: Path, promtool: Path) -> Path:
    """The last hour of the API's counters, up to a sample before ``now`` (the scrape takes over)."""
    rec.start = now - HISTORY
    lines = [f"# TYPE {contract.API_REQUESTS.client_name} counter"]
    for t in range(now - HISTORY, now - STEP + 1, STEP):
        total, errors = rec.counters(t)
        lines.append(f"{_series(_labels('200', target), total - errors)} {t}")
        lines.append(f"{_series(_labels('500', target), errors)} {t}")
    lines.append("# EOF")
    data = workdir / "prometheus" / "data"
    data.mkdir(parents=True)
    backfill_openmetrics("\n".join(lines) + "\n", workdir, data, promtool=str(promtool))
    return data


@contextmanager
def _running(
    tmp_path: Path,
    rec: Recorder,
    port: int,
    slos: list[SLO],
    am_config: str,
    binary: Path,
    engine: PrometheusEngine,
) -> Iterator[float]:
    """A real Alertmanager of ``am_config`` and a real Prometheus evaluating the rules of
    ``slos`` over the stub's backfilled and scraped counters, sending to it; both stopped after.
    Yields the monotonic time at which Prometheus was started."""
    am = start_alertmanager(tmp_path / "alertmanager", config_text=am_config, binary=binary)
    try:
        now = int(time.time())
        data = _backfill(rec, f"127.0.0.1:{port}", now, tmp_path, engine.promtool)
        rules = render_rule_file(slos, ["slos/platform-api.yaml"], "e2e")
        (tmp_path / "prometheus" / "rules.yml").write_text(rules)
        prom_config = (
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "rule_files: [rules.yml]\n"
            f"alerting: {{alertmanagers: [{{static_configs: [{{targets: ['127.0.0.1:{am.port}']}}]}}]}}\n"
            "scrape_configs:\n"
            f"  - {{job_name: platform-api, static_configs: [{{targets: ['127.0.0.1:{port}']}}]}}\n"
        )
        started = time.monotonic()
        prom = start_prometheus(
            tmp_path / "prometheus",
            config_text=prom_config,
            data_dir=data,
            extra_args=["--rules.alert.resend-delay=1s"],
            binary=engine.prometheus,
        )
        try:
            yield started
        finally:
            prom.stop()
    finally:
        am.stop()


def test_a_generated_page_reaches_pagerduty_once_with_its_links_then_resolves_when_the_series_heal(
    tmp_path: Path,
    engine: PrometheusEngine,
    recorder: tuple[Recorder, int],
    alertmanager_binary: tuple[str, Path],
    request: pytest.FixtureRequest,
) -> None:
    # Long: one end-to-end story (Alertmanager and Prometheus up, a page, a heal, a resolve), then
    # every field of the two events PagerDuty received; the steps share the live processes.
    version, binary = alertmanager_binary
    compat(request, version, "page reaches PagerDuty, then resolves")
    rec, port = recorder
    stub = f"http://127.0.0.1:{port}"
    slo = _availability()

    key_file = tmp_path / "pagerduty-routing-key"
    key_file.write_text(ROUTING_KEY + "\n")
    # The generator's own knobs keep grouping fast; only `global` is the test's wrapper.
    options = AlertmanagerOptions(
        routing_key_file=str(key_file),
        ticket_webhook_url=stub + TICKETS_PATH,
        grafana_url=GRAFANA,
        group_wait="4s",
        group_interval="5s",
    )
    am_config = standalone_config(
        alertmanager_fragment([slo], options),
        global_config={"resolve_timeout": "10s", "pagerduty_url": stub + EVENTS_PATH},
    )
    with _running(tmp_path, rec, port, [slo], am_config, binary, engine) as started:
        assert wait_until(lambda: bool(rec.events(EVENTS_PATH)), timeout=WAIT, interval=0.1), (
            f"no PagerDuty event within {WAIT:.0f} s; Alertmanager log:\n"
            + (tmp_path / "alertmanager" / "alertmanager.log").read_text()[-3000:]
        )
        triggered = time.monotonic()
        rec.healed_at = time.time()
        assert wait_until(lambda: len(rec.events(EVENTS_PATH)) >= 2, timeout=WAIT, interval=0.1), (
            f"no resolve within {WAIT:.0f} s of the heal; events: {rec.events(EVENTS_PATH)}"
        )
        resolved = time.monotonic()

    events = rec.events(EVENTS_PATH)
    seen = [(e["event_action"], e["payload"]["summary"]) for e in events]  # type: ignore[index]
    assert len(events) == 2, seen
    trigger, resolve = events
    dashboard = f"{GRAFANA}/d/{service_uid(slo.service)}"
    assert trigger["routing_key"] == resolve["routing_key"] == ROUTING_KEY
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve"), seen
    assert trigger["dedup_key"] and trigger["dedup_key"] == resolve["dedup_key"]
    assert trigger["client"] == "sloctl" and trigger["client_url"] == dashboard
    assert trigger["links"] == [
        {"href": dashboard, "text": "SLO dashboard"},
        {"href": slo.alerting.runbook_url, "text": "Runbook"},
    ]
    payload = trigger["payload"]
    assert isinstance(payload, dict)
    assert payload["severity"] == "critical" and payload["source"] == slo.service
    # Both page tiers fire at once: their summaries differ, so the summary names the SLO and tiers.
    assert payload["summary"] == f"{slo.service} {slo.name}: error budget burning (page_quick, page_slow)"
    details = payload["custom_details"]
    assert isinstance(details, dict)
    assert details["runbook_url"] == slo.alerting.runbook_url and details["dashboard_url"] == dashboard
    assert details["service"] == slo.service and details["slo"] == slo.name
    # 0.3x renders detail values as YAML (a number here), 0.25 as strings.
    assert str(details["num_firing"]) == "2" and "burning its error budget" in str(details["description"])
    # The ticket tiers fire too, but the page inhibits them: the ticket webhook heard none of
    # them firing; only the error-budget policy's tickets (the budget is spent), which no page
    # silences. (Once the page resolves the group's next notification lists the resolved tiers.)
    alerts = [a for e in rec.events(TICKETS_PATH) for a in cast(list[dict[str, Any]], e["alerts"])]
    heard = [(a["labels"][naming.LABEL_TIER], a["status"]) for a in alerts]
    firing = {tier for tier, status in heard if status == "firing"}
    assert firing == {naming.policy_tier("freeze"), naming.policy_tier("notify")}, heard
    print(
        f"\ne2e: Prometheus start → PagerDuty trigger {triggered - started:.1f} s; "
        f"heal → resolve {resolved - triggered:.1f} s"
    )


def _owned_by(slo: SLO, service: str, team: str) -> SLO:
    """``slo`` as another service's, owned by ``team`` (its series and alert labels say so)."""

    def relabel(labels: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        return tuple((k, team if k == "team" else v) for k, v in labels)

    alerting = replace(slo.alerting, labels=relabel(slo.alerting.labels))
    return replace(slo, service=service, labels=relabel(slo.labels), alerting=alerting)


def test_two_teams_slos_burning_page_two_pagerduty_services_each_with_its_own_routing_key(
    tmp_path: Path,
    engine: PrometheusEngine,
    recorder: tuple[Recorder, int],
    alertmanager_binary: tuple[str, Path],
) -> None:
    """platform-api availability (team platform) and the same SLO as the warehouse's (team data)
    burn together: PagerDuty hears each from its team's routing key, none from the default's;
    once the series heal, each resolves through its own team's key and incident."""
    _version, binary = alertmanager_binary
    rec, port = recorder
    stub = f"http://127.0.0.1:{port}"
    platform = _availability()
    assert dict(platform.labels)["team"] == dict(platform.alerting.labels)["team"] == "platform"
    data = _owned_by(platform, "warehouse", "data")
    keys = {"default": "D" * 32, "platform": "P" * 32, "data": "A" * 32}
    for name, key in keys.items():
        (tmp_path / f"key-{name}").write_text(key + "\n")
    options = AlertmanagerOptions(
        routing_key_file=str(tmp_path / "key-default"),
        ticket_webhook_url=stub + TICKETS_PATH,
        grafana_url=GRAFANA,
        group_wait="4s",
        group_interval="5s",
        teams=tuple(
            (team, TeamReceivers(str(tmp_path / f"key-{team}"), stub + TICKETS_PATH))
            for team in ("data", "platform")
        ),
    )
    am_config = standalone_config(
        alertmanager_fragment([platform, data], options),
        global_config={"resolve_timeout": "10s", "pagerduty_url": stub + EVENTS_PATH},
    )

    with _running(tmp_path, rec, port, [platform, data], am_config, binary, engine):
        assert wait_until(lambda: len(_heard(rec, "trigger")) >= 2, timeout=WAIT, interval=0.1), (
            f"not both pages within {WAIT:.0f} s; events: {rec.events(EVENTS_PATH)}"
        )
        assert _heard(rec) == {
            ("platform-api", keys["platform"], "trigger"),
            ("warehouse", keys["data"], "trigger"),
        }
        rec.healed_at = time.time()  # both services' series heal at once
        assert wait_until(lambda: len(_heard(rec, "resolve")) >= 2, timeout=WAIT, interval=0.1), (
            f"not both resolves within {WAIT:.0f} s of the heal; events: {rec.events(EVENTS_PATH)}"
        )
    teams = (("platform-api", "platform"), ("warehouse", "data"))
    assert _heard(rec) == {(source, keys[team], a) for source, team in teams for a in ("trigger", "resolve")}
    # each resolve closes its own team's incident: the dedup key its trigger opened
    incidents: dict[object, set[tuple[object, object]]] = {}
    for e in rec.events(EVENTS_PATH):
        incidents.setdefault(e["dedup_key"], set()).add((e["routing_key"], e["event_action"]))
    assert sorted(map(sorted, incidents.values())) == sorted(
        sorted({(keys[team], "resolve"), (keys[team], "trigger")}) for team in ("platform", "data")
    ), incidents


def _heard(rec: Recorder, action: str | None = None) -> set[tuple[object, object, object]]:
    """(source, routing key, action) of each PagerDuty event the stub heard (of ``action``)."""
    return {
        (e["payload"]["source"], e["routing_key"], e["event_action"])  # type: ignore[index]
        for e in rec.events(EVENTS_PATH)
        if action in (None, e["event_action"])
    }
