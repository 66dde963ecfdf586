"""The API's HTTP/1.1 protocol: uvicorn's httptools protocol with bounds on a request's head.

httptools (llhttp) gathers a header's value whole before uvicorn sees it, and uvicorn sets no
limit on it: one 100 MiB header was answered 200 and grew the API by 200 MiB. Here a head
(request line and headers) still open after more than :data:`MAX_HEAD` bytes is answered 431 and
its connection closed, before the ASGI app (and its metrics) ever sees the request. Nor does
uvicorn time a head: a client that sent half a request, or dripped it a byte a second
(slowloris), or connected and sent nothing, held its connection for ever. Here a head must be
whole ``head_timeout`` seconds after the connection opened, or after its first byte on a
kept-alive connection (uvicorn's keep-alive timeout bounds the wait for that byte): past it, a
head begun is answered 408 and the connection closed; a connection that sent nothing is closed.
Both answers are RFC 9457 problem documents, as every other refusal of the API is
(``head-too-large``, ``head-timeout``).
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .config import TestbedConfig
from .problems import problem_document

__all__ = ["MAX_HEAD", "REQUEST_TARGET", "BoundedHeadProtocol", "bounded_head_protocol"]

#: The most bytes a request's head may take: Go's net/http default (``DefaultMaxHeaderBytes``,
#: which Prometheus and most Go servers keep). A read is counted whole while a head is open, so
#: a read that also carries the end of the previous request's body (256 KiB at most, asyncio's
#: read size) counts with it: the bound sits well above that, so no real head is refused.
MAX_HEAD = 1 << 20

#: The ASGI scope extension holding the request target as the request line sent it
#: (``{"target": b"http://host/path"}``): uvicorn keeps its path and query alone, so that an
#: absolute-form target's authority (``GET http://other.example/v1/projects``) reached no one
#: (``testbed.middleware.target_problem`` reads it).
REQUEST_TARGET = "testbed.request_target"

_ANSWER = (
    b"HTTP/1.1 %d %s\r\n"
    b"content-type: application/problem+json\r\n"
    b"content-length: %d\r\n"
    b"connection: close\r\n\r\n%s"
)


class BoundedHeadProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that counts the bytes read while a request's head is open and
    refuses the request past :data:`MAX_HEAD`, and times the head: whole within
    ``head_timeout`` (:func:`bounded_head_protocol` sets it; uvicorn's ``http=`` takes the class)."""

    head_timeout = TestbedConfig.head_timeout
    _in_head = False
    _head_bytes = 0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._time_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._untime_head()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0
        self._time_head()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._untime_head()
        # merged into the server's own extensions (uvicorn's or a later version's), never in
        # their place: an app reading one of those must still find it
        extensions = self.scope.get("extensions") or {}
        extensions[REQUEST_TARGET] = {"target": self.url}
        self.scope["extensions"] = extensions
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._in_head or self.transport.is_closing():
            return
        self._head_bytes += len(data)
        if self._head_bytes > MAX_HEAD:
            self._refuse(
                431,
                "head-too-large",
                "Request header fields too large",
                f"the request line and headers pass {MAX_HEAD} bytes",
            )

    def _time_head(self) -> None:
        """Start the head's clock, unless it runs already (from the connection's opening)."""
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _untime_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._in_head:
            self._refuse(
                408,
                "head-timeout",
                "Request timeout",
                f"the request line and headers took over {self.head_timeout:g} s",
            )
        else:
            self.transport.close()  # connected and sent nothing

    def _refuse(self, status: int, slug: str, title: str, detail: str) -> None:
        """Answer the problem ``slug`` and close: the request is never read whole, so no app
        answers it (nor can the connection be read on)."""
        text = json.dumps(problem_document(status, slug, title, detail)).encode()
        self.transport.write(_ANSWER % (status, title.encode(), len(text), text))
        self.transport.close()


def bounded_head_protocol(head_timeout: float) -> type[BoundedHeadProtocol]:
    """:class:`BoundedHeadProtocol` whose heads must be whole within ``head_timeout`` seconds."""
    return type("BoundedHeadProtocol", (BoundedHeadProtocol,), {"head_timeout": head_timeout})
