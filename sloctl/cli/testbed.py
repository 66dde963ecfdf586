"""``sloctl testbed up``: the platform API and its databases on loopback, until Ctrl-C,
SIGTERM or ``--for`` elapses; everything is stopped cleanly on the way out.

It prints each server's address (never a password); --write-config DIR writes what the rest of
the toolkit needs to use it (collector targets, a Prometheus configuration loading --rules, the
game-day targets, testbed.env), the passwords in DIR/secrets/.

Exit codes: 0 stopped, 1 a server could not start or one exited while running (killed,
crashed: the others are stopped), 2 usage."""

from __future__ import annotations

import argparse
import ipaddress
import shutil
import sys
from pathlib import Path

from sloctl import limits
from sloctl.cli._common import (
    UsageError,
    add_command,
    add_subcommand,
    input_path,
    output_dir,
    output_path,
)

from ._foreground import (
    add_for_argument,
    add_start_timeout_argument,
    add_workdir_argument,
    in_workdir,
    start_failed,
    start_interrupted,
    stop_on_signals,
    wait_in_foreground,
)

__all__ = ["register"]


# Long but flat: one argparse declaration per flag of `testbed up`, nothing else.
def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(subparsers, "testbed", None, __doc__)
    sub = parser.add_subparsers(dest="testbed_command", metavar="ACTION")
    up = add_subcommand(sub, "up", "start PostgreSQL, PgBouncer, Redis, MongoDB and the API; stop on Ctrl-C")
    add_workdir_argument(up)
    up.add_argument("--port", metavar="PORT", type=limits.PORT, help="API port (default: a free one)")
    add_for_argument(up, "30s")
    add_start_timeout_argument(up, "each server's own, 15 to 30 s")
    up.add_argument(
        "--breaker-open-seconds",
        metavar="SECONDS",
        type=limits.BREAKER_OPEN_SECONDS,
        help="override the plan's 30 s open time (game days, demos; at most a week)",
    )
    up.add_argument(
        "--rate-limit",
        metavar="RATE",
        type=limits.RATE_LIMIT,
        help=f"requests/s per client (default 1000, at most {limits.MAX_RATE_LIMIT:,.0f})",
    )
    up.add_argument(
        "--rate-burst",
        metavar="N",
        type=limits.RATE_BURST,
        help="bucket size: requests a client may send at once"
        f" (default 2000, at most {limits.MAX_RATE_BURST:,})",
    )
    up.add_argument(
        "--backup-workers",
        metavar="N",
        type=limits.BACKUP_WORKERS,
        help="pg_dump processes at a time, off the request path"
        f" (default 1, at most {limits.MAX_BACKUP_WORKERS})",
    )
    up.add_argument(
        "--backup-queue",
        metavar="N",
        type=limits.BACKUP_QUEUE,
        help="backups waiting at most; more are refused with 503"
        f" (default 16, at most {limits.MAX_BACKUP_QUEUE:,})",
    )
    up.add_argument(
        "--backup-timeout",
        metavar="SECONDS",
        type=limits.BACKUP_TIMEOUT,
        help="a pg_dump running longer is killed, its PostgreSQL session ended and the backup failed"
        f" (default 60, at most {limits.MAX_BACKUP_TIMEOUT:,.0f})",
    )
    up.add_argument(
        "--write-config",
        type=output_path("folder"),
        metavar="DIR",
        help="write the collector's targets, a Prometheus configuration (API and collector, generated"
        " rules), the game-day targets and testbed.env into DIR; passwords go to DIR/secrets/ (0600)",
    )
    up.add_argument(
        "--rules",
        metavar="DIR",
        type=input_path("folder"),
        default="rules",
        help="generated rules for --write-config (default rules/)",
    )
    up.add_argument(
        "--collector-listen",
        metavar="HOST:PORT",
        help="where the collector of --write-config listens (default 127.0.0.1 on a free port)",
    )
    up.set_defaults(func=_up, prog=up.prog)


