"""Secrets at rest: game-day journals and reports hold no password and are owner-only; files
that hold a password are created 0600; servers get random passwords unless given; no password
is on a command line that ``ps`` shows."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from sloctl.servers import PgBouncerServer, PostgresServer, RedisServer, start_redis
from sloctl.testbed_runner import ApiServer

PG_PW = "Pg-Sup3r-S3cret-7"
REDIS_PW = "Rd-S3cret-4242"
EXPERIMENT = {
    "version": "1.0.0",
    "title": "Game day: secrets",
    "description": "A probe that handles the connection strings of the configuration.",
    "configuration": {
        "gameday_seconds": 5,
        "postgres_admin_dsn": f"postgresql://postgres:{PG_PW}@127.0.0.1:1/platform",
        "redis_url": f"redis://:{REDIS_PW}@127.0.0.1:1/0",
    },
    "extensions": [{"name": "sloctl", "gameday": "secrets", "expected_alerts": []}],
    "method": [
        {
            "type": "action",
            "name": "load: stop (none runs)",
            "provider": {"type": "python", "module": "sloctl.chaos.load", "func": "stop_load"},
        },
        {
            "type": "probe",
            "name": "check: the connection strings join",
            "provider": {
                "type": "python",
                "module": "os.path",
                "func": "relpath",
                "arguments": {"path": "${postgres_admin_dsn}", "start": "${redis_url}"},
            },
        },
    ],
}


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("given", ["written", "looked up"])
def test_the_game_day_journal_and_reports_hold_no_password_and_are_owner_only(
    given: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written in the experiment, or looked up in the environment (``{"type": "env"}``, resolved
    before Chaos Toolkit runs): the same masking."""
    from sloctl.chaos.experiments import ALLOW_UNGUARDED
    from sloctl.chaos.gameday import run_gameday

    experiment = json.loads(json.dumps(EXPERIMENT))
    if given == "looked up":
        for key in ("postgres_admin_dsn", "redis_url"):
            monkeypatch.setenv(key.upper(), experiment["configuration"][key])
            experiment["configuration"][key] = {"type": "env", "key": key.upper()}
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps(experiment))
    # os.path is no module of sloctl's: the operator allows it, as for any other
    result = run_gameday(path, configuration={ALLOW_UNGUARDED: True}, out_dir=tmp_path / "report")
    assert result.verdict == "pass", result.reasons
    for name in ("journal.json", "report.json", "report.html"):
        text = (tmp_path / "report" / name).read_text()
        assert PG_PW not in text and REDIS_PW not in text, name
        assert _mode(tmp_path / "report" / name) == 0o600, name
    journal = (tmp_path / "report" / "journal.json").read_text()
    assert "postgresql://postgres:[secret]@127.0.0.1:1/platform" in journal  # still says where


@pytest.mark.servers
def test_servers_get_random_passwords_unless_given(
    tmp_path: Path,
    postgres_server: PostgresServer,
    pgbouncer_server: PgBouncerServer,
    redis_server: RedisServer,
) -> None:
    drawn = [
        postgres_server.password,
        postgres_server.superuser_password,
        pgbouncer_server.admin_password,
        redis_server.password,
    ]
    assert not {"platform-secret", "postgres-secret", "pgbouncer-secret", "redis-secret"} & set(drawn)
    assert len(set(drawn)) == 4 and all(len(p) >= 16 for p in drawn)
    with start_redis(tmp_path / "another") as other:
        assert other.password != redis_server.password


@pytest.mark.servers
def test_files_that_hold_passwords_are_owner_only(
    postgres_server: PostgresServer, pgbouncer_server: PgBouncerServer, redis_server: RedisServer
) -> None:
    assert _mode(redis_server.home / "redis.conf") == 0o600
    assert _mode(pgbouncer_server.home / "userlist.txt") == 0o600
    assert _mode(postgres_server.datadir.parent / "passwords.json") == 0o600
    assert not (postgres_server.datadir.parent / "pwfile").exists()


def _command_lines(pid: int) -> list[str]:
    """The command lines of ``pid`` and its descendants, as ``ps`` shows them to any user."""
    lines, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            lines.append(Path(f"/proc/{current}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return lines


@pytest.mark.servers
def test_no_password_is_on_a_command_line(
    platform_api: ApiServer,
    postgres_server: PostgresServer,
    pgbouncer_server: PgBouncerServer,
    redis_server: RedisServer,
) -> None:
    passwords = [
        postgres_server.password,
        postgres_server.superuser_password,
        pgbouncer_server.admin_password,
        redis_server.password,
    ]
    lines = [
        line
        for server in (platform_api, postgres_server, pgbouncer_server, redis_server)
        for line in _command_lines(server.pid)
    ]
    assert any("testbed" in line for line in lines)
    for line in lines:
        for password in passwords:
            assert password not in line, line
