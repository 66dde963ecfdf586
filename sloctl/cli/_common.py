"""What every command shares: its parser with its one-line help said once (:func:`add_command`,
:data:`COMMANDS`), the flags several commands take, the one path to exit code 2
(:class:`UsageError`), and loading SLO files with their errors printed once (:func:`load_slos`).

A command raises :class:`UsageError` for a flag or argument the user must change, and
:class:`~sloctl.errors.SpecErrors` when a file it was given (SLO files, the project file, a
collector config, a schedule) has errors; ``sloctl.cli.main`` prints either (after the command's
name, or as ``error:`` lines with a count) and returns 2 or 1.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sloctl import progress
from sloctl.durations import DurationError, format_duration, parse_duration, parse_seconds
from sloctl.errors import SpecError, SpecErrors
from sloctl.limits import number_within
from sloctl.spec import LoadResult, load_paths
from sloctl.spec.build import url_problem
from sloctl.spec.project import FILE_NAME, SETTINGS, Project, find_project, load_project

if TYPE_CHECKING:  # sloctl.status (httpx) is imported when a command reads Prometheus, not before
    from sloctl.shelf import PrometheusEngine
    from sloctl.status import ReadOptions

__all__ = [
    "COMMANDS",
    "UsageError",
    "add_allow_host_argument",
    "add_command",
    "add_compat_argument",
    "add_engine_argument",
    "add_format_argument",
    "add_input_arguments",
    "add_jobs_argument",
    "add_live_prometheus_arguments",
    "add_output_dir_argument",
    "add_prometheus_arguments",
    "add_prometheus_token_argument",
    "add_slos_argument",
    "add_subcommand",
    "add_timeout_argument",
    "default_paths",
    "input_path",
    "live_prometheus_options",
    "load_slos",
    "load_slos_of",
    "output_dir",
    "output_path",
    "plain_help",
    "print_input_errors",
    "progress_ticker",
    "prometheus_engine",
    "read_project",
]


class UsageError(Exception):
    """A flag or argument the user must change; the message names it and says what to do."""


def default_paths(given: Sequence[str], default: str, flag: str, create: str = "") -> list[str]:
    """``given``, else ``[default]`` (a path relative to the working folder), or a
    :class:`UsageError` naming ``flag`` when the default is not there: run elsewhere than the
    project folder, "slos/…: no such file" does not say it was a default, nor how to give another
    (``create``: how to make one, for a file a fresh project does not have yet)."""
    if given:
        return list(given)
    if not Path(default).exists():
        raise UsageError(
            f"{flag}: the default {default} is not in {Path.cwd()}; run from the project folder,"
            f" or give {flag}" + (f"; {create}" if create else "")
        )
    return [default]


def output_dir(path: Path, flag: str) -> Path:
    """``path`` made (parents too) before any work, or a :class:`UsageError` naming ``flag``:
    a folder that cannot be written is a flag to change, found before a replay or a load test
    runs for nothing (and never a traceback at its end)."""
    if str(path) == "-":  # a folder called "-" was made, where standard output was meant
        raise UsageError(f"{flag} -: standard output is not accepted here; give a folder")
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path}: that is a file, not a folder; give a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"{flag} {path}: cannot make that folder ({exc.strerror or exc}); give a folder you can write"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: that folder is not writable; give a folder you can write")
    return path


def output_file(path: Path, flag: str) -> Path:
    """``path`` a file can be written at (its folder made, as :func:`output_dir` makes it) before
    any work, or a :class:`UsageError` naming ``flag``: a folder there is refused by name."""
    if str(path) == "-":  # a file called "-" was written, where standard output was meant
        raise UsageError(f"{flag} -: standard output is not accepted here; give a file path")
    if path.is_dir():
        raise UsageError(f"{flag} {path}: that is a folder; give a file path")
    output_dir(path.parent, flag)
    return path


def cpu_jobs(jobs: int, flag: str = "--jobs") -> int:
    """``jobs`` CPU-bound worker processes, checked: 1 to the machine's cores, or a
    :class:`UsageError` naming ``flag`` (more processes than cores only add contention)."""
    cores = os.cpu_count() or 1
    if not 1 <= jobs <= cores:
        raise UsageError(f"{flag} {jobs}: give 1 to {cores} (this machine's CPU cores)")
    return jobs


def add_jobs_argument(p: argparse.ArgumentParser, what: str) -> None:
    """``-j/--jobs N``: ``what`` runs at once, checked by :func:`cpu_jobs`."""
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=default_jobs(),
        metavar="N",
        help=f"{what} (default: up to 2; at most the CPU cores)",
    )


def default_jobs() -> int:
    """Worker processes when none are asked for: two, or one on a single core."""
    return min(2, os.cpu_count() or 1)


def prometheus_engine(name: str | None = None) -> PrometheusEngine:
    """The Prometheus ``--engine NAME`` names (``prometheus-2``, ``prometheus-3``, ``default``),
    or without a name the default one (``$PROMTOOL``/``$PROMETHEUS``, PATH, the tool shelf:
    :func:`sloctl.shelf.default_engine`), found before any work; else a :class:`UsageError`
    saying what to install or which variable to change (a folder, or a program that is not
    promtool or Prometheus, was a traceback after the game-day rig's testbed had started)."""
    from sloctl.shelf import ToolMissing, default_engine, engine_named

    try:
        return engine_named(name) if name not in (None, "default") else default_engine()
    except ToolMissing as exc:
        raise UsageError(f"--engine {name}: {exc}" if name else str(exc)) from None


def print_input_errors(errors: Sequence[SpecError]) -> None:
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    files = len({e.location.file for e in errors})
    print(f"{len(errors)} error(s) in {files} file(s)", file=sys.stderr)


# command name -> (module under sloctl.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("spec_commands", "check SLO files and report every error with its location"),
    "schema": ("spec_commands", "print the JSON Schema of the native sloctl/v1 format"),
    "explain": ("spec_commands", "summarise SLOs: budgets, alert tiers, detection times"),
    "convert": ("convert", "write SLOs in another format, naming what it cannot express"),
    "generate": ("generate", "compile SLO files into rules, rule tests, dashboards and routes"),
    "test": ("generate", "run promtool checks and the generated rule tests"),
    "collector": ("collector", "probe databases and the API; export Prometheus and OTLP"),
    "testbed": ("testbed", "run the reference platform API and its databases until stopped"),
    "loadtest": ("loadtest", "run a Locust scenario gated by the SLOs"),
    "gameday": ("gameday", "generate, run and schedule SLO-driven Chaos Toolkit game days"),
    "backtest": ("backtest", "replay the generated alerts over scenarios or history"),
    "status": ("status", "remaining budget, burn rates and firing alerts from a live Prometheus"),
    "gate": ("gate", "CI/CD verdict from the error-budget policies: exit 1 while one says freeze"),
    "serve": ("serve", "the SLO web UI: budgets, burn rates, alerts and the runs that exercised them"),
}


