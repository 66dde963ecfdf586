"""What promtool, Prometheus or the file system would reject is refused when the SLO file is
validated, with its location, never a traceback and never a half-written output; promtool is
the oracle that the refusals are warranted and the acceptances safe."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sloctl.cli.main import main
from sloctl.generate import write_outputs
from sloctl.spec import load_text
from tests.fixtures.specs import shop_slo

BASE = shop_slo(
    objective="OBJECTIVE",
    period="PERIOD",
    extra="""
    alerting:
      labels: LABELS
      annotations: ANNOTATIONS
      runbookUrl: RUNBOOK
      minEvents: MIN_EVENTS
      tiers: {pageSlow: {for: FOR}}
    """,
)
GOOD = {
    "OBJECTIVE": "99.9",
    "PERIOD": "30d",
    "LABELS": "{team: shop}",
    "ANNOTATIONS": "{summary: 'burning on {{ $labels.instance }}'}",
    "RUNBOOK": "https://runbooks.example.com/shop",
    "MIN_EVENTS": "10",
    "FOR": "2m",
}


def spec(**changes: str) -> str:
    text = BASE
    for key, value in {**GOOD, **changes}.items():
        text = text.replace(key, value)
    return text


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"LABELS": "{__name__: x}"}, "alerting.labels.__name__", "reserved prefix"),
        ({"LABELS": "{sloctl_tier: x}"}, "alerting.labels.sloctl_tier", "reserved prefix"),
        ({"LABELS": "{team: '{{ $labels.x'}"}, "alerting.labels.team", "unclosed action"),
        ({"ANNOTATIONS": "{bad-name: x}"}, "alerting.annotations.bad-name", "not a valid annotation name"),
        ({"ANNOTATIONS": "{summary: '{{ $value '}"}, "alerting.annotations.summary", "unclosed action"),
        ({"ANNOTATIONS": "{summary: '{{ printf \"%.2f $value }}'}"}, "annotations.summary", "unterminated"),
        ({"RUNBOOK": "'https://x.test/{{ .Labels'"}, "alerting.runbookUrl", "unclosed action"),
        ({"PERIOD": "293y"}, "period", "longer than Prometheus accepts"),
        ({"FOR": "106752d"}, "tiers.pageSlow.for", "longer than Prometheus accepts"),
        ({"PERIOD": "9" * 30 + "d"}, "period", "longer than Prometheus accepts"),
        ({"OBJECTIVE": "9" * 400}, "objective", "finite number"),
        ({"MIN_EVENTS": "9" * 400}, "alerting.minEvents", "finite number"),
    ],
)
def test_what_promtool_would_reject_is_a_located_error(
    change: dict[str, str], field: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(spec(**change))
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    line = next((ln for ln in err.splitlines() if field in ln), "")
    assert line.startswith(f"error: {path}:") and says in line, err
    assert "Traceback" not in err


def test_the_good_spec_generates_rules_that_promtool_accepts(tmp_path: Path) -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    (tmp_path / "shop.yaml").write_text(spec())
    assert (
        main(["generate", str(tmp_path / "shop.yaml"), "-o", str(tmp_path / "out"), "--no-dashboards"]) == 0
    )
    done = subprocess.run(
        ["promtool", "check", "rules", str(tmp_path / "out" / "rules" / "shop.yml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    "runbook",
    [
        '"javascript:alert(document.domain)"',
        '"JavaScript:alert(1)"',
        '"data:text/html,<script>alert(1)</script>"',
        "runbooks.example.com/shop",
        "'https:///no-host'",
    ],
)
def test_a_runbook_url_that_is_not_http_with_a_host_is_refused_at_its_field(
    runbook: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It becomes the SLO page's Runbook link and the alerts' runbook annotation: a
    ``javascript:`` one ran in the reader's browser. Refused with alerting off too (the page
    still links it)."""
    text = spec(RUNBOOK=runbook)
    line = next(n for n, ln in enumerate(text.splitlines(), 1) if "runbookUrl:" in ln)
    column = text.splitlines()[line - 1].index(runbook) + 1
    off = ", ".join(
        f"{t}: {{enabled: false}}" for t in ("pageQuick", "pageSlow", "ticketQuick", "ticketSlow")
    )
    for variant in (text, text.replace("tiers: {pageSlow: {for: 2m}}", f"tiers: {{{off}}}")):
        path = tmp_path / "shop.yaml"
        path.write_text(variant)
        assert main(["validate", str(path)]) == 1
        err = capsys.readouterr().err
        found = [ln for ln in err.splitlines() if "alerting.runbookUrl" in ln]
        assert len(found) == 1 and found[0].startswith(f"error: {path}:{line}:{column}: "), err
        assert "a runbook URL must be http:// or https:// with a host" in found[0] and "Traceback" not in err
        out = tmp_path / "out"
        assert main(["generate", str(path), "-o", str(out), "--no-dashboards"]) == 1
        assert "alerting.runbookUrl" in capsys.readouterr().err and not out.exists()


