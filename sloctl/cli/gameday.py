"""``sloctl gameday generate|run``: SLO-driven Chaos Toolkit game days.

- ``generate``: the five game days of the plan, from the SLO files, into ``chaos/``;
- ``run EXPERIMENT``: baseline → inject → recover, verdict, journal + JSON + HTML report;
  ``--config FILE`` (JSON) or ``--set key=value`` supply the targets; ``--dry-run`` validates
  and changes nothing;
- ``schedule``: ``chaos/schedule.yaml`` → systemd timers, Kubernetes CronJobs, a GitHub
  Actions workflow.

Exit codes: 0 pass (or a dry run), 1 fail or inconclusive, 2 usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "gameday", help="generate, run and schedule SLO-driven Chaos Toolkit game days", description=__doc__
    )
    sub = p.add_subparsers(dest="gameday_command", metavar="SUBCOMMAND", required=True)
    gen = sub.add_parser("generate", help="write the five game-day experiments from the SLO files")
    gen.add_argument("--slo", action="append", default=[], metavar="PATH", help="SLO file or directory")
    gen.add_argument("--out", type=Path, default=Path("chaos"), help="output directory (default chaos/)")
    gen.set_defaults(func=_generate)
    run = sub.add_parser("run", help="run one game day and report its verdict")
    run.add_argument("experiment", type=Path)
    run.add_argument("--config", type=Path, help="JSON file of configuration values (targets, timings)")
    run.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="one configuration value"
    )
    run.add_argument("--report-dir", type=Path, help="default: reports/<experiment>/ beside the experiment")
    run.add_argument("--dry-run", action="store_true", help="validate and plan; change nothing")
    run.set_defaults(func=_run)
    sch = sub.add_parser("schedule", help="systemd timers, a Kubernetes CronJob and a GitHub workflow")
    sch.add_argument("--file", type=Path, default=Path("chaos/schedule.yaml"), help="the schedule file")
    sch.add_argument("--out", type=Path, default=Path("chaos/schedule"), help="output directory")
    sch.set_defaults(func=_schedule)


def _schedule(args: argparse.Namespace) -> int:
    from sloctl.chaos.schedule import ScheduleError, load_schedule, write_schedule

    try:
        schedule = load_schedule(args.file)
    except (OSError, ScheduleError) as exc:
        print(f"sloctl gameday schedule: {exc}", file=sys.stderr)
        return 1
    for path in write_schedule(schedule, args.out):
        print(path)
    return 0


def _generate(args: argparse.Namespace) -> int:
    from sloctl.chaos.experiments import write_experiments
    from sloctl.spec import load_paths

    result = load_paths(args.slo or ["slos"])
    for error in result.errors:
        print(error, file=sys.stderr)
    if not result.ok:
        return 1
    for path in write_experiments(result.slos, args.out):
        print(path)
    return 0


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _run(args: argparse.Namespace) -> int:
    from sloctl.chaos.gameday import run_gameday

    configuration: dict[str, Any] = {}
    if args.config:
        try:
            configuration.update(json.loads(args.config.read_text()))
        except (OSError, ValueError) as exc:
            print(f"sloctl gameday run: --config {args.config}: {exc}", file=sys.stderr)
            return 2
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"sloctl gameday run: --set {item!r}: expected KEY=VALUE", file=sys.stderr)
            return 2
        configuration[key] = _value(value)
    if not args.experiment.is_file():
        print(f"sloctl gameday run: {args.experiment}: no such file", file=sys.stderr)
        return 2
    result = run_gameday(
        args.experiment, configuration=configuration, out_dir=args.report_dir, dry_run=args.dry_run
    )
    print(f"{result.gameday}: {result.verdict}")
    for reason in result.reasons:
        print(f"  - {reason}")
    print(f"  time to detect: {result.time_to_detect_s} s, time to recover: {result.time_to_recover_s} s")
    for kind, path in result.files.items():
        print(f"  {kind}: {path}")
    return 0 if result.verdict in ("pass", "dry-run") else 1
