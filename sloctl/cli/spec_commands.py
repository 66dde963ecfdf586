"""``sloctl validate``, ``sloctl schema`` and ``sloctl explain``."""

from __future__ import annotations

import argparse
import json
import sys

from sloctl.durations import DurationError, parse_duration
from sloctl.explain import as_dicts, explain, format_explanations
from sloctl.spec import LoadResult, load_paths
from sloctl.spec.project import FILE_NAME, SETTINGS, Project, find_project, load_project
from sloctl.spec.project import schema_text as project_schema_text
from sloctl.spec.schema import schema_text


def add_input_arguments(p: argparse.ArgumentParser) -> None:
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


def load_or_report(args: argparse.Namespace, *, quiet_warnings: bool = False) -> LoadResult | int:
    """Load the inputs; on errors print every one of them and return exit code 1."""
    period = None
    if args.sloth_period:
        try:
            period = parse_duration(args.sloth_period)
        except DurationError as exc:
            print(f"sloctl: --sloth-period: {exc}", file=sys.stderr)
            return 2
    project_file = find_project(args.paths, args.config)
    project = Project()
    if project_file is not None:
        project, errors = load_project(project_file)
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        if errors:
            return 1
    args.project = project
    result = load_paths(
        args.paths,
        windows_dirs=args.windows,
        sloth_period=period,
        compat=getattr(args, "compat", None),
        include=args.include or _strings(project.get("include")),
        exclude=args.exclude or _strings(project.get("exclude")),
    )
    if not quiet_warnings:
        for w in result.warnings:
            print(f"warning: {w}", file=sys.stderr)
    if result.errors:
        for e in result.errors:
            print(f"error: {e}", file=sys.stderr)
        files = len({e.location.file for e in result.errors})
        print(f"{len(result.errors)} error(s) in {files} file(s)", file=sys.stderr)
        return 1
    return result


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _validate(args: argparse.Namespace) -> int:
    result = load_or_report(args)
    if isinstance(result, int):
        return result
    services = len({s.service for s in result.slos})
    print(f"valid: {len(result.slos)} SLO(s) of {services} service(s) in {len(result.files)} file(s)")
    return 0


def _schema(args: argparse.Namespace) -> int:
    sys.stdout.write(project_schema_text() if args.project else schema_text())
    return 0


def _explain(args: argparse.Namespace) -> int:
    result = load_or_report(args, quiet_warnings=True)
    if isinstance(result, int):
        return result
    items = explain(result.slos, requests_per_second=args.requests_per_second)
    if args.output == "json":
        print(json.dumps(as_dicts(items), indent=2))
    else:
        sys.stdout.write(format_explanations(items))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("validate", help="check SLO files and report every error with its location")
    add_input_arguments(p)
    p.set_defaults(func=_validate)
    p = sub.add_parser("schema", help="print the JSON Schema of the native sloctl/v1 format")
    p.add_argument(
        "--project", action="store_true", help=f"the JSON Schema of the project file ({FILE_NAME}) instead"
    )
    p.set_defaults(func=_schema)
    p = sub.add_parser("explain", help="summarise SLOs: budgets, alert tiers, detection times")
    add_input_arguments(p)
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    p.add_argument(
        "--requests-per-second",
        type=float,
        default=None,
        metavar="RATE",
        help="typical traffic, to express the error budget in events",
    )
    p.set_defaults(func=_explain)


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
