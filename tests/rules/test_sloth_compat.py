"""``--compat sloth`` output equals Sloth v0.16's own golden files for every case Sloth tests.

The expected files are Go templates (``.tpl``): ``{{ .version }}`` is Sloth's version string and
``{{"..."}}`` prints a string literal (how Sloth's test data escapes ``{{$labels...}}``); both are
evaluated here before the files are parsed as YAML and compared whole: documents, groups, rule
names, labels, annotations and expressions (whitespace normalised).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from sloctl.gofmt import go_float, go_float_f
from sloctl.model import (
    SLI,
    SLO,
    Alerting,
    AlertTier,
    EventsSLI,
    LatencySLI,
    ProbeSLI,
)
from sloctl.render import promql
from sloctl.render.sloth_compat import render_sloth
from sloctl.spec import load_paths
from tests.dashboards.factories import catalog
from tests.fixtures.promtool import assert_promtool_passes

SLOTH = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "sloth"
TESTDATA = SLOTH / "testdata"
WINDOWS = SLOTH / "windows"
VERSION = "v0.16.0-sloctl-test"


@dataclass(frozen=True)
class Case:
    """One golden pair from Sloth's integration tests and the ``sloth generate`` flags it needs."""

    expected: str
    source: str
    disable_alerts: bool = False
    disable_recordings: bool = False
    extra_labels: Mapping[str, str] = field(default_factory=dict)
    period_days: int | None = None
    custom_windows: bool = False


CASES = [
    Case("out-base", "in-base"),
    Case("out-base-no-alerts", "in-base", disable_alerts=True),
    Case("out-base-no-recordings", "in-base", disable_recordings=True),
    Case("out-base-extra-labels", "in-base", extra_labels={"exk1": "exv1", "exk2": "exv2"}),
    Case("out-base-28d", "in-base", period_days=28),
    Case("out-base-custom-windows-7d", "in-base", period_days=7, custom_windows=True),
    Case("out-base-k8s", "in-base-k8s"),
    Case("out-multifile", "in-multifile"),
    Case("out-multifile-k8s", "in-multifile-k8s"),
    Case("out-openslo", "in-openslo"),
]

pytestmark = pytest.mark.skipif(not TESTDATA.is_dir(), reason=f"Sloth fixtures not found at {TESTDATA}")


def render(case: Case) -> str:
    result = load_paths(
        [TESTDATA / f"{case.source}.yaml"],
        windows_dirs=[WINDOWS] if case.custom_windows else [],
        sloth_period=case.period_days * 86400 if case.period_days else None,
        compat="sloth",
    )
    assert result.ok, result.errors
    return render_sloth(
        result.slos,
        version=VERSION,
        disable_alerts=case.disable_alerts,
        disable_recordings=case.disable_recordings,
        extra_labels=case.extra_labels,
    )


_GO_ACTION = re.compile(r'\{\{\s*(?:(\.version)|"((?:[^"\\]|\\.)*)")\s*\}\}')


def expand_template(text: str, version: str) -> str:
    """The two Go template actions Sloth's golden files use: ``.version`` and string literals."""

    def action(m: re.Match[str]) -> str:
        if m.group(1):
            return version
        return m.group(2).encode().decode("unicode_escape")

    return _GO_ACTION.sub(action, text)


def expected(case: Case) -> str:
    return expand_template((TESTDATA / f"{case.expected}.yaml.tpl").read_text(), VERSION)


