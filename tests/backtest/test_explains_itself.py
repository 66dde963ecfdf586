"""A backtest that explains itself: its help lists the scenarios, a tier the SLO is designed
not to fire is expected silent (with the reason), a missed design exits 1 naming the SLO,
scenario and tier, progress goes to stderr, and the HTML names the SLO, labels its axes and
marks the incident. Run on the real Prometheus engine."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

import sloctl.backtest.run as backtest_run
from sloctl.backtest.scenarios import SCENARIOS
from sloctl.cli.main import main
from sloctl.model import SLO
from sloctl.render.rules import RuleOptions, render_rule_file
from tests.fixtures.cli import run_sloctl
from tests.fixtures.stub_http import prometheus_answer, serve

PROMTOOL = shutil.which("promtool")
needs_prometheus = pytest.mark.skipif(PROMTOOL is None, reason="no promtool (apt-get install prometheus)")


def _spec(objective: str) -> str:
    return f"""\
apiVersion: sloctl/v1
kind: Service
metadata: {{name: shop}}
spec:
  slos:
    - name: availability
      objective: {objective}
      period: 30d
      sli:
        events:
          errorQuery: sum(rate(http_requests_total{{code=~"5.."}}[{{{{.window}}}}]))
          totalQuery: sum(rate(http_requests_total[{{{{.window}}}}]))
      alerting:
        name: ShopAvailabilityBudgetBurn
