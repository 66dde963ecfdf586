"""A small asyncio HTTP/1.1 server for ``/healthz``, ``/metrics`` and ``/debug/targets``.

It lives on the probes' event loop on purpose: probes never block the loop (all drivers are
async and every run has a deadline), so answering here proves the loop is alive, which is what
``/healthz`` should mean. Requests are bounded (header size, read deadline) so that a slow or
hostile client cannot pin a connection.
"""

from __future__ import annotations

import asyncio
import errno
import json
import socket
from collections.abc import Callable

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

__all__ = ["HttpServer"]

_MAX_HEADER = 16 * 1024
#: how many ports ``listen: HOST:0`` tries when HOST has several addresses and another program
#: holds the picked port on one of them
_PICKS = 5


class HttpServer:
    def __init__(
        self,
        registry: CollectorRegistry,
        debug: Callable[[], object] | None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """``debug``: what ``/debug/targets`` shows; ``None`` turns the page off (404)."""
        self._registry = registry
        self._debug = debug
        self._host = host
        self._port = port
        self._servers: list[asyncio.Server] = []

    @property
    def port(self) -> int:
        assert self._servers
        return int(self._servers[0].sockets[0].getsockname()[1])

    @property
    def addresses(self) -> list[str]:
        """Every bound ``HOST:PORT`` (``[::1]:PORT`` for IPv6), for the start's log line."""
        return [
            f"[{name[0]}]:{name[1]}" if ":" in name[0] else f"{name[0]}:{name[1]}"
            for server in self._servers
            for name in (sock.getsockname() for sock in server.sockets)
        ]

    async def start(self) -> None:
        hosts = await self._hosts() if self._port == 0 else []
        if len(hosts) < 2:
            self._servers = [await self._serve(self._host, self._port)]
            return
        # Port 0 on a name with several addresses (localhost: 127.0.0.1 and ::1): each bind would
        # pick a port of its own, and the collector logged one. One port for all: the first
        # address picks it, the others take the same (another program may hold it there: then
        # pick again).
        for _attempt in range(_PICKS):
            first = await self._serve(hosts[0], 0)
            port = int(first.sockets[0].getsockname()[1])
            try:
                self._servers = [first, await self._serve(hosts[1:], port)]
                return
            except OSError as exc:
                first.close()
                await first.wait_closed()
                if exc.errno != errno.EADDRINUSE:
                    raise
        raise OSError(errno.EADDRINUSE, f"no port free on all of {', '.join(hosts)} in {_PICKS} picks")

    async def _hosts(self) -> list[str]:
        """The addresses ``listen``'s host binds, as ``asyncio.start_server`` resolves them."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            self._host or None, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    async def _serve(self, host: str | list[str], port: int) -> asyncio.Server:
        return await asyncio.start_server(self._handle, host, port, limit=_MAX_HEADER)

    async def stop(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
            await server.wait_closed()

    def respond(self, path: str, accept: str) -> tuple[int, str, bytes]:
        route = path.split("?", 1)[0]
        if route == "/healthz":
            return 200, "text/plain; charset=utf-8", b"ok\n"
        if route == "/metrics":
            # OpenMetrics only when asked: it is the only format that carries exemplars.
            encoder, content_type = choose_encoder(accept)
            return 200, content_type, encoder(self._registry)
        if route == "/debug/targets" and self._debug is not None:
            body = json.dumps(self._debug(), indent=2, sort_keys=True).encode()
            return 200, "application/json", body
        return 404, "text/plain; charset=utf-8", b"not found\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10.0):
                head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _version = [*lines[0].split(" "), "", "", ""][:3]
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
            }
            if method not in ("GET", "HEAD"):
                status, ctype, body = 405, "text/plain; charset=utf-8", b"method not allowed\n"
            else:
                # Rendering 200 targets' histograms takes a few hundred milliseconds of CPU: do
                # it in a thread so that the probes' event loop keeps its schedule meanwhile.
                status, ctype, body = await asyncio.to_thread(self.respond, path, headers.get("accept", ""))
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            if method != "HEAD":
                writer.write(body)
            await writer.drain()
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
            ValueError,
        ):
            pass
        finally:
            writer.close()
            try:
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
            except (TimeoutError, ConnectionError):
                writer.transport.abort()
