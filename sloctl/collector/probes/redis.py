"""Redis probe over a minimal RESP2 client.

A hand-written client (about sixty lines) instead of ``redis.asyncio`` because it lets every
phase be timed exactly: ``connect`` is the TCP handshake, ``tls`` the TLS handshake on the same
socket, ``auth`` the ``AUTH`` round trip, ``query`` ``PING`` + ``INFO``, ``canary`` ``SET … EX``
then ``GET``. A malformed or truncated reply is a ``protocol`` failure, an error reply
(``-ERR``) a ``server_error``, ``-WRONGPASS``/``-NOAUTH`` an ``auth`` failure, a plaintext
server where the target asks for TLS a ``tls`` failure (:meth:`RedisProbe._start_tls`), and so
is a TLS connection the server ends before its first answer (:meth:`RedisProbe._call`).
"""

from __future__ import annotations

import asyncio
import secrets
import ssl

from sloctl.collector.config import ConnectionMode
from sloctl.collector.probes.base import (
    DatabaseAccess,
    DatabaseProbe,
    PhaseRecorder,
    ProbeReport,
    cert_not_after,
    close_quietly,
    closed_or_reset,
    connection_lifetime,
    refused_after_handshake,
    retry_stale_once,
    tcp_connect,
)
from sloctl.collector.reasons import ProbeFailure
from sloctl.contract import Phase, Reason, Role
from sloctl.egress import EgressDenied

__all__ = ["RedisProbe", "RespError"]

_MAX_BULK = 4 << 20  # an INFO reply is a few KiB; anything near this is not Redis
#: Seconds a TLS handshake goes unanswered before a plaintext PING asks whether the server
#: speaks TLS at all. A TLS server answers a ClientHello within a round trip; a plaintext Redis
#: never does: it takes the hello for an inline command and waits for its newline, which
#: ``strchr`` never finds past the hello's first NUL byte.
_PLAINTEXT_CHECK_AFTER = 0.2


class RespError(Exception):
    """An error reply from the server (``-ERR …``)."""


