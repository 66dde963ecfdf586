"""``python -m testbed``: serve the platform API with uvicorn on loopback.

``sloctl testbed up`` runs this in a child process after starting the databases; tests and
benchmarks do the same (sloctl.testbed_runner).
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Sequence
from pathlib import Path

from .breaker import BreakerSettings, default_timeouts
from .config import TestbedConfig, default_pool_size


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m testbed", description="Serve the platform API (loopback only)."
    )
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--postgres-dsn", required=True, help="through PgBouncer (transaction mode)")
    p.add_argument("--postgres-direct-dsn", help="direct PostgreSQL, for pg_dump")
    p.add_argument("--redis-url", required=True)
    p.add_argument("--mongodb-uri", required=True)
    p.add_argument("--pool-size", type=int, default=default_pool_size(), help="default (cores × 2) + 1")
    p.add_argument("--breaker-open-seconds", type=float, default=BreakerSettings.open_seconds)
    p.add_argument("--breaker-window-seconds", type=float, default=BreakerSettings.window_seconds)
    p.add_argument("--breaker-minimum-calls", type=int, default=BreakerSettings.minimum_calls)
    p.add_argument("--breaker-failure-ratio", type=float, default=BreakerSettings.failure_ratio)
    p.add_argument("--default-timeout", type=float, default=BreakerSettings.call_timeout)
    for dep, seconds in default_timeouts().items():
        p.add_argument(f"--{dep}-timeout", type=float, default=seconds)
    p.add_argument("--rate-limit", type=float, default=1000.0, help="requests/s per client")
    p.add_argument("--rate-burst", type=int, default=2000)
    p.add_argument("--backup-dir", type=Path, default=Path("backups"))
    p.add_argument("--otlp-endpoint", help="OTLP/HTTP traces endpoint (default: no export)")
    p.add_argument("--log-level", default="warning")
    return p


def config_from_args(args: argparse.Namespace) -> TestbedConfig:
    return TestbedConfig(
        postgres_dsn=args.postgres_dsn,
        postgres_direct_dsn=args.postgres_direct_dsn,
        redis_url=args.redis_url,
        mongodb_uri=args.mongodb_uri,
        pool_size=args.pool_size,
        breaker=BreakerSettings(
            failure_ratio=args.breaker_failure_ratio,
            window_seconds=args.breaker_window_seconds,
            minimum_calls=args.breaker_minimum_calls,
            open_seconds=args.breaker_open_seconds,
            call_timeout=args.default_timeout,
        ),
        timeouts=tuple(sorted((dep, float(getattr(args, f"{dep}_timeout"))) for dep in default_timeouts())),
        rate_limit_per_second=args.rate_limit,
        rate_limit_burst=args.rate_burst,
        backup_dir=args.backup_dir,
        otlp_endpoint=args.otlp_endpoint,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if not ipaddress.ip_address(args.host).is_loopback:
            print(f"testbed: refusing to bind {args.host}: loopback addresses only", file=sys.stderr)
            return 2
        config = config_from_args(args)
    except ValueError as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from .app import create_app

    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
