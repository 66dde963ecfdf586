"""``sloctl loadtest SCENARIO --slo FILE --host URL``: a Locust run gated by the SLOs.

Exit codes: 0 every threshold held, 1 a threshold was violated (or the run failed),
2 usage errors (bad threshold, host outside the allow-list, unreadable SLO file).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sloctl.cli._foreground import parse_duration

if TYPE_CHECKING:
    from sloctl.model import SLO

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "loadtest",
        help="run a Locust scenario gated by the SLOs",
        description="Run a Locust scenario headless against the platform API; thresholds come "
        "from the SLOs (and --threshold); exit 1 when one is violated.",
    )
    p.add_argument("scenario", help="steady, constant, spike, soak, breakpoint, or a path to a Locust file")
    p.add_argument(
        "--slo", action="append", default=[], metavar="FILE", help="SLO file or directory (repeatable)"
    )
    p.add_argument("--host", required=True, help="base URL of the API, e.g. http://127.0.0.1:8000")
    p.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="EXPR",
        help="extra gate in k6 style: 'p(95)<200', 'failure_ratio<0.01', 'GET /v1/projects:p(99)<=300'",
    )
    p.add_argument("--duration", type=parse_duration, help="run time, e.g. 30s (default 30s, soak 10m)")
    p.add_argument("--max-requests", type=int, default=0, help="stop after this many requests (0: no limit)")
    p.add_argument("--users", type=int, default=10, help="users (per step for breakpoint)")
    p.add_argument("--spawn-rate", type=float, default=10.0, help="users started per second")
    p.add_argument("--user-rps", type=float, default=5.0, help="requests per second of each user")
    p.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="requests per second of the constant (open-model) scenario (default: users × user-rps)",
    )
    p.add_argument("--processes", type=int, default=0, help="Locust worker processes (distributed mode)")
    p.add_argument(
        "--allow-host", action="append", default=[], metavar="CIDR", help="allow a network besides loopback"
    )
    p.add_argument(
        "--report-dir", type=Path, default=Path("loadtest-report"), help="JSON and HTML reports go here"
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sloctl.egress import EgressDenied, parse_networks
    from sloctl.files import write_text
    from sloctl.loadtest import (
        LoadtestError,
        Report,
        RunOptions,
        ThresholdError,
        evaluate,
        parse_threshold,
        render_html,
        render_json,
        render_table,
        resolve_scenario,
        run_scenario,
        thresholds_from_slos,
    )
    from sloctl.loadtest.runner import breakpoint_gates, scenario_default_duration
    from sloctl.masking import mask_text
    from sloctl.spec import load_paths

    def fail(message: str, code: int = 2) -> int:
        print(f"sloctl loadtest: {message}", file=sys.stderr)
        return code

    try:
        scenario = resolve_scenario(args.scenario)
        extra = [parse_threshold(t) for t in args.threshold]
    except (LoadtestError, ThresholdError) as exc:
        return fail(str(exc))
    slos: tuple[SLO, ...] = ()
    if args.slo:
        loaded = load_paths(args.slo)
        if loaded.errors:
            for err in loaded.errors:
                print(err, file=sys.stderr)
            return fail(f"{len(loaded.errors)} error(s) in the SLO files")
        slos = loaded.slos
    derived, skipped = thresholds_from_slos(slos)
    gates = (*derived, *extra)
    if not gates:
        return fail("no thresholds: give --slo with latency or availability SLOs, or --threshold")
    duration = args.duration
    if duration is None:
        default = scenario_default_duration(scenario)
        duration = parse_duration(default) if default else 30.0
    try:
        allow = RunOptions.allow + tuple(str(n) for n in parse_networks(args.allow_host))
        options = RunOptions(
            host=args.host,
            duration=duration,
            users=args.users,
            spawn_rate=args.spawn_rate,
            user_rps=args.user_rps,
            rate=args.rate,
            max_requests=args.max_requests,
            processes=args.processes,
            allow=allow,
            breakpoint_gates=breakpoint_gates(gates),
        )
    except (LoadtestError, EgressDenied) as exc:
        return fail(str(exc))
    report_dir: Path = args.report_dir
    print(
        f"sloctl loadtest: {scenario.stem} against {args.host} for {duration:g} s "
        f"({len(gates)} threshold(s){', ' + str(args.processes) + ' workers' if args.processes else ''})",
        file=sys.stderr,
        flush=True,
    )
    try:
        run = run_scenario(scenario, options, workdir=report_dir)
    except EgressDenied as exc:
        return fail(str(exc))
    except LoadtestError as exc:
        return fail(str(exc), 1)
    report = Report(
        scenario=scenario.stem,
        host=mask_text(args.host),
        duration=duration,
        gates=evaluate(gates, run),
        skipped=skipped,
        run=run,
        command=mask_text("sloctl loadtest " + " ".join(shlex.quote(a) for a in sys.argv[2:])),
    )
    write_text(report_dir / "report.json", render_json(report))
    write_text(report_dir / "report.html", render_html(report))
    print(render_table(report))
    print(f"reports: {report_dir / 'report.json'}, {report_dir / 'report.html'}", file=sys.stderr)
    return 0 if report.passed else 1
