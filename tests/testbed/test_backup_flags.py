"""The backup settings an operator needs are flags of ``python -m testbed``: the dump timeout
was reachable from Python alone (``TestbedConfig.backup_timeout``, 60 s)."""

from __future__ import annotations

import dataclasses

import pytest

from testbed.__main__ import build_parser, config_from_args
from testbed.config import TestbedConfig

DSNS = [
    "--port",
    "1",
    "--postgres-dsn",
    "postgresql://platform@127.0.0.1:1/platform",
    "--redis-url",
    "redis://127.0.0.1:1/0",
    "--mongodb-uri",
    "mongodb://127.0.0.1:1/platform",
]


def test_a_flag_left_out_means_the_configs_own_default() -> None:
    """``python -m testbed`` without its optional flags serves as a ``TestbedConfig`` built in
    Python does: the flags take their defaults from it (the rate limit's and the backups' were
    spelled a second time in the parser)."""
    given = config_from_args(build_parser().parse_args(DSNS))
    assert given == TestbedConfig(
        postgres_dsn=DSNS[3], redis_url=DSNS[5], mongodb_uri=DSNS[7], postgres_direct_dsn=None
    )


def test_the_backup_timeout_is_a_flag_and_defaults_to_a_minute() -> None:
    assert config_from_args(build_parser().parse_args(DSNS)).backup_timeout == 60.0
    given = config_from_args(build_parser().parse_args([*DSNS, "--backup-timeout", "5.5"]))
    assert given.backup_timeout == 5.5


def test_testbed_up_help_gives_the_apis_own_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """``sloctl testbed up --help`` states the API's defaults (sloctl does not import the
    testbed package, so they are written there again): each must be the one testbed.config and
    testbed.breaker hold."""
    from sloctl.cli.main import main as sloctl
    from testbed.breaker import BreakerSettings

    fields = {f.name: f.default for f in dataclasses.fields(TestbedConfig)}
    stated = {
        "--rate-limit RATE": f"default {fields['rate_limit_per_second']:g}",
        "--rate-burst N": f"default {fields['rate_limit_burst']}",
        "--backup-workers N": f"default {fields['backup_workers']}",
        "--backup-queue N": f"default {fields['backup_queue']}",
        "--backup-timeout SECONDS": f"default {fields['backup_timeout']:g}",
        "--breaker-open-seconds SECONDS": f"plan's {BreakerSettings().open_seconds:g} s",
    }
    with pytest.raises(SystemExit):
        sloctl(["testbed", "up", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag, default in stated.items():
        start = text.index(f" {flag} ", text.index("options:"))
        said = text[start : text.index(" --", start + len(flag) + 2)]
        assert default in said, (flag, said)
