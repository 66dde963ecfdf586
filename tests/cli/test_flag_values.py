"""Every flag of every command that reads a number, a duration, a time or a network (found by
walking the parsers, so a new flag is covered without being listed) refuses ``nan``, ``inf``,
``1e308``, ``-1``, a word and the empty string: exit 2, the flag named, no traceback, nothing started.

Found by running each command with such values: ``explain --requests-per-second nan`` was a
traceback and ``-5`` an answer, ``loadtest --spawn-rate inf`` reached Locust, ``backtest --from
nan`` a traceback, ``serve --allow-host zz`` an EgressDenied traceback."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from sloctl.cli._common import COMMANDS, input_path, output_path
from sloctl.cli.main import build_parser, main
from tests.fixtures.stub_http import serve, vector
from tests.paths import ROOT

SLO = str(ROOT / "slos" / "platform-jobs.yaml")
API = str(ROOT / "slos" / "platform-api.yaml")
PROMETHEUS = ["--prometheus", "http://127.0.0.1:9"]
#: each command with everything else it needs, the flag under test added after it (a command the
#: flag would not stop does the least: one second, no servers where it can)
BASE: dict[tuple[str, ...], list[str]] = {
    ("validate",): ["validate", SLO],
    ("explain",): ["explain", SLO],
    ("generate",): ["generate", SLO, "-o", "{tmp}/out"],
    ("test",): ["test", str(ROOT / "rules" / "platform-jobs.yml")],
    ("convert",): ["convert", SLO, "--to", "openslo", "-o", "{tmp}/out"],
    ("gameday", "generate"): ["gameday", "generate", SLO, "-o", "{tmp}/out"],
    ("testbed", "up"): ["testbed", "up", "--for", "1s", "--workdir", "{tmp}/work"],
    ("loadtest",): [
        "loadtest",
        "steady",
        "--slos",
        API,
        "--host",
        "http://127.0.0.1:9",
        "--duration",
        "1s",
        "--report-dir",
        "{tmp}",
    ],
    ("gameday", "rig"): ["gameday", "rig", "--for", "1s", "--slos", API, "--workdir", "{tmp}/work"],
    ("gameday", "run"): ["gameday", "run", str(ROOT / "chaos" / "connection-loss.json"), "--dry-run"],
    ("gameday", "suite"): ["gameday", "suite", "--file", str(ROOT / "chaos" / "schedule.yaml"), "--dry-run"],
    ("backtest",): ["backtest", SLO, *PROMETHEUS, "--from", "0", "--to", "3600"],
    ("status",): ["status", *PROMETHEUS],
    ("gate",): ["gate", *PROMETHEUS],
    ("serve",): ["serve", *PROMETHEUS, "--for", "1s"],
    ("collector", "run"): ["collector", "run"],
    ("collector", "check"): ["collector", "check"],
    ("gameday", "schedule"): ["gameday", "schedule", "-o", "{tmp}/out"],
}
VALUES = ("nan", "inf", "1e308", "-1", "zz", "")


def _parsers() -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """(command path, parser) of every command and sub-command."""

    def walk(
        parser: argparse.ArgumentParser, path: tuple[str, ...]
    ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
        yield path, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, (*path, name))

    for command in COMMANDS:
        parser = build_parser(command)
        (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        yield from walk(sub.choices[command], (command,))


def _reads_a_path(action: argparse.Action) -> bool:
    """Whether ``action`` names a file or folder to read (its type made by ``input_path``)."""
    return getattr(action.type, "__qualname__", "").startswith(f"{input_path.__qualname__}.")


def _writes_a_path(action: argparse.Action) -> bool:
    """Whether ``action`` names a file or folder to write (its type made by ``output_path``)."""
    return getattr(action.type, "__qualname__", "").startswith(f"{output_path.__qualname__}.")


def _typed_flags() -> Iterator[tuple[tuple[str, ...], str]]:
    """(command path, flag) of every option whose argparse type converts its text (a path is not
    converted: :func:`test_a_flag_that_names_a_path_to_read_refuses_standard_input`,
    :func:`test_a_flag_that_names_a_path_to_write_refuses_an_empty_one`)."""
    for path, parser in _parsers():
        for action in parser._actions:
            names_a_path = _reads_a_path(action) or _writes_a_path(action)
            if action.option_strings and action.type not in (None, str, Path) and not names_a_path:
                yield path, action.option_strings[-1]


CASES = sorted(set(_typed_flags()))


def test_every_command_with_a_typed_flag_has_a_base_command_line() -> None:
    assert len(CASES) >= 25
    assert {path for path, _ in CASES} <= set(BASE), "add the command to BASE"


def test_every_command_that_reads_a_prometheus_takes_its_token_and_the_networks_it_may_be_in() -> None:
    readers = {}
    for path, parser in _parsers():
        flags = {flag: action for action in parser._actions for flag in action.option_strings}
        if "--prometheus" in flags:
            readers[path] = flags
    assert set(readers) == {("validate",), ("backtest",), ("serve",), ("status",), ("gate",)}
    for path, flags in readers.items():
        assert "--prometheus-token-file" in flags, path
        # the one network flag says which address it widens the loopback guard for
        assert "--prometheus" in (flags["--allow-host"].help or ""), path


def _run_with(
    path: tuple[str, ...],
    flag: str,
    value: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    base: list[str] | None = None,
) -> tuple[list[str], int | str | None, str]:
    """``sloctl`` run in-process with the command ``path``'s BASE arguments (or ``base``), ``flag``
    given ``value``: its arguments, its exit code (argparse's refusal included) and its stderr."""
    argv = [a.replace("{tmp}", str(tmp_path)) for a in base or BASE[path]]
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    else:
        argv += [flag, value]
    code: int | str | None
    try:
        code = main(argv)
    except SystemExit as exited:  # argparse's refusal
        code = exited.code
    return argv, code, capsys.readouterr().err


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize(("path", "flag"), CASES, ids=[f"{' '.join(p)} {f}" for p, f in CASES])
def test_a_typed_flag_refuses_a_value_that_is_not_one_by_name(
    path: tuple[str, ...], flag: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, code, err = _run_with(path, flag, value, tmp_path, capsys)
    assert code == 2, (argv, err)
    assert flag in err and "Traceback" not in err, err
    assert not (tmp_path / "work").exists() and not (tmp_path / "out").exists(), "nothing made"


def test_an_empty_sloth_period_is_refused_not_read_as_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    """``--sloth-period ''`` was taken for no flag at all: Sloth's 30d, exit 0."""
    with pytest.raises(SystemExit) as exited:
        main(["validate", SLO, "--sloth-period", ""])
    assert exited.value.code == 2
    assert "argument --sloth-period: '' is not a Prometheus duration" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["gameday", "rig", "--for", "1s"], "--slos: the default slos/platform-api.yaml is not in"),
        (["serve", "--demo", "--for", "1s"], "PATH: the default slos is not in"),
    ],
    ids=["gameday rig", "serve --demo"],
)
def test_a_default_slo_path_missing_from_the_working_folder_is_a_usage_error_naming_the_flag(
    argv: list[str],
    said: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Run outside the project folder, these said "slos/…:1:1: no such file or directory" (exit
    1), as if the user had named that file."""
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err and f"not in {tmp_path}; run from the project folder, or give" in err, err
    assert not any(tmp_path.iterdir())  # nothing started, nothing written


#: every command that takes --prometheus, with what else it needs
WITH_PROMETHEUS = {
    "status": ["status"],
    "gate": ["gate"],
    "validate": ["validate", API],
    "backtest": ["backtest", SLO, "--from", "0", "--to", "3600"],
    "serve": ["serve", "--for", "1s", "--listen", "127.0.0.1:0"],
}


@pytest.mark.parametrize("tail", ["?x=1", "#frag", "/prometheus?"])
@pytest.mark.parametrize("argv", list(WITH_PROMETHEUS.values()), ids=list(WITH_PROMETHEUS))
def test_a_prometheus_url_with_a_query_string_or_fragment_is_a_usage_error_before_any_request(
    argv: list[str], tail: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``status --prometheus 'http://…?x=1'`` sent ``GET /?query=…`` and said "Prometheus knows
    no SLO" (exit 2 for the wrong reason)."""
    with serve(lambda request: vector()) as stub:
        assert main([*argv, "--prometheus", stub.url + tail]) == 2
    out, err = capsys.readouterr()
    assert f"sloctl {argv[0]}: --prometheus must be Prometheus' base URL" in err, err
    assert "valid:" not in out  # validate said "valid" before the usage error
    assert "without a query string or fragment" in err and "Traceback" not in err
    assert stub.requests == []


#: A value far above what each number flag of the commands that start load, servers or a game
#: day may take, and the bound its refusal states: ``loadtest --users 1000000000`` and ``testbed
#: up --backup-workers 100000`` were accepted (the first would have started a billion users).
HUGE: dict[tuple[tuple[str, ...], str], tuple[str, str]] = {
    (("loadtest",), "--users"): ("1000000000", "--users 1000000000: give 1 to 1,000 (what one machine's"),
    (("loadtest",), "--spawn-rate"): (
        "1e7",
        "--spawn-rate 1e+07: give a number above 0 and at most 1,000,000",
    ),
    (("loadtest",), "--user-rps"): ("1e7", "--user-rps 1e+07: give a number above 0 and at most 1,000,000"),
    (("loadtest",), "--rate"): ("1e7", "--rate 1e+07: give a number from 0 to 1,000,000"),
    (("loadtest",), "--duration"): ("2d", "--duration 2d: give more than 0 and at most 1d"),
    (("loadtest",), "--processes"): ("1000", "--processes 1000: give 0 to "),
    (("testbed", "up"), "--backup-workers"): ("100000", "argument --backup-workers: 100000: give 1 to 32 ("),
    (("testbed", "up"), "--backup-queue"): ("100000", "argument --backup-queue: 100000: give 1 to 1,000 ("),
    (("testbed", "up"), "--rate-burst"): (
        "1000001",  # taken before: 1,000,000,000 was its bound
        "argument --rate-burst: 1000001: give 1 to 1,000,000 (a second's worth at the highest --rate-limit)",
    ),
    (("testbed", "up"), "--rate-limit"): (
        "1e10",
        "argument --rate-limit: 1e10: give a number above 0 and at most 1,000,000 (a higher limit",
    ),
    (("testbed", "up"), "--breaker-open-seconds"): (
        "1e10",
        "argument --breaker-open-seconds: 1e10: give a number above 0 and at most 604,800 (a week,",
    ),
    (("testbed", "up"), "--backup-timeout"): (
        "1e10",
        "argument --backup-timeout: 1e10: give a number above 0 and at most 3,600 (a dump takes",
    ),
    (("testbed", "up"), "--port"): (
        "70000",
        "argument --port: 70000: give 1 to 65,535 (the highest TCP port)",
    ),
    (("testbed", "up"), "--for"): ("8d", "argument --for: 8d: give at most 1w, a week"),
    (("testbed", "up"), "--start-timeout"): (
        "1e9",
        "argument --start-timeout: 1e9: give a number from 1 to 3,600 (a server not ready after an hour",
    ),
    (("gameday", "rig"), "--fast-reset"): (
        "1000000000",
        "the base window (300s) does not divide by 1000000000",
    ),
    (("gameday", "rig"), "--for"): ("8d", "argument --for: 8d: give at most 1w, a week"),
    (("gameday", "rig"), "--start-timeout"): (
        "1e9",
        "argument --start-timeout: 1e9: give a number from 1 to 3,600 (a server not ready after an hour",
    ),
    (("loadtest",), "--max-requests"): (
        "1" + "0" * 400,  # taken before: infinity to Locust's process, which reads it as a float
        "--max-requests 1" + "0" * 400 + ": give 0 to 86,400,000,000 (0: no limit; the most a run sends",
    ),
    # bounded in a breakpoint search only (other scenarios refuse them whatever they say): SEARCH
    (("loadtest",), "--breakpoint-at-least"): (
        "1000000000",
        "--breakpoint-at-least 1000000000: the search reaches",
    ),
    (("loadtest",), "--breakpoint-alpha"): (
        "1e9",
        "--breakpoint-alpha 1e+09: give a probability above 0 and below 1",
    ),
    (("loadtest",), "--breakpoint-step"): ("2d", "--breakpoint-step 172800s: give 1s to 1d"),
}
#: Loadtest's BASE as a breakpoint search long enough for steps of 5 s, for the flags it alone reads.
#: (A list of flags exempt from HUGE, each with its reason, let --max-requests through unbounded:
#: its reason, "the run ends at --duration whatever it says", was never run. Every number flag of
#: those commands is now refused above its bound by a case that runs.)
SEARCH = [{"steady": "breakpoint", "1s": "100s"}.get(a, a) for a in BASE[("loadtest",)]]
#: typed flags of those commands that take no number
NOT_A_NUMBER = {"--allow-host", "--prometheus-token-file"}
STARTERS = {("loadtest",), ("testbed", "up"), ("gameday", "rig"), ("gameday", "run"), ("gameday", "suite")}


def test_every_number_flag_of_a_command_that_starts_load_or_servers_has_an_upper_bound_tested() -> None:
    numbers = {(path, flag) for path, flag in CASES if path in STARTERS and flag not in NOT_A_NUMBER}
    assert numbers == set(HUGE)
    # the collector's only flag is its file
    assert not [flag for path, flag in CASES if path[0] == "collector"]


@pytest.mark.parametrize(("case", "huge"), list(HUGE.items()), ids=[f"{' '.join(p)} {f}" for p, f in HUGE])
def test_a_number_flag_refuses_a_value_beyond_its_bound_saying_the_bound(
    case: tuple[tuple[str, ...], str],
    huge: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (path, flag), (value, said) = case, huge
    base = SEARCH if flag.startswith("--breakpoint-") else None
    argv, code, err = _run_with(path, flag, value, tmp_path, capsys, base)
    assert code == 2, (argv, err)
    assert said in err and "Traceback" not in err, err
    assert not (tmp_path / "work").exists(), "nothing started"


def test_the_backup_queue_bound_is_the_jobs_the_api_keeps() -> None:
    """The API refuses to start with a queue longer than the jobs it keeps (sloctl does not
    import the testbed package, so the figure is written in sloctl.limits again)."""
    import inspect

    from sloctl.limits import MAX_BACKUP_QUEUE
    from testbed.backups import BackupJobs

    assert inspect.signature(BackupJobs).parameters["keep"].default == MAX_BACKUP_QUEUE


@pytest.mark.parametrize("port", ["0", "00", "70000"])
@pytest.mark.parametrize(
    "argv",
    [*WITH_PROMETHEUS.values(), ["loadtest", "steady", "--slos", API, "--duration", "1s", "--host"]],
    ids=[*WITH_PROMETHEUS, "loadtest"],
)
def test_a_url_whose_port_no_server_listens_on_is_a_usage_error_naming_the_flag(
    argv: list[str],
    port: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--prometheus http://127.0.0.1:0`` was read as port 80 ("connection refused", exit 1 or
    3), and ``:70000`` said only "must be an http(s) URL"."""
    monkeypatch.chdir(tmp_path)  # loadtest's report folder, were it made
    flag = "--host" if argv[0] == "loadtest" else "--prometheus"
    url = f"http://127.0.0.1:{port}"
    assert main([*argv, url] if flag == "--host" else [*argv, flag, url]) == 2
    out, err = capsys.readouterr()
    said = f"{flag} {url}: its port is not one a server listens on; give a port from 1 to 65535"
    assert f"sloctl {argv[0]}: {said}" in err, err
    assert "Traceback" not in err and "valid:" not in out
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("port", ["0", "00", "70000", "x"])
@pytest.mark.parametrize("path", [("generate",), ("serve",)], ids=["generate", "serve"])
def test_a_grafana_url_whose_port_no_server_listens_on_is_refused_as_the_url_flags_refuse_it(
    path: tuple[str, ...], port: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--grafana-url http://…:0`` was taken and linked from every page and notification."""
    url = f"http://127.0.0.1:{port}"
    argv, code, err = _run_with(path, "--grafana-url", url, tmp_path, capsys)
    assert code == 2, (argv, err)
    said = "its port is not one a server listens on; give a port from 1 to 65535"
    assert f"--grafana-url: '{url}': {said}" in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()


#: the flags with a FILE or DIR that are written, each typed by output_path and checked by
#: output_dir or output_file (but ``convert -o -``, standard output)
WRITTEN = {"--output", "--report-dir", "--workdir", "--write-config", "--config-out", "--report"}
#: (command path, flag) of every flag that names a file or folder to read
READ = sorted(
    (path, action.option_strings[-1])
    for path, parser in _parsers()
    for action in parser._actions
    if _reads_a_path(action) or action.option_strings[-1:] == ["--prometheus-token-file"]
)


def test_every_flag_that_names_a_file_or_folder_is_read_as_one_or_written_as_one() -> None:
    named = {
        action.option_strings[-1]
        for _path, parser in _parsers()
        for action in parser._actions
        if action.option_strings and action.metavar in ("FILE", "DIR")
    }
    assert named == {flag for _path, flag in READ} | WRITTEN
    # testbed up --rules - and serve --gamedays - looked for a folder called -
    assert {"--config", "--file", "--windows", "--basic-auth-file", "--rules", "--gamedays"} <= {
        flag for _path, flag in READ
    }
    assert {flag for _path, flag in WRITE} == WRITTEN
    # -o '' of these wrote into the working folder (``Path('')`` is ``.``)
    assert {("convert",), ("generate",), ("gameday", "generate"), ("gameday", "schedule")} <= {
        path for path, flag in WRITE if flag == "--output"
    }


@pytest.mark.parametrize("value", ["-", ""])
@pytest.mark.parametrize(("path", "flag"), READ, ids=[f"{' '.join(p)} {f}" for p, f in READ])
def test_a_flag_that_names_a_path_to_read_refuses_standard_input(
    path: tuple[str, ...], flag: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--config -`` said "-:1:1: no such file or directory" (exit 1), as if a file called
    ``-`` were meant; ``--config ''`` was taken for no project file at all."""
    with pytest.raises(SystemExit) as exited:
        main([*(a.replace("{tmp}", str(tmp_path)) for a in BASE[path]), flag, value])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    said = "- (standard input) is not accepted here; give a " if value else "'' is not a path; give a "
    assert f"argument {flag}: {said}" in err, err


#: (command path, flag) of every flag typed by output_path
WRITE = sorted(
    (path, action.option_strings[-1])
    for path, parser in _parsers()
    for action in parser._actions
    if _writes_a_path(action)
)


@pytest.mark.parametrize(("path", "flag"), WRITE, ids=[f"{' '.join(p)} {f}" for p, f in WRITE])
def test_a_flag_that_names_a_path_to_write_refuses_an_empty_one(
    path: tuple[str, ...],
    flag: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``testbed up --workdir ''`` was taken for the working folder (``Path('')`` is ``.``), where the
    testbed's databases would have gone, and been kept; ``convert -o ''``, ``gameday generate -o ''``
    and ``gameday schedule -o ''`` wrote their files there."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main([*(a.replace("{tmp}", str(tmp_path)) for a in BASE[path]), flag, ""])
    assert exited.value.code == 2
    # argparse names the flag by all its spellings: "argument -o/--output: ''"
    assert re.search(rf"argument (-\w/)?{flag}: '' is not a path; give a ", capsys.readouterr().err)
    assert not any(tmp_path.iterdir()), "nothing written"


OUTPUTS = {
    "generate": ["generate", SLO, "-o"],
    "gameday generate": ["gameday", "generate", SLO, "-o"],
    "backtest": ["backtest", SLO, "--scenario", "full_outage", "--report"],
    "loadtest": [*BASE[("loadtest",)][:-2], "--report-dir"],
    "testbed up": ["testbed", "up", "--for", "1s", "--workdir"],
    "gameday rig": ["gameday", "rig", "--for", "1s", "--slos", API, "--config-out"],
}


@pytest.mark.parametrize("argv", list(OUTPUTS.values()), ids=list(OUTPUTS))
def test_a_flag_that_names_a_path_to_write_refuses_standard_output(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``generate -o -`` wrote its files into a folder called ``-``, ``backtest --report -`` a
    file called ``-``, where standard output was meant."""
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "-"]) == 2
    assert f"{argv[-1]} -: standard output is not accepted here; give a " in capsys.readouterr().err
    assert not any(tmp_path.iterdir()), "nothing written"
