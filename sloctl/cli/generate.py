"""``sloctl generate`` and ``sloctl test``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sloctl.cli._common import UsageError, add_input_arguments, load_slos_of
from sloctl.cli.spec_commands import add_engine_argument
from sloctl.durations import DurationError, parse_duration
from sloctl.generate import GenerateOptions, check_outputs, plan_outputs, write_outputs
from sloctl.promtool import PromtoolMissing, run_rule_tests
from sloctl.render.flavours import FLAVOURS
from sloctl.spec.promcheck import label_problem


def _pairs(items: list[str], flag: str) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} expects KEY=VALUE, got {item!r}")
        out.append((key, value))
    return tuple(sorted(out))


def _generate(args: argparse.Namespace) -> int:
    extra = _pairs(args.extra_label, "--extra-label")
    op_labels = _pairs(args.operator_label, "--operator-label")
    for key, value in extra:
        # The same rules as alert labels in SLO files: these go on every generated rule.
        problem = label_problem(key, value, templated=True)
        if problem:
            raise UsageError(f"--extra-label {key}={value}: {problem}")
    interval = None
    if args.interval:
        try:
            interval = parse_duration(args.interval)
        except DurationError as exc:
            raise UsageError(f"--interval: {exc}") from None
    result = load_slos_of(args)
    sloth = args.compat == "sloth"
    options = GenerateOptions(
        flavour=args.flavour,
        compat=args.compat,
        tests=not args.no_tests and not sloth,
        dashboards=not args.no_dashboards and not sloth,
        alertmanager=not args.no_alertmanager and not sloth,
        interval=interval,
        extra_labels=extra,
        operator_labels=op_labels,
        namespace=args.namespace,
        disable_alerts=args.disable_alerts,
        disable_recordings=args.disable_recordings,
        jobs=max(1, args.jobs),
        source_root=str(Path(args.output).absolute()) if Path(args.paths[0]).is_absolute() else args.output,
    )
    try:
        planned = plan_outputs(result.slos, options)
    except ValueError as exc:
        print(f"sloctl generate: {exc}", file=sys.stderr)
        return 1
    root = Path(args.output)
    if args.check:
        diffs = check_outputs(root, planned)
        if diffs:
            sys.stdout.write("".join(diffs))
            print(
                f"{len(diffs)} generated file(s) are stale; run: sloctl generate {' '.join(args.paths)} "
                f"-o {args.output}",
                file=sys.stderr,
            )
            return 1
        print(f"up to date: {len(planned)} generated file(s)")
        return 0
    try:
        written, removed = write_outputs(root, planned)
    except OSError as exc:
        print(f"sloctl generate: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    print(
        f"generated {len(planned)} file(s) for {len(result.slos)} SLO(s) in {root}: "
        f"{len(written)} written, {len(planned) - len(written)} unchanged, {len(removed)} removed"
    )
    return 0


def _test(args: argparse.Namespace) -> int:
    from sloctl.shelf import ToolMissing, default_engine, engine_named, prometheus_engines

    try:
        if args.engine == "all":
            engines = prometheus_engines()
            if not engines:
                raise ToolMissing(
                    "no Prometheus on this machine (apt-get install prometheus, scripts/tools.sh)"
                )
        else:
            engines = [default_engine() if args.engine == "default" else engine_named(args.engine)]
    except ToolMissing as exc:
        raise UsageError(f"--engine {args.engine}: {exc}") from None
    ok = True
    for engine in engines:
        try:
            report = run_rule_tests(
                [Path(p) for p in args.paths], jobs=args.jobs, promtool=str(engine.promtool)
            )
        except PromtoolMissing as exc:
            raise UsageError(str(exc)) from None
        print(f"== {engine.name} {engine.version} ({engine.promtool})")
        for line in report.lines():
            print(line)
        ok = ok and report.ok
    return 0 if ok else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("generate", help="compile SLO files into rules, rule tests, dashboards and routes")
    add_input_arguments(p)
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="DIR",
        help="output root: writes rules/, rules/tests/, dashboards/, alertmanager/ under it",
    )
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 with a diff when files are stale"
    )
    p.add_argument(
        "--flavour",
        choices=sorted(FLAVOURS),
        default="prometheus",
        help="rule file format: plain Prometheus, prometheus-operator PrometheusRule, Mimir ruler, "
        "vmalert (one group per chained level, staggered with eval_offset; docs/rules.md)",
    )
    p.add_argument(
        "--compat",
        choices=["sloth"],
        default=None,
        help="write exactly what Sloth writes (rules only), for a migration",
    )
    p.add_argument(
        "--operator-label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="label on the PrometheusRule, for the operator's rule selector",
    )
    p.add_argument("--namespace", default="monitoring", help="namespace of PrometheusRule objects")
    p.add_argument(
        "--extra-label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="label added to every generated rule",
    )
    p.add_argument("--interval", default=None, metavar="DURATION", help="evaluation interval of the groups")
    p.add_argument("--no-tests", action="store_true", help="do not write promtool tests")
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="worker processes for inputs of thousands of SLOs (default: up to 2)",
    )
    p.add_argument("--no-dashboards", action="store_true", help="do not write Grafana dashboards")
    p.add_argument("--no-alertmanager", action="store_true", help="do not write the Alertmanager fragment")
    p.add_argument("--disable-alerts", action="store_true", help="(--compat sloth) no alert rules")
    p.add_argument("--disable-recordings", action="store_true", help="(--compat sloth) no recording rules")
    p.set_defaults(func=_generate)
    p = sub.add_parser("test", help="run promtool checks and the generated rule tests")
    p.add_argument("paths", nargs="+", metavar="DIR", help="directories (or files) of generated rules")
    p.add_argument("-j", "--jobs", type=int, default=2, help="promtool processes in parallel (default 2)")
    add_engine_argument(p, allow_all=True)
    p.set_defaults(func=_test)
