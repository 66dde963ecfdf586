"""Redis probe over a minimal RESP2 client.

A hand-written client (about sixty lines) instead of ``redis.asyncio`` because it lets every
phase be timed exactly: ``connect`` is the TCP handshake, ``tls`` the TLS handshake on the same
socket, ``auth`` the ``AUTH`` round trip, ``query`` ``PING`` + ``INFO``, ``canary`` ``SET … EX``
then ``GET``. A malformed or truncated reply is a ``protocol`` failure, an error reply
(``-ERR``) a ``server_error``, ``-WRONGPASS``/``-NOAUTH`` an ``auth`` failure.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl

from sloctl.collector.config import ConnectionMode
from sloctl.collector.probes.base import (
    DatabaseProbe,
    PhaseRecorder,
    ProbeReport,
    cert_not_after,
    client_ssl_context,
    close_quietly,
    connection_lifetime,
    retry_stale_once,
    tcp_connect,
)
from sloctl.collector.reasons import Phase, ProbeFailure, Reason

__all__ = ["RedisProbe", "RespError"]

_MAX_BULK = 4 << 20  # an INFO reply is a few KiB; anything near this is not Redis


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

    async def _call(self, *args: str | bytes) -> object:
        assert self._conn is not None
        reader, writer = self._conn
        writer.write(_encode(*args))
        await writer.drain()
        try:
            return await _read(reader)
        except asyncio.IncompleteReadError as exc:
            raise ProbeFailure(Reason.PROTOCOL, "connection closed mid-answer") from exc
        except ValueError as exc:  # int() on garbage, or a line longer than the limit
            raise ProbeFailure(Reason.PROTOCOL, f"malformed reply: {exc}") from exc

    async def _open(self, rec: PhaseRecorder) -> None:
        _addr, reader, writer = await tcp_connect(self.target, self._egress, rec)
        self._conn = (reader, writer)
        if self.target.tls.enabled:
            async with rec.phase(Phase.TLS):
                ctx = client_ssl_context(self.target.tls)
                await writer.start_tls(ctx, server_hostname=self.target.tls.server_name or self.target.host)
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
                    report.role = {"master": "primary", "slave": "replica"}.get(role or "")
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
        if conn is not None:
            await close_quietly(conn[1])

    async def close(self) -> None:
        await self._drop()


def _num(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
