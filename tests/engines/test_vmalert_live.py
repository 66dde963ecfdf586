"""vmalert evaluating the generated rules live, on VictoriaMetrics with its default settings.

Prometheus evaluates a group's rules in order at one instant, each seeing the results of those
before it; vmalert writes results by remote write, asynchronously, so the default output's
chained recordings lag one evaluation per level there (vmalert's documentation warns of it; this
measures it). ``--flavour vmalert`` puts each level in its own group, staggered with
``eval_offset``: every level reads the level before it from the same evaluation.

The flavour runs at a 24 s interval here (four levels 6 s apart; the default output at 12 s) so
that the test takes under a minute: VictoriaMetrics made a sample searchable 3 s after it arrived
(5.6 s for a new series) on this machine, and vmalert flushes every 500 ms in this test. The
test's poll forces VictoriaMetrics to flush every 0.25 s, so what vmalert writes is searchable
well within the 6 s (without it the first window ratio, read from new series, often missed them
and the wait took another 24 s).
``VMALERT_MIN_SPACING`` (10 s; 15 s apart at the default 1m) is what production needs with
vmalert's default 2 s flush.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from sloctl.backtest.engine import RuleSet
from sloctl.backtest.run import our_rules, scenario_slo
from sloctl.backtest.scenarios import Scenario
from sloctl.backtest.series import ERRORS, REQUESTS, Sample, import_text
from sloctl.backtest.victoria import post_import, replay_victoria
from sloctl.render.flavours import vmalert_groups
from sloctl.servers._process import ManagedProcess, wait_until
from sloctl.servers.victoria import VictoriaMetricsServer, start_victoria_metrics, start_vmalert
from sloctl.spec import load_text
from tests.fixtures.once import once_per_run
from tests.fixtures.specs import SHOP_HTTP_SPEC
from tests.fixtures.victoria_unit import victoriametrics_marks

pytestmark = victoriametrics_marks("vmalert")

INTERVAL = 24
SPACING = 6
DEFAULT_INTERVAL = 12
LIVE = Scenario("live", "a steadily rising error ratio, so that every evaluation records a new value", 3600)
ERRORS5M = "sloctl:sli_errors:rate5m"
EVENTS5M = "sloctl:sli_events:rate5m"
RATIO5M = "sloctl:sli_error:ratio_rate5m"
BURN = "sloctl:current_burn_rate:ratio"


def _series(now: int) -> list[Sample]:
    """An hour of history and five minutes ahead, one sample every 10 s; the error rate rises
    every step (the queries never see past now)."""
    labels = f'{{scenario="{LIVE.name}",shard="0"}}'
    out: list[Sample] = []
    errors = requests = 0.0
    start = now - 3600
    for t in range(start, now + 300, 10):
        out += [Sample(ERRORS, labels, errors, t), Sample(REQUESTS, labels, requests, t)]
        errors += 10 * (0.01 + 1e-4 * (t - start))
        requests += 10 * 20.0
    return out


def _samples(vm: VictoriaMetricsServer, name: str, since: int) -> dict[int, float]:
    from sloctl.backtest.victoria import export_series

    out: dict[int, float] = {}
    for row in export_series(vm.url, name, since, since + 3600):
        for t, v in zip(row["timestamps"], row["values"], strict=True):  # type: ignore[call-overload]
            out[int(t) // 1000] = float(v)
    return out


@dataclass
class Live:
    """What one vmalert recorded: level 0's 5m error ratio (from its two recordings), level 1's
    window ratio and level 2's burn rate, by sample time."""

    level0: dict[int, float]
    level1: dict[int, float]
    burn: dict[int, float]
    budget: float


def _evaluated(vms: dict[str, VictoriaMetricsServer], since: int) -> bool:
    """Whether both vmalerts have recorded what the tests read. The default output records its
    first window ratio at its second evaluation (the first finds no 5m rates yet); the flavour's
    burn rate follows its window ratio one level (SPACING) later."""
    for vm in vms.values():
        # What vmalert wrote is searchable from this poll on, not after VictoriaMetrics' own
        # buffer flush (3 s; 5.6 s for a new series, so the flavour's first window ratio,
        # SPACING after its new 5m rates, often missed them and cost an INTERVAL more).
        vm.force_flush()
    level1 = {name: _samples(vm, RATIO5M, since) for name, vm in vms.items()}
    burn = _samples(vms["flavour"], BURN, since)
    newest_ratio = max(level1["flavour"], default=0)
    return bool(level1["default"]) and bool(level1["flavour"]) and max(burn, default=0) > newest_ratio


