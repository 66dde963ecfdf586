"""The generated rules and their generated tests, run by the real promtool.

Also shows the tests have teeth: a rule broken on purpose makes them fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sloctl import naming
from sloctl.durations import parse_duration
from sloctl.generate import GenerateOptions, plan_outputs, write_outputs
from sloctl.promtool import run_rule_tests
from sloctl.shelf import PrometheusEngine
from sloctl.spec import load_paths
from tests.fixtures.engines import compat
from tests.fixtures.promtool import assert_promtool_passes
from tests.fixtures.specs import events_slo, rate, service_doc
from tests.paths import ROOT

pytestmark = pytest.mark.promtool

_SEL = '{sloctl_id="platform-api-availability", sloctl_service="platform-api", sloctl_slo="availability"}'


def test_rules_for_slos_load_in_promtool_with_lint_fatal(
    prometheus_engine: PrometheusEngine, request: pytest.FixtureRequest
) -> None:
    compat(request, prometheus_engine.name, "rules load")
    files = sorted((ROOT / "rules").glob("*.yml")) + sorted((ROOT / "rules" / "tests").glob("*.rules.yml"))
    assert len(files) == 3 + 15 * 3  # the services' files; each SLO's twin, its burn and spend parts
    assert_promtool_passes(*files, promtool=str(prometheus_engine.promtool))


@pytest.mark.cpu(50)
def test_rules_for_slos_pass_lint_and_their_generated_tests(
    prometheus_engine: PrometheusEngine, request: pytest.FixtureRequest
) -> None:
    compat(request, prometheus_engine.name, "generated tests")
    report = run_rule_tests([ROOT / "rules"], jobs=2, promtool=str(prometheus_engine.promtool))
    lines = "\n".join(report.lines())
    assert report.ok, lines
    assert sum(r.kind == "check" for r in report.results) == 3 + 15 * 3
    assert sum(r.kind == "test" for r in report.results) == len(
        list((ROOT / "rules" / "tests").glob("*.test.yml"))
    )
    assert sum(r.kind == "test" for r in report.results) >= 14 * 3


@pytest.mark.parametrize(
    ("slo", "mutation", "what"),
    [
        ("availability", ("> 14.4", "> 20"), "a page factor raised"),
        (
            "availability",
            ("1 - sloctl:period_burn_rate:ratio", "0.5 - sloctl:period_burn_rate:ratio"),
            "a wrong budget",
        ),
        (
            "availability",
            ("sum_over_time(sloctl:sli_errors:rate5m", "avg_over_time(sloctl:sli_errors:rate5m"),
            "an unweighted ratio",
        ),
        ("availability", (" >= 100\n", " >= 1\n"), "a weakened low-traffic guard"),
        (
            "availability",
            ("clamp_min(sloctl:sli_events:rate5m", "(sloctl:sli_events:rate5m"),
            "a NaN on zero traffic",
        ),
        (
            "availability",
            # the quick page's window blind to the newest 5 minutes of errors
            (
                f"(\n          sloctl:sli_errors:rate5m{_SEL}\n",
                f"(\n          0 * sloctl:sli_errors:rate5m{_SEL}\n",
            ),
            "a slow quick page",
        ),
        (
            "availability",
            # the quick page's fallback, before the tiles are full, blind to errors
            (
                f"sum_over_time(sloctl:sli_errors:rate5m{_SEL}[1h])",
                f"0 * sum_over_time(sloctl:sli_errors:rate5m{_SEL}[1h])",
            ),
            "a young rule file blind to its first hour",
        ),
        ("availability", ("[30m]) == bool 0", "[30m]) == bool 1"), "a no-data flag that never rises"),
        (
            "availability",
            ("} == 1 and sloctl:sli_no_data:bool" + _SEL + " offset 30m", "} == 1"),
            "a no-data ticket filed before the rules have run for its time",
        ),
        ("availability", ("} <= 0.5", "} <= 0.4"), "a policy step moved"),
        ("latency", ("> bool 0.05", "> bool 0.5"), "a slice judged against the wrong target"),
        # The ticket tiers of a timeslice SLO share their runs (the same number of bad slices):
        # the quick one is still proved on its own window and factor.
        (
            "latency",
            ("ratio_rate1d{", "ratio_rate3d{"),
            "a timeslice ticket reading the slow ticket's window",
        ),
        ("latency", ("/ 0.005 > 3\n", "/ 0.005 > 30\n"), "a timeslice ticket's factor raised"),
        ("availability-by-dependency", ("(2 * max(", "(1 * max("), "a composite weight lost"),
        (
            "availability-by-dependency",
            ("[30m]) == bool 0)", "[30m]) == bool 1)"),
            "a composite's no-data flag that never rises",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else None,
)
def test_the_generated_tests_catch_a_broken_rule(
    tmp_path: Path,
    slo: str,
    mutation: tuple[str, str],
    what: str,
    prometheus_engine: PrometheusEngine,
    request: pytest.FixtureRequest,
) -> None:
    compat(request, prometheus_engine.name, "generated tests")
    src = ROOT / "rules" / "tests"
    for f in src.glob(f"platform-api--{slo}.*"):
        shutil.copy(f, tmp_path / f.name)
    old, new = mutation
    # The rule broken in the whole twin and in each part of it the tests load (burn, spend).
    assert old in (tmp_path / f"platform-api--{slo}.rules.yml").read_text(), what
    for rules in tmp_path.glob("*.rules.yml"):
        rules.write_text(rules.read_text().replace(old, new))
    # One test file at a time, the fastest evaluation interval first, until one fails: the
    # claim is that some generated test catches the mutation, and the first usually does.
    tests = sorted(tmp_path.glob("*.test.yml"), key=lambda p: (_interval(p), p.name))
    assert tests, "the SLO has generated tests"
    outputs = []
    for test in tests:
        proc = subprocess.run(
            [str(prometheus_engine.promtool), "test", "rules", test.name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        outputs.append(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            break
    assert proc.returncode != 0, f"{what} went unnoticed by {len(tests)} test file(s)"
    assert "FAILED" in outputs[-1]


def _interval(test: Path) -> int:
    return parse_duration(yaml.safe_load(test.read_text())["evaluation_interval"])


COMPOSITE_OF_QUIET_COMPONENTS = service_doc(
    "shop",
    [
        events_slo(
            "checkout", errors=rate("e_c"), total=rate("t_c"), extra="alerting: {noData: {enabled: false}}"
        ),
        events_slo(
            "search",
            objective="99",
            errors=rate("e_s"),
            total=rate("t_s"),
            extra="alerting: {noData: {for: 6h}}",
        ),
        """\
        - name: shop
          objective: 99.5
          sli: {composite: {components: [{slo: checkout, weight: 2}, {slo: search}]}}
          alerting: {noData: {for: 10m}}
        """,
    ],
)


def test_a_composite_flags_no_data_after_its_own_for_whatever_its_components_say(tmp_path: Path) -> None:
    # The components' no-data switches (off, 6h) do not decide the composite's (10m): any
    # component without an event for 10m leaves its ratio unknown. The generated tests prove the
    # ticket 10m after traffic stops (the generator refused this spec when the composite's flag
    # was its components' flags: "the model never flags the missing data").
    (tmp_path / "slos").mkdir()
    (tmp_path / "slos" / "shop.yaml").write_text(COMPOSITE_OF_QUIET_COMPONENTS)
    result = load_paths([tmp_path / "slos"])
    assert not result.errors, [str(e) for e in result.errors]
    write_outputs(tmp_path, plan_outputs(result.slos, GenerateOptions(dashboards=False, alertmanager=False)))
    tests = "".join(p.read_text() for p in (tmp_path / "rules" / "tests").glob("shop--shop.*.test.yml"))
    assert "the no-data ticket fires 10m after traffic stops" in tests
    report = run_rule_tests([tmp_path / "rules"], jobs=2)
    assert report.ok, "\n".join(report.lines())


def test_a_policy_step_at_33_3_percent_left_is_rendered_as_0_333_and_its_generated_tests_pass(
    tmp_path: Path,
) -> None:
    # 33.3 / 100 is 0.33299999999999996 in binary floating point: the rules said so until the
    # step's ratio was taken in decimal, as the objective's is.
    (tmp_path / "slos").mkdir()
    policy = "policy: {steps: [{budgetLeft: 33.3, action: notify}, {budgetLeft: 0, action: freeze}]}"
    (tmp_path / "slos" / "shop.yaml").write_text(
        service_doc(
            "shop", [events_slo("availability", errors=rate("errors"), total=rate("total"), extra=policy)]
        )
    )
    result = load_paths([tmp_path / "slos"])
    assert not result.errors, [str(e) for e in result.errors]
    write_outputs(tmp_path, plan_outputs(result.slos, GenerateOptions(dashboards=False, alertmanager=False)))
    (rule_file,) = (tmp_path / "rules").glob("*.yml")
    rules = [r for g in yaml.safe_load(rule_file.read_text())["groups"] for r in g["rules"]]
    (threshold,) = [r["expr"] for r in rules if r.get("record") == naming.POLICY_THRESHOLD]
    assert re.findall(r"vector\(([^)]*)\)", threshold) == ["0.333", "0"]
    (notify,) = [
        r["expr"] for r in rules if "alert" in r and r["labels"].get(naming.LABEL_POLICY_ACTION) == "notify"
    ]
    assert notify.endswith(" <= 0.333")
    report = run_rule_tests([tmp_path / "rules"], jobs=2)
    assert report.ok, "\n".join(report.lines())