def add_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    run: Callable[[argparse.Namespace], int] | None,
    doc: str | None = None,
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """The parser of command ``name``, its one-line help from :data:`COMMANDS` (said once, for
    ``sloctl --help`` and the command alike), running ``run``; ``kwargs`` go to argparse. A
    command of sub-commands passes None: given none, it prints its help and exits 2. ``doc``,
    the command module's docstring, is its ``--help`` description (one text for both)."""
    if doc is not None:
        kwargs.update(description=plain_help(doc), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser = subparsers.add_parser(name, help=COMMANDS[name][1], **kwargs)
    parser.set_defaults(func=run or (lambda _args: _usage(parser)))
    return parser


def add_subcommand(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str, **kwargs: Any
) -> argparse.ArgumentParser:
    """A sub-command (``gameday run``, ``collector check``) whose ``--help`` opens with its
    one-line help as a sentence, unless ``kwargs`` give a description of its own."""
    kwargs.setdefault("description", f"{help[0].upper()}{help[1:]}.")
    return subparsers.add_parser(name, help=help, **kwargs)


def progress_ticker(command: str) -> progress.Ticker:
    """Progress of ``sloctl COMMAND``'s long work on stderr, once it has taken two seconds:
    ``sloctl COMMAND: WHAT: DONE/TOTAL`` (:class:`sloctl.progress.Ticker`, looked up there when
    called, so that a test can give it a clock of its own)."""

    def say(what: str, done: int, total: int) -> None:
        print(f"sloctl {command}: {what}: {done:,}/{total:,}", file=sys.stderr, flush=True)

    return progress.Ticker(say)


def plain_help(doc: str | None) -> str:
    """A module docstring as ``--help`` text: reStructuredText's double backquotes and roles
    dropped (``sloctl gameday run`` reads as sloctl gameday run), line breaks kept."""
    text = re.sub(r":(?:func|class|mod|meth|data|attr):`~?([^`]+)`", r"\1", doc or "")
    return text.replace("``", "").strip() + "\n"


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def add_format_argument(p: argparse.ArgumentParser, human: str = "table") -> None:
    """``-o/--output`` of a command that prints its result: ``human`` (the default) or ``json``,
    as promtool and amtool spell it. Commands that write files take ``-o DIR`` instead."""
    p.add_argument(
        "-o",
        "--output",
        choices=(human, "json"),
        default=human,
        help=f"print a {human} (default) or JSON",
    )


def add_engine_argument(
    p: argparse.ArgumentParser, *, allow_all: bool = False, victoria: bool = False
) -> None:
    """``--engine``: which Prometheus runs the proof (docs/compat.md); with ``victoria``, also
    VictoriaMetrics with vmalert."""
    choices = [
        "default",
        "prometheus-2",
        "prometheus-3",
        *(["victoriametrics", "victoriametrics-ha"] if victoria else []),
        *(["all"] if allow_all else []),
    ]
    p.add_argument(
        "--engine",
        choices=choices,
        default="default",
        help="Prometheus to run: default ($PROMTOOL/$PROMETHEUS, else the one on PATH, else the tool "
        "shelf's 3.x), prometheus-2 (Debian's 2.42), prometheus-3 (the shelf's, scripts/tools.sh)"
        + (
            "; or vmalert on VictoriaMetrics (the shelf's): victoriametrics (one node), "
            "victoriametrics-ha (two nodes replicated by vmagent, read through vmauth)"
            if victoria
            else ""
        )
        + (", or all of them in turn" if allow_all else ""),
    )


def add_compat_argument(p: argparse.ArgumentParser, help: str) -> None:
    """``--compat sloth``: read the SLO files as Sloth does (its windows catalogs, MetricsQL where
    its ``validate_victoria_metrics`` plugin replaces ``validate``); ``help`` says what else."""
    p.add_argument("--compat", choices=["sloth"], default=None, help=help)


def add_output_dir_argument(p: argparse.ArgumentParser, help: str, default: str | None = None) -> None:
    """``-o/--output DIR`` of a command that writes files (typed by :func:`output_path`, so that
    ``-o ''`` is refused rather than read as the working folder; checked by :func:`output_dir`
    before any work, where ``-`` is refused unless the command reads it as standard output first).
    Commands that print take ``-o json`` instead (:func:`add_format_argument`)."""
    p.add_argument("-o", "--output", type=output_path("folder"), default=default, metavar="DIR", help=help)


def add_slos_argument(p: argparse.ArgumentParser, purpose: str, default: str | None = None) -> None:
    """``--slos PATH`` (repeatable): the SLO files of a command whose positional is something
    else (``loadtest SCENARIO``, ``gameday rig``), read by :func:`load_slos` with ``--windows``."""
    when = f"; default {default}" if default else ""
    p.add_argument(
        "--slos",
        action="append",
        default=[],
        metavar="PATH",
        help=f"SLO file or folder {purpose} (repeatable{when}; the project file beside them applies)",
    )
    _add_windows_argument(p)


def _add_windows_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--windows",
        action="append",
        default=[],
        type=input_path("folder"),
        metavar="DIR",
        help="extra burn-rate window catalogs (AlertWindows documents)",
    )


def add_input_arguments(
    p: argparse.ArgumentParser, default: str | None = None, *, optional: str = ""
) -> None:
    """The SLO inputs of validate, explain, generate, convert, backtest, gameday generate and
    serve: paths (at least one, or ``default`` when none is given, or none at all when
    ``optional`` says what none means), the project file and its include/exclude globs, extra
    window catalogs, Sloth's default period."""
    when_none = f"; {optional}" if optional else "" if default is None else f"; default {default}"
    p.add_argument(
        "paths",
        nargs="+" if default is None and not optional else "*",
        default=[] if default is None else [default],
        metavar="PATH",
        help=f"SLO files or directories (searched recursively; - reads standard input{when_none})",
    )
    p.add_argument(
        "--config",
        default=None,
        type=input_path("file"),
        metavar="FILE",
        help=f"project file (default: {FILE_NAME} in the first directory given; docs/spec.md, Project file)",
    )
    for key in ("include", "exclude"):
        setting = next(s for s in SETTINGS if s.key == key)
        p.add_argument(setting.flag, action="append", default=[], metavar="GLOB", help=setting.help)
    _add_windows_argument(p)
    p.add_argument(
        "--sloth-period",
        type=_sloth_period,
        default=None,
        metavar="DURATION",
        help="period of Sloth-format SLOs, as Sloth's --default-slo-period (default 30d)",
    )


MAX_TIMEOUT = 600.0
"""The longest ``--timeout`` a command that reads Prometheus takes: every wait is bounded."""


