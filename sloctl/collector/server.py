"""A small asyncio HTTP/1.1 server for ``/healthz``, ``/metrics`` and ``/debug/targets``.

It lives on the probes' event loop on purpose: probes never block the loop (all drivers are
async and every run has a deadline), so answering here proves the loop is alive, which is what
``/healthz`` should mean. Requests are bounded (header size, read deadline) so that a slow or
hostile client cannot pin a connection.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

__all__ = ["HttpServer"]

_MAX_HEADER = 16 * 1024


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
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self._host, self._port, limit=_MAX_HEADER)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

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
