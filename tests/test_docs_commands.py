"""Every ``sloctl`` command line in the README's and docs/'s code blocks is one the parser takes:
its command exists, its flags exist and its required arguments are there. A renamed flag
(``gameday generate --slo`` became a PATH, ``schema --project`` became ``--kind Project``)
fails here until the docs say the new one. Nothing is run: the lines are parsed, not executed.

Synopsis lines (``[--slo ID ...]``) and output lines (``sloctl backtest: shop-…: …``) are not
command lines and are left out."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from sloctl.cli._common import COMMANDS
from sloctl.cli.main import build_parser
from tests.paths import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_SEPARATORS = re.compile(r"\s(?:&&|\|\||\|)\s")
_SYNOPSIS = re.compile(r"\[|\.\.\.|…")


def command_lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, command)`` of each ``sloctl`` command in the file's code blocks, with
    continued lines joined, comments, redirections and a trailing ``&`` dropped."""
    found: list[tuple[int, str]] = []
    in_block = False
    held = ""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if raw.startswith("```"):
            in_block, held = not in_block, ""
            continue
        if not in_block:
            continue
        line = held + raw.strip()
        if line.endswith("\\"):
            held = line[:-1] + " "
            continue
        held = ""
        for part in _SEPARATORS.split(line):
            part = re.split(r"\s+#\s", part.strip().removeprefix("$ "))[0]
            part = re.sub(r"\s+[12]?>.*$", "", part).removesuffix("&").strip()
            words = part.split()
            if len(words) < 2 or words[0] != "sloctl" or _SYNOPSIS.search(part):
                continue
            if words[1].endswith(":"):
                continue  # a line of output, such as "sloctl backtest: …"
            found.append((number, part))
    return found


CASES = [
    pytest.param(line, id=f"{path.relative_to(ROOT)}:{number}")
    for path in DOCS
    for number, line in command_lines(path)
]


def test_the_docs_have_command_lines_to_check() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("line", CASES)
def test_a_documented_command_line_is_one_the_parser_takes(line: str) -> None:
    argv = shlex.split(line)[1:]
    assert argv[0] in COMMANDS, f"{line}: no command {argv[0]!r}"
    try:
        build_parser(argv[0]).parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{line}: the parser refuses it (exit {exc.code}); see its error above")
