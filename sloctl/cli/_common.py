"""What every command shares: the one path to exit code 2 (:class:`UsageError`), and loading
SLO files with their errors printed once (:func:`load_slos`).

A command raises :class:`UsageError` for a flag or argument the user must change, and
:class:`InputErrors` when the SLO files it was given do not load; ``sloctl.cli.main`` prints
either (after the command's name, or as ``error:`` lines with a count) and returns 2 or 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sloctl.durations import DurationError, parse_duration
from sloctl.errors import SpecError
from sloctl.spec import LoadResult, load_paths
from sloctl.spec.project import FILE_NAME, SETTINGS, Project, find_project, load_project

__all__ = [
    "InputErrors",
    "UsageError",
    "add_allow_host_argument",
    "add_input_arguments",
    "add_live_prometheus_arguments",
    "load_slos",
    "load_slos_of",
    "print_input_errors",
]


class UsageError(Exception):
    """A flag or argument the user must change; the message names it and says what to do."""


class InputErrors(Exception):
    """The SLO files given do not load; every error is in ``errors`` (exit 1)."""

    def __init__(self, errors: Sequence[SpecError]) -> None:
        super().__init__(f"{len(errors)} error(s)")
        self.errors = list(errors)


def print_input_errors(errors: Sequence[SpecError]) -> None:
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    files = len({e.location.file for e in errors})
    print(f"{len(errors)} error(s) in {files} file(s)", file=sys.stderr)


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    """The SLO inputs of validate, explain and generate: paths, the project file and its
    include/exclude globs, extra window catalogs, Sloth's default period."""
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="SLO files or directories (searched recursively; - reads standard input)",
    )
    p.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help=f"project file (default: {FILE_NAME} in the first directory given; docs/spec.md, Project file)",
    )
    for key in ("include", "exclude"):
        setting = next(s for s in SETTINGS if s.key == key)
        p.add_argument(setting.flag, action="append", default=[], metavar="GLOB", help=setting.help)
    p.add_argument(
        "--windows",
        action="append",
        default=[],
        metavar="DIR",
        help="extra burn-rate window catalogs (AlertWindows documents)",
    )
    p.add_argument(
        "--sloth-period",
        default=None,
        metavar="DURATION",
        help="period of Sloth-format SLOs, as Sloth's --default-slo-period (default 30d)",
    )


def add_live_prometheus_arguments(p: argparse.ArgumentParser) -> None:
    """``--prometheus``, ``--time`` and ``--allow-host`` of the commands that read a live
    Prometheus (status, gate)."""
    p.add_argument("--prometheus", required=True, metavar="URL", help="e.g. http://127.0.0.1:9090")
    p.add_argument("--time", type=float, help="evaluation time (Unix seconds); default now")
    add_allow_host_argument(p)


def add_allow_host_argument(p: argparse.ArgumentParser, what: str = "") -> None:
    """``--allow-host CIDR`` (repeatable): a network besides loopback that ``what`` may reach."""
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="CIDR",
        help=f"allow {what + ' in ' if what else ''}this network besides loopback (repeatable)",
    )


def load_slos(
    paths: Sequence[str],
    *,
    windows: Sequence[str] = (),
    sloth_period: str | None = None,
    quiet_warnings: bool = False,
    compat: str | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> LoadResult:
    """Load SLO files; warnings are printed here, errors raised as :class:`InputErrors`."""
    period = None
    if sloth_period:
        try:
            period = parse_duration(sloth_period)
        except DurationError as exc:
            raise UsageError(f"--sloth-period: {exc}") from None
    result = load_paths(
        list(paths),
        windows_dirs=list(windows),
        sloth_period=period,
        compat=compat,
        include=list(include),
        exclude=list(exclude),
    )
    if not quiet_warnings:
        for w in result.warnings:
            print(f"warning: {w}", file=sys.stderr)
    if result.errors:
        raise InputErrors(result.errors)
    return result


def load_slos_of(args: argparse.Namespace, *, quiet_warnings: bool = False) -> LoadResult:
    """:func:`load_slos` with the arguments of :func:`add_input_arguments`, after the project
    file (``--config``, or ``sloctl.yaml`` beside the SLOs), which is left in ``args.project``;
    flags win over the file."""
    project_file = find_project(args.paths, args.config)
    project = Project()
    if project_file is not None:
        project, errors = load_project(project_file)
        if errors:
            raise InputErrors(errors)
    args.project = project
    return load_slos(
        args.paths,
        windows=args.windows,
        sloth_period=args.sloth_period,
        quiet_warnings=quiet_warnings,
        compat=getattr(args, "compat", None),
        include=args.include or _strings(project.get("include")),
        exclude=args.exclude or _strings(project.get("exclude")),
    )


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []
