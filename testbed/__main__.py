"""``python -m testbed``: serve the platform API with uvicorn on loopback.

``sloctl testbed up`` runs this in a child process after starting the databases; tests and
benchmarks do the same (sloctl.testbed_runner). Connection strings carry passwords, so they are
read from the environment (``TESTBED_POSTGRES_DSN``, …) rather than from flags, which any user
of the machine can read in ``ps``; the flags remain for a quick manual start.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from sloctl import limits

from .breaker import BreakerSettings, default_failure_ratios, default_timeouts
from .config import TestbedConfig, default_pool_size
from .tiers import load_api_keys

#: flag → environment variable that may hold it instead (secrets stay out of ``ps``)
SECRET_FLAGS = {
    "postgres_dsn": "TESTBED_POSTGRES_DSN",
    "postgres_direct_dsn": "TESTBED_POSTGRES_DIRECT_DSN",
    "redis_url": "TESTBED_REDIS_URL",
    "mongodb_uri": "TESTBED_MONGODB_URI",
}


#: The API's own timeouts, a ``--WHAT-timeout`` flag each (seconds; ``TestbedConfig.WHAT_timeout``
#: its default), the argparse type that bounds it, and what happens past it.
_TIMEOUTS = (
    (
        "backup",
        limits.BACKUP_TIMEOUT,
        "a pg_dump running longer is killed, its PostgreSQL session ended and the backup failed",
    ),
    ("body", limits.CLIENT_WAIT, "a request body not whole after this long is answered 408"),
    (
        "head",
        limits.CLIENT_WAIT,
        "a request line and headers not whole this long after the connection opened are answered 408",
    ),
)


# Long but flat: one argparse declaration per flag of the testbed's server, nothing else.
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m testbed", description="Serve the platform API (loopback only)."
    )
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=limits.PORT, required=True)
    p.add_argument(
        "--postgres-dsn", help="through PgBouncer (transaction mode); default $TESTBED_POSTGRES_DSN"
    )
    p.add_argument(
        "--postgres-direct-dsn", help="direct PostgreSQL, for pg_dump; default $TESTBED_POSTGRES_DIRECT_DSN"
    )
    p.add_argument("--redis-url", help="default $TESTBED_REDIS_URL")
    p.add_argument("--mongodb-uri", help="default $TESTBED_MONGODB_URI")
    p.add_argument(
        "--pool-size", type=limits.POOL_SIZE, default=default_pool_size(), help="default (cores × 2) + 1"
    )
    p.add_argument(
        "--breaker-open-seconds", type=limits.BREAKER_OPEN_SECONDS, default=BreakerSettings.open_seconds
    )
    p.add_argument(
        "--breaker-window-seconds", type=limits.BREAKER_WINDOW_SECONDS, default=BreakerSettings.window_seconds
    )
    p.add_argument(
        "--breaker-minimum-calls", type=limits.BREAKER_MINIMUM_CALLS, default=BreakerSettings.minimum_calls
    )
    p.add_argument("--default-timeout", type=limits.CALL_TIMEOUT, default=BreakerSettings.call_timeout)
    for dep, seconds in default_timeouts().items():
        p.add_argument(f"--{dep}-timeout", type=limits.CALL_TIMEOUT, default=seconds)
    for dep, ratio in default_failure_ratios().items():
        p.add_argument(
            f"--{dep}-failure-ratio",
            type=limits.FAILURE_RATIO,
            default=ratio,
            help=f"share of failed {dep} calls in the window that opens its breaker (default {ratio:g})",
        )
    p.add_argument(
        "--rate-limit",
        type=limits.RATE_LIMIT,
        default=TestbedConfig.rate_limit_per_second,
        help="requests/s per address (no API key)",
    )
    p.add_argument("--rate-burst", type=limits.RATE_BURST, default=TestbedConfig.rate_limit_burst)
    p.add_argument(
        "--api-keys",
        type=Path,
        metavar="PATH",
        help='JSON {"keys": [{"sha256", "tenant", "tier"}]}: callers with a key get their tier\'s rate limit'
        " and PostgreSQL pool (docs/testbed.md); default: no keys, every caller unauthenticated",
    )
    p.add_argument("--backup-dir", type=Path, default=TestbedConfig.backup_dir)
    p.add_argument(
        "--backup-workers",
        type=limits.BACKUP_WORKERS,
        default=TestbedConfig.backup_workers,
        help="pg_dump processes at a time, off the request path",
    )
    p.add_argument(
        "--backup-queue",
        type=limits.BACKUP_QUEUE,
        default=TestbedConfig.backup_queue,
        help="backups waiting at most; more are refused with 503",
    )
    for what, seconds_type, past_it in _TIMEOUTS:
        default = getattr(TestbedConfig, f"{what}_timeout")
        p.add_argument(
            f"--{what}-timeout",
            type=seconds_type,
            default=default,
            metavar="SECONDS",
            help=f"{past_it} (default {default:g})",
        )
    p.add_argument("--otlp-endpoint", help="OTLP/HTTP traces endpoint (default: no export)")
    p.add_argument(
        "--audit-log",
        default="-",
        metavar="PATH",
        help="append the audit log here, one ECS JSON line per database operation, created 0600"
        " (default -: standard error)",
    )
    p.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="a reverse proxy (address or CIDR) whose X-Forwarded-For is believed; repeatable."
        " Without one the header is ignored: any client could name itself anyone (rate limit)",
    )
    p.add_argument(
        "--keep-alive",
        type=limits.KEEP_ALIVE,
        default=5,
        metavar="SECONDS",
        help="close an idle keep-alive connection after this long (uvicorn's default: 5)",
    )
    p.add_argument("--log-level", default="warning")
    return p


def _secrets_from_env(args: argparse.Namespace, environ: dict[str, str]) -> None:
    for flag, variable in SECRET_FLAGS.items():
        if getattr(args, flag) is None and environ.get(variable):
            setattr(args, flag, environ[variable])
    for flag in ("postgres_dsn", "redis_url", "mongodb_uri"):
        if not getattr(args, flag):
            raise ValueError(f"give --{flag.replace('_', '-')} or set {SECRET_FLAGS[flag]}")


@contextlib.contextmanager
def _audit_stream(path: str) -> Iterator[IO[str]]:
    if path == "-":
        yield sys.stderr
        return
    # 0600 from the start: the log holds client addresses and what they did.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with open(fd, "a", buffering=1, encoding="utf-8") as stream:
        yield stream


def config_from_args(args: argparse.Namespace) -> TestbedConfig:
    return TestbedConfig(
        postgres_dsn=args.postgres_dsn,
        postgres_direct_dsn=args.postgres_direct_dsn,
        redis_url=args.redis_url,
        mongodb_uri=args.mongodb_uri,
        pool_size=args.pool_size,
        breaker=BreakerSettings(
            window_seconds=args.breaker_window_seconds,
            minimum_calls=args.breaker_minimum_calls,
            open_seconds=args.breaker_open_seconds,
            call_timeout=args.default_timeout,
        ),
        timeouts=tuple(sorted((dep, float(getattr(args, f"{dep}_timeout"))) for dep in default_timeouts())),
        failure_ratios=tuple(
            sorted((dep, float(getattr(args, f"{dep}_failure_ratio"))) for dep in default_failure_ratios())
        ),
        rate_limit_per_second=args.rate_limit,
        rate_limit_burst=args.rate_burst,
        api_keys=load_api_keys(args.api_keys) if args.api_keys else (),
        backup_dir=args.backup_dir,
        backup_workers=args.backup_workers,
        backup_queue=args.backup_queue,
        backup_timeout=args.backup_timeout,
        body_timeout=args.body_timeout,
        head_timeout=args.head_timeout,
        otlp_endpoint=args.otlp_endpoint,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if not ipaddress.ip_address(args.host).is_loopback:
            print(f"testbed: refusing to bind {args.host}: loopback addresses only", file=sys.stderr)
            return 2
        for proxy in args.trusted_proxy:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"--trusted-proxy {proxy!r} is not an address or a network") from None
        _secrets_from_env(args, dict(os.environ))
        config = config_from_args(args)
    except ValueError as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from .app import create_app
    from .protocol import bounded_head_protocol

    with _audit_stream(args.audit_log) as audit:
        uvicorn.run(
            create_app(config, audit_stream=audit),
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
            timeout_keep_alive=args.keep_alive,
            http=bounded_head_protocol(config.head_timeout),  # a request's head bounded (testbed.protocol)
            # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: on loopback that is
            # every client, and a spoofed header per request would dodge the rate limit.
            proxy_headers=bool(args.trusted_proxy),
            forwarded_allow_ips=",".join(args.trusted_proxy) or None,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