TEMPLATES = [
    "{{ $labels.instance }} down",
    '{{ printf "%.2f" $value }}x',
    "{{- $labels.job -}}",
    "{{/* a comment */}}text",
    '{{ "a }} b" }}',
    "{{ `raw }}` }}",
    "{{ humanize (1) }}",
    "}} alone",
    "{{ $labels.instance",
    "{{}}",
    '{{ "unterminated }}',
    "{{ (1 }}",
    "{{ 1) }}",
    "{{/* never closed",
    "{{ `raw",
]


def test_template_checks_agree_with_promtool(tmp_path: Path) -> None:
    from sloctl.spec.promcheck import template_problem

    if shutil.which("promtool") is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    for text in TEMPLATES:
        rules = tmp_path / "r.yml"
        quoted = text.replace("'", "''")
        alert = f"  - alert: A\n    expr: vector(1)\n    annotations: {{a: '{quoted}'}}\n"
        rules.write_text(f"groups:\n- name: g\n  rules:\n{alert}")
        done = subprocess.run(
            ["promtool", "check", "rules", str(rules)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert (template_problem(text) is None) == (done.returncode == 0), (text, done.stdout + done.stderr)


def test_names_equal_up_to_case_or_punctuation_are_refused() -> None:
    two_services = spec() + "---\n" + spec().replace("name: shop", "name: Shop")
    errors = [str(e) for e in load_text(two_services, "s.yaml").errors]
    assert any("'Shop' and service 'shop'" in e and "rules/shop.yml" in e for e in errors), errors
    twin = "{name: Availability, objective: 99, sli: {raw: {errorRatioQuery: 'x{a=\"{{.window}}\"}'}}}"
    two_slos = spec().replace("  slos:\n", f"  slos:\n    - {twin}\n")
    errors = [str(e) for e in load_text(two_slos, "s.yaml").errors]
    assert any("differ only by case" in e and "rule group sloctl-shop-availability" in e for e in errors), (
        errors
    )


def test_names_too_long_for_a_file_name_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(spec().replace("name: shop", "name: " + "s" * 300))
    assert main(["generate", str(path), "-o", str(tmp_path / "out")]) == 1
    assert "255 bytes" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_failed_write_leaves_no_empty_folder(tmp_path: Path) -> None:
    planned = {"rules/ok.yml": "x\n", "rules/tests/" + "t" * 300 + ".yml": "y\n"}
    with pytest.raises(OSError):
        write_outputs(tmp_path / "out", planned)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").rglob("*")) == []


@pytest.mark.parametrize(
    ("label", "says"),
    [
        ("__name__=x", "reserved prefix"),
        ("sloctl_id=x", "reserved prefix"),
        ("team={{ x", "unclosed action"),
        ("a-b=1", "not a valid"),
        # on recording rules it stood, on every alert sloctl's page or ticket replaced it
        ("severity=critical", "label 'severity' is sloctl's: every alert of sloctl's rules carries severity"),
    ],
)
def test_extra_labels_are_checked_like_alert_labels(
    label: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "shop.yaml").write_text(spec())
    code = main(
        ["generate", str(tmp_path / "shop.yaml"), "-o", str(tmp_path / "out"), "--extra-label", label]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"sloctl generate: --extra-label {label}: ") and says in err, err
    assert not (tmp_path / "out").exists()
