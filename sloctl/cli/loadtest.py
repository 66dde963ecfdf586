"""``sloctl loadtest SCENARIO --slos PATH --host URL``: a Locust run gated by the SLOs.

Runs a Locust scenario headless against the platform API; the thresholds come from the SLOs
(and --threshold).

Exit codes: 0 every threshold held (a breakpoint search: it measured its breaking point, or held
to its last step, and held --breakpoint-at-least users when given), 1 a threshold was violated
(a breakpoint search: it held fewer users than --breakpoint-at-least, or measured no step), the
run failed or the SLO files have errors, 2 usage errors (bad threshold, host outside the
allow-list or nothing answering there), 130 (Ctrl-C) or 143 (SIGTERM) interrupted: Locust
stopped gracefully, its users' projects deprovisioned, the reports of what ran written and
marked interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
from dataclasses import fields
from pathlib import Path

from sloctl.cli._common import (
    UsageError,
    add_allow_host_argument,
    add_command,
    add_slos_argument,
    load_slos,
    output_dir,
    output_path,
)
from sloctl.cli._foreground import duration_flag, stop_on_signals

__all__ = ["register"]


# Long but flat: one argparse declaration per flag of `loadtest`, nothing else.
def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(subparsers, "loadtest", _run, __doc__)
    p.add_argument(
        "scenario",
        metavar="SCENARIO",
        help="steady, constant, spike, soak, breakpoint, or a path to a Locust file",
    )
    add_slos_argument(p, "whose objectives gate the run")
    p.add_argument(
        "--host", metavar="URL", required=True, help="base URL of the API, e.g. http://127.0.0.1:8000"
    )
    p.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="EXPR",
        help="extra gate in k6 style: 'p(95)<200', 'failure_ratio<0.01', 'GET /v1/projects:p(99)<=300'",
    )
    p.add_argument(
        "--duration",
        type=duration_flag,
        help="run time, e.g. 30s (default: the scenario file's DEFAULT_DURATION, as soak and "
        "breakpoint set, else 30s)",
    )
    p.add_argument(
        "--max-requests",
        metavar="N",
        type=int,
        default=0,
        help="stop after this many requests, counted as the all-requests figures count them: without"
        " /healthz, /readyz and /metrics (0: no limit)",
    )
    p.add_argument(
        "--users", metavar="N", type=int, default=10, help="users (per step for breakpoint; default 10)"
    )
    p.add_argument(
        "--spawn-rate", metavar="RATE", type=float, default=10.0, help="users started per second (default 10)"
    )
    p.add_argument(
        "--user-rps",
        metavar="RATE",
        type=float,
        default=5.0,
        help="requests per second of each user (default 5)",
    )
    p.add_argument(
        "--rate",
        metavar="RATE",
        type=float,
        default=0.0,
        help="requests per second of the constant (open-model) scenario (default: users × user-rps)",
    )
    p.add_argument(
        "--processes",
        metavar="N",
        type=int,
        default=0,
        help="Locust worker processes (distributed mode; default 0: one process)",
    )
    p.add_argument(
        "--breakpoint-at-least",
        metavar="USERS",
        type=int,
        help="a breakpoint search fails (exit 1) unless a step of at least USERS users held every "
        "gate it watches (default: any breaking point passes)",
    )
    p.add_argument(
        "--breakpoint-alpha",
        metavar="P",
        type=float,
        help="a step's failures break a breakpoint search's failure_ratio gate only when a service "
        "failing at exactly the gate's limit shows as many less often than P (above 0, below 1; "
        "default 0.001)",
    )
    p.add_argument(
        "--breakpoint-step",
        metavar="DURATION",
        type=duration_flag,
        help="how long each step of a breakpoint search lasts before it adds --users more (1s or"
        " more; default 5s): a step must see enough requests for each gate it judges",
    )
    add_allow_host_argument(p, "--host")
    p.add_argument(
        "--report-dir",
        metavar="DIR",
        type=output_path("folder"),
        default=Path("loadtest-report"),
        help="JSON and HTML reports go here (default loadtest-report/)",
    )


def _run(args: argparse.Namespace) -> int:
    from sloctl.loadtest import LoadShape, render_table
    from sloctl.loadtest.session import LoadtestAborted, LoadtestRequest, run_loadtest

    slos = tuple(load_slos(args.slos, windows=args.windows).slos) if args.slos else ()
    made = not args.report_dir.exists()
    request = LoadtestRequest(
        scenario=args.scenario,
        host=args.host,
        slos=slos,
        thresholds=tuple(args.threshold),
        duration=args.duration,
        # The load flags are named as LoadShape's fields.
        load=LoadShape(**{f.name: getattr(args, f.name) for f in fields(LoadShape)}),
        allow_host=tuple(args.allow_host),
        report_dir=output_dir(args.report_dir, "--report-dir"),
        command="sloctl loadtest " + shlex.join(sys.argv[2:]),
        breakpoint_at_least=args.breakpoint_at_least,
        breakpoint_alpha=args.breakpoint_alpha,
        breakpoint_step=args.breakpoint_step,
    )
    # SIGINT and SIGTERM set ``stop``: Locust is stopped the graceful way (its users deprovision)
    # and what ran is reported, rather than this process dying and leaving Locust running.
    with stop_on_signals() as stop:
        try:
            report = run_loadtest(
                request,
                progress=lambda m: print(f"sloctl loadtest: {m}", file=sys.stderr, flush=True),
                stop=stop,
            )
        except LoadtestAborted as exc:
            if made:  # a run refused before its first request leaves no empty report folder behind
                with contextlib.suppress(OSError):
                    request.report_dir.rmdir()
            if exc.usage:
                raise UsageError(str(exc)) from None
            print(f"sloctl loadtest: {exc}", file=sys.stderr)
            return (stop.exit_code or 130) if exc.interrupted else 1
    print(render_table(report))
    print(
        f"reports: {request.report_dir / 'report.json'}, {request.report_dir / 'report.html'}",
        file=sys.stderr,
    )
    if report.interrupted:
        print("sloctl loadtest: interrupted; the reports cover the part that ran", file=sys.stderr)
        return stop.exit_code or 130
    return 0 if report.passed else 1
