"""``sloctl gameday generate`` and ``run`` through the CLI entry point: dry runs, PagerDuty
options (nothing reaches the network) and usage errors (exit 2, a message, never a traceback)."""

from __future__ import annotations

import json
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

import sloctl.chaos.gameday
import sloctl.egress
from sloctl.chaos.pagerduty import GamedayPagerDuty
from sloctl.chaos.result import GamedayResult
from sloctl.cli.main import main
from tests.chaos.experiments import EXPERIMENT, WRONG_KINDS, experiment_with_own_block, sloctl_action
from tests.chaos.results import completed_run
from tests.fixtures.cli import run_sloctl
from tests.fixtures.experiments import CLOSED_TARGETS, SET_TARGETS, TINY
from tests.paths import ROOT

KEY = "R0UTINGKEY" + "0" * 22
#: the slow-query storm with every target on a closed loopback port, and a dry run of it
RUN = ["gameday", "run", str(EXPERIMENT), *SET_TARGETS]
DRY_RUN = [*RUN, "--dry-run"]


def test_generate_writes_the_five_experiments_of_chaos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gameday", "generate", str(ROOT / "slos"), "-o", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.glob("*.json"))
    assert written == sorted(p.name for p in (ROOT / "chaos").glob("*.json"))
    for name in written:
        assert (tmp_path / name).read_bytes() == (ROOT / "chaos" / name).read_bytes()
    assert len(capsys.readouterr().out.splitlines()) == 5


def test_dry_run_validates_and_reports_without_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*DRY_RUN, "--report-dir", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "slow-query-storm: dry-run" in out
    # Nothing was measured, and the figures say so (they printed "None s" before).
    assert "time to detect (page): not measured," in out and "None" not in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["verdict"] == "dry-run" and report["status"] == "not run"
    assert not (tmp_path / "journal.json").exists()


#: one target outside loopback per kind of setting: (key, value, the host as the refusal names it)
OUTSIDE = {
    "an API URL": ("api_url", "http://192.0.2.1:8000", "192.0.2.1"),
    "a PostgreSQL URI": ("pgbouncer_dsn", "postgresql://app:s3cretpw@198.51.100.7:6432/db", "198.51.100.7"),
    "a libpq keyword string": ("postgres_admin_dsn", "host=203.0.113.9 password=s3cretpw", "203.0.113.9"),
    "a Redis URL on IPv6": ("redis_url", "redis://:s3cretpw@[2001:db8::1]:6379/0", "2001:db8::1"),
    "a MongoDB URI": ("mongodb_uri", "mongodb://app:s3cretpw@192.0.2.44:27017/db", "192.0.2.44"),
    "a name resolving outside": ("api_url", "http://platform.internal:80", "platform.internal (192.0.2.80)"),
}


