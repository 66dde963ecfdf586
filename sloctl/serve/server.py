"""The listener of ``sloctl serve``: a threaded HTTP server (standard library) in front of
:class:`~sloctl.serve.app.App`, read-only (GET and HEAD; any other method is 405 with ``Allow``),
one request a connection, whose request line and headers must come within
:data:`CONNECTION_TIMEOUT`. Those heads are read by one thread for all connections
(:mod:`.heads`): a handler thread gets a connection only once its request is whole.

It listens on loopback unless told otherwise; a non-loopback address needs ``expose=True`` and
either basic auth (``auth``: ``user:password``) or ``behind_proxy=True`` (a reverse proxy that
authenticates, docs/serve.md). Every answer carries a Content-Security-Policy that allows no
script and no outside resource; a run's own HTML report is served in a sandbox.
"""

from __future__ import annotations

import base64
import gc
import hmac
import io
import ipaddress
import socket
import sys
import threading
import time
import traceback
import urllib.parse
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypedDict, Unpack

from sloctl.egress import split_host_port
from sloctl.http1 import host_problem

from .app import App, Page
from .heads import HeadReader, ReadHead

__all__ = [
    "LISTEN_BACKLOG",
    "MAX_READING",
    "STOP_POLL_SECONDS",
    "Bound",
    "ListenError",
    "Listener",
    "QuietHTTPServer",
    "basic_auth_problem",
    "bind",
    "parse_listen",
    "settle_heap",
    "start",
]

# No script, no outside resource, and no framing by another site (clickjacking): the UI links
# to a run's own report rather than embedding it, so no page of ours is ever framed either.
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self';"
    " base-uri 'none'; frame-ancestors 'none'"
)
#: The methods answered; anything else is 405 with ``Allow`` (the UI is read-only).
ALLOWED_METHODS = ("GET", "HEAD")
#: Seconds a connection may stay silent (no request line, headers or reading of the answer)
#: before it is dropped, and that a client has in all to send its request line and headers: a
#: client that opens a socket and sends half a request, or drips it a byte a second (slowloris),
#: would otherwise hold a thread for ever. Long enough for a slow link; a page is answered in
#: milliseconds.
CONNECTION_TIMEOUT = 30.0
#: Requests handled at once, a thread each; more wait, read, for a free one. A wallboard and a
#: few dozen people reloading need far fewer. A connection takes a thread only once its request
#: line and headers are whole (:mod:`.heads`).
MAX_CONNECTIONS = 64
#: Connections whose request heads are being read (or, read, wait for a thread) at once: a
#: socket and at most :data:`~sloctl.serve.heads.HEAD_READ_LIMIT` bytes each (32 MiB in all),
#: well under the 1,024 descriptors a process may open by default. Past it a new connection
#: drops the head unfinished the longest (:meth:`~sloctl.serve.heads.HeadReader.make_room`),
#: or, when all are read and wait for threads, waits in the listen backlog; slow ones are
#: dropped after :data:`CONNECTION_TIMEOUT` in any case.
MAX_READING = 512
#: Connections the kernel queues for the accept loop (the ``listen()`` backlog) while every
#: thread is busy, a slow Prometheus say. The standard library's 5 held six: a wallboard farm or
#: a burst of reloads past that had its handshakes dropped, and its clients waited on TCP
#: retransmissions (seconds, growing) before their request was read. Linux caps it at
#: ``net.core.somaxconn`` (4096 by default).
LISTEN_BACKLOG = 128
#: How often the accept loop looks for a stop (``serve_forever``'s poll interval): the standard
#: library's 0.5 s made every :meth:`Listener.stop` wait up to half a second (Ctrl-C, tests).
STOP_POLL_SECONDS = 0.02


#: Tracked allocations (less deallocations) between two young collections of the server's
#: process. An uncached overview of 1,000 SLOs holds some 25,000 decoded JSON containers at once:
#: at Python's default of 700, a page set off dozens of collections, each ageing the page's own
#: answers into older generations whose collections then rescanned them (and every SLO spec),
#: 20-50 ms a page and 100 ms and more for an occasional full one. The answers are freed by
#: reference counting when the page is done, so a threshold above a page's peak leaves the
#: collector little to do; cyclic garbage waits a little longer, a few megabytes at most.
GC_YOUNG_THRESHOLD = 50_000