def _run_live(root: Path) -> dict[str, Live]:
    """The default output and the vmalert flavour, each evaluated live by its own vmalert on its
    own VictoriaMetrics, until both have recorded a window ratio read from 5m rates."""
    (base,) = load_text(SHOP_HTTP_SPEC, "shop.yaml").slos
    slo = scenario_slo(base, LIVE)
    default = yaml.safe_load(our_rules([slo], interval=DEFAULT_INTERVAL).text)["groups"]
    flavour = vmalert_groups(
        yaml.safe_load(our_rules([slo], interval=INTERVAL).text)["groups"], min_spacing=SPACING
    )
    now = int(time.time())
    since = now - 600
    series = import_text(_series(now))
    vms: dict[str, VictoriaMetricsServer] = {}
    servers: list[ManagedProcess] = []
    try:
        for name, groups, interval in (
            ("default", default, DEFAULT_INTERVAL),
            ("flavour", flavour, INTERVAL),
        ):
            work = root / name
            vm = start_victoria_metrics(work / "vm")
            servers.append(vm)
            post_import(vm.import_url, series)
            vm.force_flush()
            rules = work / "rules.yml"
            rules.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
            servers.append(
                start_vmalert(
                    work / "vmalert", rules=[rules], datasource=vm.url, remote_write=vm.url,
                    evaluation_interval=interval, extra_args=("-remoteWrite.flushInterval=500ms",),
                )
            )  # fmt: skip
            vms[name] = vm

        # real timer: vmalert evaluates on its own schedule
        done = wait_until(lambda: _evaluated(vms, since), timeout=8 * INTERVAL, interval=0.25)
        assert done, "vmalert did not evaluate the rules"
        out: dict[str, Live] = {}
        for name, vm in vms.items():
            vm.force_flush()
            errors, events = _samples(vm, ERRORS5M, since), _samples(vm, EVENTS5M, since)
            level0 = {t: errors[t] / events[t] for t in errors.keys() & events.keys()}
            out[name] = Live(
                level0, _samples(vm, RATIO5M, since), _samples(vm, BURN, since), slo.error_budget
            )
        return out
    finally:
        for server in reversed(servers):
            server.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Live]:
    root = tmp_path_factory.mktemp("vmalert-live")
    return once_per_run(tmp_path_factory, "vmalert-live", lambda: _run_live(root))


def test_the_default_output_reads_recordings_of_its_own_group_one_evaluation_late_on_vmalert(
    live: dict[str, Live],
) -> None:
    run = live["default"]
    # Each level is read after the one below it (_run_live), so an evaluation written between
    # the reads has its window ratio without its 5m rates: judged are those the rates reached.
    judged = {t: v for t, v in run.level1.items() if t <= max(run.level0, default=0)}
    assert judged, (sorted(run.level1), sorted(run.level0))
    for t, value in sorted(judged.items()):
        assert t in run.level0 and t - DEFAULT_INTERVAL in run.level0, (t, sorted(run.level0))
        assert value != pytest.approx(run.level0[t], rel=1e-9)  # not this evaluation's 5m rates …
        assert value == pytest.approx(run.level0[t - DEFAULT_INTERVAL], rel=1e-9)  # … the previous one's


def test_the_vmalert_flavour_reads_each_level_from_the_same_evaluation(live: dict[str, Live]) -> None:
    run = live["flavour"]
    judged = {t: v for t, v in run.level1.items() if t - SPACING <= max(run.level0, default=0)}
    assert judged, (sorted(run.level1), sorted(run.level0))
    for t, value in sorted(judged.items()):
        # Each level's sample is SPACING seconds after the one of the same evaluation it reads.
        assert t - SPACING in run.level0, (t, sorted(run.level0))
        assert value == pytest.approx(run.level0[t - SPACING], rel=1e-9)
        assert value != pytest.approx(run.level0.get(t - SPACING - INTERVAL, -1.0), rel=1e-9)
    # Likewise the newest window ratio may have arrived before the burn rate one level later:
    # the newest one older than the newest burn rate is the one that burn rate read. (Not every
    # older one: in one run the first window ratio had no burn rate 6 s later; a new series took
    # VictoriaMetrics 5.6 s to make searchable here, and a missed input records nothing.)
    burnt = [t for t in run.level1 if t + SPACING <= max(run.burn)]
    assert burnt, (sorted(run.level1), sorted(run.burn))
    t = max(burnt)
    assert run.burn[t + SPACING] == pytest.approx(run.level1[t] / run.budget, rel=1e-9), (t, sorted(run.burn))


def test_a_replay_with_live_rules_leaves_vmalert_evaluating_them_over_the_replayed_recordings(
    tmp_path: Path,
) -> None:
    """The cost part of the rule-quality benchmark: a live vmalert over the replayed history. A
    counter rising by 1 a second records a 5m rate of exactly 1 at every replayed step
    (VictoriaMetrics' ``rate()`` does not extrapolate); the live rule averages that recording
    over the last hour, so its value is 1 only if it reads the replay's recordings up to now."""
    end = int(time.time()) // 60 * 60
    start = end - 3600
    labels = '{scenario="replayed",shard="0"}'
    series = [Sample(REQUESTS, labels, 60.0 * i, start - 600 + 60 * i) for i in range(71)]
    replayed = {
        "name": "replayed",
        "rules": [{"record": "replayed:rate5m", "expr": f"sum(rate({REQUESTS}[5m]))"}],
    }
    live = {
        "name": "live",
        "interval": "1s",
        "rules": [{"record": "live:rate1h", "expr": "avg_over_time(replayed:rate5m[1h])"}],
    }
    with replay_victoria(
        RuleSet("replayed", yaml.safe_dump({"groups": [replayed]})), series, tmp_path, start=start, end=end,
        live_rules=yaml.safe_dump({"groups": [live]}),
    ) as bt:  # fmt: skip
        assert bt.live is not None and bt.live.running
        recorded: list[dict[str, object]] = []

        def evaluated() -> bool:
            bt.nodes[0].force_flush()  # searchable now, not after VictoriaMetrics' buffer flush
            recorded[:] = bt.query("live:rate1h", int(time.time()))
            return bool(recorded)

        # real timer: vmalert's 1s group interval and its 2 s remote-write flush before the
        # result reaches VictoriaMetrics
        assert wait_until(evaluated, timeout=90, interval=0.25), "vmalert did not evaluate the live rule"
        value = recorded[0]["value"]
        assert isinstance(value, list)
        assert float(value[1]) == pytest.approx(1.0, rel=1e-9)
    assert not bt.live.running
