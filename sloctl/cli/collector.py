"""``sloctl collector run --config PATH``: the probe daemon (needs the ``collector`` extra)."""

from __future__ import annotations

import argparse
from typing import Any

from sloctl.cli._common import add_command


def register(subparsers: Any) -> None:  # argparse's _SubParsersAction is private
    parser = add_command(subparsers, "collector", None)
    sub = parser.add_subparsers(dest="collector_command", metavar="SUBCOMMAND")
    run = sub.add_parser("run", help="run the collector until SIGINT/SIGTERM")
    run.add_argument("--config", required=True, help="collector targets file (collector/targets.yaml)")
    run.set_defaults(func=_run)
    check = sub.add_parser("check", help="validate the config file and resolve its secrets, then exit")
    check.add_argument("--config", required=True)
    check.set_defaults(func=_check)


def _run(args: argparse.Namespace) -> int:
    from sloctl.collector.app import run_from_path  # imported only when the command runs

    return run_from_path(args.config)


def _check(args: argparse.Namespace) -> int:
    import os
    import sys

    from sloctl.collector.config import ConfigError, check_reach, load_config, resolve_secrets

    try:
        config = load_config(args.config)
        resolve_secrets(config, os.environ)
        check_reach(config)
    except ConfigError as exc:
        print(f"sloctl collector: {exc}", file=sys.stderr)
        return 1
    print(f"{args.config}: {len(config.targets)} targets OK")
    return 0
