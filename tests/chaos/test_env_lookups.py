"""A game day's configuration may take sloctl's keys from the environment, as Chaos Toolkit
writes it (``{"type": "env", "key": "REDIS_URL"}``), in ``--config`` and in the experiment's own
block, so that connection strings and passwords stay out of the files kept in git; the timers
``gameday schedule`` writes are given those variables. Before, every such lookup was refused as
"must be a string", and nothing carried a variable to a scheduled run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaoslib.configuration import load_configuration
from hypothesis import given, settings
from hypothesis import strategies as st

from sloctl.chaos.env_lookups import resolve_lookups
from sloctl.chaos.experiments import SETTINGS, own_configuration
from sloctl.chaos.gameday import apply_configuration
from sloctl.chaos.schedule import environment_names, gameday_minutes, load_schedule
from sloctl.cli.main import main
from sloctl.spec.shape import Field
from tests.fixtures.experiments import CLOSED_TARGETS
from tests.paths import ROOT

CONNECTION_LOSS = ROOT / "chaos" / "connection-loss.json"
TEXT = {"value": Field("string")}
#: a password a message must never quote
SECRET = "s3cr3t-Pa55"


def _ctk(lookup: dict[str, Any], environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """What Chaos Toolkit's own ``load_configuration`` makes of ``lookup`` in ``environ``."""
    monkeypatch.delenv("VAR", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return load_configuration({"value": lookup})["value"]


@settings(max_examples=60, deadline=None)
@given(
    value=st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=40),
    kind=st.sampled_from([None, "str", "string"]),
    default=st.none() | st.text(max_size=10),
)
def test_a_text_lookup_resolves_as_chaos_toolkit_resolves_it(
    value: str, kind: str | None, default: str | None
) -> None:
    """Chaos Toolkit's ``load_configuration`` is the oracle: set or not, with a default or not."""
    lookup: dict[str, Any] = {"type": "env", "key": "VAR"}
    if kind is not None:
        lookup["env_var_type"] = kind
    if default is not None:
        lookup["default"] = default
    for environ in ({"VAR": value}, {}):
        ours, problems = resolve_lookups({"value": lookup}, TEXT, environ)
        saved = dict(os.environ)
        os.environ.pop("VAR", None)
        os.environ.update(environ)
        try:
            if "VAR" not in environ and default is None:
                assert problems and "VAR is not set" in problems[0]
                continue
            theirs = load_configuration({"value": lookup})["value"]
        finally:
            os.environ.clear()
            os.environ.update(saved)
        assert problems == [] and ours["value"] == theirs


