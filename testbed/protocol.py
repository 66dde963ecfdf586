"""The API's HTTP/1.1 protocol: uvicorn's httptools protocol with a bound on a request's head.

httptools (llhttp) gathers a header's value whole before uvicorn sees it, and uvicorn sets no
limit on it: one 100 MiB header was answered 200 and grew the API by 200 MiB. Here a head
(request line and headers) still open after more than :data:`MAX_HEAD` bytes is answered 431 and
its connection closed, before the ASGI app (and its metrics) ever sees the request.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["MAX_HEAD", "BoundedHeadProtocol"]

#: The most bytes a request's head may take: Go's net/http default (``DefaultMaxHeaderBytes``,
#: which Prometheus and most Go servers keep). A read is counted whole while a head is open, so
#: a read that also carries the end of the previous request's body (256 KiB at most, asyncio's
#: read size) counts with it: the bound sits well above that, so no real head is refused.
MAX_HEAD = 1 << 20

_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\n"
    b"connection: close\r\n\r\n%s"
)


class BoundedHeadProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that counts the bytes read while a request's head is open and
    refuses the request past :data:`MAX_HEAD` (uvicorn's ``http=`` takes the class)."""

    _in_head = False
    _head_bytes = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._in_head or self.transport.is_closing():
            return
        self._head_bytes += len(data)
        if self._head_bytes > MAX_HEAD:
            text = f"the request line and headers pass {MAX_HEAD} bytes".encode()
            self.transport.write(_431 % (len(text), text))
            self.transport.close()
