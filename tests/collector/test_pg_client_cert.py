"""Client certificates (``tls.certFile``/``tls.keyFile``) on PostgreSQL targets, against a real
PostgreSQL that requires one: ``start_postgres(..., client_ca=…)``, whose pg_hba.conf has
``hostssl all all 127.0.0.1/32 cert`` for every role but the superuser, with a private CA, a
server certificate and client certificates made by ``openssl`` on the spot.

Before, a postgres target could not give a client certificate at all (an error at
``certFile``): such a server could not be probed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest

from sloctl.collector.config import check_tls_files, load_config_text, tls_file_problems
from sloctl.collector.runner import RunResult
from sloctl.servers import (
    UNIX_SOCKET_PATH_MAX,
    PgBouncerClientTlsMode,
    PgBouncerServer,
    PostgresServer,
    start_pgbouncer,
    start_postgres,
)
from tests.collector.helpers import collector_config, runs_of_each
from tests.fixtures.certs import Pki, issue_cert, make_pki

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """The client certificate is of CN ``platform``, the role it logs in as; the stranger's is
    of CN ``stranger-platform``."""
    made = make_pki(tmp_path_factory.mktemp("pg-pki"), client="platform", stranger="stranger-platform")
    for _cert, key in (made.client, made.stranger):
        os.chmod(key, 0o600)  # libpq's rule for a client key (the check says so otherwise)
    return made


#: PgBouncer's client_tls_sslmode values that verify a client certificate in the handshake
VERIFYING_MODES: tuple[PgBouncerClientTlsMode, ...] = ("verify-ca", "verify-full")


@pytest.fixture(scope="module")
def cert_postgres(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[PostgresServer]:
    """A PostgreSQL that requires a client certificate signed by ``pki.ca`` of role platform."""
    with start_postgres(tmp_path_factory.mktemp("pg-cert"), tls=pki.server, client_ca=pki.ca) as server:
        yield server


@pytest.fixture(scope="module")
def cert_pgbouncer(
    tmp_path_factory: pytest.TempPathFactory, pki: Pki, postgres_server: PostgresServer
) -> Iterator[PgBouncerServer]:
    """A PgBouncer that requires TLS of its clients and, of role platform, a client certificate
    signed by ``pki.ca`` (``auth_type = hba``, ``cert``), pooling the session's PostgreSQL."""
    workdir = tmp_path_factory.mktemp("pgb-cert")
    with start_pgbouncer(workdir, postgres_server, tls=pki.server, client_ca=pki.ca) as server:
        yield server


@pytest.fixture(scope="module")
def verifying_pgbouncers(
    tmp_path_factory: pytest.TempPathFactory, pki: Pki, postgres_server: PostgresServer
) -> Iterator[dict[str, PgBouncerServer]]:
    """One PgBouncer per verifying ``client_tls_sslmode``, trusting ``pki.ca``, SCRAM after the
    handshake, pooling the session's PostgreSQL; by mode."""
    with ExitStack() as stack:
        yield {
            mode: stack.enter_context(
                start_pgbouncer(
                    tmp_path_factory.mktemp(f"pgb-{mode}"),
                    postgres_server,
                    tls=pki.server,
                    client_ca=pki.ca,
                    client_tls_sslmode=mode,
                )
            )
            for mode in VERIFYING_MODES
        }


def _first_runs(config: str, secrets: dict[tuple[str, str], str], runs: int) -> dict[str, list[RunResult]]:
    """At least ``runs`` runs of each target of ``config``, its TLS files checked first as
    ``sloctl collector run`` checks them."""
    check_tls_files(load_config_text(config, "pg-cert.yaml"))
    return runs_of_each(config, "pg-cert.yaml", logger="sloctl.collector.pgcert", secrets=secrets, runs=runs)