@pytest.mark.parametrize(("key", "value", "said"), list(OUTSIDE.values()), ids=list(OUTSIDE))
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry run", "real run"])
def test_a_target_outside_loopback_stops_the_game_day_before_anything_runs(
    key: str,
    value: str,
    said: str,
    dry_run: bool,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Dry run or real: the activities would refuse the target mid-run; asked first, nothing
    is injected and the verdict says which setting to fix (its password never shown)."""
    # Game days allow loopback only: names are read from the hosts file, never from DNS.
    _hosts(monkeypatch, tmp_path, "192.0.2.80 platform.internal")
    argv = [*RUN, "--set", f"{key}={value}"]
    out = _refused_before_anything_runs(argv, dry_run, tmp_path, capsys)
    assert f"refused: configuration {key}: refusing to reach a game-day target at {said}" in out
    assert "s3cretpw" not in out


def _hosts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, line: str) -> None:
    """The egress guard's hosts file: ``line`` alone."""
    hosts = tmp_path / "hosts"
    hosts.write_text(line + "\n")
    monkeypatch.setattr(sloctl.egress, "HOSTS_FILE", hosts)


def _refused_before_anything_runs(
    argv: list[str], dry_run: bool, out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> str:
    """``argv`` (a ``gameday run``) refused with exit code 1, its report inconclusive and not
    run, no journal; its standard output."""
    assert main([*argv, "--report-dir", str(out_dir), *(["--dry-run"] if dry_run else [])]) == 1
    report = json.loads((out_dir / "report.json").read_text())
    assert report["verdict"] == "inconclusive" and report["status"] == "not run"
    assert not (out_dir / "journal.json").exists(), "no activity ran"
    return capsys.readouterr().out


def _http_probe(url: str) -> dict[str, Any]:
    return {"type": "probe", "name": "status page", "provider": {"type": "http", "url": url}}


#: where a hand-written experiment sends Chaos Toolkit's own HTTP request, and the URL it names
HTTP_PROVIDERS = {
    "a literal address in the method": ("method", "http://192.0.2.7:8080/status", "192.0.2.7"),
    "a configuration key in the steady state": ("steady", "${status_url}/status", "192.0.2.8"),
    "a name resolving outside in a rollback": (
        "rollbacks",
        "http://status.internal/",
        "status.internal (192.0.2.80)",
    ),
}


#: Each placement in a dry run; a real run only with the probe in the method, which the old code
#: never reached either (its baseline fails on the closed API port first): a steady-state probe or
#: a rollback would have sent the request, and a name to DNS, before the fix.
HTTP_CASES = [
    *[pytest.param(case, True, id=f"dry run-{name}") for name, case in HTTP_PROVIDERS.items()],
    pytest.param(HTTP_PROVIDERS["a literal address in the method"], False, id="real run"),
]


@pytest.mark.parametrize(("case", "dry_run"), HTTP_CASES)
def test_an_http_provider_outside_loopback_stops_the_game_day_before_anything_runs(
    case: tuple[str, str, str],
    dry_run: bool,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chaos Toolkit sends an ``http`` provider's request itself, past the egress guard: a
    hand-written experiment's probe reached outside loopback (and its name went to DNS), and a
    dry run said ``dry-run``."""
    where, url, said = case
    _hosts(monkeypatch, tmp_path, "192.0.2.80 status.internal")
    experiment = json.loads(EXPERIMENT.read_text())
    experiment["configuration"]["status_url"] = "http://192.0.2.8:9000"
    if where == "steady":
        experiment["steady-state-hypothesis"]["probes"].append({**_http_probe(url), "tolerance": 200})
    else:
        experiment[where].append(_http_probe(url))
    path = tmp_path / "own.json"
    path.write_text(json.dumps(experiment))
    argv = ["gameday", "run", str(path), *SET_TARGETS]
    out = _refused_before_anything_runs(argv, dry_run, tmp_path / "r", capsys)
    assert (
        "refused: probe 'status page': its http provider's url: refusing to reach a game-day target at" in out
    )
    assert said in out


def test_an_http_provider_on_loopback_is_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    experiment = json.loads(EXPERIMENT.read_text())
    experiment["method"].append(_http_probe("${api_url}/healthz"))
    path = tmp_path / "own.json"
    path.write_text(json.dumps(experiment))
    assert main(["gameday", "run", str(path), *SET_TARGETS, "--dry-run"]) == 0
    assert "slow-query-storm: dry-run" in capsys.readouterr().out


def test_a_target_url_that_is_not_http_is_refused_naming_the_setting_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*RUN, "--set", "api_url=ftp://127.0.0.1:1", "--report-dir", str(tmp_path)]
    assert main([*argv, "--dry-run"]) == 1
    out = capsys.readouterr().out
    assert "refused: configuration api_url: it must be an http(s) URL such as" in out
    assert out.count("api_url") == 1, out


def test_a_prometheus_url_with_a_query_string_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The probes' client appended ``/api/v1/query`` to the query string, mid-run."""
    argv = [*DRY_RUN, "--set", "prometheus_url=http://127.0.0.1:9?x=1", "--report-dir", str(tmp_path)]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "refused: configuration prometheus_url: it must be Prometheus' base URL" in out, out
    assert "without a query string or fragment" in out


def test_only_the_targets_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A setting of the user's own that names a URL is no target: it is not resolved or refused.
    Its experiment declares it in its configuration block, which makes the key known."""
    experiment = json.loads(EXPERIMENT.read_text())
    experiment["configuration"]["runbook_url"] = ""
    own = tmp_path / "slow-query-storm.json"
    own.write_text(json.dumps(experiment))
    argv = ["gameday", "run", str(own), *SET_TARGETS, "--dry-run"]
    assert main([*argv, "--set", "runbook_url=http://192.0.2.9/", "--report-dir", str(tmp_path)]) == 0
    assert "slow-query-storm: dry-run" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("config", "sets", "said"),
    [
        pytest.param(
            {"gameday_seconds": "abc", "load_rate": -5},
            [],
            [
                "--config {config}: gameday_seconds: must be a number between 1 and 300",
                "--config {config}: load_rate: must be between 0.1 and 200",
            ],
            id="a string and a negative rate in the config file",
        ),
        pytest.param(
            None,
            ["gameday_seconds=-1"],
            ["--set gameday_seconds=-1: gameday_seconds: must be between 1 and 300"],
            id="a negative length",
        ),
        pytest.param(
            None,
            ["gameday_seconds=1e999"],
            ["--set gameday_seconds=1e999: gameday_seconds: must be a finite number between 1 and 300"],
            id="an infinite length",
        ),
        pytest.param(
            {"nope": 1},
            [],
            ["--config {config}: nope: unknown field 'nope'; known fields: api_url,"],
            id="an unknown key in the file",
        ),
        pytest.param(
            None,
            ["load_rat=5"],
            ["--set load_rat=5: load_rat: unknown field 'load_rat' (did you mean 'load_rate'?)"],
            id="a misspelt key",
        ),
        pytest.param(
            None,
            ["latency_ms=null"],
            ["--set latency_ms=null: latency_ms: null: leave the key out"],
            id="a null",
        ),
    ],
)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry run", "real run"])
def test_a_configuration_value_outside_its_declaration_is_a_usage_error_before_anything_runs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fake_run: FakeRun,
    config: dict[str, Any] | None,
    sets: list[str],
    said: list[str],
    dry_run: bool,
) -> None:
    """A dry run said dry-run and a real run recorded "abc" in its journal."""
    path = tmp_path / "targets.json"
    argv = ["gameday", "run", str(EXPERIMENT), *(["--dry-run"] if dry_run else [])]
    if config is not None:
        path.write_text(json.dumps(config))
        argv += ["--config", str(path)]
    for item in sets:
        argv += ["--set", item]
    err = _usage_error(capsys, [*argv, "--report-dir", str(tmp_path / "report")])
    for line in said:
        assert f"sloctl gameday run: {line.format(config=path)}" in err, err
    assert "docs/gameday.md, Configuration" in err
    assert fake_run.calls == [] and not (tmp_path / "report").exists()


def test_every_key_of_the_generated_experiments_and_of_the_rig_is_declared() -> None:
    from sloctl.chaos.experiments import CONFIGURATION, configuration_problems
    from sloctl.chaos.profiles import PROFILES

    assert configuration_problems(json.loads(EXPERIMENT.read_text())["configuration"]) == []
    for profile in PROFILES.values():
        rig = {**CONFIGURATION, **profile.timings, "timing_profile": profile.name, "fast_reset": 10}
        assert configuration_problems(rig) == [], profile.name


def test_usage_errors_exit_with_2(tmp_path: Path) -> None:
    assert main(["gameday", "run", str(tmp_path / "missing.json")]) == 2
    assert main(["gameday", "run", str(ROOT / "chaos" / "slow-query-storm.json"), "--set", "novalue"]) == 2


def _usage_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Runs ``argv``, checks exit 2 and a one-line message without a traceback; returns it."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert captured.err.startswith("sloctl gameday run: ")
    return captured.err


@pytest.mark.parametrize(
    ("given", "text", "expected"),
    [
        pytest.param("experiment", '{"title": "x",\n', "not valid JSON", id="an experiment cut short"),
        pytest.param(
            "experiment",
            "",
            "not valid JSON: Expecting value (line 1, column 1)",
            id="an empty experiment",
        ),
        pytest.param(
            "experiment",
            "[1, 2]",
            "expected a JSON object, found a list",
            id="an experiment that is an array",
        ),
        pytest.param(
            "--config", "[1]", "expected a JSON object, found a list", id="a config that is an array"
        ),
        pytest.param(
            "--config", '"api_url"', "expected a JSON object, found a string", id="a config that is a string"
        ),
        pytest.param("--config", "{api_url: 1}", "not valid JSON", id="a config in YAML's flow style"),
        pytest.param(
            "experiment",
            "[" * 100_000 + "]" * 100_000,
            "not valid JSON: nested more deeply than a JSON reader follows",
            id="an experiment nested past the decoder's depth (was a RecursionError traceback)",
        ),
    ],
)
def test_a_json_file_that_is_not_a_json_object_is_a_usage_error_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str, text: str, expected: str
) -> None:
    path = tmp_path / "given.json"
    path.write_text(text)
    files = [str(path)] if given == "experiment" else [str(EXPERIMENT), "--config", str(path)]
    err = _usage_error(capsys, ["gameday", "run", *files, "--dry-run", "--report-dir", str(tmp_path)])
    assert f"{given} {path}: {expected}" in err


def test_an_experiment_that_chaos_toolkit_rejects_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "no-method.json"
    bad.write_text(json.dumps({"title": "t", "description": "d"}))
    err = _usage_error(capsys, ["gameday", "run", str(bad), "--dry-run", "--report-dir", str(tmp_path)])
    assert f"{bad}: Chaos Toolkit rejected the experiment: an experiment requires a method" in err
    assert not (tmp_path / "report.json").exists()


@pytest.mark.parametrize(("keys", "value", "said"), WRONG_KINDS, ids=[w[2] for w in WRONG_KINDS])
def test_an_experiment_key_of_another_kind_is_a_usage_error_naming_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keys: tuple[str | int, ...], value: object, said: str
) -> None:
    experiment = json.loads(EXPERIMENT.read_text())
    parent = experiment
    for key in keys[:-1]:
        parent = parent[key]
    parent[keys[-1]] = value
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(experiment))
    err = _usage_error(capsys, ["gameday", "run", str(bad), "--dry-run", "--report-dir", str(tmp_path)])
    assert err == f"sloctl gameday run: {bad}: {said}\n"
    assert list(tmp_path.iterdir()) == [bad]  # no report of a plan


@pytest.mark.parametrize("flag", ["--pagerduty", "--practice-incident"])
@pytest.mark.parametrize("value", [None, "", "   "])
def test_pagerduty_without_a_routing_key_is_a_usage_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flag: str,
    value: str | None,
) -> None:
    if value is None:
        monkeypatch.delenv("PAGERDUTY_ROUTING_KEY", raising=False)
    else:
        monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", value)
    argv = [*RUN, flag, "--dry-run", "--report-dir", str(tmp_path)]
    err = _usage_error(capsys, argv)
    state = "is not set" if value is None else "is empty"
    assert f"{flag} needs the PagerDuty Events API v2 routing key" in err
    assert f"environment variable PAGERDUTY_ROUTING_KEY, which {state}" in err
    assert not (tmp_path / "report.json").exists()


def test_the_routing_key_variable_can_be_renamed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", KEY)
    monkeypatch.delenv("GAMEDAY_PD_KEY", raising=False)
    argv = [*RUN, "--pagerduty", "--pagerduty-routing-key-env", "GAMEDAY_PD_KEY"]
    err = _usage_error(capsys, [*argv, "--dry-run", "--report-dir", str(tmp_path)])
    assert "environment variable GAMEDAY_PD_KEY, which is not set" in err


@pytest.fixture
def no_pagerduty_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Creating a client of either PagerDuty API (events or REST) fails the test."""
    import pagerduty

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a dry run must not create a PagerDuty client")

    for client in ("EventsApiV2Client", "RestApiV2Client"):
        monkeypatch.setattr(pagerduty, client, no_network)


@pytest.mark.usefixtures("no_pagerduty_client")
def test_a_dry_run_with_pagerduty_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", KEY)
    code = main([*DRY_RUN, "--pagerduty", "--practice-incident", "--report-dir", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "slow-query-storm: dry-run" in captured.out
    assert "pagerduty: dry run, nothing sent to PagerDuty" in captured.out
    assert KEY not in captured.out + captured.err
    assert json.loads((tmp_path / "report.json").read_text())["verdict"] == "dry-run"


@dataclass
class FakeRun:
    """What the CLI asked of ``run_gameday``: each call's arguments. The fake returns a
    result of ``verdict``, or raises ``error`` when one is set."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    verdict: str = "pass"
    error: Exception | None = None


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch) -> FakeRun:
    """``run_gameday`` replaced by a recorder: a real run needs the databases of the rig."""
    fake = FakeRun()

    def run_gameday(experiment_path: Path, **kwargs: Any) -> GamedayResult:
        fake.calls.append({"experiment_path": experiment_path, **kwargs})
        if fake.error is not None:
            raise fake.error
        figures = {"time_to_detect_s": 1.0, "breaker_open_s": 0.5, "time_to_recover_s": 2.0}
        return completed_run("slow-query-storm", verdict=fake.verdict, duration_s=3.0, **figures)

    monkeypatch.setattr(sloctl.chaos.gameday, "run_gameday", run_gameday)
    return fake


@pytest.mark.parametrize(
    ("flags", "practice"),
    [
        (["--pagerduty"], False),
        (["--pagerduty", "--practice-incident"], True),
        (["--practice-incident"], True),
    ],
)
def test_the_pagerduty_options_reach_run_gameday(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fake_run: FakeRun,
    flags: list[str],
    practice: bool,
) -> None:
    monkeypatch.setenv("GAMEDAY_PD_KEY", f" {KEY}\n")
    argv = [*RUN, "--pagerduty-routing-key-env", "GAMEDAY_PD_KEY", *flags]
    assert main([*argv, "--report-dir", str(tmp_path)]) == 0
    (call,) = fake_run.calls
    pd = call["pagerduty"]
    assert isinstance(pd, GamedayPagerDuty) and pd.routing_key == KEY and pd.transport is None
    assert call["practice_incident"] is practice and call["dry_run"] is False
    assert call["experiment_path"] == EXPERIMENT and call["out_dir"] == tmp_path
    out = capsys.readouterr().out
    assert "pagerduty: sent change events at start and end" in out
    assert ("practice incident triggered and resolved" in out) is practice
    assert KEY not in out


def test_without_pagerduty_options_run_gameday_gets_no_client(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fake_run: FakeRun
) -> None:
    fake_run.verdict = "fail"
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", KEY)
    assert main([*RUN, "--report-dir", str(tmp_path)]) == 1
    (call,) = fake_run.calls
    assert call["pagerduty"] is None and call["practice_incident"] is False
    assert "pagerduty" not in capsys.readouterr().out


def test_a_routing_key_pagerduty_refuses_is_reported_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fake_run: FakeRun
) -> None:
    import pagerduty

    # pagerduty.Error's __init__ is unannotated
    fake_run.error = pagerduty.Error("invalid routing key")  # type: ignore[no-untyped-call]
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", KEY)
    argv = [*RUN, "--pagerduty", "--report-dir", str(tmp_path)]
    err = _usage_error(capsys, argv)
    assert "PagerDuty refused a request (invalid routing key)" in err
    assert "$PAGERDUTY_ROUTING_KEY" in err and KEY not in err


def test_a_report_dir_that_is_a_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("")
    err = _usage_error(capsys, [*RUN, "--dry-run", "--report-dir", str(taken)])
    assert f"--report-dir {taken}: " in err


API_KEY = "uPAPIKEY" + "y" * 12
MAINTENANCE = [
    "--maintenance-service",
    "PNOISY2",
    "--maintenance-service",
    "PNOISY1",
    "--protected-service",
    "PAPI",
]
#: a real run of the slow-query storm with the window's options
MAINTENANCE_RUN = [*RUN, *MAINTENANCE, "--pagerduty-from", "sre@example.com"]


def both_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Events API routing key and the REST API key in their default variables."""
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", KEY)
    monkeypatch.setenv("PAGERDUTY_API_KEY", API_KEY)


@pytest.mark.parametrize(
    ("argv", "environment", "expected"),
    [
        (
            [
                "--maintenance-service",
                "PNOISY1",
                "--maintenance-service",
                "PAPI",
                "--protected-service",
                "PAPI",
            ],
            {},
            "--maintenance-service: a maintenance window on PAPI would silence the alert under test",
        ),
        (
            ["--maintenance-service", "PNOISY1"],
            {},
            "--maintenance-service: name the PagerDuty service(s) that receive the alert under test",
        ),
        (
            MAINTENANCE,
            {"PAGERDUTY_ROUTING_KEY": None},
            "--maintenance-service needs the PagerDuty Events API v2 routing key in the environment"
            " variable PAGERDUTY_ROUTING_KEY, which is not set",
        ),
        (
            MAINTENANCE,
            {"PAGERDUTY_API_KEY": None},
            "--maintenance-service needs a PagerDuty REST API key in the environment variable"
            " PAGERDUTY_API_KEY, which is not set (choose the variable with --pagerduty-api-key-env NAME)",
        ),
        (
            [*MAINTENANCE, "--pagerduty-api-key-env", "GAMEDAY_PD_API"],
            {"GAMEDAY_PD_API": "  "},
            "REST API key in the environment variable GAMEDAY_PD_API, which is empty",
        ),
        (
            [*MAINTENANCE, "--pagerduty-from", ""],
            {},
            "--maintenance-service needs --pagerduty-from EMAIL, the email address of a PagerDuty user",
        ),
        (
            [*MAINTENANCE, "--pagerduty-from", "sre at example.com"],
            {},
            "--pagerduty-from 'sre at example.com': not an email address",
        ),
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_maintenance_window_that_cannot_be_opened_safely_is_a_usage_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fake_run: FakeRun,
    argv: list[str],
    environment: dict[str, str | None],
    expected: str,
    dry_run: bool,
) -> None:
    fake_run.error = AssertionError("run_gameday must not be called")
    both_keys(monkeypatch)
    for name, value in environment.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    sender = [] if "--pagerduty-from" in argv else ["--pagerduty-from", "sre@example.com"]
    dry = ["--dry-run"] if dry_run else []
    err = _usage_error(
        capsys,
        [*RUN, *argv, *sender, *dry, "--report-dir", str(tmp_path)],
    )
    assert expected in err
    assert KEY not in err and API_KEY not in err
    assert not (tmp_path / "report.json").exists()
    assert fake_run.calls == []


@pytest.mark.parametrize("pagerduty_flag", [[], ["--pagerduty"]])
def test_the_maintenance_options_reach_run_gameday(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fake_run: FakeRun,
    pagerduty_flag: list[str],
) -> None:
    """--maintenance-service implies --pagerduty; the client gets both keys and the From."""
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", KEY)
    monkeypatch.delenv("PAGERDUTY_API_KEY", raising=False)
    monkeypatch.setenv("GAMEDAY_PD_API", f"{API_KEY}\n")
    argv = [*RUN, *pagerduty_flag, *MAINTENANCE]
    argv += ["--pagerduty-api-key-env", "GAMEDAY_PD_API", "--pagerduty-from", "sre@example.com"]
    assert main([*argv, "--report-dir", str(tmp_path)]) == 0
    (call,) = fake_run.calls
    pd = call["pagerduty"]
    assert isinstance(pd, GamedayPagerDuty)
    assert (pd.routing_key, pd.api_key, pd.from_email) == (KEY, API_KEY, "sre@example.com")
    assert call["maintenance_services"] == ("PNOISY2", "PNOISY1")
    assert call["protected_services"] == ("PAPI",)
    assert call["practice_incident"] is False and call["dry_run"] is False
    captured = capsys.readouterr()
    # slow-query-storm: 60 s of game day + 60 s to recover = 2 min, plus a 5 min margin
    assert "maintenance window on PNOISY1, PNOISY2 (7 min, closed after the run)" in captured.out
    assert KEY not in captured.out + captured.err and API_KEY not in captured.out + captured.err


def test_without_maintenance_options_run_gameday_gets_no_services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_run: FakeRun
) -> None:
    both_keys(monkeypatch)
    assert main([*RUN, "--pagerduty", "--report-dir", str(tmp_path)]) == 0
    (call,) = fake_run.calls
    assert call["maintenance_services"] == () and call["protected_services"] == ()
    assert call["pagerduty"].api_key is None  # the REST API key is only read for a window


@pytest.mark.usefixtures("no_pagerduty_client")
def test_a_dry_run_with_a_maintenance_window_opens_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    both_keys(monkeypatch)
    argv = [*DRY_RUN, *MAINTENANCE, "--pagerduty-from", "sre@example.com", "--set", "gameday_seconds=300"]
    code = main([*argv, "--report-dir", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "pagerduty: dry run, nothing sent to PagerDuty (a real run sends change events" in captured.out
    assert "maintenance window on PNOISY1, PNOISY2 (11 min, closed after the run)" in captured.out
    assert KEY not in captured.out + captured.err and API_KEY not in captured.out + captured.err
    assert json.loads((tmp_path / "report.json").read_text())["verdict"] == "dry-run"


def test_a_window_refused_by_run_gameday_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fake_run: FakeRun
) -> None:
    from sloctl.chaos.pagerduty import MaintenanceWindowError

    fake_run.error = MaintenanceWindowError("a REST API key is needed for maintenance windows")
    both_keys(monkeypatch)
    err = _usage_error(capsys, [*MAINTENANCE_RUN, "--report-dir", str(tmp_path)])
    assert "--maintenance-service: a REST API key is needed for maintenance windows" in err


def test_a_request_pagerduty_refuses_with_a_window_names_every_credential(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fake_run: FakeRun
) -> None:
    import pagerduty

    # pagerduty.Error's __init__ is unannotated
    fake_run.error = pagerduty.Error(  # type: ignore[no-untyped-call]
        "Received 401 Unauthorized response from the API"
    )
    both_keys(monkeypatch)
    err = _usage_error(capsys, [*MAINTENANCE_RUN, "--report-dir", str(tmp_path)])
    assert "PagerDuty refused a request (Received 401 Unauthorized" in err
    assert "$PAGERDUTY_ROUTING_KEY, the REST API key in $PAGERDUTY_API_KEY and --pagerduty-from" in err
    assert API_KEY not in err


def test_rig_without_its_slo_file_is_an_input_error_and_starts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # SLO files that do not load exit 1, as in every command that reads them
    assert main(["gameday", "rig", "--slos", str(tmp_path / "none.yaml"), "--workdir", str(tmp_path)]) == 1
    assert "none.yaml:1:1: no such file or directory" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing was started


@pytest.mark.parametrize(
    ("divisor", "said"),
    [("7", "the base window (300s) does not divide by 7"), ("0", "must be 1 or more, not 0")],
    ids=["a-divisor-that-leaves-fractions-of-seconds", "zero"],
)
def test_a_fast_reset_the_windows_cannot_take_is_a_usage_error_and_starts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], divisor: str, said: str
) -> None:
    slos = str(ROOT / "slos" / "platform-api.yaml")
    argv = ["gameday", "rig", "--slos", slos, "--fast-reset", divisor, "--workdir", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"--fast-reset {divisor}:" in err and said in err, err
    assert list(tmp_path.iterdir()) == []


def test_generate_names_a_missing_slo_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The API's SLO file without its Redis availability SLO (and the composite built on it):
    # two game days need it for their expected page, the others for a page that must not fire.
    text = (ROOT / "slos" / "platform-api.yaml").read_text()
    text = text[: text.index("    - name: availability-by-dependency")]
    start = text.index("    - name: redis-availability")
    end = text.index("    - name: redis-latency")
    slos = tmp_path / "slos"
    slos.mkdir()
    (slos / "platform-api.yaml").write_text(text[:start] + text[end:])
    out = tmp_path / "chaos"
    assert main(["gameday", "generate", str(slos), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "no SLO platform-api/redis-availability in the SLO files" in err
    assert "Traceback" not in err
    assert not out.exists() or not list(out.iterdir())


def test_generate_reads_slos_as_every_command_does_the_project_file_and_errors_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # With no PATH, slos/ of the working directory, and its project file's exclude glob.
    shutil.copytree(ROOT / "slos", tmp_path / "slos")
    (tmp_path / "slos" / "drafts").mkdir()
    (tmp_path / "slos" / "drafts" / "wip.yaml").write_text("kind: Service\n")
    monkeypatch.chdir(tmp_path)
    assert main(["gameday", "generate"]) == 1
    err = capsys.readouterr().err
    assert "error: " in err and "wip.yaml:1:1:" in err and "1 error(s) in 1 file(s)" in err, err
    (tmp_path / "slos" / "sloctl.yaml").write_text(
        "apiVersion: sloctl/v1\nkind: Project\nexclude: ['drafts/**']\n"
    )
    assert main(["gameday", "generate"]) == 0, capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "chaos").glob("*.json")) == sorted(
        p.name for p in (ROOT / "chaos").glob("*.json")
    )


def test_suite_without_config_runs_with_the_schedule_s_config_as_its_timers_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The timers `gameday schedule` writes pass the schedule's spec.config; before, `suite` by
    hand ignored it and ran with the experiments' empty targets."""
    schedule, config, other = tmp_path / "schedule.yaml", tmp_path / "targets.json", tmp_path / "other.json"
    schedule.write_text(
        "apiVersion: sloctl/v1\nkind: GamedaySchedule\nmetadata: {name: one}\nspec:\n"
        f"  config: {config}\n  gamedays:\n"
        f"    - {{experiment: {ROOT / 'chaos' / 'connection-loss.json'}, cron: '0 10 8 1 *'}}\n"
    )
    config.write_text(json.dumps({**CLOSED_TARGETS, "gameday_seconds": 1000}))
    other.write_text(json.dumps(CLOSED_TARGETS))
    argv = ["gameday", "suite", "--file", str(schedule), "--dry-run", "--report-dir", str(tmp_path / "r")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"--config {config}: gameday_seconds: must be between 1 and 300" in err, err
    assert main([*argv, "--config", str(other)]) == 0, capsys.readouterr().err  # --config wins
    config.unlink()  # none there: the targets are unset, and said so
    assert main(argv) == 2
    assert "configuration: pgbouncer_admin_dsn: not set" in capsys.readouterr().err


def test_suite_runs_every_game_day_of_the_schedule_in_its_order_into_one_folder_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(
        "apiVersion: sloctl/v1\nkind: GamedaySchedule\nmetadata: {name: two}\nspec:\n"
        "  config: targets.json\n  gamedays:\n"
        f"    - {{experiment: {ROOT / 'chaos' / 'memory-exhaustion.json'}, cron: '0 10 8 1 *'}}\n"
        f"    - {{experiment: {ROOT / 'chaos' / 'connection-loss.json'}, cron: '0 10 9 1 *'}}\n"
    )
    argv = ["gameday", "suite", "--file", str(schedule), *SET_TARGETS]
    code = main([*argv, "--dry-run", "--report-dir", str(tmp_path / "r")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    # in the schedule's order, each with its result, then one line for the suite
    lines = captured.out.splitlines()
    assert [line for line in lines if line.endswith(": dry-run")] == [
        "memory-exhaustion: dry-run",
        "connection-loss: dry-run",
    ]
    assert lines[-1] == "2 game days planned (dry run), nothing run"
    assert "game day 1 of 2" in captured.err and "game day 2 of 2" in captured.err  # progress
    for name in ("memory-exhaustion", "connection-loss"):
        assert json.loads((tmp_path / "r" / name / "report.json").read_text())["verdict"] == "dry-run"


def test_suite_names_a_schedule_it_cannot_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # As a missing SLO file is: an input error (exit 1) at the file, then the count.
    assert main(["gameday", "suite", "--file", str(tmp_path / "missing.yaml")]) == 1
    err = capsys.readouterr().err
    assert (
        err == f"error: {tmp_path / 'missing.yaml'}:1:1: no such file or directory\n1 error(s) in 1 file(s)\n"
    )


def test_a_dry_run_leaves_the_last_real_report_beside_the_experiment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, `--dry-run` ("change nothing") wrote its plan over reports/<name>/report.json."""
    experiment = tmp_path / EXPERIMENT.name
    shutil.copy(EXPERIMENT, experiment)
    reports = tmp_path / "reports" / EXPERIMENT.stem
    reports.mkdir(parents=True)
    real = '{"verdict": "pass"}\n'
    (reports / "report.json").write_text(real)
    assert main(["gameday", "run", str(experiment), *DRY_RUN[3:]]) == 0
    out = capsys.readouterr().out
    assert "slow-query-storm: dry-run" in out and "report.json" not in out
    assert (reports / "report.json").read_text() == real
    assert sorted(p.name for p in reports.iterdir()) == ["report.json"]


@pytest.mark.parametrize(
    "target",
    ["pgbouncer_dsn=postgresql://u:pw@127.0.0.1:9/db", "pgbouncer_dsn=postgresql://u:pw@10.2.2.2/db"],
    ids=["planned", "refused: outside loopback"],
)
def test_a_dry_run_without_report_dir_never_replaces_the_last_real_runs_report(
    target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/gameday.md: a dry run writes its plan's report only to a --report-dir given; a
    refused one (inconclusive, exit 1) too. The default folder keeps the last real run's."""
    experiment = tmp_path / "connection-loss.json"
    shutil.copyfile(ROOT / "chaos" / "connection-loss.json", experiment)
    reports = tmp_path / "reports" / "connection-loss"
    reports.mkdir(parents=True)
    last = {"report.json": '{"verdict": "pass"}', "report.html": "<p>the last real run</p>"}
    for name, text in last.items():
        (reports / name).write_text(text)
    code = main(["gameday", "run", str(experiment), *SET_TARGETS, "--dry-run", "--set", target])
    out = capsys.readouterr().out
    assert code == (0 if "127.0.0.1" in target else 1), out
    assert ("refused: configuration pgbouncer_dsn" in out) == (code == 1), out
    assert {p.name: p.read_text() for p in reports.iterdir()} == last
    assert "report" not in out, "no report file is named: none was written"


@pytest.mark.parametrize(
    ("configuration", "method", "said"),
    [
        pytest.param(
            {"gameday_seconds": 900},
            [],
            "configuration: gameday_seconds: must be between 1 and 300",
            id="a key of sloctl's out of its range",
        ),
        pytest.param(
            {"pause_seconds": 600},
            [
                sloctl_action(
                    "inject: pause",
                    "redis_client_pause",
                    {"url": "${redis_url}", "seconds": "${pause_seconds}"},
                )
            ],
            "inject: pause: seconds = 600 (configuration key pause_seconds): outside redis_client_pause's"
            " bound, 0.1 to 120",
            id="an experiment's own key above an action's bound",
        ),
        pytest.param(
            {},
            [
                sloctl_action(
                    "inject: storm",
                    "postgres_slow_query_storm",
                    {"dsn": "", "admin_dsn": "", "connections": 500},
                )
            ],
            "inject: storm: connections = 500: outside postgres_slow_query_storm's bound, 1 to 64",
            id="an action's own argument above its bound",
        ),
    ],
)
def test_a_value_of_an_experiment_s_own_that_an_action_would_clamp_is_refused_naming_file_key_and_bound(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fake_run: FakeRun,
    configuration: dict[str, Any],
    method: list[dict[str, Any]],
    said: str,
) -> None:
    """Before, such values ran, clamped to the bound without a word (a fault of 120 s for the
    600 asked), while the same value from ``--set`` was refused."""
    path = experiment_with_own_block(tmp_path, configuration, method)
    err = _usage_error(capsys, ["gameday", "run", str(path), "--report-dir", str(tmp_path / "report")])
    assert f"sloctl gameday run: {path}: {said}\n" in err, err
    assert fake_run.calls == [] and not (tmp_path / "report").exists()
    if "gameday_seconds" in configuration:  # a value --set replaces is never used: not refused
        argv = ["gameday", "run", str(path), *SET_TARGETS, "--set", "gameday_seconds=60", "--dry-run"]
        assert main([*argv, "--report-dir", str(tmp_path / "report")]) == 0, capsys.readouterr().err
        assert len(fake_run.calls) == 1


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry run", "real run"])
def test_a_hand_written_experiment_is_named_after_its_file(
    dry_run: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without sloctl's extension its game day had no name: the run printed ``: pass``, its
    progress ``sloctl gameday: : …`` and ``sloctl serve`` listed ``game day:`` with nothing."""
    path = tmp_path / "status-check.json"
    path.write_text(
        json.dumps({**TINY, "title": "Status page answers", "description": "mine", "extensions": []})
    )
    argv = ["gameday", "run", str(path), "--report-dir", str(tmp_path / "r")]
    assert main([*argv, *(["--dry-run"] if dry_run else [])]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("status-check: dry-run\n" if dry_run else "status-check: ")
    assert dry_run or "sloctl gameday: status-check: starting" in captured.err
    assert json.loads((tmp_path / "r" / "report.json").read_text())["gameday"] == "status-check"


def test_quiet_prints_no_rollback_notice(tmp_path: Path) -> None:
    """With --quiet, Chaos Toolkit's rollback notice ("Rollbacks were explicitly requested to be
    played") still reached stderr through Python's last-resort log handler, unprefixed; it now
    goes where the other progress lines go: nowhere with --quiet, prefixed without. A child
    process: pytest's own log capture would have hidden the leak in process."""
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({**TINY, "rollbacks": TINY["method"]}))
    argv = ["gameday", "run", str(path), "--report-dir", str(tmp_path / "r")]
    quiet = run_sloctl(*argv, "--quiet", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert quiet.stdout.startswith("tiny: pass\n")
    said = run_sloctl(*argv, cwd=tmp_path)
    assert "sloctl gameday: tiny: Rollbacks were explicitly requested to be played\n" in said.stderr


def test_a_stop_condition_that_cannot_be_evaluated_is_in_the_result_even_when_quiet(tmp_path: Path) -> None:
    """Its warning reached stderr unprefixed through Python's last-resort handler, --quiet or
    not, and nothing else said that the run went unprotected by it. Now the lines go where
    progress goes, and the result (report and stdout) says how often and why."""
    with socket.socket() as s:  # a loopback port that nothing listens on: refused at once
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    condition = {"kind": "alert", "prometheus_url": f"http://127.0.0.1:{closed}", "alertname": "ApiDown"}
    control: dict[str, Any] = {"type": "python", "module": "sloctl.chaos.control"}
    control["arguments"] = {"stop_conditions": [condition]}
    # a pause after the action: the control's watcher, polling every 0.25 s, gets a few turns
    action: dict[str, Any] = {**cast(list[dict[str, Any]], TINY["method"])[0], "pauses": {"after": 1}}
    method = [action]
    path = tmp_path / "tiny.json"
    controls = [{"name": "safety", "provider": control}]
    path.write_text(json.dumps({**TINY, "method": method, "controls": controls}))
    argv = ["gameday", "run", str(path), "--report-dir", str(tmp_path / "r"), "--quiet"]
    quiet = run_sloctl(*argv, cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    reasons = json.loads((tmp_path / "r" / "report.json").read_text())["reasons"]
    said = [r for r in reasons if r.startswith("stop condition on alert ApiDown could not be evaluated ")]
    assert len(said) == 1 and "the run was not protected by it meanwhile" in said[0], reasons