"""


def test_help_lists_every_scenario_with_its_kind_and_description() -> None:
    done = run_sloctl("backtest", "--help")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for s in SCENARIOS:
        assert re.search(rf"^  {s.name} +\[{s.kind}\] ", out, re.MULTILINE), s.name
    assert "period_boundary" in out and "dst_change" in out


def test_backtest_reads_the_slos_as_generate_does_with_the_project_files_globs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The SLOs it replays must be the ones `sloctl generate` compiles: a draft the project file
    # excludes is not read. An unknown scenario stops the run right after the SLOs load.
    slos = tmp_path / "slos"
    (slos / "drafts").mkdir(parents=True)
    (slos / "shop.yaml").write_text(_spec("99.9"))
    (slos / "drafts" / "wip.yaml").write_text("kind: Service\n")
    assert main(["backtest", str(slos), "--scenario", "nope"]) == 1
    assert "wip.yaml:1:1:" in capsys.readouterr().err
    (slos / "sloctl.yaml").write_text("apiVersion: sloctl/v1\nkind: Project\nexclude: ['drafts/**']\n")
    assert main(["backtest", str(slos), "--scenario", "nope"]) == 2
    assert "no scenario 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("picked", "meant_for"),
    [
        (["slice_breaches"], "timeslice SLOs"),
        (["full_outage", "dst_change"], "calendar-period SLOs in a time zone that changes clocks"),
    ],
    ids=["timeslices", "one of two"],
)
def test_a_scenario_meant_for_none_of_the_slos_is_a_usage_error_naming_its_kind(
    picked: list[str], meant_for: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It printed "no scenario for its kind", an empty table and exit 0: a CI gate that passed
    having tested nothing."""
    spec = tmp_path / "shop.yaml"
    spec.write_text(_spec("99.9"))
    assert main(["backtest", str(spec), *(a for name in picked for a in ("--scenario", name))]) == 2
    captured = capsys.readouterr()
    name = picked[-1]
    assert (
        f"sloctl backtest: --scenario {name}: it is meant for {meant_for}, and none of the 1" in captured.err
    )
    assert captured.out == "" and "full_outage" not in captured.err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--from", "100", "--to", "200"], "--from/--to replay history from --prometheus; give --prometheus"),
        (["--to", "200"], "--from/--to replay history from --prometheus; give --prometheus"),
        (
            [
                "--prometheus",
                "http://127.0.0.1:9",
                "--from",
                "0",
                "--to",
                "3600",
                "--scenario",
                "full_outage",
            ],
            "--scenario picks synthetic scenarios; history from --prometheus has none",
        ),
    ],
    ids=["from and to", "to alone", "scenario with history"],
)
def test_flags_of_history_and_of_scenarios_are_not_silently_ignored(
    argv: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--from 100 --to 200`` without ``--prometheus`` ran the synthetic scenarios instead."""
    spec = tmp_path / "shop.yaml"
    spec.write_text(_spec("99.9"))
    assert main(["backtest", str(spec), *argv]) == 2
    captured = capsys.readouterr()
    assert said in captured.err and captured.out == ""


@needs_prometheus
@pytest.mark.promtool
@pytest.mark.slow
def test_a_tier_designed_not_to_page_on_a_short_outage_is_expected_silent_and_the_run_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 95 %: a full outage burns 20x the budget; the quick page (14.4x over 1h) would fire after
    # 43 minutes of it, and the outage lasts 20: the design keeps that page silent.
    spec = tmp_path / "shop.yaml"
    spec.write_text(_spec("95"))
    report = tmp_path / "report.html"
    code = main(["backtest", str(spec), "--scenario", "full_outage", "--report", str(report)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "shop-availability full_outage page_quick: designed silent: it fires after" in captured.out
    assert "the incident lasts 20m" in captured.out
    assert "[1/1] shop-availability: full_outage" in captured.err  # progress
    done = r"^sloctl backtest: 1 SLO\(s\) replayed together: done in \d+ s$"
    assert re.search(done, captured.err, re.MULTILINE)
    page = report.read_text()
    assert "<h2>shop-availability: full_outage</h2>" in page
    assert "time since the scenario start" in page and "budget left" in page
    assert re.search(r'text-anchor="end">-?\d+ %</text>', page)  # the budget axis in percent
    assert page.count('class="incident"') == 2  # the outage, on both plots


@needs_prometheus
@pytest.mark.promtool
@pytest.mark.slow
def test_a_broken_page_rule_exits_1_naming_the_slo_scenario_and_tier(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(slos: Sequence[SLO], sources: Sequence[str], version: str, options: RuleOptions) -> str:
        # The quick page's threshold a thousand times too high: a full outage cannot reach it.
        text = render_rule_file(slos, sources, version, options)
        assert " > 14.4\n" in text
        return text.replace(" > 14.4\n", " > 14400\n")

    monkeypatch.setattr(backtest_run, "render_rule_file", broken)
    spec = tmp_path / "shop.yaml"
    spec.write_text(_spec("99.9"))
    code = main(["backtest", str(spec), "--scenario", "full_outage"])
    err = capsys.readouterr().err
    assert code == 1
    assert re.search(
        r"^sloctl backtest: shop-availability, scenario full_outage, tier page_quick: designed to fire "
        r"within \S+ but did not fire$",
        err,
        re.MULTILINE,
    ), err
    assert "tier page_slow" not in err  # the other tiers still meet their design


def test_a_tool_that_times_out_is_a_message_naming_the_slo_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def overloaded(*args: object, **kwargs: object) -> list[object]:
        # what promtool's backfill raised on this 2-core machine at load average 20
        raise subprocess.TimeoutExpired(["/usr/bin/promtool", "tsdb", "create-blocks-from", "rules"], 600)

    monkeypatch.setattr(backtest_run, "run_many", overloaded)
    spec = tmp_path / "shop.yaml"
    spec.write_text(_spec("99.9"))
    assert main(["backtest", str(spec), "--scenario", "full_outage"]) == 1
    err = capsys.readouterr().err
    assert "sloctl backtest: shop-availability: promtool did not finish within 600 s" in err
    assert "Traceback" not in err


@needs_prometheus
@pytest.mark.parametrize("history", [False, True], ids=["scenarios", "history"])
def test_a_prometheus_that_exits_during_start_up_is_a_message_naming_the_slo_not_a_traceback(
    history: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ServerStartError traceback before; here the Prometheus of $PROMETHEUS says it is one
    (``--version``, checked before any work) and then refuses its flags as ls does
    ("unrecognized option '--config.file=…'", exit 2)."""
    server = tmp_path / "prometheus"
    server.write_text(
        '#!/bin/sh\n[ "$1" = --version ] && exec echo "prometheus, version 3.0.0"\n'
        "echo \"unrecognized option '$1'\" >&2\nexit 2\n"
    )
    server.chmod(0o755)
    monkeypatch.setenv("PROMETHEUS", str(server))
    spec = tmp_path / "shop.yaml"
    spec.write_text(_spec("99.9"))
    argv = ["backtest", str(spec)]
    with serve(lambda _request: prometheus_answer({"resultType": "matrix", "result": []})) as source:
        if history:
            argv += ["--prometheus", source.url, "--from", "0", "--to", "3600"]
        else:
            argv += ["--scenario", "full_outage"]
        assert main(argv) == 1
    err = capsys.readouterr().err
    assert "sloctl backtest: shop-availability: prometheus exited with code 2 during start-up" in err, err
    assert "unrecognized option '--config.file=" in err and "Traceback" not in err