def test_a_postgres_that_requires_a_client_certificate_takes_tls_cert_file_without_a_password(
    cert_postgres: PostgresServer, pki: Pki
) -> None:
    """With the certificate, and no password (``cert`` authentication), cold and warm lanes
    pass, canary included. Without one the server refuses at authentication, after a TLS
    handshake that went well (``FATAL: connection requires a valid client certificate``):
    reason ``auth`` (it read ``server_error``, as a server out of slots). A certificate from
    another CA fails the handshake itself (``tlsv1 alert unknown ca``): reason ``tls``."""
    common = f"kind: postgres, port: {cert_postgres.port}, user: platform, database: platform"
    ca = f"caFile: '{pki.ca}'"
    mine = f"certFile: '{pki.client[0]}', keyFile: '{pki.client[1]}'"
    theirs = f"certFile: '{pki.stranger[0]}', keyFile: '{pki.stranger[1]}'"
    config = collector_config(
        [
            f"name: mutual, {common}, canary: true, connections: [cold, warm], tls: {{{ca}, {mine}}}",
            f"name: none, {common}, tls: {{{ca}}}",
            f"name: none-pw, {common}, password: {{env: PG}}, tls: {{{ca}}}",
            f"name: stranger, {common}, tls: {{{ca}, {theirs}}}",
        ],
        "interval: 1s, timeout: 800ms, connections: [cold]",
    )
    history = _first_runs(config, {("none-pw", "password"): cert_postgres.password}, runs=4)
    mutual = history.pop("mutual")
    assert mutual and all(r.ok for r in mutual), [r.error for r in mutual]
    assert {r.connection for r in mutual} == {"cold", "warm"}, mutual
    cold = [r for r in mutual if r.connection == "cold"]
    assert all(r.durations.keys() >= {"connect", "auth", "query", "canary"} for r in cold), cold
    assert all(r.durations.keys() >= {"query", "canary"} for r in mutual), mutual
    for name in ("none", "none-pw"):
        runs = history[name]
        assert runs and {r.reason for r in runs} == {"auth"}, [(r.reason, r.error) for r in runs]
        said = "connection requires a valid client certificate"
        assert all(r.error and said in r.error for r in runs), runs
    stranger = history["stranger"]
    assert stranger and {r.reason for r in stranger} == {"tls"}, [(r.reason, r.error) for r in stranger]
    assert all(r.error and "unknown ca" in r.error for r in stranger), stranger


def test_a_pgbouncer_that_requires_a_client_certificate_takes_tls_cert_file_too(
    cert_pgbouncer: PgBouncerServer, pki: Pki
) -> None:
    """The probe is PgBouncer's client (``client_tls_*``): with the certificate and no password,
    cold and warm lanes pass through the pool; without one PgBouncer refuses at authentication
    (``certificate authentication failed``): ``auth``; from another CA, in the handshake: ``tls``."""
    common = f"kind: pgbouncer, port: {cert_pgbouncer.port}, user: platform, database: platform"
    ca = f"caFile: '{pki.ca}'"
    mine = f"certFile: '{pki.client[0]}', keyFile: '{pki.client[1]}'"
    theirs = f"certFile: '{pki.stranger[0]}', keyFile: '{pki.stranger[1]}'"
    config = collector_config(
        [
            f"name: mutual, {common}, connections: [cold, warm], tls: {{{ca}, {mine}}}",
            f"name: none, {common}, tls: {{{ca}}}",
            f"name: stranger, {common}, tls: {{{ca}, {theirs}}}",
        ],
        "interval: 1s, timeout: 800ms, connections: [cold]",
    )
    history = _first_runs(config, {}, runs=4)
    mutual, none, stranger = history["mutual"], history["none"], history["stranger"]
    assert mutual and all(r.ok for r in mutual), [r.error for r in mutual]
    assert {r.connection for r in mutual} == {"cold", "warm"}, mutual
    assert {r.reason for r in none} == {"auth"}, [(r.reason, r.error) for r in none]
    assert all(r.error and "certificate authentication failed" in r.error for r in none), none
    assert {r.reason for r in stranger} == {"tls"}, [(r.reason, r.error) for r in stranger]
    assert all(r.error and "unknown ca" in r.error for r in stranger), stranger


