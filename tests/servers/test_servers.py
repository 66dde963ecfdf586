"""The launchers start real servers with password auth, and stop, pause, resume and restart
them on the same port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psycopg
import pymongo
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sloctl.servers import (
    ManagedProcess,
    MongoServer,
    PgBouncerServer,
    PostgresServer,
    RedisServer,
    ServerStartError,
    _process,
    free_port,
    start_mongodb,
    start_pgbouncer,
    start_postgres,
    start_redis,
)
from sloctl.servers._lifeline import LIFELINE, alive
from sloctl.servers._process import run_in_own_group
from tests.waiting import wait_until

pytestmark = pytest.mark.servers


def test_free_port_is_a_loopback_port_nobody_listens_on() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_postgres_app_role_owns_its_database_and_is_not_a_superuser(postgres_server: PostgresServer) -> None:
    assert postgres_server.host == "127.0.0.1"
    with psycopg.connect(postgres_server.dsn) as conn:
        row = conn.execute(
            "SELECT current_user, current_database(), rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    assert row == ("platform", "platform", False)
    with psycopg.connect(postgres_server.admin_dsn) as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (
            True,
        )


def test_postgres_rejects_a_wrong_password(postgres_server: PostgresServer) -> None:
    bad = postgres_server.dsn.replace(postgres_server.password, "wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(bad, connect_timeout=5)


def test_pgbouncer_pools_in_transaction_mode_with_an_admin_console(pgbouncer_server: PgBouncerServer) -> None:
    with psycopg.connect(pgbouncer_server.dsn, prepare_threshold=None) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("platform",)
    with psycopg.connect(pgbouncer_server.admin_dsn, autocommit=True) as admin:
        cur = admin.execute("SHOW CONFIG")
        config = {row[0]: row[1] for row in cur.fetchall()}
    assert config["pool_mode"] == "transaction"
    assert config["auth_type"] == "scram-sha-256"


def test_pgbouncer_rejects_a_wrong_password(pgbouncer_server: PgBouncerServer) -> None:
    bad = pgbouncer_server.dsn.replace(pgbouncer_server.password, "wrong")
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        psycopg.connect(bad, connect_timeout=5)


@pytest.mark.parametrize(
    ("tls", "client_ca", "mode", "said"),
    [
        (
            True,
            True,
            "verify",
            "client_tls_sslmode must be one of require, verify-ca, verify-full, not 'verify'",
        ),
        (True, False, "verify-ca", "client_tls_sslmode verify-ca needs tls and client_ca"),
        (False, False, "verify-full", "client_tls_sslmode verify-full needs tls and client_ca"),
        (False, True, "require", "client_ca needs tls"),
    ],
)
def test_start_pgbouncer_refuses_a_client_tls_it_cannot_write_before_writing_anything(
    postgres_server: PostgresServer, tmp_path: Path, tls: bool, client_ca: bool, mode: str, said: str
) -> None:
    """A ``client_tls_sslmode`` PgBouncer does not have here, or a verifying one without the CA
    it verifies client certificates with: a ValueError that says so, and no folder written."""
    with pytest.raises(ValueError, match=said):
        start_pgbouncer(
            tmp_path,
            postgres_server,
            tls=(tmp_path / "server.pem", tmp_path / "server.key") if tls else None,
            client_ca=tmp_path / "ca.pem" if client_ca else None,
            client_tls_sslmode=mode,  # type: ignore[arg-type]  # a caller without a type checker
        )
    assert list(tmp_path.iterdir()) == []


def test_redis_requires_its_password(redis_server: RedisServer) -> None:
    assert redis.Redis.from_url(redis_server.url).ping() is True
    # No retries: redis-py 8 retries a refused handshake three times with back-off (4 s).
    anonymous = redis.Redis(host=redis_server.host, port=redis_server.port, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    anonymous.close()


def test_mongodb_answers_pymongo(mongodb_server: MongoServer) -> None:
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        mongodb_server.uri, serverSelectionTimeoutMS=5000
    )
    try:
        client.sloctl_test.things.insert_one({"k": 1})
        assert client.sloctl_test.things.find_one({"k": 1}, {"_id": 0}) == {"k": 1}
    finally:
        client.close()


def test_restart_keeps_port_and_data_and_pause_freezes(tmp_path: Path) -> None:
    with start_redis(tmp_path) as server:
        port = server.port
        client = redis.Redis.from_url(server.url, socket_timeout=0.5)
        client.set("k", "v")
        first_pid = server.pid
        server.restart()
        assert server.port == port
        assert server.pid != first_pid
        assert client.get("k") == b"v"
        server.pause()
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            client.get("k")
        assert time.monotonic() - started < 3
        server.resume()
        assert client.get("k") == b"v"
        client.close()
        server.stop()
        server.stop()  # idempotent
        assert not server.running


def test_postgres_restart_on_the_same_port(tmp_path: Path) -> None:
    with start_postgres(tmp_path) as server:
        with psycopg.connect(server.dsn) as conn:
            conn.execute("CREATE TABLE kept (v int)")
            conn.execute("INSERT INTO kept VALUES (7)")
        port = server.port
        server.restart()
        assert server.port == port
        with psycopg.connect(server.dsn) as conn:
            assert conn.execute("SELECT v FROM kept").fetchone() == (7,)


def test_pausing_postgres_freezes_connections_opened_before_and_stopping_it_paused_ends_them(
    tmp_path: Path,
) -> None:
    """Each PostgreSQL backend leads a session of its own: a SIGSTOP to the postmaster's group
    alone left every open connection answering, and a frozen backend would outlive a stop."""
    with start_postgres(tmp_path) as server, psycopg.connect(server.dsn, autocommit=True) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        backend = row[0]
        answered = threading.Event()

        def ask() -> None:
            conn.execute("SELECT 1")
            answered.set()

        server.pause()
        threading.Thread(target=ask, daemon=True).start()
        assert not answered.wait(1.0), "a connection opened before the pause answered while paused"
        server.resume()
        assert answered.wait(10.0), "the connection did not answer after resume"
        server.pause()
        server.stop()
        wait_until(
            lambda: not Path(f"/proc/{backend}").exists(),
            timeout=10,
            what=f"backend {backend} to end with its paused server's stop",
        )


LAUNCH_AND_EXIT = """
import sys
from pathlib import Path
from sloctl.servers import start_postgres
with start_postgres(Path(sys.argv[1])) as server:
    print((Path(sys.argv[1]) / "postgres").resolve(), flush=True)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="PostgreSQL runs as its service user only when started as root")