def _sloth_period(text: str) -> int:
    """``--sloth-period`` in seconds (argparse type): an empty value is refused, not the default."""
    try:
        return parse_duration(text.strip())
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _timeout(text: str) -> float:
    """``--timeout`` in seconds, written in the one duration grammar (``10s``, ``500ms``)."""
    try:
        seconds = parse_seconds(text.strip())
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not 0 < seconds <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(
            f"{text}: give more than 0 and at most {format_duration(int(MAX_TIMEOUT))}"
        )
    return seconds


#: The largest rate a number flag takes whose own bound nothing else sets (``explain
#: --requests-per-second``: the traffic of the user's service, which sloctl cannot know, unlike the
#: flags that start load or servers here, each bounded by what it drives): far beyond any figure
#: the toolkit's work reaches, so that it only stops a typo or an overflow.
LARGEST = 1e9
#: 9999-12-31T23:59:59Z: ``--time`` beyond it is a typo, and Python's dates end there.
LAST_TIME = 253_402_300_799


def input_path(kind: str) -> Callable[[str], str]:
    """An argparse type for a flag naming a ``kind`` (file, folder) to read: ``-`` is refused by
    name rather than looked for as a file called ``-`` ("-:1:1: no such file or directory";
    ``testbed up --rules -`` and ``serve --gamedays -`` looked for a folder called ``-``), for
    standard input is read by the SLO paths alone (``sloctl validate -``), never by a flag; an
    empty path too (:func:`_a_path`)."""

    def convert(text: str) -> str:
        if text == "-":
            raise argparse.ArgumentTypeError(f"- (standard input) is not accepted here; give a {kind} path")
        return _a_path(text, kind)

    return convert


def output_path(kind: str) -> Callable[[str], Path]:
    """An argparse type for a flag naming a ``kind`` (file, folder) to write: an empty path is
    refused (:func:`_a_path`); ``-`` is refused by :func:`output_dir` and :func:`output_file`,
    which every such flag goes through before any work."""
    return lambda text: Path(_a_path(text, kind))


def _a_path(text: str, kind: str) -> str:
    """``text``, unless it names no path: ``--config ''`` was taken for no project file at all,
    and ``testbed up --workdir ''`` for the working folder (``Path('')`` is ``.``), where the
    testbed's databases would have gone."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not a path; give a {kind} path")
    return text


def http_url(text: str) -> str:
    """An http:// or https:// URL with a host (argparse type), as the project file's URLs."""
    wrong = url_problem(text)
    if wrong:
        raise argparse.ArgumentTypeError(wrong)
    return text


def unix_time(text: str) -> float:
    """``--time``: Unix seconds from 1970 to the year 9999 (argparse type)."""
    return number_within(text, least=0, most=LAST_TIME, strict=False, give="Unix seconds, such as 1767225600")


def add_timeout_argument(p: argparse.ArgumentParser) -> None:
    """``--timeout``: how long each read of a live Prometheus may take (status, gate, serve)."""
    p.add_argument(
        "--timeout",
        type=_timeout,
        default=30.0,  # sloctl.prometheus.TIMEOUT (not imported here: the CLI starts without httpx)
        metavar="DURATION",
        help="how long to wait for Prometheus to answer "
        f"(default 30s; at most {format_duration(int(MAX_TIMEOUT))})",
    )


#: the longest token file ``--prometheus-token-file`` reads (a JWT is a few kilobytes)
TOKEN_FILE_MAX = 64 * 1024


def _token_file(text: str) -> str:
    """``--prometheus-token-file``: the bearer token in the file ``text`` (surrounding blank
    space and a final newline left out), never the file name itself (argparse type)."""
    path = Path(input_path("file")(text))
    try:
        with path.open("rb") as f:
            raw = f.read(TOKEN_FILE_MAX + 1)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{text}: {exc.strerror or exc}") from None
    try:
        token = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        token = ""
    if len(raw) > TOKEN_FILE_MAX or not token or not token.isprintable() or any(c.isspace() for c in token):
        raise argparse.ArgumentTypeError(
            f"{text}: give a file holding one bearer token (printable, no spaces, at most "
            f"{TOKEN_FILE_MAX // 1024} KiB)"
        )
    return token


def add_prometheus_token_argument(p: argparse.ArgumentParser) -> None:
    """``--prometheus-token-file``: a bearer token for Prometheus, read from a file (status, gate,
    serve, validate, backtest, gameday run and suite). Basic auth is the URL's ``user:password@``."""
    p.add_argument(
        "--prometheus-token-file",
        dest="prometheus_token",
        type=_token_file,
        metavar="FILE",
        help="send the bearer token in FILE to Prometheus (or the proxy, Mimir or Thanos in front "
        "of it); basic auth: user:password@ in the URL",
    )