def settle_heap() -> None:
    """Ready the server's process for many pages (``sloctl serve`` calls it once, the SLO files
    loaded and the App built): move what lives as long as the server (specs, explanations,
    compiled templates) out of the collector's sight, and raise its young threshold to
    :data:`GC_YOUNG_THRESHOLD`."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


class ListenError(ValueError):
    """A ``--listen`` address that is malformed, or outside loopback without the flags it needs."""


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6; port 0 picks a free one)."""
    split = split_host_port(text)
    if split is None:
        raise ListenError(f"--listen must be HOST:PORT such as 127.0.0.1:8080, not {text!r}")
    host, port = split
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ListenError(f"--listen takes an IP address (no name is resolved), not {host!r}") from None
    return host, port


def _loopback(host: str) -> bool:
    return ipaddress.ip_address(host).is_loopback


@dataclass
class Listener:
    server: _Server
    thread: threading.Thread

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        text = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{text}]" if ":" in text else text
        return f"http://{shown}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class QuietHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server that says nothing when a client goes away mid-request or mid-answer
    (a closed tab, a scrape given up at its timeout, a Prometheus stopped): the standard library
    printed a traceback on stderr for each (``BrokenPipeError``, ``ConnectionResetError``), a
    false alarm on the terminal of ``sloctl serve``. Any other error of a handler is still printed."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Server(QuietHTTPServer):
    request_queue_size = LISTEN_BACKLOG

    app: App

    def __init__(
        self,
        address: tuple[str, int],
        auth: str | None,
        connection_timeout: float = CONNECTION_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        max_reading: int = MAX_READING,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.head_reader = HeadReader(connection_timeout, self._dispatch, self._release_reading)
        super().__init__(address, _Handler)  # a port in use: server_close, the reader stopped
        self.auth = auth
        self.connection_timeout = connection_timeout
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._reading_slots = threading.BoundedSemaphore(max_reading)
        self._count_lock = threading.Lock()
        self._heads: dict[socket.socket, ReadHead] = {}
        self.connections = 0
        """Requests being handled now, a thread each (at most ``max_connections``)."""
        self.peak_connections = 0

    @property
    def reading(self) -> int:
        """Connections whose heads are being read, or wait, read, for a thread."""
        return self.head_reader.held

    def _release_reading(self) -> None:
        self._reading_slots.release()

    def process_request(self, request: Any, client_address: Any) -> None:
        # The accept loop hands each connection to the head reader. When it is full, the head
        # unfinished the longest goes (slow clients cannot keep a new one out); when all it
        # holds are read and wait for threads, the accept loop waits and the backlog holds.
        if not self._reading_slots.acquire(blocking=False):
            self.head_reader.make_room()
            self._reading_slots.acquire()
        self.head_reader.add(request, client_address)

    def _dispatch(self, ready: ReadHead) -> bool:
        """Handle ``ready`` in a thread of its own if one of the ``max_connections`` is free
        (False: none is; the head reader keeps it until :meth:`_release` wakes it)."""
        if not self._slots.acquire(blocking=False):
            return False
        with self._count_lock:
            self.connections += 1
            self.peak_connections = max(self.peak_connections, self.connections)
            self._heads[ready.sock] = ready
        try:
            super().process_request(ready.sock, ready.address)
        except BaseException:
            self._release()
            raise
        return True

    def read_head(self, sock: socket.socket) -> ReadHead:
        """What the head reader read of ``sock``, for its handler (once)."""
        with self._count_lock:
            return self._heads.pop(sock)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self._count_lock:
            self.connections -= 1
        self._slots.release()
        self.head_reader.wake()  # a read head may be waiting for this thread

    def server_close(self) -> None:
        self.head_reader.stop()
        super().server_close()


class _Deadline(io.RawIOBase):
    """``read`` (what the head reader read) and then the bytes of ``sock`` until ``deadline``
    (``time.monotonic()``): each read of the socket waits what is left of it at most, and a
    read after it is a :class:`TimeoutError`, which the standard library's handler takes as a
    request timed out (the connection closed). The socket's own timeout, which bounds the
    writing of the answer, is kept."""

    def __init__(self, sock: socket.socket, read: bytes, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._read = memoryview(read)
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._read:
            size = min(len(buffer), len(self._read))
            buffer[:size] = self._read[:size]
            self._read = self._read[size:]
            return size
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request line and headers took too long")
        kept = self._sock.gettimeout()
        self._sock.settimeout(left)
        try:
            return self._sock.recv_into(buffer)
        finally:
            self._sock.settimeout(kept)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "sloctl-serve"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.connection_timeout)  # idle clients are dropped
        # and slow ones too: the request (HTTP/1.0, one a connection), mostly read already by
        # the head reader, is read by the deadline set when it was accepted
        read = self.server.read_head(self.connection)
        self.rfile.close()  # the standard library's reader, which would hold the socket open
        self.rfile = io.BufferedReader(_Deadline(self.connection, read.head, read.deadline))

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the CLI prints the URL; a per-request log is noise on a terminal

    def __getattr__(self, name: str) -> Any:
        # The standard library answers a method without a do_<METHOD> 501, with its own HTML
        # page and none of our headers: every method but GET and HEAD is 405 here.
        if name.startswith("do_"):
            return self._refuse
        raise AttributeError(name)

    def parse_request(self) -> bool:
        """The standard library's reading of the request line and headers, less HTTP/0.9
        (``GET /`` with no version), whose answer is a bare body: the page went out without a
        status line or any of the UI's headers, the Content-Security-Policy among them. A 505
        now, in HTTP/1.0. And less a request whose ``Host`` RFC 9112 §3.2 answers 400, as the
        testbed does (:func:`sloctl.http1.host_problem`): more than one line (answered 200 before,
        a proxy in front free to have read another ``Host`` than the one behind it), none in
        HTTP/1.1, or a value that is not ``host[:port]``."""
        if not super().parse_request():
            return False
        if self.request_version == "HTTP/0.9":
            self.send_error(
                HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "HTTP/0.9 is not served; use HTTP/1.0 or 1.1"
            )
            return False
        hosts = [h.encode("latin-1") for h in self.headers.get_all("Host") or []]
        wrong = host_problem(hosts, self.request_version.removeprefix("HTTP/"))
        if wrong:
            self.send_error(HTTPStatus.BAD_REQUEST, wrong)
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's errors (a malformed request line, headers too long, a timeout
        answered 408) as a short text with our headers, not its HTML page without them."""
        short = self.responses.get(code, ("error",))[0]
        text = f"sloctl serve: {code} {message or short}\n"
        self.close_connection = True
        # The standard library takes the request's version only once it has read and accepted
        # it: until then it is HTTP/0.9, whose answers are a bare body, so a 505 (HTTP/2.0) or a
        # 400 (HTTP/1.x) went out without a status line or a header. An error answer here is
        # always in this server's version (HTTP/1.0, as every answer of it), with its headers.
        if self.request_version == "HTTP/0.9":
            self.request_version = self.protocol_version
        head = (
            self.command == "HEAD" or code < 200 or code in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED)
        )
        self._send(Page(code, text.encode(), "text/plain; charset=utf-8"), head, (("Connection", "close"),))

    def _authorised(self) -> bool:
        if self.server.auth is None:
            return True
        header = self.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(self.server.auth.encode()).decode()
        return hmac.compare_digest(header.encode(), expected.encode())

    def _send(self, page: Page, head: bool = False, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(page.status)
        self.send_header("Content-Type", page.content_type)
        self.send_header("Content-Length", str(len(page.body)))
        csp = _CSP + ("; sandbox" if page.sandbox else "")
        self.send_header("Content-Security-Policy", csp)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")  # frame-ancestors for older browsers
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(page.body)

    def _get(self, head: bool) -> None:
        if not self._authorised():
            page = Page(HTTPStatus.UNAUTHORIZED, b"sloctl serve: log in\n", "text/plain; charset=utf-8")
            self._send(page, head, (("WWW-Authenticate", 'Basic realm="sloctl", charset="UTF-8"'),))
            return
        parts = urllib.parse.urlsplit(self.path)
        try:  # Prometheus unreadable is the app's 502 page (it keeps the refresh asked for)
            page = self.server.app.handle(parts.path, urllib.parse.parse_qs(parts.query))
        except Exception:  # a defect of one page: answered 500 and logged, the server goes on
            sys.stderr.write(f"sloctl serve: error on {parts.path}:\n{traceback.format_exc()}")
            text = f"sloctl serve: internal error on {parts.path}; the server's log has the details"
            page = Page(500, text.encode(), "text/plain; charset=utf-8")
        self._send(page, head)

    def do_GET(self) -> None:
        self._get(head=False)

    def do_HEAD(self) -> None:
        self._get(head=True)

    def _refuse(self) -> None:
        allowed = ", ".join(ALLOWED_METHODS)
        text = f"sloctl serve is read-only: {self.command} is not allowed, only {allowed}\n"
        self._send(
            Page(HTTPStatus.METHOD_NOT_ALLOWED, text.encode(), "text/plain; charset=utf-8"),
            headers=(("Allow", allowed),),
        )


def bind(
    listen: str = "127.0.0.1:0",
    *,
    expose: bool = False,
    auth: str | None = None,
    behind_proxy: bool = False,
    connection_timeout: float = CONNECTION_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
    max_reading: int = MAX_READING,
) -> Bound:
    """Take ``listen`` (checked as :func:`start` does) before there is anything to serve: a
    caller with slow work ahead (``serve --demo`` fills a Prometheus first) finds a port in use
    at once; connections made meanwhile wait in the backlog (:data:`LISTEN_BACKLOG`).
    :meth:`Bound.serve` starts serving, :meth:`Bound.close` gives the port back.
    ``connection_timeout``, ``max_connections`` and ``max_reading``: :data:`CONNECTION_TIMEOUT`,
    :data:`MAX_CONNECTIONS` and :data:`MAX_READING` unless a test needs them small."""
    host, port = parse_listen(listen)
    if not _loopback(host):
        if not expose:
            raise ListenError(
                f"--listen {listen} is not a loopback address: the UI shows your SLOs and incidents;"
                " add --expose (with --basic-auth-file, or --behind-proxy for a reverse proxy that"
                " authenticates, docs/serve.md) if you mean it"
            )
        if auth is None and not behind_proxy:
            raise ListenError(
                f"--expose on {listen} needs --basic-auth-file FILE (one line user:password) or"
                " --behind-proxy (a reverse proxy that authenticates, docs/serve.md)"
            )
    if auth is not None and (problem := basic_auth_problem(auth)):
        raise ListenError(f"the basic-auth file {problem}")
    return Bound(_Server((host, port), auth, connection_timeout, max_connections, max_reading))


def basic_auth_problem(auth: str) -> str | None:
    """What keeps ``auth`` (a basic-auth file's text, stripped) from being credentials, None when
    nothing does: one line ``user:password``, a user before the first colon (the password may
    hold colons). Said without the text: it may be a secret."""
    if auth.partition(":")[0] in ("", auth) or len(auth.splitlines()) != 1:
        return "must hold one line user:password"
    return None


@dataclass
class Bound:
    """A listening socket with no app yet."""

    server: _Server

    def serve(self, app: App) -> Listener:
        """Answer with ``app`` in a background thread; :meth:`Listener.stop` ends it."""
        self.server.app = app
        thread = threading.Thread(
            target=self.server.serve_forever, args=(STOP_POLL_SECONDS,), name="sloctl-serve", daemon=True
        )
        thread.start()
        return Listener(self.server, thread)

    def close(self) -> None:
        self.server.server_close()


class BindOptions(TypedDict, total=False):
    """:func:`bind`'s keyword arguments, which :func:`start` passes on."""

    expose: bool
    auth: str | None
    behind_proxy: bool
    connection_timeout: float
    max_connections: int
    max_reading: int


def start(app: App, listen: str = "127.0.0.1:0", **options: Unpack[BindOptions]) -> Listener:
    """Serve ``app`` on ``listen`` in a background thread (:func:`bind`, then
    :meth:`Bound.serve`); :meth:`Listener.stop` ends it."""
    return bind(listen, **options).serve(app)
