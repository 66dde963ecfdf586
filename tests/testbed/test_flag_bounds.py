"""Every number flag of ``python -m testbed`` refuses a value below its bound, above it and one
that is no number, naming the flag and the bound (argparse's exit 2), before anything starts; and
the flags ``sloctl testbed up`` takes too are refused in the same words, from the one definition
(``sloctl.limits``).

Found by running the testbed's own command line: ``--rate-limit 1e300``, ``--rate-burst -5``,
``--pool-size 0``, ``--breaker-open-seconds nan`` and ``--keep-alive -1`` were taken (a traceback
from the config, or a server that started with them), where ``sloctl testbed up`` refused its copies.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sloctl.cli.main import build_parser as sloctl_parser
from sloctl.cli.main import main as sloctl
from testbed.__main__ import build_parser, main
from testbed.breaker import BreakerSettings

#: flag -> (a value below its bound, one above it, the highest it takes, the bound as refused, and
#: its reason, which a value out of range is told)
BOUNDS: dict[str, tuple[str, str, str, str, str]] = {
    "--port": ("0", "65536", "65535", "give 1 to 65,535", "(the highest TCP port)"),
    "--pool-size": ("0", "201", "200", "give 1 to 200", "(the testbed's PgBouncer takes 200 clients)"),
    "--breaker-open-seconds": (
        "0",
        "1e300",
        "604800",
        "give a number above 0 and at most 604,800",
        "(a week, the longest a testbed runs)",
    ),
    "--breaker-window-seconds": (
        "0.5",
        "604801",
        "604800",
        "give a number from 1 to 604,800",
        "(a bucket of the window at least, a week at most)",
    ),
    "--breaker-minimum-calls": (
        "0",
        "1000001",
        "1000000",
        "give 1 to 1,000,000",
        "(a breaker waiting for more",
    ),
    "--default-timeout": (
        "0",
        "601",
        "600",
        "give a number above 0 and at most 600",
        "(sixty times the plan's longest call timeout)",
    ),
    "--postgres-timeout": (
        "-1",
        "601",
        "600",
        "give a number above 0 and at most 600",
        "(sixty times the plan's longest call timeout)",
    ),
    "--mongodb-timeout": (
        "0",
        "1e9",
        "600",
        "give a number above 0 and at most 600",
        "(sixty times the plan's longest call timeout)",
    ),
    "--redis-timeout": (
        "0",
        "601",
        "600",
        "give a number above 0 and at most 600",
        "(sixty times the plan's longest call timeout)",
    ),
    "--postgres-failure-ratio": (
        "0",
        "1.5",
        "1",
        "give a number above 0 and at most 1",
        "(a share of the window's calls)",
    ),
    "--mongodb-failure-ratio": (
        "-0.5",
        "2",
        "1",
        "give a number above 0 and at most 1",
        "(a share of the window's calls)",
    ),
    "--redis-failure-ratio": (
        "0",
        "1.01",
        "1",
        "give a number above 0 and at most 1",
        "(a share of the window's calls)",
    ),
    "--rate-limit": (
        "-5",
        "1e300",
        "1e6",
        "give a number above 0 and at most 1,000,000",
        "(a higher limit would refuse no request)",
    ),
    "--rate-burst": ("-5", "1000001", "1000000", "give 1 to 1,000,000", "(a second's worth at the highest"),
    "--backup-workers": ("0", "33", "32", "give 1 to 32", "(each dump holds a session"),
    "--backup-queue": ("0", "1001", "1000", "give 1 to 1,000", "(the API keeps its last 1,000 backup jobs)"),
    "--backup-timeout": (
        "0",
        "3601",
        "3600",
        "give a number above 0 and at most 3,600",
        "(a dump takes under a second",
    ),
    "--body-timeout": (
        "0",
        "601",
        "600",
        "give a number above 0 and at most 600",
        "(each wait holds one of the server's connections)",
    ),
    "--head-timeout": (
        "-1",
        "1e300",
        "600",
        "give a number above 0 and at most 600",
        "(each wait holds one of the server's connections)",
    ),
    "--keep-alive": (
        "-1",
        "601",
        "600",
        "give 1 to 600",
        "(each wait holds one of the server's connections)",
    ),
}
#: values that are no number (or no whole number) for any of them
NOT_NUMBERS = ("nan", "inf", "zz", "")


def _number_flags(parser: argparse.ArgumentParser) -> set[str]:
    """The options of ``parser`` whose argparse type converts the text (a path's is not)."""
    return {
        action.option_strings[-1]
        for action in parser._actions
        if action.option_strings and action.type not in (None, str, Path)
    }


def test_every_number_flag_of_the_testbed_has_a_row() -> None:
    assert _number_flags(build_parser()) == set(BOUNDS)


#: (flag, value, what the refusal says after ``argument FLAG: ``: out of range, the value, the
#: bound and why; for no number, at least the bound, checked for every case)
CASES = [
    *(
        (flag, value, f"{value}: {bound} {why}")
        for flag, (low, high, _, bound, why) in BOUNDS.items()
        for value in (low, high)
    ),
    *((flag, value, "") for flag in BOUNDS for value in NOT_NUMBERS),
]


@pytest.mark.parametrize(("flag", "value", "said"), CASES, ids=[f"{f} {v!r}" for f, v, _ in CASES])
def test_a_number_flag_out_of_its_bounds_is_refused_naming_the_flag_and_the_bound(
    flag: str, value: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Below, above, or no number at all: the flag named, the bound given (and, out of range, why)."""
    argv = ["--port", "1", "--backup-dir", str(tmp_path / "backups"), "--audit-log", str(tmp_path / "audit")]
    with pytest.raises(SystemExit) as exited:
        main([*argv, flag, value])
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert f"argument {flag}: {said}" in err and BOUNDS[flag][3] in err and "Traceback" not in err, err
    assert not any(tmp_path.iterdir()), "nothing started"


def test_the_highest_value_of_each_flag_is_taken() -> None:
    """A bound is a value, not a refusal: ``--pool-size 200`` starts a pool of 200."""
    argv = [part for flag, (_, _, highest, _, _) in BOUNDS.items() for part in (flag, highest)]
    args = vars(build_parser().parse_args(argv))
    for flag, (_, _, highest, _, _) in BOUNDS.items():
        assert args[flag[2:].replace("-", "_")] == float(highest), flag


def test_the_narrowest_breaker_window_is_the_narrowest_the_breaker_takes() -> None:
    """``--breaker-window-seconds 0.5`` reached the breaker, which refused it naming its own field
    (``bucket_seconds must not exceed window_seconds``): the flag's bound is the breaker's rule."""
    narrowest = build_parser().parse_args(["--port", "1", "--breaker-window-seconds", "1"])
    assert BreakerSettings(window_seconds=narrowest.breaker_window_seconds).window_seconds == 1.0
    with pytest.raises(ValueError, match="bucket_seconds must not exceed window_seconds"):
        BreakerSettings(window_seconds=0.999)


def _testbed_up() -> argparse.ArgumentParser:
    """``sloctl testbed up``'s parser."""
    (sub,) = (a for a in sloctl_parser("testbed")._actions if isinstance(a, argparse._SubParsersAction))
    (up_sub,) = (a for a in sub.choices["testbed"]._actions if isinstance(a, argparse._SubParsersAction))
    up: argparse.ArgumentParser = up_sub.choices["up"]
    return up


#: the number flags ``sloctl testbed up`` passes on to the testbed
SHARED = sorted(_number_flags(_testbed_up()) & set(BOUNDS))


def test_sloctl_testbed_up_passes_on_the_flags_it_bounds() -> None:
    """The flags of ``testbed up`` that the testbed takes too: each is compared below."""
    passed_on = ["--port", "--breaker-open-seconds", "--rate-limit", "--rate-burst"]
    passed_on += ["--backup-workers", "--backup-queue", "--backup-timeout"]
    assert sorted(passed_on) == SHARED


@pytest.mark.parametrize("flag", SHARED)
def test_sloctl_testbed_up_refuses_the_same_value_in_the_same_words(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One bound, one reason: the copy ``sloctl testbed up`` passes on is checked as the testbed
    checks it, so neither can take a value the other refuses."""
    value = BOUNDS[flag][1]
    with pytest.raises(SystemExit):
        main(["--port", "1", flag, value])
    testbed_said = capsys.readouterr().err.split(f"argument {flag}: ", 1)[1]
    with pytest.raises(SystemExit) as exited:
        sloctl(["testbed", "up", "--for", "1s", "--workdir", str(tmp_path / "work"), flag, value])
    assert exited.value.code == 2
    assert capsys.readouterr().err.split(f"argument {flag}: ", 1)[1] == testbed_said
    assert not (tmp_path / "work").exists()