def test_postgres_starts_again_in_a_workdir_its_user_cannot_reach(tmp_path: Path) -> None:
    """As root, a 0700 work directory (``sloctl testbed up --workdir ~/tb``) holds only a link
    to the cluster in /tmp, which goes when its process exits: the next start in the same work
    directory makes a new one and links it (it failed on the link left behind)."""
    workdir = tmp_path / "tb"
    workdir.mkdir(mode=0o700)
    repo = Path(__file__).resolve().parents[2]
    first = subprocess.run(
        [sys.executable, "-c", LAUNCH_AND_EXIT, str(workdir)],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    gone = Path(first.stdout.strip())
    assert not gone.is_relative_to(workdir) and not gone.exists(), "the first cluster went at exit"
    assert (workdir / "postgres").is_symlink()
    with start_postgres(workdir) as server:
        with psycopg.connect(server.dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert (workdir / "postgres").resolve() not in (gone, workdir / "postgres")


def test_a_server_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ServerStartError, match="log tail"):
            start_redis(tmp_path, port=port)


def test_mongodb_stops_in_well_under_the_2_s_its_accept_thread_took(tmp_path: Path) -> None:
    """SecantusDB's SIGTERM handler waits up to 2 s for an accept thread that closing its socket
    does not wake: every stop without a client reconnecting took 2.3 s (and ``sloctl testbed up``
    3 s to stop on SIGTERM, its API stopped first) until the launcher woke it with a connection.
    A bound below those 2 s: the stop does not wait them out."""
    with start_mongodb(tmp_path) as server:
        client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
            server.uri, serverSelectionTimeoutMS=5000
        )
        try:
            client.sloctl_test.things.insert_one({"k": 1})  # data to write back on the way out
        finally:
            client.close()  # no client left to reconnect (which would wake the accept thread)
        began = time.monotonic()
        server.stop()
        took = time.monotonic() - began
    assert took < 1.5, f"stopping SecantusDB took {took:.2f} s"
    assert not server.running
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", server.port)) != 0, "still listening"


class _Interrupted(ManagedProcess):
    """A server whose start is interrupted (KeyboardInterrupt: a command's Ctrl-C) while it waits
    for it to be ready; ``seen`` its pid."""

    seen: int | None = None

    def _command(self) -> Sequence[str]:
        return [sys.executable, "-c", "import signal; signal.pause()"]  # until it is stopped

    def _ready(self) -> bool:
        self.seen = self.pid
        raise KeyboardInterrupt


def test_a_start_interrupted_while_it_waits_stops_its_server(tmp_path: Path) -> None:
    """Nothing held the server yet to stop it: it ran on until the lifeline stopped it, once the
    command had exited (its work folder removed under it)."""
    server = _Interrupted(host="127.0.0.1", port=free_port(), logfile=tmp_path / "log", run_as=None)
    with pytest.raises(KeyboardInterrupt):
        server.start()
    assert server.seen is not None and not alive(server.seen)
    assert not server.running and server.seen not in LIFELINE._servers


def _ended(pid: int) -> bool:
    """Process ``pid`` is gone, or dead and not yet reaped (a zombie: its parent was killed too)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_program_run_to_its_end_is_ended_with_all_it_forked_when_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """initdb was run by subprocess.run, which killed initdb alone on an interrupt: the postgres
    it had forked went on in the data directory about to be removed. SIGINT now goes to the
    program's whole group, and what ignores it (sh's background jobs do) is killed after."""
    log = tmp_path / "log"
    forked: list[int] = []

    def interrupted(check: Callable[[], bool], **_kwargs: float) -> bool:
        forked.append(wait_until(lambda: _first_line(log), timeout=30, what="the child's pid"))
        assert not check()  # still running
        raise KeyboardInterrupt

    monkeypatch.setattr(_process, "wait_until", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_in_own_group(["sh", "-c", "sleep 60 & echo $!; exec sleep 60"], log=log, timeout=60)
    wait_until(lambda: _ended(forked[0]), timeout=10, what="the forked sleep ended")


def _first_line(path: Path) -> int | None:
    """The number on the first line of ``path``, once there is one."""
    lines = path.read_text().splitlines() if path.exists() else []
    return int(lines[0]) if lines else None
