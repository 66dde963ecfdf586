"""``sloctl testbed up``: the platform API and its databases on loopback, until Ctrl-C,
SIGTERM or ``--for`` elapses; everything is stopped cleanly on the way out."""

from __future__ import annotations

import argparse
import re
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType

__all__ = ["parse_duration", "register"]

MAX_RUN_SECONDS = 7 * 24 * 3600.0

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """``30s``, ``5m``, ``1h``, ``250ms`` or plain seconds → seconds (argparse type)."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (examples: 30s, 5m, 1h)")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"duration must be positive: {text!r}")
    return seconds


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("testbed", help="start the reference platform API and its databases")
    sub = parser.add_subparsers(dest="testbed_command", metavar="ACTION")
    up = sub.add_parser("up", help="start PostgreSQL, PgBouncer, Redis, MongoDB and the API; stop on Ctrl-C")
    up.add_argument("--workdir", type=Path, help="data and logs (default: a new temp dir)")
    up.add_argument("--port", type=int, help="API port (default: a free one)")
    up.add_argument("--for", dest="duration", type=parse_duration, help="stop after this long (e.g. 30s)")
    up.add_argument(
        "--breaker-open-seconds", type=float, help="override the plan's 30 s open time (game days, demos)"
    )
    up.add_argument("--rate-limit", type=float, help="requests/s per client (default 1000)")
    up.add_argument("--rate-burst", type=int, help="bucket size (default 2000)")
    up.set_defaults(func=_up)
    parser.set_defaults(func=lambda _a: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _up(args: argparse.Namespace) -> int:
    from sloctl.servers import ServerStartError
    from sloctl.testbed_runner import start_testbed

    if args.port is not None and not 0 < args.port < 65536:
        print(f"sloctl testbed up: --port must be 1-65535, not {args.port}", file=sys.stderr)
        return 2
    workdir: Path = args.workdir or Path(tempfile.mkdtemp(prefix="sloctl-testbed-"))
    if args.workdir is None:
        # mkdtemp makes it 0700; PostgreSQL's user must be able to traverse it to keep the
        # data inside (and after the run).
        workdir.chmod(0o711)
    options: dict[str, str | int | float] = {}
    for flag in ("breaker_open_seconds", "rate_limit", "rate_burst"):
        value = getattr(args, flag)
        if value is not None:
            if value <= 0:
                print(f"sloctl testbed up: --{flag.replace('_', '-')} must be positive", file=sys.stderr)
                return 2
            options[flag.replace("_", "-")] = value
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"sloctl testbed: starting in {workdir} ...", file=sys.stderr, flush=True)
        try:
            testbed = start_testbed(workdir, port=args.port, options=options)
        except (ServerStartError, OSError) as exc:
            print(f"sloctl testbed up: {exc}", file=sys.stderr)
            return 1
        with testbed:
            for name, url in testbed.urls().items():
                print(f"{name:16} {url}", flush=True)
            limit = f"for {args.duration:g} s" if args.duration else "until Ctrl-C"
            print(f"sloctl testbed: running {limit}", file=sys.stderr, flush=True)
            # "Until Ctrl-C" is bounded too: a forgotten testbed stops after a week.
            deadline = time.monotonic() + (args.duration or MAX_RUN_SECONDS)
            for _ in range(int(MAX_RUN_SECONDS) + 2):  # one wake-up per second at most
                remaining = deadline - time.monotonic()
                if stop.is_set() or remaining <= 0:
                    break
                stop.wait(min(1.0, remaining))
                if not testbed.api.running:
                    print("sloctl testbed: the API exited; stopping", file=sys.stderr)
                    return 1
            print("sloctl testbed: stopping ...", file=sys.stderr, flush=True)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
