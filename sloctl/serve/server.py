"""The listener of ``sloctl serve``: a threaded HTTP server (standard library) in front of
:class:`~sloctl.serve.app.App`, read-only (GET and HEAD; anything else is 405).

It listens on loopback unless told otherwise; a non-loopback address needs ``expose=True`` and
either basic auth (``auth``: ``user:password``) or ``behind_proxy=True`` (a reverse proxy that
authenticates, docs/serve.md). Every answer carries a Content-Security-Policy that allows no
script and no outside resource; a run's own HTML report is served in a sandbox.
"""

from __future__ import annotations

import base64
import gc
import hmac
import ipaddress
import socket
import sys
import threading
import traceback
import urllib.parse
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sloctl.prometheus import PrometheusError

from .app import App, Page

__all__ = ["Bound", "ListenError", "Listener", "bind", "parse_listen", "settle_heap", "start"]

_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'"
)


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
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ListenError(f"--listen must be HOST:PORT such as 127.0.0.1:8080, not {text!r}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ListenError(f"--listen takes an IP address (no name is resolved), not {host!r}") from None
    return host, int(port)


def _loopback(host: str) -> bool:
    return ipaddress.ip_address(host).is_loopback


@dataclass
class Listener:
    server: ThreadingHTTPServer
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    app: App

    def __init__(self, address: tuple[str, int], auth: str | None) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.auth = auth


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "sloctl-serve"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the CLI prints the URL; a per-request log is noise on a terminal

    def _authorised(self) -> bool:
        if self.server.auth is None:
            return True
        header = self.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(self.server.auth.encode()).decode()
        return hmac.compare_digest(header.encode(), expected.encode())

    def _send(self, page: Page, head: bool = False) -> None:
        self.send_response(page.status)
        self.send_header("Content-Type", page.content_type)
        self.send_header("Content-Length", str(len(page.body)))
        csp = _CSP + ("; sandbox" if page.sandbox else "")
        self.send_header("Content-Security-Policy", csp)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(page.body)

    def _get(self, head: bool) -> None:
        if not self._authorised():
            self.send_response(HTTPStatus.UNAUTHORIZED)
            self.send_header("WWW-Authenticate", 'Basic realm="sloctl", charset="UTF-8"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        parts = urllib.parse.urlsplit(self.path)
        try:
            page = self.server.app.handle(parts.path, urllib.parse.parse_qs(parts.query))
        except (PrometheusError, OSError) as exc:  # a page that says so, not a dropped socket
            text = f"sloctl serve: cannot read Prometheus: {exc}"
            page = Page(502, text.encode(), "text/plain; charset=utf-8")
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
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse


def bind(
    listen: str = "127.0.0.1:0",
    *,
    expose: bool = False,
    auth: str | None = None,
    behind_proxy: bool = False,
) -> Bound:
    """Take ``listen`` (checked as :func:`start` does) before there is anything to serve: a
    caller with slow work ahead (``serve --demo`` fills a Prometheus first) finds a port in use
    at once; connections made meanwhile wait in the backlog. :meth:`Bound.serve` starts serving,
    :meth:`Bound.close` gives the port back."""
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
    if auth is not None and (auth.partition(":")[0] in ("", auth) or len(auth.splitlines()) != 1):
        raise ListenError("the basic-auth file must hold one line user:password")
    return Bound(_Server((host, port), auth))


@dataclass
class Bound:
    """A listening socket with no app yet."""

    server: _Server

    def serve(self, app: App) -> Listener:
        """Answer with ``app`` in a background thread; :meth:`Listener.stop` ends it."""
        self.server.app = app
        thread = threading.Thread(target=self.server.serve_forever, name="sloctl-serve", daemon=True)
        thread.start()
        return Listener(self.server, thread)

    def close(self) -> None:
        self.server.server_close()


def start(
    app: App,
    listen: str = "127.0.0.1:0",
    *,
    expose: bool = False,
    auth: str | None = None,
    behind_proxy: bool = False,
) -> Listener:
    """Serve ``app`` on ``listen`` in a background thread; :meth:`Listener.stop` ends it."""
    return bind(listen, expose=expose, auth=auth, behind_proxy=behind_proxy).serve(app)
