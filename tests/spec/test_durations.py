"""One duration grammar: every flag and field that takes a duration reads it the same way."""

from __future__ import annotations

import argparse
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sloctl.cli._foreground import duration_flag
from sloctl.cli.main import build_parser
from sloctl.durations import (
    DURATION_PATTERN,
    DurationError,
    format_duration,
    parse_duration,
    parse_seconds,
)
from sloctl.spec.shape import pattern_matches


@pytest.mark.parametrize(
    "argv",
    [
        ["loadtest", "steady", "--host", "http://127.0.0.1:1", "--duration", "1h30m"],
        ["testbed", "up", "--for", "1h30m"],
        ["gameday", "rig", "--for", "1h30m"],
    ],
)
def test_1h30m_is_read_by_every_duration_flag(argv: list[str]) -> None:
    assert build_parser(argv[0]).parse_args(argv).duration == 5400.0


def test_a_flag_names_the_grammar_when_a_duration_is_malformed() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not a Prometheus duration such as"):
        duration_flag("soon")
    with pytest.raises(argparse.ArgumentTypeError, match="largest to smallest"):
        duration_flag("30s1m")
    for other_digits in ("３０d", "٣٠d"):  # Unicode digits are digits to \d, not to Prometheus
        with pytest.raises(argparse.ArgumentTypeError, match="not a Prometheus duration such as"):
            duration_flag(other_digits)


@pytest.mark.parametrize(
    "command", [["serve", "--prometheus", "http://127.0.0.1:9"], ["testbed", "up"], ["gameday", "rig"]]
)
def test_for_is_at_most_the_week_a_foreground_command_runs(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--for 8d`` ran for the week the help promises at most, saying nothing."""
    with pytest.raises(SystemExit) as exited:
        build_parser(command[0]).parse_args([*command, "--for", "8d"])
    assert exited.value.code == 2
    assert "argument --for: 8d: give at most 1w, a week" in capsys.readouterr().err
    assert build_parser(command[0]).parse_args([*command, "--for", "7d"]).duration == 7 * 86400


def test_rule_durations_refuse_milliseconds_and_timers_take_them() -> None:
    with pytest.raises(DurationError, match="milliseconds"):
        parse_duration("1500ms")
    assert parse_seconds("1s500ms") == 1.5


@given(st.integers(min_value=1, max_value=10**9))
def test_every_formatted_duration_parses_back_and_matches_the_schema_pattern(seconds: int) -> None:
    text = format_duration(seconds)
    assert parse_duration(text) == seconds
    assert parse_seconds(text) == seconds
    assert re.match(DURATION_PATTERN, text)


@given(st.text(alphabet="0123456789ymwdhs\n", max_size=8))
def test_the_parser_and_the_schema_pattern_accept_the_same_strings(text: str) -> None:
    """As the schema's readers match it (``5m\\n`` was 300 s to sloctl, an error to an editor)."""
    try:
        parse_seconds(text)
        parsed = True
    except DurationError as exc:
        parsed = "longer than zero" in str(exc) or "longer than Prometheus" in str(exc)
    assert parsed == pattern_matches(DURATION_PATTERN, text)
