"""The generated rules and their generated tests, run by the real promtool.

Also shows the tests have teeth: a rule broken on purpose makes them fail.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sloctl.promtool import run_rule_tests
from sloctl.shelf import PrometheusEngine
from tests.fixtures.engines import compat
from tests.fixtures.promtool import assert_promtool_passes
from tests.paths import ROOT

pytestmark = pytest.mark.promtool


def test_rules_for_slos_load_in_promtool_with_lint_fatal(
    prometheus_engine: PrometheusEngine, request: pytest.FixtureRequest
) -> None:
    compat(request, prometheus_engine.name, "rules load")
    files = sorted((ROOT / "rules").glob("*.yml")) + sorted((ROOT / "rules" / "tests").glob("*.rules.yml"))
    assert len(files) == 18
    assert_promtool_passes(*files, promtool=str(prometheus_engine.promtool))


def test_rules_for_slos_pass_lint_and_their_generated_tests(
    prometheus_engine: PrometheusEngine, request: pytest.FixtureRequest
) -> None:
    compat(request, prometheus_engine.name, "generated tests")
    report = run_rule_tests([ROOT / "rules"], jobs=2, promtool=str(prometheus_engine.promtool))
    lines = "\n".join(report.lines())
    assert report.ok, lines
    assert sum(r.kind == "check" for r in report.results) == 18
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
            ("sum(rate(sloctl_test_errors_total[1h]))", "sum(rate(sloctl_test_errors_total[1h] offset 10m))"),
            "a slow quick page",
        ),
        ("availability", ("[30m]) == bool 0", "[30m]) == bool 1"), "a no-data flag that never rises"),
        ("availability", ("} <= 0.5", "} <= 0.4"), "a policy step moved"),
        ("latency", ("> bool 0.05", "> bool 0.5"), "a slice judged against the wrong target"),
        ("availability-by-dependency", ("(2 * max(", "(1 * max("), "a composite weight lost"),
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
    rules = tmp_path / f"platform-api--{slo}.rules.yml"
    old, new = mutation
    text = rules.read_text()
    assert old in text, what
    rules.write_text(text.replace(old, new))
    tests = sorted(p.name for p in tmp_path.glob("*.test.yml"))
    proc = subprocess.run(
        [str(prometheus_engine.promtool), "test", "rules", *tests],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode != 0, f"{what} went unnoticed"
    assert "FAILED" in proc.stdout + proc.stderr