PROMETHEUS_URL_HELP = "base URL, e.g. http://127.0.0.1:9090 (a path prefix is kept)"


def add_prometheus_arguments(
    p: argparse.ArgumentParser,
    help: str = PROMETHEUS_URL_HELP,
    *,
    required: bool = False,
    group: argparse._MutuallyExclusiveGroup | None = None,
) -> None:
    """``--prometheus URL`` (``help``: what the command reads there; ``group``: the mutually
    exclusive group it is one of), its bearer token (:func:`add_prometheus_token_argument`) and
    ``--allow-host`` for it: the connection flags of every command that reads a Prometheus
    (validate, backtest, serve, status, gate), declared together."""
    (group or p).add_argument("--prometheus", required=required, metavar="URL", help=help)
    add_prometheus_token_argument(p)
    add_allow_host_argument(p, "--prometheus")


def add_live_prometheus_arguments(p: argparse.ArgumentParser, slos: str) -> None:
    """:func:`add_prometheus_arguments` (``--prometheus`` required), ``--time``, ``--timeout``
    and ``--slo ID`` (the SLOs ``slos``: "to show", "to judge") of the commands that read SLOs
    from a live Prometheus (status, gate)."""
    add_prometheus_arguments(p, required=True)
    p.add_argument("--time", type=unix_time, help="evaluation time (Unix seconds); default now")
    add_timeout_argument(p)
    p.add_argument(
        "--slo",
        action="append",
        default=[],
        metavar="ID",
        help=f"an SLO {slos}, as service-name or service/name, or a pattern such as 'service/*' "
        "(repeatable; default: every SLO)",
    )


def live_prometheus_options(args: argparse.Namespace) -> ReadOptions:
    """What the flags of :func:`add_live_prometheus_arguments` ask, as the keyword arguments of
    :func:`sloctl.status.collect` and :func:`sloctl.gate.evaluate` (after the URL)."""
    return {
        "slos": args.slo,
        "allow": args.allow_host,
        "time": args.time,
        "timeout": args.timeout,
        "token": args.prometheus_token,
    }


def _network(text: str) -> str:
    """``--allow-host``: a network (``10.0.0.0/8``) or an address (``192.0.2.7``), checked as the
    egress guard reads it (argparse type; the text is kept)."""
    try:
        ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a network; give a CIDR such as 10.0.0.0/8 or an address such as 192.0.2.7"
        ) from None
    return text


def add_allow_host_argument(p: argparse.ArgumentParser, what: str = "") -> None:
    """``--allow-host CIDR`` (repeatable): a network besides loopback that ``what`` may reach."""
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        type=_network,
        metavar="CIDR",
        help=f"allow {what + ' in ' if what else ''}this network besides loopback (repeatable)",
    )


def read_project(paths: Sequence[str], config: str | None = None) -> Project:
    """The project file: ``config``, else ``sloctl.yaml`` in the first directory of ``paths``
    (an empty project when there is none); its errors raised as
    :class:`~sloctl.errors.SpecErrors`."""
    project_file = find_project(list(paths), config)
    if project_file is None:
        return Project()
    project, errors = load_project(project_file)
    if errors:
        raise SpecErrors(errors)
    return project


def load_slos(
    paths: Sequence[str],
    *,
    project: Project | None = None,
    windows: Sequence[str] = (),
    sloth_period: int | None = None,
    compat: str | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> LoadResult:
    """Load SLO files as every command does: the project file's ``include``/``exclude`` globs
    apply unless ``include``/``exclude`` are given (``project``, else :func:`read_project` of
    ``paths``); warnings are printed here, errors raised as :class:`~sloctl.errors.SpecErrors`."""
    if project is None:
        project = read_project(paths)
    result = load_paths(
        list(paths),
        windows_dirs=list(windows),
        sloth_period=sloth_period,
        compat=compat,
        include=list(include) or _strings(project.get("include")),
        exclude=list(exclude) or _strings(project.get("exclude")),
    )
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if result.errors:
        raise SpecErrors(result.errors)
    return result


def load_slos_of(args: argparse.Namespace) -> LoadResult:
    """:func:`load_slos` with the arguments of :func:`add_input_arguments`, after the project
    file (``--config``, or ``sloctl.yaml`` beside the SLOs), which is left in ``args.project``;
    flags win over the file."""
    args.project = read_project(args.paths, args.config)
    return load_slos(
        args.paths,
        project=args.project,
        windows=args.windows,
        sloth_period=args.sloth_period,
        compat=getattr(args, "compat", None),
        include=args.include,
        exclude=args.exclude,
    )


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []
