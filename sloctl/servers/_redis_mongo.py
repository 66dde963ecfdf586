"""Redis and MongoDB (SecantusDB) on loopback."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sloctl.files import write_text

from ._lifeline import left_in_accept, wake
from ._process import LOOPBACK, ManagedProcess, ServerStartError, start_on_free_port

__all__ = ["MongoServer", "RedisServer", "RedisTls", "start_mongodb", "start_redis"]


class _HomeServer(ManagedProcess):
    """A server on loopback whose files live in ``home``, its log in ``home/<name>.log``."""

    def __init__(self, *, port: int, home: Path) -> None:
        super().__init__(host=LOOPBACK, port=port, logfile=home / f"{self.name}.log", run_as=None)
        self.home = home

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self.host!r}, port={self.port})"


@dataclass(frozen=True)
class RedisTls:
    """TLS for :func:`start_redis`: the certificate and key (PEM) the server presents on its
    only TCP port, and ``client_ca``, when given, the CA whose certificate the server then
    requires of every client (mutual TLS: Redis's ``tls-auth-clients yes``)."""

    cert: Path
    key: Path
    client_ca: Path | None = None


class RedisServer(_HomeServer):
    """redis-server with ``requirepass`` and an append-only file, so that :meth:`restart`
    keeps the data. With ``tls`` its TCP port speaks TLS alone; readiness is then asked on a
    private Unix socket in ``home`` (a readiness check needs no certificate of its own)."""

    name = "redis"
    startup_timeout = 15.0

    def __init__(self, *, port: int, home: Path, password: str, tls: RedisTls | None = None) -> None:
        super().__init__(port=port, home=home)
        self.password = password
        self.tls = tls

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://:{quote(self.password, safe='')}@{self.host}:{self.port}/0"

    @property
    def unix_socket(self) -> Path:
        return self.home / "redis.sock"

    def _command(self) -> Sequence[str]:
        return ["redis-server", str(self.home / "redis.conf")]

    def _ready(self) -> bool:
        """AUTH and PING over raw RESP: no client library needed to start the server. With TLS,
        on the Unix socket, once the TLS port takes connections."""
        try:
            if self.tls is None:
                with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                    return self._pong(sock)
            with socket.create_connection((self.host, self.port), timeout=0.5):
                pass
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(0.5)
                sock.connect(str(self.unix_socket))
                return self._pong(sock)
        except OSError:
            return False

    def _pong(self, sock: socket.socket) -> bool:
        sock.sendall(_resp("AUTH", self.password) + _resp("PING"))
        reply = b""
        for _ in range(10):
            chunk = sock.recv(256)
            if not chunk:
                break
            reply += chunk
            if b"PONG" in reply or b"-" in reply[:1]:
                break
        return b"+PONG" in reply


def redis_string(value: str) -> str:
    r"""``value`` as one argument of a ``redis.conf`` line: double-quoted, with ``"`` and ``\``
    escaped and every byte outside printable ASCII as ``\xHH`` (Redis reads the UTF-8 bytes
    back as they were). Unquoted, a work folder with a space made Redis refuse its ``dir``.

    >>> print(redis_string("/tmp/sp ace ü'q"))
    "/tmp/sp ace \xc3\xbc'q"
    """
    out = []
    for byte in value.encode():
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return '"' + "".join(out) + '"'


def _resp(*parts: str) -> bytes:
    out = f"*{len(parts)}\r\n".encode()
    for part in parts:
        data = part.encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


def start_redis(
    workdir: Path,
    *,
    password: str | None = None,
    maxmemory: str | None = None,
    port: int | None = None,
    debug_command: bool = False,
    tls: RedisTls | None = None,
    start_timeout: float | None = None,
) -> RedisServer:
    """Start redis-server on 127.0.0.1 on a free port, with ``password`` (random unless given;
    its configuration file, which holds it, is mode 0600). ``debug_command``: allow ``DEBUG``
    from loopback (Redis 7 refuses it unless set at start-up; fault tests use ``DEBUG SLEEP``).
    ``tls``: that port speaks TLS only (:class:`RedisTls`). ``start_timeout``: the most seconds
    it may take to be ready, its append-only file loaded (None: its own)."""
    if shutil.which("redis-server") is None:
        raise ServerStartError("redis-server not found; install the Debian redis-server package")
    home = Path(workdir).resolve() / "redis"
    home.mkdir(parents=True, exist_ok=True)
    password = password or secrets.token_urlsafe(18)

    def server_on(chosen: int) -> RedisServer:
        lines = [
            f"bind {LOOPBACK}",
            # with TLS, the one TCP port speaks TLS alone (port 0: no plaintext listener)
            *([f"port {chosen}"] if tls is None else ["port 0", f"tls-port {chosen}"]),
            "protected-mode yes",
            "daemonize no",
            f"dir {redis_string(str(home))}",
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
            f"requirepass {redis_string(password)}",
        ]
        if maxmemory:
            lines += [f"maxmemory {maxmemory}", "maxmemory-policy noeviction"]
        if debug_command:
            lines.append("enable-debug-command local")
        if tls is not None:
            lines += _tls_lines(tls, home)
        write_text(home / "redis.conf", "\n".join(lines) + "\n", private=True)
        return RedisServer(port=chosen, home=home, password=password, tls=tls)

    return start_on_free_port(server_on, port=port, timeout=start_timeout)


def _tls_lines(tls: RedisTls, home: Path) -> list[str]:
    """redis.conf lines of ``tls``, and the Unix socket readiness is asked on."""
    lines = [
        f"tls-cert-file {redis_string(str(tls.cert))}",
        f"tls-key-file {redis_string(str(tls.key))}",
        f"unixsocket {redis_string(str(home / 'redis.sock'))}",
        "unixsocketperm 700",
    ]
    if tls.client_ca is None:
        lines.append("tls-auth-clients no")
    else:
        lines += [f"tls-ca-cert-file {redis_string(str(tls.client_ca))}", "tls-auth-clients yes"]
    return lines


class MongoServer(_HomeServer):
    """SecantusDB (a MongoDB wire-protocol server on WiredTiger), storage kept across
    :meth:`restart`. It advertises a one-node replica set, so :attr:`uri` asks for a direct
    connection (the driver would otherwise look for the advertised host name)."""

    name = "mongodb"
    startup_timeout = 30.0
    _woken_to_stop = True

    def __init__(
        self,
        *,
        port: int,
        home: Path,
        test_commands: bool = False,
        tls: tuple[Path, Path] | None = None,
        client_ca: Path | None = None,
    ) -> None:
        super().__init__(port=port, home=home)
        self.test_commands = test_commands
        self.tls = tls
        """(certificate, key) the server presents: its port speaks TLS alone; None: plaintext."""
        self.client_ca = client_ca
        """With ``tls``: the CA whose certificate the server requires of every client (mutual
        TLS: SecantusDB's ``--tls-ca-file`` and ``--tls-require-client-cert``)."""

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"

    def _command(self) -> Sequence[str]:
        exe = Path(sys.executable).parent / "secantusd-py"
        prefix = [str(exe)] if exe.exists() else [sys.executable, "-m", "secantus.cli"]
        return [
            *prefix,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--storage-path",
            str(self.home / "data"),
            "--log-level",
            "WARNING",
            "--cache-size",
            "256M",
            *(["--enable-test-commands"] if self.test_commands else []),
            *(["--tls-cert-file", str(self.tls[0]), "--tls-key-file", str(self.tls[1])] if self.tls else []),
            *(["--tls-ca-file", str(self.client_ca), "--tls-require-client-cert"] if self.client_ca else []),
        ]

    def _env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONUNBUFFERED": "1"}

    def _ready(self) -> bool:
        """A ``ping`` through the OP_MSG protocol, without needing pymongo. A server that
        requires a client certificate is ready once it refuses this check's TLS for having none
        (TLS 1.3's ``certificate required`` alert: it took the handshake and judged it)."""
        try:
            raw = socket.create_connection((self.host, self.port), timeout=0.5)
            # wrap_socket takes raw over (raw is closed with it), or closes raw when it fails
            with raw if self.tls is None else _UNVERIFIED.wrap_socket(raw) as sock:
                sock.sendall(_op_msg_ping())
                header = sock.recv(16)
                return len(header) == 16
        except ssl.SSLError as exc:
            return self.client_ca is not None and exc.reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED"
        except OSError:
            return False

    def _wait_stopped(self, proc: subprocess.Popen[bytes]) -> None:
        """SecantusDB's SIGTERM handler closes its listening socket, then waits 2 s for its
        accept thread, which close() does not wake on Linux: every stop took 2.3 s (and ``sloctl
        testbed up`` 3 s to stop on SIGTERM). A connection to the port, once the handler has
        closed it, ends that accept() at once: so one every :data:`_WAKE_EVERY` seconds from
        then until the process exits (:func:`~._lifeline.left_in_accept`), ``stop_timeout``
        seconds at most (the lifeline's watcher does the same for a server whose launcher was
        killed: ``_woken_to_stop``)."""
        deadline = time.monotonic() + self.stop_timeout
        for _ in range(int(self.stop_timeout / _WAKE_EVERY) + 1):
            try:
                proc.wait(timeout=max(0.0, min(_WAKE_EVERY, deadline - time.monotonic())))
                return
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    raise
            if left_in_accept(proc.pid, self.port):
                wake((self.host, self.port), _WAKE_EVERY)
        proc.wait(timeout=0)


#: how often a stopping SecantusDB's accept thread is woken (:meth:`MongoServer._wait_stopped`)
_WAKE_EVERY = 0.05


def _unverified_context() -> ssl.SSLContext:
    """The readiness check's TLS: it asks whether the server answers, not whom to trust."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


_UNVERIFIED = _unverified_context()


def _op_msg_ping() -> bytes:
    # BSON {"ping": 1, "$db": "admin"} built by hand; OP_MSG (opcode 2013), one kind-0 section.
    def element_int(name: str, value: int) -> bytes:
        return b"\x10" + name.encode() + b"\x00" + value.to_bytes(4, "little", signed=True)

    def element_str(name: str, value: str) -> bytes:
        data = value.encode() + b"\x00"
        return b"\x02" + name.encode() + b"\x00" + len(data).to_bytes(4, "little") + data

    body = element_int("ping", 1) + element_str("$db", "admin")
    doc = (len(body) + 5).to_bytes(4, "little") + body + b"\x00"
    payload = (0).to_bytes(4, "little") + b"\x00" + doc
    header = (16 + len(payload)).to_bytes(4, "little") + (1).to_bytes(4, "little")
    header += (0).to_bytes(4, "little") + (2013).to_bytes(4, "little")
    return header + payload


def start_mongodb(
    workdir: Path,
    *,
    port: int | None = None,
    test_commands: bool = False,
    tls: tuple[Path, Path] | None = None,
    client_ca: Path | None = None,
    start_timeout: float | None = None,
) -> MongoServer:
    """Start SecantusDB on 127.0.0.1 on a free port (needs the ``dev`` extra).
    ``test_commands``: enable ``configureFailPoint`` (``failCommand``, for fault injection).
    ``tls``: (certificate, key) PEM files it presents; its port then speaks TLS alone.
    ``client_ca`` (with ``tls``): it then requires every client's certificate, signed by that CA.
    ``start_timeout``: the most seconds it may take to be ready (None: its own)."""
    if client_ca is not None and tls is None:
        raise ValueError("client_ca needs tls: a client certificate is asked for in the TLS handshake")
    exe = Path(sys.executable).parent / "secantusd-py"
    if not exe.exists() and shutil.which("secantusd-py") is None:
        raise ServerStartError("SecantusDB not installed: pip install 'secantusdb==0.7.0b3' (the dev extra)")
    home = Path(workdir).resolve() / "mongodb"
    home.mkdir(parents=True, exist_ok=True)
    return start_on_free_port(
        lambda chosen: MongoServer(
            port=chosen, home=home, test_commands=test_commands, tls=tls, client_ca=client_ca
        ),
        port=port,
        timeout=start_timeout,
    )
