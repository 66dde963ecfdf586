"""The generated tests load only the rules they assert on: each tier's tests load the burn twin
(``<service>--<slo>.burn.rules.yml``), the rules its burn alerts read, so promtool does not
evaluate the period's budget rules at every step of a multi-day run; the budget's tests the
spend twin (``.spend.rules.yml``: the period's ratio, the remaining budget, the policy), without
the tiers' windows; the others the whole twin. Checked here on the checked-in ``rules/tests``
and on a random corpus, with a reading of the rules written for this test: every series a test
asserts on is computed, in every file it loads, by the same rules in the same order as in the
whole twin."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import yaml

from sloctl.generate import GenerateOptions, plan_outputs
from sloctl.spec import load_documents
from tests.fixtures.random_specs import USER_CATALOGS, composite_of, random_slo, user_catalog
from tests.paths import ROOT

TIERS = {"page_quick", "page_slow", "ticket_quick", "ticket_slow"}
WORD = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def _rules(text: str) -> list[tuple[str, dict[str, object]]]:
    """(group name, rule) of a rule file, in evaluation order."""
    return [(g["name"], r) for g in yaml.safe_load(text)["groups"] for r in g["rules"]]


def _name(rule: dict[str, object]) -> str:
    return str(rule.get("record") or rule.get("alert"))


def _read_by(rules: list[tuple[str, dict[str, object]]], names: set[str]) -> set[str]:
    """Every rule name the series ``names`` depend on, by a fixed point over the expressions."""
    known = {_name(r) for _, r in rules}
    needed = names & known
    while True:
        more = {w for _, r in rules if _name(r) in needed for w in WORD.findall(str(r["expr"]))} & known
        if more <= needed:
            return needed
        needed |= more


def _asserted(group: dict[str, object]) -> set[str]:
    names = {str(t["alertname"]) for t in group.get("alert_rule_test", [])}  # type: ignore[attr-defined]
    for t in group.get("promql_expr_test", []):  # type: ignore[attr-defined]
        names |= set(WORD.findall(str(t["expr"])))
    return names


def _check(files: dict[str, str]) -> int:
    """Asserts the property on one folder of generated tests; returns the tier test files seen."""
    tier_files = 0
    for name, text in sorted(files.items()):
        if not name.endswith(".test.yml"):
            continue
        doc = yaml.safe_load(text)
        base = name.split(".")[0]
        whole = _rules(files[f"{base}.rules.yml"])
        (loaded_name,) = doc["rule_files"]
        loaded = _rules(files[loaded_name])
        # The file loaded is the whole twin or a part of it, rules unchanged, order kept.
        names = {_name(r) for _, r in loaded}
        assert loaded == [(g, r) for g, r in whole if _name(r) in names], name
        for group in doc["tests"]:
            missing = _read_by(whole, _asserted(group)) - names
            assert not missing, f"{name}, {group['name']!r}: {sorted(missing)} not loaded"
        word = name.split(".")[1]
        if word in ("budget", "uneven"):
            # The budget's tests: the spend twin, without the tiers' windows and alerts.
            assert loaded_name == f"{base}.spend.rules.yml", name
            assert not any("sloctl_tier" in str(r.get("labels")) and "Burn" in _name(r) for _, r in loaded), (
                name
            )
        elif word == "whole":
            assert loaded_name == f"{base}.rules.yml", name
        else:
            # A tier's tests, at a tier's interval: the burn twin, without the period's rules.
            tier_files += 1
            assert loaded_name == f"{base}.burn.rules.yml", name
            assert "sloctl:period_error_budget_remaining:ratio" not in names, name
    return tier_files


def test_the_checked_in_tests_load_the_rules_they_assert_on() -> None:
    folder = ROOT / "rules" / "tests"
    files = {p.name: p.read_text() for p in folder.glob("*.yml")}
    assert _check(files) >= 15


@pytest.mark.parametrize("seed", [20261127])
def test_random_specs_tests_load_the_rules_they_assert_on(seed: int) -> None:
    # The corpus of tests/rules/test_random_specs.py (its first 20 specs cover every period,
    # objective, SLI kind and calendar unit), with a composite of two of them.
    rng = random.Random(seed)
    items = [random_slo(rng, i) for i in range(20)]
    composite = composite_of(items, "composite")
    doc = {
        "apiVersion": "sloctl/v1",
        "kind": "Service",
        "metadata": {"name": "svc"},
        "spec": {"slos": [*items, *([composite] if composite else [])]},
    }
    catalogs = yaml.safe_dump_all([user_catalog(p) for p in USER_CATALOGS], sort_keys=False)
    result = load_documents([("svc.yaml", yaml.safe_dump(doc, sort_keys=False)), ("catalogs.yaml", catalogs)])
    assert not result.errors, result.errors[:3]
    assert any(s.timeslices for s in result.slos) and any(s.calendar for s in result.slos)
    outputs = plan_outputs(result.slos, GenerateOptions(dashboards=False, alertmanager=False))
    files = {Path(k).name: v for k, v in outputs.items() if k.startswith("rules/tests/")}
    assert _check(files) >= len(result.slos)