def _verifying_targets(
    servers: dict[str, PgBouncerServer], pki: Pki, certs: dict[str, tuple[Path, Path]], password: str
) -> tuple[str, dict[tuple[str, str], str]]:
    """A config with, for each PgBouncer of ``servers`` (by mode), a target ``MODE-none``
    without a certificate and a target ``MODE-NAME`` per certificate of ``certs``, all with the
    password (so that a refusal is the certificate's); and their secrets."""
    ca = f"caFile: '{pki.ca}'"
    targets: list[str] = []
    secrets: dict[tuple[str, str], str] = {}
    for mode, server in servers.items():
        common = (
            f"kind: pgbouncer, port: {server.port}, user: platform, database: platform, password: {{env: PG}}"
        )
        targets.append(f"name: {mode}-none, {common}, tls: {{{ca}}}")
        for name, (cert, key) in certs.items():
            tls = f"tls: {{{ca}, certFile: '{cert}', keyFile: '{key}'}}"
            targets.append(f"name: {mode}-{name}, {common}, connections: [cold, warm], {tls}")
        secrets |= {(f"{mode}-{name}", "password"): password for name in ("none", *certs)}
    return collector_config(targets, "interval: 1s, timeout: 800ms, connections: [cold]"), secrets


def test_a_verifying_pgbouncer_refuses_in_the_handshake_a_client_without_a_trusted_certificate(
    verifying_pgbouncers: dict[str, PgBouncerServer],
    pki: Pki,
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:
    """In ``verify-ca`` and ``verify-full`` PgBouncer asks for the client's certificate in the
    TLS handshake: without one the handshake fails (``tlsv13 alert certificate required``), and
    with one from another CA too (``unknown ca``): reason ``tls`` both, never ``auth``. With one
    ``pki.ca`` signed, and the password, cold and warm lanes pass through the pool, whatever
    name the certificate bears: ``verify-full`` compares none with the user's (PgBouncer 1.18
    treats it as ``verify-ca``; only ``cert`` authentication matches CN and user)."""
    renamed = issue_cert(tmp_path, (pki.ca, pki.ca_key), "not-a-role-here", client=True)
    os.chmod(renamed[1], 0o600)
    certs = {"mutual": pki.client, "renamed": renamed, "stranger": pki.stranger}
    config, secrets = _verifying_targets(verifying_pgbouncers, pki, certs, postgres_server.password)
    history = _first_runs(config, secrets, runs=2)
    for mode in VERIFYING_MODES:
        for name in ("mutual", "renamed"):
            runs = history[f"{mode}-{name}"]
            assert runs and all(r.ok for r in runs), (mode, name, [r.error for r in runs])
            assert {r.connection for r in runs} == {"cold", "warm"}, (mode, name, runs)
        for name, said in (("none", "alert certificate required"), ("stranger", "alert unknown ca")):
            runs = history[f"{mode}-{name}"]
            why = [(r.reason, r.error) for r in runs]
            assert runs and {r.reason for r in runs} == {"tls"}, (mode, name, why)
            assert all(r.error and said in r.error for r in runs), (mode, name, why)


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A fresh folder in /tmp that other users may traverse (mode 0755), so that the launcher
    puts PgBouncer's files under it rather than in a short folder of its own; removed after."""
    path = Path(tempfile.mkdtemp(prefix="sloctl-sock-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _workdir_with_socket_of(base: Path, size: int) -> Path:
    """A workdir under ``base`` where the admin socket of the highest port,
    ``pgbouncer/.s.PGSQL.65535``, is ``size`` bytes long."""
    tail = "/pgbouncer/.s.PGSQL.65535"  # the highest port: the longest name it may get
    filler = size - len(f"{base}/") - len(tail)
    workdir = base / ("w" * filler)
    assert len(os.fsencode(f"{workdir}{tail}")) == size
    return workdir


def test_a_verifying_pgbouncer_takes_a_socket_path_up_to_the_limit_and_refuses_a_longer_one_before_starting(
    open_tmp: Path, pki: Pki, postgres_server: PostgresServer
) -> None:
    """The admin console of a verifying PgBouncer is reached over a Unix socket in its folder,
    whose path Linux bounds at :data:`UNIX_SOCKET_PATH_MAX` bytes: a workdir that makes it
    exactly that long starts and answers; one byte more is a ValueError naming the socket and
    what to do, not a PgBouncer that fails to start with only its log."""
    settings = {"tls": pki.server, "client_ca": pki.ca, "client_tls_sslmode": "verify-ca"}
    at_limit = _workdir_with_socket_of(open_tmp / "a", UNIX_SOCKET_PATH_MAX)
    with start_pgbouncer(at_limit, postgres_server, **settings) as server:  # type: ignore[arg-type]
        assert Path(server.admin_host) == at_limit / "pgbouncer"
        with psycopg.connect(server.admin_dsn, autocommit=True) as admin:
            assert admin.execute("SHOW VERSION").fetchone()
    over = _workdir_with_socket_of(open_tmp / "b", UNIX_SOCKET_PATH_MAX + 1)
    with pytest.raises(ValueError, match=r"Unix socket .*108 bytes.*shorter workdir"):
        start_pgbouncer(over, postgres_server, **settings)  # type: ignore[arg-type]


def _libpq_refuses(server: PostgresServer, pki: Pki, cert: Path, key: Path) -> str | None:
    """What libpq itself says of the key (None: it connected with it)."""
    dsn = (
        f"host=127.0.0.1 port={server.port} dbname=platform user=platform connect_timeout=5"
        f" sslmode=verify-full sslrootcert={pki.ca} sslcert={cert} sslkey={key}"
    )
    try:
        psycopg.connect(dsn).close()
    except psycopg.OperationalError as exc:
        return str(exc)
    return None


def test_the_check_refuses_a_client_key_exactly_when_libpq_does_naming_the_chmod_to_run(
    cert_postgres: PostgresServer, pki: Pki, tmp_path: Path
) -> None:
    """libpq refuses a client key that group or others may access (0600 at most; 0640 when root
    owns it) at every connection. The check says so at ``keyFile``, with the ``chmod`` to run,
    for postgres and pgbouncer targets (Python's ssl, which the redis and http probes use, has
    no such rule), and agrees with libpq itself on every mode and owner tried here."""
    other_uid = pwd.getpwnam("nobody").pw_uid
    owners = [os.getuid()] + ([0, other_uid] if os.getuid() == 0 else [])
    cert, original = pki.client
    for owner in owners:
        for mode in (0o600, 0o400, 0o640, 0o644, 0o660, 0o604, 0o610):
            key = tmp_path / f"key-{owner}-{mode:o}.pem"
            shutil.copyfile(original, key)
            os.chmod(key, mode)
            if owner != os.getuid():
                os.chown(key, owner, -1)
            libpq = _libpq_refuses(cert_postgres, pki, cert, key)
            text = collector_config(
                [
                    "name: pg, kind: postgres, user: platform, database: platform,"
                    f" tls: {{caFile: '{pki.ca}', certFile: '{cert}', keyFile: '{key}'}}",
                    f"name: rd, kind: redis, tls: {{certFile: '{cert}', keyFile: '{key}'}}",
                ]
            )
            said = [str(e) for e in tls_file_problems(load_config_text(text, "t.yaml"))]
            line = next(i for i, t in enumerate(text.splitlines(), 1) if "name: pg" in t)
            column = text.splitlines()[line - 1].index("keyFile:") + 1  # at the key
            case = (owner, f"{mode:04o}", libpq, said)
            if libpq is None:
                assert said == [], case
                continue
            assert "has group or world access" in libpq, case  # libpq's own reason, not another
            assert said == [
                f"t.yaml:{line}:{column}: targets[0].tls.keyFile: client key {key} has mode"
                f" {mode:04o} (group or world access), which libpq refuses at every connection:"
                f" run chmod 600 {key}"
            ], case


def test_a_client_key_opened_to_others_after_the_check_is_reason_tls_at_once_naming_it(
    cert_postgres: PostgresServer, pki: Pki, tmp_path: Path
) -> None:
    """A key whose mode changed after ``collector run`` started: libpq refuses it at each
    connection, before a byte reaches the server; reason ``tls``, with libpq's words (its file
    and its rule), at once, not a deadline."""
    key = tmp_path / "opened.key"
    shutil.copyfile(pki.client[1], key)
    os.chmod(key, 0o644)
    config = collector_config(
        [
            f"name: opened, kind: postgres, port: {cert_postgres.port}, user: platform, database: platform,"
            f" tls: {{caFile: '{pki.ca}', certFile: '{pki.client[0]}', keyFile: '{key}'}}"
        ],
        "interval: 4s, timeout: 3s, connections: [cold]",
    )

    history = runs_of_each(config, "pg-cert.yaml", logger="sloctl.collector.pgcertkey", timeout=20)
    (run, *_more) = history["opened"]
    assert (run.ok, run.reason) == (False, "tls"), run
    assert run.error is not None and f'private key file "{key}" has group or world access' in run.error, run
    assert run.durations["total"] < 1.5, run.durations
