"""PostgreSQL and PgBouncer on loopback, with password (SCRAM) authentication everywhere.

Both refuse to run as root, so when we are root they run as the ``postgres`` user and their
files live in a directory that user owns and can reach.

Passwords are random unless given: a cluster's are drawn when it is initialised and kept beside
its data in ``passwords.json`` (mode 0600), so that a later start on the same data directory
finds them; PgBouncer's admin password is drawn at every start. Files that hold a password are
created 0600, and passwords reach ``psql`` through its environment, never its command line.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NamedTuple, get_args
from urllib.parse import quote

from sloctl.contract import TIERS
from sloctl.files import write_text

from ._lifeline import LIFELINE
from ._process import (
    LOOPBACK,
    ManagedProcess,
    ServerStartError,
    as_user,
    chown_to,
    log_tail,
    reachable_by_others,
    run_in_own_group,
    service_user,
    start_on_free_port,
)

__all__ = [
    "PgBouncerClientTlsMode",
    "PgBouncerServer",
    "PostgresServer",
    "pg_bin",
    "start_pgbouncer",
    "start_postgres",
]

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


def pg_bin(name: str) -> str:
    """Path of a PostgreSQL program (``initdb``, ``postgres``, ``pg_dump``, ``psql``)."""
    for directory in PG_BIN_DIRS:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    raise ServerStartError(
        f"PostgreSQL program {name!r} not found in {', '.join(PG_BIN_DIRS)}; "
        "install the Debian postgresql package (scripts/install-debian-packages)"
    )


_EXTERNAL_DIRS: list[Path] = []


def _remove_at_exit(path: Path) -> None:
    """Directories made outside the work directory go when this process exits: their servers
    are stopped by then (fixtures, context managers, ``sloctl testbed up``), and tests would
    otherwise leave a PostgreSQL cluster in /tmp per run. A process killed before its exit
    handlers run leaves them to its lifeline, which removes them after stopping the servers."""
    if not _EXTERNAL_DIRS:
        atexit.register(_cleanup_external_dirs)
    _EXTERNAL_DIRS.append(path)
    LIFELINE.remove_at_end(path)


def _cleanup_external_dirs() -> None:
    for path in _EXTERNAL_DIRS:
        shutil.rmtree(path, ignore_errors=True)


def _service_dir(workdir: Path, name: str, user: str | None) -> Path:
    """A directory for ``name``'s files that the service user can reach.

    Under ``workdir`` when possible; otherwise (pytest's 0700 temp dirs) a fresh directory in
    /tmp, with a symlink from ``workdir`` so that the files are still easy to find, removed when
    this process exits.
    """
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    link = workdir / name
    if link.is_symlink() and link.resolve().is_dir():
        path = link.resolve()  # a restart of a server that was started before in this workdir
    elif user is None or reachable_by_others(workdir):
        path = workdir / name
        path.mkdir(exist_ok=True)
    else:
        path = Path(tempfile.mkdtemp(prefix=f"sloctl-{name}-"))
        _remove_at_exit(path)
        if link.is_symlink():
            link.unlink()  # its folder went with the process that made it
        if not link.exists():
            link.symlink_to(path)
    os.chmod(path, 0o700)
    chown_to(path, user)
    return path


def _uri(user: str, password: str, host: str, port: int, database: str) -> str:
    """A libpq URI; ``host`` an address or a Unix socket's directory (percent-encoded)."""
    login = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return f"postgresql://{login}@{quote(host, safe='')}:{port}/{quote(database)}"


def _psql(
    host: str, port: int, user: str, password: str, database: str, sql: str, timeout: float = 10
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "2"}
    cmd = [pg_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", str(port)]
    cmd += ["-U", user, "-d", database, "-Atc", sql]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class PostgresServer(ManagedProcess):
    """A PostgreSQL 15 cluster: superuser ``postgres`` and app role ``platform`` owning
    database ``platform``, both with SCRAM passwords."""

    name = "postgres"
    # SIGINT is PostgreSQL's "fast" shutdown; SIGTERM ("smart") waits for every client
    # (PgBouncer's pooled connections) to leave, which can take forever.
    _stop_signal = signal.SIGINT

    def __init__(
        self,
        *,
        port: int,
        datadir: Path,
        logfile: Path,
        run_as: str | None,
        password: str,
        superuser_password: str,
        max_connections: int,
        tls: tuple[Path, Path] | None = None,
        client_ca: Path | None = None,
    ) -> None:
        super().__init__(host=LOOPBACK, port=port, logfile=logfile, run_as=run_as)
        self.datadir = datadir
        self.tls = tls
        """(certificate, key) the server presents, TLS on (``ssl=on``); None: no TLS."""
        self.client_ca = client_ca
        """The CA (``ssl_ca_file``) whose client certificate every role but the superuser must
        present (``hostssl … cert``, :func:`_client_cert_hba`); None: passwords alone."""
        self.user = "platform"
        self.password = password
        self.database = "platform"
        self.superuser = "postgres"
        self.superuser_password = superuser_password
        self.max_connections = max_connections

    @property
    def dsn(self) -> str:
        """libpq URI of the app role ``platform`` on database ``platform``."""
        return _uri(self.user, self.password, self.host, self.port, self.database)

    @property
    def admin_dsn(self) -> str:
        """libpq URI of the superuser on database ``platform``."""
        return _uri(self.superuser, self.superuser_password, self.host, self.port, self.database)

    def _command(self) -> Sequence[str]:
        return [
            pg_bin("postgres"),
            "-D",
            str(self.datadir),
            "-c",
            f"listen_addresses={self.host}",
            "-c",
            f"port={self.port}",
            "-c",
            "unix_socket_directories=",
            "-c",
            f"max_connections={self.max_connections}",
            "-c",
            "fsync=off",  # test and dev data only: durability is not the point, speed is
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            *(
                ("-c", "ssl=on", "-c", f"ssl_cert_file={self.tls[0]}", "-c", f"ssl_key_file={self.tls[1]}")
                if self.tls
                else ()
            ),
            *(
                ("-c", f"ssl_ca_file={self.client_ca}", "-c", f"hba_file={self.datadir.parent / _CERT_HBA}")
                if self.client_ca
                else ()
            ),
        ]

    def _ready(self) -> bool:
        probe = _psql(
            self.host, self.port, self.superuser, self.superuser_password, "postgres", "SELECT 1", 3
        )
        return probe.returncode == 0

    def sql(self, statement: str, *, database: str = "postgres") -> str:
        """Run SQL as the superuser through psql (setup and fault injection; not a driver)."""
        done = _psql(self.host, self.port, self.superuser, self.superuser_password, database, statement)
        if done.returncode != 0:
            raise ServerStartError(f"psql failed on {self.host}:{self.port}: {done.stderr.strip()}")
        return done.stdout

    def __repr__(self) -> str:
        return f"PostgresServer(host={self.host!r}, port={self.port}, datadir={str(self.datadir)!r})"


#: How long initdb may take: a new cluster takes 0.6 s on the 2-core machine class, idle
#: (``--no-sync``), a few seconds under load; one still running after two minutes is stuck.
INITDB_TIMEOUT = 120.0
#: the pg_hba.conf of a server started with ``client_ca``, beside its data directory
_CERT_HBA = "pg_hba_cert.conf"


def _client_cert_hba() -> str:
    """pg_hba.conf of a server that requires a client certificate: the superuser (readiness,
    setup, faults through psql) keeps its password; every other role connects over TLS with a
    certificate signed by ``ssl_ca_file`` whose CN is its name, and no password (``cert``)."""
    return (
        "# written by sloctl.servers.start_postgres(client_ca=...)\n"
        f"host    all postgres {LOOPBACK}/32 scram-sha-256\n"
        f"hostssl all all      {LOOPBACK}/32 cert\n"
    )


def new_password() -> str:
    """A random password (URL-safe, so that it needs no quoting in a URI)."""
    return secrets.token_urlsafe(18)


def _cluster_passwords(home: Path, password: str | None, superuser_password: str | None) -> tuple[str, str]:
    """The app role's and the superuser's passwords: given, kept from the cluster's
    initialisation, or new."""
    kept = home / "passwords.json"
    stored: dict[str, str] = {}
    if kept.is_file():
        stored = json.loads(kept.read_text())
    return (
        password or stored.get("platform") or new_password(),
        superuser_password or stored.get("postgres") or new_password(),
    )


def _initdb(home: Path, datadir: Path, run_as: str | None, password: str, superuser_password: str) -> None:
    """A new cluster in ``datadir`` whose superuser has ``superuser_password``; both passwords
    kept (0600) for the next start on the same directory."""
    pwfile = write_text(home / "pwfile", superuser_password + "\n", private=True)
    write_text(
        home / "passwords.json",
        json.dumps({"platform": password, "postgres": superuser_password}),
        private=True,
    )
    chown_to(home, run_as)
    log = home / "initdb.log"
    try:
        code = run_in_own_group(
            as_user(
                [
                    pg_bin("initdb"),
                    "-D",
                    str(datadir),
                    "-U",
                    "postgres",
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                run_as,
            ),
            log=log,
            timeout=INITDB_TIMEOUT,
        )
    finally:  # an interrupt too: the password file goes
        pwfile.unlink()
    if code != 0:
        raise ServerStartError(
            f"initdb failed in {datadir} (exit code {code}); log tail ({log}):\n{log_tail(log)}"
        )


def _tls_files(
    home: Path, run_as: str | None, tls: tuple[Path, Path] | None, client_ca: Path | None
) -> tuple[tuple[Path, Path] | None, Path | None]:
    """:func:`start_postgres`'s ``tls`` and ``client_ca`` copied into ``home`` for the server's
    user (the key 0600: PostgreSQL refuses a key others can read), and the pg_hba.conf that
    requires a client certificate beside them: the copies' paths."""
    if tls is None:
        if client_ca is not None:
            raise ValueError("start_postgres: client_ca needs tls (a client certificate comes over TLS)")
        return None, None
    served = (home / "server.crt", home / "server.key")
    for source, copy in zip(tls, served, strict=True):
        shutil.copyfile(source, copy)
        os.chmod(copy, 0o600)
    trusted = None
    if client_ca is not None:
        trusted = home / "client-ca.crt"
        shutil.copyfile(client_ca, trusted)
        write_text(home / _CERT_HBA, _client_cert_hba())
    chown_to(home, run_as)
    return served, trusted


def start_postgres(
    workdir: Path,
    *,
    password: str | None = None,
    superuser_password: str | None = None,
    max_connections: int = 100,
    port: int | None = None,
    tls: tuple[Path, Path] | None = None,
    client_ca: Path | None = None,
    start_timeout: float | None = None,
) -> PostgresServer:
    """Initialise (first time) and start PostgreSQL on 127.0.0.1 on a free port. Passwords
    are random unless given (see the module docstring). ``tls``: (certificate, key) PEM files
    the server presents, copied beside its data for its user (PostgreSQL refuses a key others
    can read); clients may then ask for TLS (plain connections stay allowed). ``client_ca``
    (with ``tls``): the CA certificate (PEM) that signs client certificates; every role but
    the superuser must then connect over TLS with one whose CN is its name (pg_hba.conf
    ``hostssl … cert``), and is refused without. ``start_timeout``: the most seconds the server
    may take to be ready (None: its own, :class:`~._process.ManagedProcess`), initdb apart.

    >>> pg = start_postgres(tmp_path)            # doctest: +SKIP
    >>> psycopg.connect(pg.dsn)                  # doctest: +SKIP
    """
    run_as = service_user()
    home = _service_dir(Path(workdir), "postgres", run_as)
    datadir = home / "data"
    logfile = home / "postgres.log"
    password, superuser_password = _cluster_passwords(home, password, superuser_password)
    fresh = not (datadir / "PG_VERSION").exists()
    try:
        if fresh:
            _initdb(home, datadir, run_as, password, superuser_password)
        served, trusted = _tls_files(home, run_as, tls, client_ca)
        server = start_on_free_port(
            lambda chosen: PostgresServer(
                port=chosen,
                datadir=datadir,
                logfile=logfile,
                run_as=run_as,
                password=password,
                superuser_password=superuser_password,
                max_connections=max_connections,
                tls=served,
                client_ca=trusted,
            ),
            port=port,
            timeout=start_timeout,
        )
        if fresh:
            _create_platform(server, password)
    except BaseException:
        # A cluster half made (initdb killed, the role not created yet: a Ctrl-C) would be taken
        # for a made one by the next start in this folder, which then failed: it is made again.
        if fresh:
            shutil.rmtree(datadir, ignore_errors=True)
        raise
    return server


def _create_platform(server: PostgresServer, password: str) -> None:
    """The app role ``platform`` with ``password`` and its database in a new cluster; the server
    stopped when that fails or is interrupted."""
    try:
        # Two calls: psql -c runs one transaction, and CREATE DATABASE refuses to be in one.
        server.sql(f"CREATE ROLE platform LOGIN PASSWORD {_sql_literal(password)}")
        server.sql("CREATE DATABASE platform OWNER platform")
    except BaseException:
        server.stop()
        raise


class PgBouncerServer(ManagedProcess):
    """PgBouncer in front of a :class:`PostgresServer`, SCRAM auth from a userlist file.
    ``admin_host``: where its admin console is reached, 127.0.0.1 or the directory of its Unix
    socket (see :class:`_ClientAuth`)."""

    name = "pgbouncer"
    startup_timeout = 15.0

    def __init__(
        self,
        *,
        port: int,
        home: Path,
        logfile: Path,
        run_as: str | None,
        upstream: PostgresServer,
        admin_password: str,
        admin_host: str,
    ) -> None:
        super().__init__(host=LOOPBACK, port=port, logfile=logfile, run_as=run_as)
        self.home = home
        self.admin_host = admin_host
        self.upstream = upstream
        self.user = upstream.user
        self.password = upstream.password
        self.database = upstream.database
        self.admin_user = "pgbouncer"
        self.admin_password = admin_password

    @property
    def config_path(self) -> Path:
        return self.home / "pgbouncer.ini"

    @property
    def dsn(self) -> str:
        """The app role through PgBouncer to database ``platform``."""
        return _uri(self.user, self.password, self.host, self.port, self.database)

    @property
    def admin_dsn(self) -> str:
        """PgBouncer's admin console (database ``pgbouncer``)."""
        return _uri(self.admin_user, self.admin_password, self.admin_host, self.port, "pgbouncer")

    def _command(self) -> Sequence[str]:
        return ["pgbouncer", str(self.config_path)]

    def _ready(self) -> bool:
        probe = _psql(
            self.admin_host, self.port, self.admin_user, self.admin_password, "pgbouncer", "SHOW VERSION", 3
        )
        return probe.returncode == 0

    def __repr__(self) -> str:
        return f"PgBouncerServer(host={self.host!r}, port={self.port}, upstream={self.upstream.port})"


def _userlist_line(user: str, password: str) -> str:
    """One line of PgBouncer's ``auth_file``: both fields double-quoted, a ``"`` inside doubled
    (PgBouncer's own escape)."""
    return " ".join('"' + field.replace('"', '""') + '"' for field in (user, password)) + "\n"


def _ini_value(value: str, what: str) -> str:
    """``value`` on the right of ``key = `` in ``pgbouncer.ini``: PgBouncer takes the rest of the
    line as it is (spaces, quotes, ``#`` and non-ASCII letters included, surrounding blanks
    trimmed), so only a line break or blanks at either end cannot be written."""
    if value != value.strip() or any(ord(c) < 0x20 or c == "\x7f" for c in value):
        raise ServerStartError(
            f"pgbouncer: its {what} {value!r} has a line break, a control character or blanks at an "
            "end, which pgbouncer.ini cannot hold; use another work folder"
        )
    return value


#: PgBouncer's ``client_tls_sslmode`` values that :func:`start_pgbouncer` writes. ``require``:
#: TLS of every client, a certificate checked only when one is offered; ``verify-ca`` and
#: ``verify-full``: a certificate that ``client_ca`` signed, asked for in the handshake itself.
#: PgBouncer 1.18 verifies the client's certificate alike in both (``tls_config_verify_client``)
#: and compares no name in it with anything: only ``cert`` authentication matches its name
#: with the user's (``tests/collector/test_pg_client_cert.py``).
PgBouncerClientTlsMode = Literal["require", "verify-ca", "verify-full"]


class _ClientAuth(NamedTuple):
    """How clients reach PgBouncer and log in: ``lines`` of ``pgbouncer.ini``, and the directory
    of a Unix socket it listens on as well (None: none). A verifying mode asks every TCP
    client for a certificate in the handshake, the admin's readiness check included, and
    PgBouncer asks for neither TLS nor a certificate over a Unix socket: its admin console is
    reached there."""

    lines: tuple[str, ...]
    socket_dir: Path | None = None


def _pgbouncer_ini(
    upstream: PostgresServer,
    home: Path,
    port: int,
    *,
    pool_mode: str,
    default_pool_size: int,
    max_client_conn: int,
    max_db_connections: int,
    query_wait_timeout: float,
    auth: _ClientAuth,
) -> str:
    """``pgbouncer.ini``: the databases it pools on ``upstream`` and how, listening on ``port``;
    ``auth``: how clients reach it and authenticate (:func:`_pgbouncer_client_tls`)."""
    socket_dir = "" if auth.socket_dir is None else _ini_value(str(auth.socket_dir), "unix_socket_dir")
    return "\n".join(
        [
            "[databases]",
            f"platform = host={upstream.host} port={upstream.port} dbname={upstream.database}",
            f"postgres = host={upstream.host} port={upstream.port} dbname=postgres",
            # One pool of server connections per tier (sloctl.contract.TIERS), as large
            # as the tier's API pool: a tier holding all of its own (slow queries)
            # queues only its own queries.
            *(
                f"{tier.pgbouncer_database} = host={upstream.host} port={upstream.port}"
                f" dbname={upstream.database} pool_size={tier.testbed_pool[1]}"
                for tier in TIERS
            ),
            "[pgbouncer]",
            f"listen_addr = {LOOPBACK}",
            f"listen_port = {port}",
            f"unix_socket_dir = {socket_dir}",
            *auth.lines,
            f"auth_file = {_ini_value(str(home / 'userlist.txt'), 'auth_file')}",
            "admin_users = pgbouncer",
            "stats_users = pgbouncer",
            f"pool_mode = {pool_mode}",
            f"default_pool_size = {int(default_pool_size)}",
            f"max_client_conn = {int(max_client_conn)}",
            # the plan's cap on server connections per database, whatever the pools ask
            f"max_db_connections = {int(max_db_connections)}",
            f"query_wait_timeout = {max(1, round(query_wait_timeout))}",
            "server_connect_timeout = 5",
            "server_login_retry = 1",
            "ignore_startup_parameters = extra_float_digits,options",
            "",
        ]
    )


def _copy_client_tls(home: Path, tls: tuple[Path, Path], sslmode: str) -> list[str]:
    """``tls`` (certificate, key) copied into ``home`` (0600); pgbouncer.ini's lines for them."""
    cert, key = home / "client-tls.crt", home / "client-tls.key"
    for source, copy in ((tls[0], cert), (tls[1], key)):
        shutil.copyfile(source, copy)
        os.chmod(copy, 0o600)
    return [
        f"client_tls_sslmode = {sslmode}",
        f"client_tls_cert_file = {_ini_value(str(cert), 'client_tls_cert_file')}",
        f"client_tls_key_file = {_ini_value(str(key), 'client_tls_key_file')}",
    ]


def _check_client_tls(tls: tuple[Path, Path] | None, client_ca: Path | None, sslmode: str) -> None:
    """:func:`start_pgbouncer`'s TLS arguments, refused (ValueError) before anything is written:
    a mode not in :data:`PgBouncerClientTlsMode`, a CA without TLS, a verifying mode without
    the CA it verifies client certificates with."""
    modes = get_args(PgBouncerClientTlsMode)
    if sslmode not in modes:
        raise ValueError(
            f"start_pgbouncer: client_tls_sslmode must be one of {', '.join(modes)}, not {sslmode!r}"
        )
    if client_ca is not None and tls is None:
        raise ValueError("start_pgbouncer: client_ca needs tls (a client certificate comes over TLS)")
    if sslmode != "require" and client_ca is None:
        raise ValueError(
            f"start_pgbouncer: client_tls_sslmode {sslmode} needs tls and client_ca (the CA it verifies"
            " client certificates with)"
        )


#: The longest path of a Unix socket Linux binds, in bytes: ``sockaddr_un.sun_path`` holds 108
#: with the terminating NUL. A longer one would make PgBouncer fail to start with only its log.
UNIX_SOCKET_PATH_MAX = 107

#: The highest TCP port: PgBouncer's longest socket name in a folder is ``.s.PGSQL.65535``.
_HIGHEST_PORT = 65535


def _check_socket_path(path: Path) -> None:
    """Refuse (ValueError, before PgBouncer is started) a Unix socket ``path`` longer than
    :data:`UNIX_SOCKET_PATH_MAX` bytes, naming it and what to do."""
    size = len(os.fsencode(path))
    if size > UNIX_SOCKET_PATH_MAX:
        raise ValueError(
            f"start_pgbouncer: the admin console's Unix socket {path} would be {size} bytes, past the"
            f" {UNIX_SOCKET_PATH_MAX} a socket path may have; give a shorter workdir"
        )


def _pgbouncer_client_tls(
    home: Path, tls: tuple[Path, Path] | None, client_ca: Path | None, sslmode: str
) -> _ClientAuth:
    """Client authentication: SCRAM alone; with ``tls`` (certificate, key) TLS of every client
    in ``client_tls_sslmode`` ``sslmode`` (:data:`PgBouncerClientTlsMode`). With ``client_ca``
    too: in ``require``, a certificate it signed, whose CN is the user's name, in place of a
    password for every user but the admin (``auth_type = hba``, ``cert``; a certificate a
    client offers is verified against ``client_ca`` in any case); in ``verify-ca`` or
    ``verify-full``, such a certificate (of any name) in the handshake, then the user's
    password (SCRAM): the certificate vouches for the client, the password for the user, and
    the admin logs in over a Unix socket (:class:`_ClientAuth`)."""
    if tls is None:
        return _ClientAuth(("auth_type = scram-sha-256",))
    if client_ca is not None and sslmode != "require":
        _check_socket_path(home / f".s.PGSQL.{_HIGHEST_PORT}")
    lines = _copy_client_tls(home, tls, sslmode)
    if client_ca is None:
        return _ClientAuth((*lines, "auth_type = scram-sha-256"))
    shutil.copyfile(client_ca, home / "client-ca.crt")
    lines.append(f"client_tls_ca_file = {_ini_value(str(home / 'client-ca.crt'), 'client_tls_ca_file')}")
    if sslmode != "require":
        return _ClientAuth((*lines, "auth_type = scram-sha-256"), socket_dir=home)
    write_text(
        home / "pgbouncer_hba.conf",
        f"host    all pgbouncer {LOOPBACK}/32 scram-sha-256\nhostssl all all {LOOPBACK}/32 cert\n",
    )
    return _ClientAuth(
        (
            *lines,
            "auth_type = hba",
            f"auth_hba_file = {_ini_value(str(home / 'pgbouncer_hba.conf'), 'auth_hba_file')}",
        )
    )


def _write_userlist(home: Path, upstream: PostgresServer) -> str:
    """PgBouncer's ``auth_file`` in ``home`` (0600): ``upstream``'s app role and superuser, and its
    own admin ``pgbouncer`` with a password drawn now, which is returned."""
    admin_password = new_password()
    users = {
        upstream.user: upstream.password,
        upstream.superuser: upstream.superuser_password,
        "pgbouncer": admin_password,
    }
    write_text(home / "userlist.txt", "".join(_userlist_line(u, p) for u, p in users.items()), private=True)
    return admin_password


def start_pgbouncer(
    workdir: Path,
    upstream: PostgresServer,
    *,
    pool_mode: str = "transaction",
    default_pool_size: int = 5,
    max_client_conn: int = 200,
    max_db_connections: int = 200,
    query_wait_timeout: float = 10.0,
    port: int | None = None,
    tls: tuple[Path, Path] | None = None,
    client_ca: Path | None = None,
    client_tls_sslmode: PgBouncerClientTlsMode = "require",
    start_timeout: float | None = None,
) -> PgBouncerServer:
    """Start PgBouncer on 127.0.0.1 pooling database ``platform`` of ``upstream``. ``tls``:
    (certificate, key) PEM files it presents to its clients, which must then use TLS;
    ``client_ca`` (with ``tls``): the CA of client certificates. ``client_tls_sslmode``:
    ``require`` (with ``client_ca``, a certificate in place of a password) or ``verify-ca`` or
    ``verify-full`` (one in the handshake, then the password): :func:`_pgbouncer_client_tls`.
    ``start_timeout``: the most seconds it may take to be ready (None: its own)."""
    if pool_mode not in ("session", "transaction", "statement"):
        raise ValueError(f"pool_mode must be session, transaction or statement, not {pool_mode!r}")
    _check_client_tls(tls, client_ca, client_tls_sslmode)
    run_as = service_user()
    home = _service_dir(Path(workdir), "pgbouncer", run_as)
    admin_password = _write_userlist(home, upstream)
    auth = _pgbouncer_client_tls(home, tls, client_ca, client_tls_sslmode)

    def server_on(chosen: int) -> PgBouncerServer:
        server = PgBouncerServer(
            port=chosen,
            home=home,
            logfile=home / "pgbouncer.log",
            run_as=run_as,
            upstream=upstream,
            admin_password=admin_password,
            admin_host=LOOPBACK if auth.socket_dir is None else str(auth.socket_dir),
        )
        server.config_path.write_text(
            _pgbouncer_ini(
                upstream,
                home,
                chosen,
                pool_mode=pool_mode,
                default_pool_size=default_pool_size,
                max_client_conn=max_client_conn,
                max_db_connections=max_db_connections,
                query_wait_timeout=query_wait_timeout,
                auth=auth,
            )
        )
        chown_to(home, run_as)
        return server

    return start_on_free_port(server_on, port=port, timeout=start_timeout)