def _up(args: argparse.Namespace) -> int:
    if args.collector_listen is not None and not _loopback_listen(args.collector_listen):
        raise UsageError(
            f"--collector-listen {args.collector_listen}: give a loopback address and port such as "
            "127.0.0.1:9465 (the collector refuses to listen elsewhere unless its config says "
            "allowNonLoopbackListen: true)"
        )
    options: dict[str, str | int | float] = {}
    # each checked by its type
    for flag in (
        "breaker_open_seconds",
        "rate_limit",
        "rate_burst",
        "backup_workers",
        "backup_queue",
        "backup_timeout",
    ):
        value = getattr(args, flag)
        if value is not None:
            options[flag.replace("_", "-")] = value
    # Prometheus takes a rule_files glob that matches nothing without a word: the SLOs' rules
    # would silently be missing from the stack this writes a configuration for.
    if args.write_config is not None and not sorted(Path(args.rules).glob("*.yml")):
        raise UsageError(
            f"--rules {args.rules}: no rule files (*.yml) there; run sloctl generate first, or "
            "give the folder it wrote (default rules/)"
        )
    made = _first_missing(args.write_config) if args.write_config is not None else None
    if args.write_config is not None:
        output_dir(args.write_config, "--write-config")
    # every flag checked: now the work folder, then the servers
    code = 1
    try:
        code = in_workdir(
            args.workdir, "sloctl-testbed-", lambda w: _run_up(args, options, w), "sloctl testbed"
        )
    finally:
        if code != 0 and made is not None:
            # a failed start leaves no --write-config folder of its own making behind, empty or half
            # written (its files would point at servers that are gone)
            shutil.rmtree(made, ignore_errors=True)
    return code


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` (itself included) that does not exist yet: what making
    it creates; None when it exists."""
    missing = None
    for candidate in [path.absolute(), *path.absolute().parents]:
        if candidate.exists():
            break
        missing = candidate
    return missing


def _run_up(args: argparse.Namespace, options: dict[str, str | int | float], workdir: Path) -> int:
    from sloctl.servers import ServerStartError
    from sloctl.testbed_runner import start_testbed

    with stop_on_signals() as stop:
        print(f"sloctl testbed: starting in {workdir} ...", file=sys.stderr, flush=True)
        try:
            with stop.interrupting():  # a signal stops the start, not only what follows it
                testbed = start_testbed(
                    workdir, port=args.port, options=options, start_timeout=args.start_timeout
                )
        except (ServerStartError, OSError, KeyboardInterrupt) as exc:
            return start_failed("sloctl testbed up", exc, stop)
        with testbed:
            if stop.is_set():
                return start_interrupted("sloctl testbed up", stop)
            if args.write_config is not None:
                from sloctl.servers import free_port
                from sloctl.testbed_config import write_config

                listen = args.collector_listen or f"127.0.0.1:{free_port()}"
                try:
                    write_config(testbed, args.write_config, rules=Path(args.rules), collector_listen=listen)
                except OSError as exc:
                    print(f"sloctl testbed up: --write-config {args.write_config}: {exc}", file=sys.stderr)
                    return 1
            # Addresses only: the passwords are in the --write-config files, never on a terminal.
            for name, url in testbed.urls().items():
                print(f"{name:16} {url}", flush=True)
            if args.write_config is not None:
                print(f"{'config':16} {args.write_config}", flush=True)
            limit = f"for {args.duration:g} s" if args.duration else "until Ctrl-C"
            print(f"sloctl testbed: running {limit}", file=sys.stderr, flush=True)
            # every server it started, not the API alone: a killed Redis or PgBouncer stops the run
            broken = wait_in_foreground(stop, args.duration, testbed.exited)
            if broken:
                print(f"sloctl testbed: {broken}; stopping the rest", file=sys.stderr, flush=True)
                return 1
            print("sloctl testbed: stopping ...", file=sys.stderr, flush=True)
        return 0


def _loopback_listen(listen: str) -> bool:
    """``HOST:PORT`` with a loopback IP address (a name is not resolved here), read as ``serve
    --listen`` reads it."""
    from sloctl.serve.server import ListenError, parse_listen

    try:
        host, _port = parse_listen(listen)
    except ListenError:
        return False
    return ipaddress.ip_address(host).is_loopback
