"""The egress guard inside Locust's process: every name it resolves and every address it
connects to, whoever asks, inside the allow-list the CLI checked ``--host`` against.

Checking ``--host`` is not enough there: a Locust file can request an absolute URL
(``self.client.get("http://elsewhere:1/")``), and a service can answer a redirect to another
host, which Locust's two clients, ``HttpUser`` (requests, urllib3) and ``FastHttpUser``
(geventhttpclient), both follow. Both end in the same two places, which gevent's
monkey-patching (Locust applies it when imported) has made Python functions:

- **name resolution**: ``getaddrinfo`` (and ``gethostbyname``, ``gethostbyname_ex``) of
  ``socket``, ``gevent.socket`` and ``gevent._socketcommon``, where gevent's own
  ``create_connection`` and ``socket.connect`` resolve;
- **the connection**: ``connect`` and ``connect_ex`` of the socket class (gevent's, which
  ``socket.socket`` is once patched; gevent's TLS socket connects through it too).

:class:`ProcessGuard` wraps both. A name is checked by :class:`~sloctl.egress.Egress` (the
hosts file alone while the list is loopback only: no DNS query leaves the machine) and
**pinned** for the process's life: every later lookup gets the addresses checked first, so a
DNS answer that changes mid-run cannot move the users (``--host`` is pinned when Locust starts).
Every address is checked again at ``connect``, whatever produced it. A refusal is a
:class:`Refused`, an ``OSError`` as a refused connection is: the clients count the request as
failed, with the message naming the address and ``--allow-host``, and nothing connects.

:meth:`ProcessGuard.install` runs when :mod:`.locustlib` is imported (before any Locust file's
code) and again at Locust's ``init`` event, which wraps whatever a Locust file put in those
places meanwhile (its own resolver then sits beneath the guard, as DNS does). Unix-domain
sockets and the passive lookups of a local bind (``getaddrinfo(None, port)``) pass. Locust's
master and workers talk over ZeroMQ, whose sockets are C code and loopback here.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Callable
from typing import Any

from sloctl.egress import Egress, EgressDenied, Resolver

__all__ = ["ProcessGuard", "Refused"]

#: the modules whose lookup functions the guard wraps (those loaded)
MODULES = ("socket", "gevent.socket", "gevent._socketcommon")
_MARK = "__sloctl_guard__"
_INET = (socket.AF_INET, socket.AF_INET6)


class Refused(PermissionError):
    """A name or an address outside the allow-list, refused in Locust's process (an
    ``OSError``, so that Locust's clients count a failed request, not a crashed user)."""


def _guarded(function: object) -> bool:
    return getattr(function, _MARK, False) is True


def _mark(wrapper: Callable[..., Any], inner: Callable[..., Any]) -> None:
    setattr(wrapper, _MARK, True)
    wrapper.__wrapped__ = inner  # type: ignore[attr-defined]


class ProcessGuard:
    """The allow-list of ``egress`` on every lookup and connection of this process, once
    :meth:`install`-ed.

    >>> guard = ProcessGuard(Egress.of(action="load-test", widen="--allow-host"))
    >>> guard.addresses("api.localhost", socket.getaddrinfo)
    ('127.0.0.1', '::1')
    >>> guard.addresses("192.0.2.7", socket.getaddrinfo)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sloctl.loadtest.netguard.Refused: refusing to load-test 192.0.2.7: it is outside the allow-list ...
    """

    def __init__(self, egress: Egress) -> None:
        self.egress = egress
        self._pinned: dict[str, tuple[str, ...]] = {}

    # -- checks -------------------------------------------------------------------------------
    def addresses(self, host: str, resolve: Resolver) -> tuple[str, ...]:
        """The checked addresses of ``host`` (an allowed IP literal as itself; a name resolved
        through ``resolve`` the first time, then as pinned); :class:`Refused` outside the list."""
        name = host.strip("[]")
        if self.egress.allowed(name):
            return (name,)
        key = name.lower().rstrip(".")
        found = self._pinned.get(key)
        if found is None:
            try:
                found = self.egress.check(name, 0, resolve=resolve).addresses
            except EgressDenied as exc:
                raise Refused(str(exc)) from None
            self._pinned[key] = found
        return found

    def pin(self, url: str, *, flag: str, example: str) -> None:
        """Check ``url``'s host (:class:`~sloctl.egress.EgressDenied` outside the list, or not an
        http(s) URL) and pin its addresses: the users' lookups of it get these."""
        parts = self.egress.check_url(url, flag=flag, example=example, resolve=_beneath())
        self._pinned.setdefault(parts.host.lower().rstrip("."), parts.addresses)

    # -- wrappers -----------------------------------------------------------------------------
    def _getaddrinfo(self, inner: Resolver) -> Resolver:
        def getaddrinfo(
            host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
        ) -> list[tuple[Any, ...]]:
            if host is None:  # the local (passive) address of a bind
                return inner(host, port, family, type, proto, flags)
            name = host.decode() if isinstance(host, bytes) else str(host)
            infos: list[tuple[Any, ...]] = []
            for address in self.addresses(name, inner):
                with contextlib.suppress(socket.gaierror):  # not of the family asked for
                    infos += inner(address, port, family, type, proto, flags | socket.AI_NUMERICHOST)
            if not infos:
                raise socket.gaierror(
                    socket.EAI_FAMILY, f"{name}: no checked address of the family asked for"
                )
            return infos

        _mark(getaddrinfo, inner)
        return getaddrinfo

    def _by_name(self, inner: Callable[..., Any], *, extended: bool) -> Callable[..., Any]:
        def by_name(host: str) -> Any:
            v4 = [a for a in self.addresses(str(host), _beneath()) if ":" not in a]
            if not v4:
                raise socket.gaierror(socket.EAI_FAMILY, f"{host}: no checked IPv4 address")
            return (host, [], v4) if extended else v4[0]

        _mark(by_name, inner)
        return by_name

    def _connect(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        def connect(sock: socket.socket, address: Any) -> Any:
            if sock.family in _INET and isinstance(address, tuple):
                checked = self.addresses(str(address[0]), _beneath())
                if address[0] not in checked:  # a name: to its first checked address of the family
                    v6 = sock.family == socket.AF_INET6
                    address = (next((a for a in checked if (":" in a) == v6), checked[0]), *address[1:])
            return inner(sock, address)

        _mark(connect, inner)
        return connect

    def install(self) -> None:
        """Wrap each lookup function and the socket class's ``connect`` and ``connect_ex``
        that is not wrapped yet (idempotent: what a Locust file replaced is wrapped anew)."""
        classes: set[type] = {socket.socket}
        for module_name in MODULES:
            module = sys.modules.get(module_name)
            if module is None:
                continue
            for attr in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
                current = getattr(module, attr, None)
                if current is None or _guarded(current):
                    continue
                if attr == "getaddrinfo":
                    setattr(module, attr, self._getaddrinfo(current))
                else:
                    setattr(module, attr, self._by_name(current, extended=attr.endswith("_ex")))
            if isinstance(cls := getattr(module, "socket", None), type):
                classes.add(cls)
        for cls in classes:
            for attr in ("connect", "connect_ex"):
                if not _guarded(current := getattr(cls, attr)):
                    setattr(cls, attr, self._connect(current))


def _beneath() -> Resolver:
    """The resolver beneath the guard: what ``socket.getaddrinfo`` wraps (gevent's, or a Locust
    file's own, wrapped at ``init``)."""
    current = socket.getaddrinfo
    inner: Resolver = getattr(current, "__wrapped__", current) if _guarded(current) else current
    return inner