@pytest.mark.parametrize(
    ("field", "kind", "text"),
    [
        (Field("integer"), "int", "42"),
        (Field("integer"), "integer", "-7"),
        (Field("number"), "float", "2.5"),
        (Field("number"), "number", "1e3"),
        (Field("boolean"), "bool", "no"),
        (Field("boolean"), "bool", "FALSE"),
        (Field("boolean"), "bool", "yes"),
        (Field("string"), "json", '"quoted"'),
    ],
)
def test_a_typed_lookup_converts_as_chaos_toolkit_converts_it(
    field: Field, kind: str, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookup = {"type": "env", "key": "VAR", "env_var_type": kind}
    ours, problems = resolve_lookups({"value": lookup}, {"value": field}, {"VAR": text})
    assert problems == []
    assert ours["value"] == _ctk(lookup, {"VAR": text}, monkeypatch)
    assert type(ours["value"]) is type(_ctk(lookup, {"VAR": text}, monkeypatch))


NOT_SET = (
    "environment variable {} is not set, and the lookup gives no default: set it where the game day"
    ' runs, or add "default" to the lookup'
)
TEXT_FOR = 'environment variable {} is text, and value is a {}: add "env_var_type": "{}" to the lookup'
NOT_READ = "environment variable PASSWORD does not read as {} (env_var_type)"
KINDS = "str, string, int, integer, float, number, bool, json"


@pytest.mark.parametrize(
    ("lookup", "kind", "said"),
    [
        ({"key": "VAR"}, "string", "value: " + NOT_SET.format("VAR")),
        ({"key": "RATE"}, "number", "value: " + TEXT_FOR.format("RATE", "number", "float")),
        (
            {"key": "SECONDS", "default": 5},
            "integer",
            "value: " + TEXT_FOR.format("SECONDS", "whole number", "int"),
        ),
        ({"key": "PASSWORD", "env_var_type": "int"}, "integer", "value: " + NOT_READ.format("int")),
        ({"key": "PASSWORD", "env_var_type": "json"}, "string", "value: " + NOT_READ.format("json")),
        (
            {"key": "VAR", "defualt": "x"},
            "string",
            "value.defualt: unknown field 'defualt' (did you mean 'default'?)",
        ),
        (
            {"key": "VAR", "env_var_type": "strin"},
            "string",
            f"value.env_var_type: env_var_type 'strin' is not one of {KINDS} (did you mean 'string'?)",
        ),
        ({}, "string", "value.key: missing required field 'key'"),
        (
            {"key": "2 VAR"},
            "string",
            "value.key: '2 VAR': a variable's name is letters, digits and _, not starting with a digit",
        ),
    ],
)
def test_a_lookup_that_cannot_be_resolved_is_named_without_quoting_the_value(
    lookup: dict[str, Any], kind: str, said: str
) -> None:
    lookup = {"type": "env", **lookup}
    resolved, problems = resolve_lookups({"value": lookup}, {"value": Field(kind)}, {"PASSWORD": SECRET})
    assert problems == [said]
    assert resolved["value"] == lookup  # kept as written: the caller refuses the run
    assert SECRET not in " ".join(problems)


def test_a_json_variable_that_holds_a_lookup_is_refused_not_looked_up_again() -> None:
    lookup = {"type": "env", "key": "VAR", "env_var_type": "json"}
    inner = json.dumps({"type": "env", "key": "PASSWORD"})
    resolved, problems = resolve_lookups({"value": lookup}, TEXT, {"VAR": inner, "PASSWORD": SECRET})
    assert problems == ["value: environment variable VAR holds a lookup, not a value (env_var_type json)"]
    assert resolved["value"] == lookup


def test_only_sloctl_keys_are_resolved_the_others_are_chaos_toolkits() -> None:
    own = {"type": "env", "key": "PAUSE"}
    resolved, problems = resolve_lookups({"pause_seconds": own}, SETTINGS.fields, {})
    assert resolved == {"pause_seconds": own} and problems == []


def _config(tmp_path: Path, **lookups: object) -> Path:
    path = tmp_path / "targets.json"
    path.write_text(json.dumps({**CLOSED_TARGETS, **lookups}))
    return path


def _dry_run(config: Path, *more: str) -> list[str]:
    return ["gameday", "run", str(CONNECTION_LOSS), "--config", str(config), "--dry-run", *more]


def test_config_lookups_give_the_dry_run_its_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(
        tmp_path,
        pgbouncer_dsn={"type": "env", "key": "PGBOUNCER_DSN"},
        gameday_seconds={"type": "env", "key": "GAMEDAY_SECONDS", "env_var_type": "int"},
    )
    monkeypatch.delenv("PGBOUNCER_DSN", raising=False)
    monkeypatch.setenv("GAMEDAY_SECONDS", "20")
    assert main(_dry_run(config)) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == (
        f"sloctl gameday run: --config {config}: pgbouncer_dsn: environment variable PGBOUNCER_DSN is"
        ' not set, and the lookup gives no default: set it where the game day runs, or add "default"'
        " to the lookup"
    ), err
    assert "must be a string" not in err and "Traceback" not in err
    monkeypatch.setenv("PGBOUNCER_DSN", f"postgresql://app:{SECRET}@127.0.0.1:9/platform")
    assert main(_dry_run(config)) == 0, capsys.readouterr().err
    assert "connection-loss: dry-run" in capsys.readouterr().out
    monkeypatch.setenv("GAMEDAY_SECONDS", "900")  # the resolved value is checked as a written one
    assert main(_dry_run(config)) == 2
    err = capsys.readouterr().err
    assert f"--config {config}: gameday_seconds: must be between 1 and 300" in err and SECRET not in err


def test_a_set_flag_may_give_a_lookup_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--set`` reads its value as JSON when it is: one rule for every place a value is given."""
    given = 'pgbouncer_dsn={"type": "env", "key": "PGB"}'
    monkeypatch.delenv("PGB", raising=False)
    assert main(_dry_run(_config(tmp_path), "--set", given)) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"sloctl gameday run: --set {given}: pgbouncer_dsn: environment variable PGB is not set"
    ), err
    monkeypatch.setenv("PGB", "host=127.0.0.1 port=9 dbname=platform")
    assert main(_dry_run(_config(tmp_path), "--set", given)) == 0, capsys.readouterr().err


def test_a_lookup_reaches_the_egress_guard_as_its_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard reads the resolved value: an outside address from the environment is refused."""
    config = _config(tmp_path, redis_url={"type": "env", "key": "REDIS_URL"})
    monkeypatch.setenv("REDIS_URL", "redis://192.0.2.1:6379/0")
    assert main(_dry_run(config)) == 1
    out = capsys.readouterr().out
    assert "refused: configuration redis_url: refusing to reach a game-day target at 192.0.2.1" in out


#: each kind of target, and what the refusal calls it
TARGET_KINDS = {
    "api_url": "an http(s) URL",
    "prometheus_url": "an http(s) URL",
    "pgbouncer_dsn": "a PostgreSQL connection string",
    "redis_url": "a Redis URL",
    "mongodb_uri": "a MongoDB URI",
}


@pytest.mark.parametrize("key", TARGET_KINDS)
def test_a_looked_up_target_that_is_no_address_is_refused_without_its_text(
    key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A password in the variable where the target belongs: the guard would quote it
    ("not 's3cr3t-Pa55'"); from the environment, the key and the variable are named instead."""
    monkeypatch.setenv("TARGET", SECRET)
    config = _config(tmp_path, **{key: {"type": "env", "key": "TARGET"}})
    assert main(_dry_run(config)) == 2
    out, err = capsys.readouterr()
    assert f"{key}: environment variable TARGET does not hold {TARGET_KINDS[key]} (its text is not" in err
    assert SECRET not in out + err
    # the same text written in the file is the user's own to see: the guard's refusal quotes it
    assert main(_dry_run(_config(tmp_path, **{key: SECRET}))) == 1
    assert f"refused: configuration {key}: " in capsys.readouterr().out


def test_the_experiment_s_own_lookups_are_resolved_unless_the_config_replaces_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment = json.loads(CONNECTION_LOSS.read_text())
    experiment["configuration"]["redis_url"] = {"type": "env", "key": "MY_REDIS"}
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps(experiment))
    monkeypatch.delenv("MY_REDIS", raising=False)
    config = tmp_path / "targets.json"
    config.write_text(json.dumps({k: v for k, v in CLOSED_TARGETS.items() if k != "redis_url"}))
    argv = ["gameday", "run", str(mine), "--config", str(config), "--dry-run"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"sloctl gameday run: {mine}: configuration: redis_url: environment variable MY_REDIS is not set"
    ), err
    assert "must be a string" not in err
    monkeypatch.setenv("MY_REDIS", "redis://127.0.0.1:9/0")
    assert main(argv) == 0, capsys.readouterr().err
    monkeypatch.delenv("MY_REDIS")  # --set gives it: the experiment's lookup is not read
    assert main([*argv, "--set", "redis_url=redis://127.0.0.1:9/1"]) == 0, capsys.readouterr().err


def test_chaos_toolkit_is_handed_the_resolved_values(monkeypatch: pytest.MonkeyPatch) -> None:
    experiment = {
        "configuration": {
            "redis_url": {"type": "env", "key": "MY_REDIS"},
            "load_rate": {"type": "env", "key": "RATE", "env_var_type": "float"},
            "pause_seconds": {"type": "env", "key": "PAUSE"},  # the experiment's own: Chaos Toolkit's
        }
    }
    monkeypatch.setenv("MY_REDIS", "redis://127.0.0.1:9/0")
    monkeypatch.setenv("RATE", "7.5")
    applied = apply_configuration(experiment, {"api_url": "http://127.0.0.1:9"})
    assert applied["configuration"] == {
        "redis_url": "redis://127.0.0.1:9/0",
        "load_rate": 7.5,
        "pause_seconds": {"type": "env", "key": "PAUSE"},
        "api_url": "http://127.0.0.1:9",
    }
    assert own_configuration(experiment, {"redis_url": "x"}, {})[1] == [
        "configuration: load_rate: environment variable RATE is not set, and the lookup gives no"
        ' default: set it where the game day runs, or add "default" to the lookup'
    ]


def _scheduled(tmp_path: Path, own: dict[str, Any], **lookups: object) -> Path:
    """A schedule of one game day, ``mine.json`` (connection-loss with ``own`` in its block),
    under ``targets.json`` (every target, ``lookups`` over them); the folder is the cwd."""
    experiment = json.loads(CONNECTION_LOSS.read_text())
    experiment["configuration"].update(own)
    (tmp_path / "mine.json").write_text(json.dumps(experiment))
    _config(tmp_path, **lookups)
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(
        "apiVersion: sloctl/v1\nkind: GamedaySchedule\nspec:\n  config: targets.json\n  gamedays:\n"
        "    - {experiment: mine.json, cron: '0 10 * * 1'}\n"
    )
    return schedule


def test_the_timers_are_given_the_variables_the_configuration_looks_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # the experiment's own REDIS_PW is not read on the day: the config file gives redis_url
    pause = {
        "pause_seconds": {"type": "env", "key": "PAUSE"},
        "redis_url": {"type": "env", "key": "REDIS_PW"},
    }
    schedule = _scheduled(
        tmp_path,
        pause,
        redis_url={"type": "env", "key": "REDIS_URL"},
        api_url={"type": "env", "key": "bad name"},
    )
    assert environment_names(load_schedule(schedule)) == ("PAUSE", "REDIS_URL")  # no bad name
    _config(tmp_path, redis_url={"type": "env", "key": "REDIS_URL"})  # schedule refuses one
    assert main(["gameday", "schedule", "--file", str(schedule), "-o", "out"]) == 0
    err = capsys.readouterr().err
    assert "look up PAUSE, REDIS_URL in the environment" in err, err
    service = (tmp_path / "out" / "systemd" / "sloctl-gameday-mine.service").read_text()
    assert "\nEnvironmentFile=%h/.config/sloctl/gameday.env\n" in service
    assert service.index("EnvironmentFile=") < service.index("ExecStart=")
    (job,) = [
        d for d in yaml.safe_load_all((tmp_path / "out" / "kubernetes" / "cronjobs.yaml").read_text()) if d
    ]
    container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": "sloctl-gameday", "key": name}}}
        for name in ("PAUSE", "REDIS_URL")
    ]
    workflow = yaml.safe_load((tmp_path / "out" / "github" / "gameday.yml").read_text())
    step = workflow["jobs"]["gameday"]["steps"][4]
    assert step["env"] == {"PAUSE": "${{ secrets.PAUSE }}", "REDIS_URL": "${{ secrets.REDIS_URL }}"}
    assert step["run"].startswith("sloctl gameday run ")


def test_a_looked_up_timing_counts_as_its_default_in_the_schedule_s_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GAMEDAY_SECONDS", "1")  # the timer's environment, not this one's

    def minutes(gameday_seconds: object) -> list[int]:
        return gameday_minutes(load_schedule(_scheduled(tmp_path, {}, gameday_seconds=gameday_seconds)))

    lookup = {"type": "env", "key": "GAMEDAY_SECONDS", "env_var_type": "int"}
    assert minutes({**lookup, "default": 300}) == minutes(300) != minutes(60)
    assert minutes(lookup) == minutes(60)  # no default: the key's own


def test_a_schedule_without_lookups_gives_its_timers_no_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["gameday", "schedule", "--file", str(ROOT / "chaos" / "schedule.yaml"), "-o", str(tmp_path)])
        == 0
    )
    assert "environment" not in capsys.readouterr().err
    assert not any("EnvironmentFile" in p.read_text() for p in (tmp_path / "systemd").iterdir())
    assert "secretKeyRef" not in (tmp_path / "kubernetes" / "cronjobs.yaml").read_text()
    assert "secrets." not in (tmp_path / "github" / "gameday.yml").read_text()


def test_a_lookup_no_environment_could_resolve_is_refused_by_schedule_at_its_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timers would exit 2 on the day, whatever their environment holds: said now."""
    monkeypatch.chdir(tmp_path)
    rate = {"load_rate": {"type": "env", "key": "RATE"}}
    schedule = _scheduled(tmp_path, rate, redis_url={"type": "env", "key": "REDIS_URL", "defualt": "x"})
    assert main(["gameday", "schedule", "--file", str(schedule), "-o", "out"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"error: {schedule}:4:11: spec.config: targets.json: redis_url.defualt: unknown field 'defualt'"
        " (did you mean 'default'?); its timers would exit 2 on the day",
        f"error: {schedule}:6:8: spec.gamedays[0].experiment: mine.json: configuration: load_rate:"
        ' environment variable RATE is text, and load_rate is a number: add "env_var_type": "float" to'
        " the lookup; its timer would exit 2 on the day",
        "2 error(s) in 1 file(s)",
    ]
    assert not (tmp_path / "out").exists()
