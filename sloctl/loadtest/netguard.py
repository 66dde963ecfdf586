"""The egress guard inside Locust's process: every name it resolves and every address it
connects to, whoever asks, inside the allow-list the CLI checked ``--host`` against.

Checking ``--host`` is not enough there: a Locust file can request an absolute URL
(``self.client.get("http://elsewhere:1/")``), and a service can answer a redirect to another
host, which Locust's two clients, ``HttpUser`` (requests, urllib3) and ``FastHttpUser``
(geventhttpclient), both follow. Both end in the same two places, which gevent's
monkey-patching (Locust applies it when imported) has made Python functions:

- **name resolution**: ``getaddrinfo`` (and ``gethostbyname``, ``gethostbyname_ex``) of
  ``socket``, ``gevent.socket`` and ``gevent._socketcommon``, where gevent's own
  ``create_connection`` and ``socket.connect`` resolve; and the reverse lookups,
  ``gethostbyaddr`` (which ``getfqdn`` calls) and ``getnameinfo``, of the same modules;
- **the destination**: ``connect`` and ``connect_ex`` of the socket class (gevent's, which
  ``socket.socket`` is once patched; gevent's TLS socket connects through it too), and
  ``sendto`` and ``sendmsg``, which name a destination per datagram on a socket never
  connected (UDP: a Locust file speaking DNS, StatsD or syslog itself).

:class:`ProcessGuard` wraps them all. A name is checked by :class:`~sloctl.egress.Egress` (the
hosts file alone while the list is loopback only: no DNS query leaves the machine) and
**pinned** for the process's life: every later lookup gets the addresses checked first, so a
DNS answer that changes mid-run cannot move the users (``--host`` is pinned when Locust starts).
Every address is checked again at ``connect`` and ``sendto``, whatever produced it. A reverse
lookup is of an allowed address only, and a loopback address's is answered from the hosts file
alone (``socket.herror`` when it lacks the address): a PTR query for it would leave the
machine. A refusal is a :class:`Refused`, an ``OSError`` as a refused connection is: the
clients count the request as failed, with the message naming the address and
``--allow-host``, and nothing connects or is sent.

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
from collections.abc import Callable, Mapping
from typing import Any

from sloctl import egress
from sloctl.egress import Egress, EgressDenied, Resolver, hosts_names

__all__ = ["ProcessGuard", "Refused"]

#: the modules whose lookup functions the guard wraps (those loaded)
MODULES = ("socket", "gevent.socket", "gevent._socketcommon")
_MARK = "__sloctl_guard__"
_INET = (socket.AF_INET, socket.AF_INET6)
#: the addresses whose reverse lookups are answered from the hosts file alone, whatever the list
#: (no DNS server has their names); other allowed addresses' go to the resolver
_LOOPBACK = Egress()


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

    def _by_address(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        def gethostbyaddr(host: str) -> tuple[str, list[str], list[str]]:
            address = self.addresses(str(host), _beneath())[0]  # a name: its first checked address
            if not _LOOPBACK.allowed(address):  # a network added: the resolver, as for names
                return inner(address)  # type: ignore[no-any-return]
            names = hosts_names(address)
            if not names:
                raise socket.herror(1, _not_in_hosts_file(address))
            return names[0], list(names[1:]), [address]

        _mark(gethostbyaddr, inner)
        return gethostbyaddr

    def _nameinfo(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        def getnameinfo(sockaddr: tuple[Any, ...], flags: int) -> tuple[str, str]:
            # The address as a number, and the service (from /etc/services): no lookup yet.
            numeric, service = inner(sockaddr, flags | socket.NI_NUMERICHOST)
            if flags & socket.NI_NUMERICHOST:
                return numeric, service
            address = self.addresses(numeric, _beneath())[0]
            if not _LOOPBACK.allowed(address):  # a network added: the resolver, as for names
                return inner(sockaddr, flags)  # type: ignore[no-any-return]
            names = hosts_names(address)
            if names:
                return names[0], service
            if flags & socket.NI_NAMEREQD:
                raise socket.gaierror(socket.EAI_NONAME, _not_in_hosts_file(address))
            return numeric, service

        _mark(getnameinfo, inner)
        return getnameinfo

    def _destination(self, sock: socket.socket, address: Any) -> Any:
        """``address`` checked, for a connection or a datagram from ``sock``: an allowed IP as
        itself, a name as its first checked address of the socket's family; :class:`Refused`
        outside the list. Other families' addresses (a Unix-domain path) pass."""
        if sock.family in _INET and isinstance(address, tuple):
            checked = self.addresses(str(address[0]), _beneath())
            if address[0] not in checked:
                v6 = sock.family == socket.AF_INET6
                address = (next((a for a in checked if (":" in a) == v6), checked[0]), *address[1:])
        return address

    def _connect(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        def connect(sock: socket.socket, address: Any) -> Any:
            return inner(sock, self._destination(sock, address))

        _mark(connect, inner)
        return connect

    def _sendto(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        def sendto(sock: socket.socket, data: Any, *rest: Any) -> Any:
            # sendto(data, address) or sendto(data, flags, address): the address is last.
            if rest:
                rest = (*rest[:-1], self._destination(sock, rest[-1]))
            return inner(sock, data, *rest)

        _mark(sendto, inner)
        return sendto

    def _sendmsg(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        def sendmsg(
            sock: socket.socket, buffers: Any, ancdata: Any = (), flags: int = 0, address: Any = None
        ) -> Any:
            if address is not None:
                address = self._destination(sock, address)
            return inner(sock, buffers, ancdata, flags, address)

        _mark(sendmsg, inner)
        return sendmsg

    def install(self) -> None:
        """Wrap each lookup function and each of the socket class's ways to name a
        destination (``connect``, ``connect_ex``, ``sendto``, ``sendmsg``) that is not wrapped
        yet (idempotent: what a Locust file replaced is wrapped anew)."""
        lookups: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
            "getaddrinfo": self._getaddrinfo,
            "gethostbyname": lambda inner: self._by_name(inner, extended=False),
            "gethostbyname_ex": lambda inner: self._by_name(inner, extended=True),
            "gethostbyaddr": self._by_address,
            "getnameinfo": self._nameinfo,
        }
        destinations = {
            "connect": self._connect,
            "connect_ex": self._connect,
            "sendto": self._sendto,
            "sendmsg": self._sendmsg,
        }
        classes: set[type] = {socket.socket}
        for module_name in MODULES:
            module = sys.modules.get(module_name)
            if module is None:
                continue
            _wrap(module, lookups)
            if isinstance(cls := getattr(module, "socket", None), type):
                classes.add(cls)
        for cls in classes:
            _wrap(cls, destinations)


def _wrap(owner: object, wrappers: Mapping[str, Callable[[Callable[..., Any]], Callable[..., Any]]]) -> None:
    """Replace each attribute of ``owner`` named in ``wrappers`` (those it has) that is not
    wrapped yet by its wrapper around it."""
    for attr, wrapper in wrappers.items():
        current = getattr(owner, attr, None)
        if current is not None and not _guarded(current):
            setattr(owner, attr, wrapper(current))


def _not_in_hosts_file(address: str) -> str:
    return (
        f"{address}: not in {egress.HOSTS_FILE}, where the load test's reverse lookups of loopback"
        " addresses are answered (a DNS query would leave the machine)"
    )


def _beneath() -> Resolver:
    """The resolver beneath the guard: what ``socket.getaddrinfo`` wraps (gevent's, or a Locust
    file's own, wrapped at ``init``)."""
    current = socket.getaddrinfo
    inner: Resolver = getattr(current, "__wrapped__", current) if _guarded(current) else current
    return inner