def _encode(*args: str | bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


async def _read(reader: asyncio.StreamReader, depth: int = 0) -> object:
    line = await reader.readuntil(b"\r\n")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode("utf-8", "replace")
    if kind == b"-":
        text = body.decode("utf-8", "replace")
        if text.startswith(("WRONGPASS", "NOAUTH")):
            raise ProbeFailure(Reason.AUTH, text)
        raise RespError(text)
    if kind == b":":
        return int(body)
    if kind == b"$":
        n = int(body)
        if n == -1:
            return None
        if not 0 <= n <= _MAX_BULK:
            raise ProbeFailure(Reason.PROTOCOL, f"bulk string of {n} bytes")
        data = await reader.readexactly(n + 2)
        return data[:-2]
    if kind == b"*" and depth < 4:
        n = int(body)
        if n > 1024:
            raise ProbeFailure(Reason.PROTOCOL, f"array of {n} items")
        return [await _read(reader, depth + 1) for _ in range(max(n, 0))]
    raise ProbeFailure(Reason.PROTOCOL, f"unexpected RESP type byte {kind!r}")


def parse_info(text: str) -> dict[str, str]:
    """``INFO`` text → its ``key:value`` fields (sections and comments dropped)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            k, _, v = line.partition(":")
            fields[k.strip()] = v.strip()
    return fields


class RedisProbe(DatabaseProbe):
    _conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    _cert_not_after: float | None = None
    #: a TLS connection whose server has not answered yet: it may still refuse the client
    _unanswered_tls = False

    def __init__(self, access: DatabaseAccess, ssl_context: ssl.SSLContext | None) -> None:
        """``ssl_context``: for a target with ``tls`` on, its context, shared with every probe
        of the same TLS configuration (:class:`~sloctl.collector.config.TlsContexts`); it was
        built for every handshake (a CA file loaded per run)."""
        super().__init__(access)
        self._ssl = ssl_context

    async def _call(self, *args: str | bytes) -> object:
        """One command and its answer. A TLS connection the server ends before its first answer
        is ``tls`` (:func:`~sloctl.collector.probes.base.refused_after_handshake`), whichever way
        its end shows: the server's alert, a reset (the alert lost to the reset the command
        provoked) or EOF. It read ``ConnectionResetError`` or ``ValueError: handshake not done
        yet`` (:func:`cert_not_after` after the alert), reason ``protocol``, as often as the
        alert's ``tls``."""
        assert self._conn is not None
        reader, writer = self._conn
        try:
            writer.write(_encode(*args))
            await writer.drain()
            answer = await _read(reader)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            if self._unanswered_tls:
                raise refused_after_handshake(self.target.tls, exc) from exc
            if isinstance(exc, asyncio.IncompleteReadError):
                raise ProbeFailure(Reason.PROTOCOL, "connection closed mid-answer") from exc
            raise
        except ValueError as exc:  # int() on garbage, or a line longer than the limit
            raise ProbeFailure(Reason.PROTOCOL, f"malformed reply: {exc}") from exc
        self._unanswered_tls = False
        return answer

    async def _open(self, rec: PhaseRecorder) -> None:
        _addr, reader, writer = await tcp_connect(self.target, self._egress, rec)
        self._conn = (reader, writer)
        if self.target.tls.enabled:
            async with rec.phase(Phase.TLS):
                await self._start_tls(writer, _addr)
                self._unanswered_tls = True
                obj = writer.get_extra_info("ssl_object")
                self._cert_not_after = cert_not_after(obj if isinstance(obj, ssl.SSLObject) else None)
        if self._password is not None:
            async with rec.phase(Phase.AUTH):
                args = (
                    ("AUTH", self.target.user, self._password)
                    if self.target.user
                    else ("AUTH", self._password)
                )
                await self._call(*args)

    async def _start_tls(self, writer: asyncio.StreamWriter, address: str) -> None:
        """The TLS handshake; when it goes unanswered for :data:`_PLAINTEXT_CHECK_AFTER`, a
        plaintext PING on a connection of its own races it, and a RESP answer (``+PONG``,
        ``-NOAUTH …``) ends it at once as ``tls``: a frozen server looked the same until the
        deadline (``connect_timeout``)."""
        assert self._ssl is not None  # given for every target with tls on
        name = self.target.tls.server_name or self.target.host
        handshake = asyncio.ensure_future(writer.start_tls(self._ssl, server_hostname=name))
        check: asyncio.Future[str | None] | None = None
        try:
            done, _ = await asyncio.wait({handshake}, timeout=_PLAINTEXT_CHECK_AFTER)
            if not done:
                check = asyncio.ensure_future(self._plaintext_answer(address))
                await asyncio.wait({handshake, check}, return_when=asyncio.FIRST_COMPLETED)
                if not handshake.done() and (said := check.result()) is not None:
                    raise ProbeFailure(
                        Reason.TLS,
                        f"the server answers in plaintext ({said!r} to a plaintext PING), not TLS:"
                        " it has no TLS on this port; give the port of its tls-port, or turn the"
                        " target's tls off",
                    )
            await handshake
        finally:
            for task in (handshake, check):
                if task is not None and not task.done():
                    task.cancel()

    async def _plaintext_answer(self, address: str) -> str | None:
        """The first line a plaintext ``PING`` gets from the target's ``address`` on a new
        connection, when it is a RESP reply; None for anything else (a TLS server's alert, a
        closed or refused connection). Waits as long as its caller lets it."""
        try:
            _addr, reader, writer = await self._egress.open_connection(address, self.target.port)
        except (OSError, EgressDenied):
            return None
        try:
            writer.write(b"PING\r\n")
            await writer.drain()
            line = await reader.readline()
        except (OSError, ValueError):
            return None
        finally:
            await close_quietly(writer)
        return line.decode("utf-8", "replace").strip() if line[:1] in (b"+", b"-") else None

    async def run(self, rec: PhaseRecorder) -> ProbeReport:
        reused = self._conn is not None and self.mode is ConnectionMode.WARM
        return await retry_stale_once(reused, lambda: self._attempt(rec))

    async def _attempt(self, rec: PhaseRecorder) -> ProbeReport:
        fresh = self._conn is None or self.mode is ConnectionMode.COLD
        async with connection_lifetime(self):
            try:
                if fresh:
                    await self._drop()
                    await self._open(rec)
                report = ProbeReport(cert_not_after=self._cert_not_after)
                async with rec.phase(Phase.QUERY):
                    if fresh and self._password is None:
                        # No AUTH on this new connection: PING is the first answer the server
                        # owes it, and none is what AUTH's would be, a frozen server.
                        rec.hint = Reason.CONNECT_TIMEOUT
                    pong = await self._call("PING")
                    rec.hint = None
                    if pong != "PONG":
                        raise ProbeFailure(Reason.VALIDATION, f"PING answered {pong!r}")
                    raw = await self._call("INFO", "clients", "memory", "replication")
                    if not isinstance(raw, bytes):
                        raise ProbeFailure(Reason.PROTOCOL, "INFO did not answer a bulk string")
                    info = parse_info(raw.decode("utf-8", "replace"))
                    report.connections_used = _num(info.get("connected_clients"))
                    report.connections_max = _num(info.get("maxclients"))
                    report.memory_used = _num(info.get("used_memory"))
                    maxmem = _num(info.get("maxmemory"))
                    report.memory_max = maxmem if maxmem else None  # 0 means "no limit"
                    role = info.get("role")
                    report.role = {"master": Role.PRIMARY, "slave": Role.REPLICA}.get(role or "")
                if self.target.canary:
                    async with rec.phase(Phase.CANARY):
                        key = f"sloctl:canary:{self.target.name}:{self.mode.value}"
                        value = secrets.token_hex(8)
                        await self._call("SET", key, value, "EX", "60")
                        got = await self._call("GET", key)
                        if got != value.encode():
                            raise ProbeFailure(Reason.VALIDATION, "canary read-back mismatch")
                return report
            except RespError as exc:
                raise ProbeFailure(Reason.SERVER_ERROR, str(exc)) from exc

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._unanswered_tls = False
        if conn is not None:
            # off the lane's path: a TLS connection waits for its peer's close_notify, which a
            # frozen Redis never sends (half the cleanup allowance of every run it ended)
            self._cleanups.hand_off(closed_or_reset(conn[1]))

    async def close(self) -> None:
        await self._drop()
        await self._cleanups.wait(timeout=1.0)


def _num(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
