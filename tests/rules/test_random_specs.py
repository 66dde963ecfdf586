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
drawn from a seeded random generator so that a failure reproduces; every period, objective, SLI
kind and calendar unit appears in any corpus of 20 specs or more (the first specs cover them),
and every fifth spec has a budget policy, every tenth timeslices.
(Hypothesis is not used here: its first example of a large composite is the minimal one, and
shrinking 300 promtool runs would take hours.)
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TypeVar

import pytest
import yaml

from sloctl.generate import GenerateOptions, plan_outputs, write_outputs
from sloctl.promtool import run_rule_tests
from sloctl.shelf import ENGINE_NAMES, PrometheusEngine
from sloctl.spec import load_paths
from tests.fixtures.engines import compat

pytestmark = [pytest.mark.promtool, pytest.mark.slow]

N_SPECS = int(os.environ.get("SLOCTL_RANDOM_SPECS", "50"))
"""Specs per engine."""
T = TypeVar("T")
SEED = int(os.environ.get("SLOCTL_RANDOM_SEED", "20261126"))

PERIODS = ["4d", "7d", "10d", "14d", "28d", "30d", "6w", "90d"]
# Periods without a built-in catalog get one of the user's (an AlertWindows document beside the
# SLOs); each tier at least 1x, as the built-in ones.
USER_CATALOGS = {
    "4d": ((15, "5m", "1h"), (37.5, "30m", "6h"), (70, "2h", "1d"), (75, "6h", "3d")),
    "10d": ((6, "5m", "1h"), (15, "30m", "6h"), (30, "2h", "1d"), (30, "6h", "3d")),
    "6w": ((1.5, "5m", "1h"), (4, "30m", "6h"), (8, "2h", "1d"), (8, "6h", "3d")),
}


def user_catalog(period: str) -> dict[str, object]:
    tiers = iter(USER_CATALOGS[period])
    spec: dict[str, object] = {"sloPeriod": period}
    for severity in ("page", "ticket"):
        spec[severity] = {
            speed: dict(zip(("errorBudgetPercent", "shortWindow", "longWindow"), next(tiers), strict=True))
            for speed in ("quick", "slow")
        }
    return {"apiVersion": "sloctl/v1", "kind": "AlertWindows", "spec": spec}


CALENDAR_UNITS = ["week", "month", "quarter"]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Sydney"]
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


def _cover(rng: random.Random, options: list[T], index: int) -> T:
    """``options[index]`` for the first specs, so that every option appears; then a random one."""
    return options[index] if index < len(options) else rng.choice(options)


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
    if rng.random() < 0.3:
        alerting["noData"] = rng.choice(
            [{"enabled": False}, {"for": "1h"}, {"for": "10m", "severity": "page"}, {"for": "6h"}]
        )
    slo: dict[str, object] = {
        "name": f"slo-{index}",
        "objective": _cover(rng, OBJECTIVES, index),
        "period": _cover(rng, PERIODS, index),
        "sli": _cover(rng, SLIS, index),
        "alerting": alerting,
    }
    # After the specs that cover the periods, one calendar spec per unit, then one in eight.
    unit = index - len(PERIODS)
    if 0 <= unit < len(CALENDAR_UNITS) or (unit >= len(CALENDAR_UNITS) and rng.random() < 0.12):
        del slo["period"]
        slo["calendar"] = {"unit": _cover(rng, CALENDAR_UNITS, max(unit, 0)), "timeZone": rng.choice(ZONES)}
    if (index % 10 == 9 or rng.random() < 0.05) and "raw" not in slo["sli"]:  # type: ignore[operator]
        slo["timeslices"] = {"slice": "5m", "target": rng.choice([90, 95, 99])}
    if index % 5 == 4 or rng.random() < 0.1:
        steps = [{"budgetLeft": rng.choice([25, 50, 75]), "action": "notify"}]
        if rng.random() < 0.7:
            steps.append({"budgetLeft": rng.choice([0, 10, -20]), "action": "freeze"})
        slo["policy"] = {"steps": steps, "whenUnknown": rng.choice(["freeze", "proceed"])}
    return slo


def composite_of(slos: list[dict[str, object]], name: str) -> dict[str, object] | None:
    """A composite of the first two SLOs that can be components (rolling, events counted, same
    period), weighted 2 and 1; None when fewer than two fit."""
    fit = [s for s in slos if "period" in s and "timeslices" not in s and "raw" not in s["sli"]]  # type: ignore[operator]
    by_period: dict[object, list[dict[str, object]]] = {}
    for s in fit:
        by_period.setdefault(s["period"], []).append(s)
    pair = next((group[:2] for group in by_period.values() if len(group) >= 2), None)
    if pair is None:
        return None
    return {
        "name": name,
        "objective": 99.5,
        "period": pair[0]["period"],
        "sli": {
            "composite": {"components": [{"slo": pair[0]["name"], "weight": 2}, {"slo": pair[1]["name"]}]}
        },
        "alerting": {"minEvents": 10},
    }


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
