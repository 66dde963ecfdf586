"""A work folder whose name has a space, quotes, ``#``, ``$``, a backslash and a non-ASCII letter
works like any other: every configuration file the launchers and ``--write-config`` write quotes
the path in its own format. Before, ``dir /tmp/…/sp ace ü/tb/redis`` unquoted in redis.conf made
Redis refuse to start (``wrong number of arguments``) and ``testbed up`` fail; a failed
``testbed up`` also left its empty ``--write-config`` folder behind."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
import yaml

from sloctl.cli.main import main
from sloctl.servers import start_pgbouncer, start_postgres, start_redis
from sloctl.testbed_config import prometheus_config
from tests.paths import ROOT

pytestmark = [pytest.mark.servers, pytest.mark.slow]

ODD = "sp ace ü'q\"#;$\\x"


@pytest.fixture
def odd_dir() -> Iterator[Path]:
    """A folder named :data:`ODD` that PostgreSQL's user can traverse when we are root (pytest's
    tmp_path is 0700 down the tree: the servers would be put elsewhere, out of the test)."""
    base = Path(tempfile.mkdtemp(prefix="sloctl-test-odd-"))
    base.chmod(0o711)
    odd = base / ODD
    odd.mkdir()
    odd.chmod(0o711)
    try:
        yield odd
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_redis_starts_in_an_odd_folder_with_an_odd_password(odd_dir: Path) -> None:
    password = 'p"a ss\\wörd #1'
    with start_redis(odd_dir, password=password) as server:
        client = redis.Redis(host=server.host, port=server.port, password=password)
        assert client.config_get("dir")["dir"] == str(odd_dir.resolve() / "redis")
        client.close()


def test_pgbouncer_takes_a_password_with_a_double_quote_from_its_auth_file(odd_dir: Path) -> None:
    """PgBouncer's auth_file quotes its fields with ``"`` and escapes one inside by doubling it."""
    password = 'p"w #ü'
    with (
        start_postgres(odd_dir, password=password) as pg,
        start_pgbouncer(odd_dir, upstream=pg) as pgb,
        psycopg.connect(pgb.dsn, prepare_threshold=None, connect_timeout=10) as conn,
    ):
        assert conn.execute("SELECT current_user").fetchone() == ("platform",)


def test_the_prometheus_configuration_quotes_its_rule_files_glob() -> None:
    glob = f"/tmp/{ODD}/rules: #1/*.yml"
    assert yaml.safe_load(prometheus_config(glob))["rule_files"] == [glob]


def test_testbed_up_runs_in_an_odd_work_folder_and_writes_its_config_there(
    odd_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = odd_dir / "rules: #1"
    shutil.copytree(ROOT / "rules", rules)
    config = odd_dir / "config"
    argv = ["testbed", "up", "--for", "1s", "--workdir", str(odd_dir / "tb")]
    code = main([*argv, "--write-config", str(config), "--rules", str(rules)])
    assert code == 0, capsys.readouterr().err
    # every server lived in the odd folder, none in a fallback elsewhere
    for name in ("postgres", "pgbouncer", "redis", "mongodb"):
        assert (odd_dir / "tb" / name).is_dir() and not (odd_dir / "tb" / name).is_symlink(), name
    prometheus = yaml.safe_load((config / "prometheus.yml").read_text())
    assert prometheus["rule_files"] == [f"{rules}/*.yml"]


def test_a_failed_testbed_up_removes_the_write_config_folder_it_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "new" / "config"
    with socket.socket() as taken:  # the API's port in use: the start fails after the databases
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        code = main(
            [
                *("testbed", "up", "--for", "5s", "--workdir", str(tmp_path / "work"), "--port", port),
                *("--write-config", str(config), "--rules", str(ROOT / "rules")),
            ]
        )
    assert code == 1, capsys.readouterr().err
    assert not (tmp_path / "new").exists(), "the folders the failed run made are gone"
