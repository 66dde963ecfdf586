"""Property: for 300 randomly generated valid specs, the rules pass `promtool check rules
--lint-fatal` and their generated promtool tests pass.

Specs vary period (catalogued 28d/30d and rescaled others), objective, SLI kind, enabled tiers
and severities, ``for``, the low-traffic guard and labels. They are drawn from a seeded random
generator so that a failure reproduces; set ``SLOCTL_RANDOM_SEED`` to explore other corpora.
(Hypothesis is not used here: its first example of a large composite is the minimal one, and
shrinking 300 promtool runs would take hours.)
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import yaml

from sloctl.generate import GenerateOptions, plan_outputs, write_outputs
from sloctl.promtool import run_rule_tests
from sloctl.shelf import PrometheusEngine
from sloctl.spec import load_paths
from tests.fixtures.engines import compat

pytestmark = [pytest.mark.promtool, pytest.mark.slow]

N_SPECS = 300
SEED = int(os.environ.get("SLOCTL_RANDOM_SEED", "20261126"))

PERIODS = ["4d", "7d", "10d", "14d", "28d", "30d", "6w", "90d"]
OBJECTIVES = [90, 95, 98.5, 99, 99.5, 99.9, 99.95, 99.99]
FORS = [None, "0s", "1m", "2m", "5m", "15m"]
SLIS: list[dict[str, object]] = [
    {
        "events": {
            "errorQuery": 'sum(rate(req_total{code=~"5.."}[{{.window}}]))',
            "totalQuery": "sum(rate(req_total[{{.window}}]))",
        }
    },
    {
        "ratio": {
            "goodQuery": 'sum(rate(req_total{code!~"5.."}[{{.window}}]))',
            "totalQuery": "sum(rate(req_total[{{.window}}]))",
        }
    },
    {"raw": {"errorRatioQuery": "1 - avg(avg_over_time(up[{{.window}}]))"}},
    {
        "latency": {
            "histogram": "http_request_duration_seconds",
            "selector": '{route="/api"}',
            "threshold": "300ms",
        }
    },
    {"latency": {"histogram": "rpc_seconds", "threshold": "1s"}},
    {"probe": {"target": "db"}},
]


def random_slo(rng: random.Random, index: int) -> dict[str, object]:
    tiers: dict[str, object] = {}
    for key in ("pageQuick", "pageSlow", "ticketQuick", "ticketSlow"):
        tier: dict[str, object] = {}
        if rng.random() < 0.25:
            tier["enabled"] = False
        f = rng.choice(FORS)
        if f is not None:
            tier["for"] = f
        if tier:
            tiers[key] = tier
    alerting: dict[str, object] = {"tiers": tiers}
    if rng.random() < 0.5:
        alerting["minEvents"] = rng.choice([1, 10, 100, 1000])
    if rng.random() < 0.5:
        alerting["labels"] = {"team": rng.choice(["a", "b"])}
    if rng.random() < 0.15:
        alerting[rng.choice(["page", "ticket"])] = {"enabled": False}
    return {
        "name": f"slo-{index}",
        "objective": rng.choice(OBJECTIVES),
        "period": rng.choice(PERIODS),
        "sli": rng.choice(SLIS),
        "alerting": alerting,
    }


@pytest.mark.timeout(1800)  # about 1,400 promtool runs per engine: 3 min idle, 7 min on a busy machine
def test_random_valid_specs_pass_lint_and_their_generated_tests(
    tmp_path: Path, prometheus_engine: PrometheusEngine, request: pytest.FixtureRequest
) -> None:
    compat(request, prometheus_engine.name, "generated tests")
    rng = random.Random(SEED)
    slos = [random_slo(rng, i) for i in range(N_SPECS)]
    (tmp_path / "slos").mkdir()
    for f in range(N_SPECS // 10):
        doc = {
            "apiVersion": "sloctl/v1",
            "kind": "Service",
            "metadata": {"name": f"svc-{f}"},
            "spec": {"slos": slos[f * 10 : (f + 1) * 10]},
        }
        (tmp_path / "slos" / f"svc-{f}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    result = load_paths([tmp_path / "slos"])
    assert not result.errors, result.errors[:5]
    assert len(result.slos) == N_SPECS
    # the corpus really varies what it claims to vary
    assert {s.sli.kind for s in result.slos} == {"events", "ratio", "raw", "latency", "probe"}
    assert len({s.period for s in result.slos}) == len(PERIODS)
    assert len({s.objective for s in result.slos}) == len(OBJECTIVES)
    assert len({tuple(t.name for t in s.alerting.enabled_tiers) for s in result.slos}) > 8
    write_outputs(tmp_path, plan_outputs(result.slos, GenerateOptions(dashboards=False, alertmanager=False)))
    report = run_rule_tests([tmp_path / "rules"], jobs=2, promtool=str(prometheus_engine.promtool))
    assert report.ok, f"seed {SEED}:\n" + "\n".join(report.lines())
    assert sum(r.kind == "test" for r in report.results) >= N_SPECS