def documents(text: str) -> list[Any]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def normalised(value: Any) -> Any:
    """``expr`` strings with every run of whitespace collapsed; everything else unchanged."""
    if isinstance(value, dict):
        return {
            k: " ".join(v.split()) if k == "expr" and isinstance(v, str) else normalised(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [normalised(v) for v in value]
    return value


def rule_groups(doc: Any) -> list[Any]:
    groups = doc["spec"]["groups"] if doc.get("kind") == "PrometheusRule" else doc["groups"]
    assert isinstance(groups, list)
    return groups


IDS = [c.expected for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_compat_output_equals_sloths_golden_file_once_both_are_parsed(case: Case) -> None:
    got, want = documents(render(case)), documents(expected(case))
    assert len(got) == len(want)
    for got_doc, want_doc in zip(got, want, strict=True):
        got_groups, want_groups = rule_groups(got_doc), rule_groups(want_doc)
        # Group by group first, for a readable failure; then the whole document.
        assert [g["name"] for g in got_groups] == [g["name"] for g in want_groups]
        for got_group, want_group in zip(got_groups, want_groups, strict=True):
            assert normalised(got_group) == normalised(want_group), got_group["name"]
        assert normalised(got_doc) == normalised(want_doc)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_compat_exprs_are_byte_identical_to_sloths(case: Case) -> None:
    def exprs(text: str) -> list[str]:
        return [r["expr"] for d in documents(text) for g in rule_groups(d) for r in g["rules"]]

    assert exprs(render(case)) == exprs(expected(case))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_compat_output_starts_every_document_with_sloths_header(case: Case) -> None:
    text = render(case)
    header = (
        f"\n---\n# Code generated by Sloth ({VERSION}): https://github.com/slok/sloth.\n# DO NOT EDIT.\n\n"
    )
    assert text.startswith(header)
    assert text.count(header) == len(documents(expected(case)))


def test_compat_output_is_byte_stable_across_runs() -> None:
    case = CASES[0]
    assert render(case) == render(case)


def test_compat_refuses_to_write_a_file_with_no_rules_as_sloth_does() -> None:
    result = load_paths([TESTDATA / "in-base.yaml"], compat="sloth")
    with pytest.raises(ValueError, match="no rules"):
        render_sloth(result.slos, version=VERSION, disable_alerts=True, disable_recordings=True)


def test_go_float_prints_numbers_as_gos_percent_v_does() -> None:
    assert [go_float(v) for v in (14.4, 6.0, 0.0009999999999999432, 1e-05, 2.5e6, 123456.0, 0.0)] == [
        "14.4",
        "6",
        "0.0009999999999999432",
        "1e-05",
        "2.5e+06",
        "123456",
        "0",
    ]
    assert [go_float_f(v) for v in (99.9, 95.0, 1e-05, 2.5e6)] == ["99.9", "95", "0.00001", "2500000"]


def test_template_expansion_evaluates_go_string_literals() -> None:
    assert expand_template('a: {{ .version }} {{"{{$labels.x}}"}}', "v1") == "a: v1 {{$labels.x}}"


@pytest.mark.promtool
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_promtool_accepts_the_compat_rules(case: Case, tmp_path: Path) -> None:
    files = []
    for i, doc in enumerate(documents(render(case))):
        path = tmp_path / f"{case.expected}-{i}.yaml"
        # PrometheusRule objects hold an ordinary rule file under spec.
        path.write_text(yaml.safe_dump({"groups": rule_groups(doc)}, sort_keys=False))
        files.append(path)
    check_rules(*files)


def native_slo(name: str, sli: SLI, *, objective: float = 99.9) -> SLO:
    """A native SLO built straight from the model, with Sloth's default 30-day catalog (the
    Workbook's, as the dashboard tests' factories build it)."""
    windows = catalog()
    return SLO(
        service="api",
        name=name,
        objective=objective,
        period=windows.period,
        sli=sli,
        alerting=Alerting(
            name=f"{name}Burn",
            runbook_url="https://runbooks.example.com/slo",
            tiers=tuple(AlertTier(w) for w in windows.windows),
        ),
        windows=windows,
        labels=(("team", "sre"),),
    )


NATIVE = [
    native_slo("latency", LatencySLI("http_request_duration_seconds", '{route="/v1"}', 0.2)),
    native_slo("probe", ProbeSLI('{target="postgres"}'), objective=99.5),
    native_slo(
        "availability", EventsSLI("sum(rate(e[{{.window}}]))", "sum(rate(t[{{.window}}]))"), objective=99.999
    ),
]


@pytest.mark.parametrize("slo", NATIVE[:2], ids=lambda s: s.name)
def test_latency_and_probe_slis_render_as_sloth_renders_the_equivalent_events_sli(slo: SLO) -> None:
    (doc,) = documents(render_sloth([slo], version=VERSION))
    sli_rules = doc["groups"][0]["rules"]
    assert sli_rules[0]["record"] == "slo:sli_error:ratio_rate5m"
    assert (
        sli_rules[0]["expr"]
        == f"({promql.error_rate(slo.sli, 300)})\n/\n({promql.total_rate(slo.sli, 300)})\n"
    )
    assert sli_rules[-1]["record"] == "slo:sli_error:ratio_rate30d"
    assert sli_rules[-1]["expr"].startswith("sum_over_time(slo:sli_error:ratio_rate5m{")


def test_native_slos_get_sloths_groups_labels_and_a_prom_mode() -> None:
    (doc,) = documents(render_sloth(NATIVE, version=VERSION))
    names = [g["name"] for g in doc["groups"]]
    assert names[:3] == [
        "sloth-slo-sli-recordings-api-latency",
        "sloth-slo-meta-recordings-api-latency",
        "sloth-slo-alerts-api-latency",
    ]
    info = next(r for g in doc["groups"] for r in g["rules"] if r.get("record") == "sloth_slo_info")
    assert info["labels"]["sloth_mode"] == "cli-gen-prom"
    assert info["labels"]["team"] == "sre"
    # 99.999 % leaves a budget Go prints with an exponent, as Sloth would.
    alert = next(r for r in doc["groups"][-1]["rules"] if "alert" in r)
    budget = go_float(NATIVE[2].error_budget)
    assert budget.endswith("e-05")
    assert f"(14.4 * {budget})" in alert["expr"]


def test_compat_output_repeats_labels_instead_of_using_yaml_aliases() -> None:
    text = render(CASES[0]) + render_sloth(NATIVE, version=VERSION)
    assert "&id" not in text and "*id" not in text


@pytest.mark.promtool
def test_promtool_accepts_the_compat_rules_for_native_slis(tmp_path: Path) -> None:
    path = tmp_path / "native.yaml"
    path.write_text(render_sloth(NATIVE, version=VERSION))
    check_rules(path)


def check_rules(*paths: Path) -> None:
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(promtool).exists():
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    assert_promtool_passes(*paths, promtool=promtool)


def test_sloth_compat_refuses_slos_sloth_cannot_express_with_a_located_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from sloctl.cli.main import main
    from tests.paths import ROOT

    code = main(["generate", str(ROOT / "slos"), "-o", str(tmp_path), "--compat", "sloth"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "platform-api.yaml:" in err and "which Sloth cannot express" in err
    assert not (tmp_path / "rules").exists()
