"""``sloctl collector run|check --config PATH``: the probe daemon (needs the ``collector`` extra).

run probes PostgreSQL (and PgBouncer), Redis, MongoDB and HTTP targets on their intervals and
exports the results on /metrics and over OTLP until SIGINT, SIGTERM or SIGHUP (there is no
reload: restart it to apply a changed file); check validates the file, reports every mistake at
its line, resolves its secrets and loads its CA files, then exits.

Exit codes: 0 stopped cleanly (run) or valid (check), 1 the file has errors, a secret or a CA
file cannot be read or the listen address is taken, 2 usage."""

from __future__ import annotations

import argparse
from typing import Any

from sloctl.cli._common import add_command, add_subcommand, input_path


def register(subparsers: Any) -> None:  # argparse's _SubParsersAction is private
    parser = add_command(subparsers, "collector", None, __doc__)
    sub = parser.add_subparsers(dest="collector_command", metavar="SUBCOMMAND")
    run = add_subcommand(sub, "run", "run the collector until SIGINT, SIGTERM or SIGHUP")
    _config_argument(run)
    run.set_defaults(func=_run)
    check = add_subcommand(sub, "check", "validate the config file and resolve its secrets, then exit")
    _config_argument(check)
    check.set_defaults(func=_check)


def _config_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        required=True,
        type=input_path("file"),
        metavar="FILE",
        help="the targets file (a CollectorConfig, e.g. collector/targets.yaml; docs/collector.md)",
    )


def _run(args: argparse.Namespace) -> int:
    from sloctl.collector.app import run_from_path  # imported only when the command runs

    return run_from_path(args.config)


def _check(args: argparse.Namespace) -> int:
    import os

    from sloctl.collector.config import check_config

    config = check_config(args.config, os.environ)  # every error: SpecErrors, printed by sloctl.cli.main
    print(f"{args.config}: {len(config.targets)} targets OK")
    return 0
