"""Property: for randomly generated valid specs, the rules pass `promtool check rules
--lint-fatal` and their generated promtool tests pass: 50 specs on each Prometheus engine, each
engine its own (the seed is offset per engine), so that the two engines together prove 100
different specs (about 230 promtool runs per engine). ``SLOCTL_RANDOM_SPECS`` sets another
number per engine (150 took 8 minutes on Prometheus 2 alone) and ``SLOCTL_RANDOM_SEED`` another
corpus.

Specs vary period (catalogued 28d/30d and rescaled others, and calendar weeks, months and
quarters in several time zones), objective, SLI kind, budgeting (events or 5m timeslices),
enabled tiers and severities, ``for``, the low-traffic guard, the no-data ticket, error-budget
policies and labels; each file also holds a composite of two of its SLOs when two fit. They are
drawn from a seeded random generator (tests/fixtures/random_specs.py) so that a failure
reproduces; every period, objective, SLI kind and calendar unit appears in any corpus of 20
specs or more (the first specs cover them), and every fifth spec has a budget policy, every
tenth timeslices.
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
from sloctl.shelf import ENGINE_NAMES, PrometheusEngine
from sloctl.spec import load_paths
from tests.fixtures.engines import compat
from tests.fixtures.random_specs import (
    CALENDAR_UNITS,
    OBJECTIVES,
    PERIODS,
    USER_CATALOGS,
    composite_of,
    random_slo,
    user_catalog,
)

pytestmark = [pytest.mark.promtool, pytest.mark.slow]

N_SPECS = int(os.environ.get("SLOCTL_RANDOM_SPECS", "50"))
"""Specs per engine."""
SEED = int(os.environ.get("SLOCTL_RANDOM_SEED", "20261126"))


@pytest.mark.cpu(200)
@pytest.mark.timeout(1800)  # about 4.7 promtool runs per spec, 1 to 3 s of promtool time each
def test_random_valid_specs_pass_lint_and_their_generated_tests(
    tmp_path: Path, prometheus_engine: PrometheusEngine, request: pytest.FixtureRequest
) -> None:
    compat(request, prometheus_engine.name, "generated tests")
    seed = SEED + ENGINE_NAMES.index(prometheus_engine.name)
    rng = random.Random(seed)
    slos = [random_slo(rng, i) for i in range(N_SPECS)]
    (tmp_path / "slos").mkdir()
    composites = 0
    for f in range(-(-N_SPECS // 10)):
        items = slos[f * 10 : (f + 1) * 10]
        composite = composite_of(items, f"composite-{f}")
        if composite is not None:
            items = [*items, composite]
            composites += 1
        doc = {
            "apiVersion": "sloctl/v1",
            "kind": "Service",
            "metadata": {"name": f"svc-{f}"},
            "spec": {"slos": items},
        }
        (tmp_path / "slos" / f"svc-{f}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (tmp_path / "slos" / "catalogs.yaml").write_text(
        yaml.safe_dump_all([user_catalog(p) for p in USER_CATALOGS], sort_keys=False)
    )
    result = load_paths([tmp_path / "slos"])
    assert not result.errors, result.errors[:5]
    assert len(result.slos) == N_SPECS + composites
    # the corpus really varies what it claims to vary
    assert {s.sli.kind for s in result.slos} == {"events", "ratio", "raw", "latency", "probe", "composite"}
    assert len({s.period for s in result.slos if s.calendar is None}) == len(PERIODS)
    assert {s.calendar.unit for s in result.slos if s.calendar} == set(CALENDAR_UNITS)
    assert sum(s.timeslices is not None for s in result.slos) >= N_SPECS // 20
    assert sum(bool(s.policy.steps) for s in result.slos) >= N_SPECS // 5
    assert composites >= N_SPECS // 30
    assert len({s.objective for s in result.slos}) == len(OBJECTIVES)
    assert len({tuple(t.name for t in s.alerting.enabled_tiers) for s in result.slos}) > 8
    write_outputs(tmp_path, plan_outputs(result.slos, GenerateOptions(dashboards=False, alertmanager=False)))
    report = run_rule_tests([tmp_path / "rules"], jobs=2, promtool=str(prometheus_engine.promtool))
    assert report.ok, f"seed {seed}:\n" + "\n".join(report.lines())
    assert sum(r.kind == "test" for r in report.results) >= N_SPECS + composites
