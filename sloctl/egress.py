"""The egress guard: every outbound connection sloctl makes goes only where the allow-list says.

Probes, load, faults and queries reach loopback (127.0.0.0/8, ::1) by default, so that a typo
in a host name, a DNS answer or a redirect cannot turn them on somebody else's system. The
guard is one :class:`Egress` policy per use, and it holds because it is the one that connects:

- a name is resolved **once**, **every** address it resolves to must be allowed (a name with
  one address outside fails whole), and the connection goes to a checked address, never to a
  second resolution (which DNS rebinding would answer differently);
- HTTP goes through :meth:`Egress.http_client` / :meth:`Egress.async_http_client`, whose
  transport checks and pins every request it sends: a redirect (never followed by default) can
  only reach a checked address, and ``*_proxy`` environment variables are ignored;
- PostgreSQL connection strings are read by libpq's own parser (:meth:`Egress.pin_dsn`), so
  ``host=``/``hostaddr=`` keywords, URI query parameters, multi-host lists and ``PG*``
  environment variables are all checked, and the result names each checked address in
  ``hostaddr`` (libpq then never resolves); MongoDB URIs (:meth:`Egress.pin_mongodb_uri`, every
  seed) and Redis URLs (:meth:`Egress.pin_redis_url`) likewise;
- IPv4-mapped IPv6 addresses count as the IPv4 address they carry (``::ffff:127.0.0.1`` is
  loopback); Unix-domain sockets never leave the machine and are allowed;
- while the allow-list is loopback only (the default), a name is looked up in the hosts file
  alone (``localhost`` and ``*.localhost`` are loopback even without it, RFC 6761): a DNS query
  would leave the machine, for a name the list would refuse anyway. Names go to the system's
  resolver only once a network is added.

Error messages name the command's action and the flag (or setting) that widens the list:

>>> try:
...     Egress(action="query Prometheus at", widen="--allow-host").check("192.0.2.7", 9090)
... except EgressDenied as exc:
...     print(exc)  # doctest: +NORMALIZE_WHITESPACE
refusing to query Prometheus at 192.0.2.7: it is outside the allow-list
(127.0.0.0/8, ::1/128); add its network with --allow-host if you really mean it

Tests fake resolution in-process (monkeypatch ``socket.getaddrinfo``, or :data:`HOSTS_FILE`
for a loopback-only guard): the guard resolves through it, and nothing else resolves afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from sloctl.masking import mask_text
from sloctl.ports import MAX_PORT, url_port

__all__ = [
    "HOSTS_FILE",
    "LOOPBACK",
    "MAX_ANSWER_BYTES",
    "AsyncGuardedTransport",
    "Egress",
    "EgressDenied",
    "Endpoint",
    "GuardedTransport",
    "MalformedTarget",
    "Network",
    "Resolver",
    "UnexpectedAnswer",
    "get_json",
    "hosts_addresses",
    "hosts_names",
    "parse_networks",
    "split_host_port",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: a ``socket.getaddrinfo``: what the guard asks for a name's addresses
Resolver = Callable[..., list[tuple[Any, ...]]]
LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
HOSTS_FILE = Path("/etc/hosts")
"""Where a loopback-only guard looks names up (it asks no DNS server)."""
_LOCALHOST = ("127.0.0.1", "::1")


class EgressDenied(ValueError):
    """A destination outside the allow-list, a name that does not resolve, or a target the guard
    cannot check (an SRV seed list, a libpq service file); the message says which and why."""


class MalformedTarget(EgressDenied):
    """A target that is not the kind of address asked for (no http(s) URL, no connection string
    libpq, redis-py or PyMongo can read), refused before any host is looked at. The message
    quotes the value, masked; ``expected`` names the kind alone, for a caller that must not
    quote it at all (a value from the environment may be a password in the wrong variable)."""

    def __init__(self, message: str, expected: str) -> None:
        super().__init__(message)
        self.expected = expected


class UnexpectedAnswer(OSError):
    """An HTTP answer that is not what a JSON API sends (a redirect, which is never followed,
    or a body that is not JSON), or no answer at all. An ``OSError``, as a network failure is.
    ``status``: the HTTP status of an answer that was not JSON (None without one), so that a
    caller can tell an API not served (404, 405) from a failing one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def parse_networks(items: Iterable[str | Network]) -> tuple[Network, ...]:
    """CIDR strings (``10.0.0.0/8``, ``192.0.2.7``) → networks; :class:`EgressDenied` names the bad one."""
    out: list[Network] = []
    for item in items:
        if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
            out.append(item)
            continue
        try:
            out.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError as exc:
            raise EgressDenied(f"not a network for the allow-list: {item!r} ({exc})") from None
    return tuple(out)


def split_host_port(text: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) as its host and port, or None when it is not one:
    no host, or a port that is not 0..65535 in ASCII digits (``str.isdigit()`` takes any
    script's, ``٨٠٨٠`` read as 8080; and ``int()`` refuses over 4,300 digits). The one reader of
    the listen addresses (``serve --listen``, the collector's ``listen``).

    >>> split_host_port("[::1]:8080"), split_host_port("127.0.0.1:٨٠٨٠"), split_host_port(":80")
    (('::1', 8080), None, None)
    """
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not (port.isascii() and port.isdigit() and len(port) <= len(str(MAX_PORT))):
        return None
    return (host, int(port)) if int(port) <= MAX_PORT else None


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address without its zone; an IPv4-mapped IPv6 address as the IPv4 address it maps."""
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def hosts_addresses(name: str) -> tuple[str, ...]:
    """The addresses :data:`HOSTS_FILE` gives ``name`` (names compare without case), in the
    file's order; ``localhost`` and ``*.localhost`` are loopback when the file names them not
    (RFC 6761). No DNS server is asked.

    >>> hosts_addresses("db.localhost")
    ('127.0.0.1', '::1')
    """
    wanted = name.lower().rstrip(".")
    found: list[str] = []
    for address, names in _hosts_lines():
        if wanted in (n.lower() for n in names) and address not in found:
            found.append(address)
    if not found and (wanted == "localhost" or wanted.endswith(".localhost")):
        return _LOCALHOST
    return tuple(found)


def hosts_names(address: str) -> tuple[str, ...]:
    """The names :data:`HOSTS_FILE` gives ``address`` (the first line's first name first), in
    the file's order: a reverse lookup that asks no DNS server. ``localhost`` for 127.0.0.1 and
    ::1 when the file names them not (RFC 6761); none for an address the file lacks.

    >>> hosts_names("::1")[0]
    'localhost'
    """
    wanted = _address(address)
    found: list[str] = []
    for line_address, names in _hosts_lines():
        if wanted is None or _address(line_address) != wanted:
            continue
        for name in names:
            if name not in found:
                found.append(name)
    if not found and str(wanted) in _LOCALHOST:
        return ("localhost",)
    return tuple(found)


def _hosts_lines() -> Iterator[tuple[str, list[str]]]:
    """(address, names) of each line of :data:`HOSTS_FILE` that holds both (none when unreadable)."""
    try:
        text = HOSTS_FILE.read_text(errors="replace")
    except OSError:
        return
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            yield fields[0], fields[1:]


def _local_socket(host: str) -> bool:
    """libpq and Redis read a host starting with '/' (or '@', Linux's abstract namespace) as a
    Unix-domain socket: it cannot leave the machine."""
    return host.startswith(("/", "@"))


@dataclass(frozen=True)
class Endpoint:
    """A destination the guard checked: the name as given, its port, and every address it resolved
    to (all inside the allow-list; connect to these, not to the name)."""

    host: str
    port: int
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Egress:
    """Where one use of sloctl may connect, and how to say no.

    ``action`` completes "refusing to …" (``"load-test"``, ``"query Prometheus at"``);
    ``widen`` names the flag or setting that adds a network (``"--allow-host"``), or ``None``
    when there is none (game days reach loopback only).
    """

    allow: tuple[Network, ...] = LOOPBACK
    action: str = "connect to"
    widen: str | None = None
    #: ``widen`` is a setting to switch on (``allowNonLoopbackListen: true``), not a list that
    #: takes a network: the hint says "set it", not "add its network with it"
    switch: bool = False

    @classmethod
    def of(cls, extra: Iterable[str] = (), **kwargs: Any) -> Egress:
        """Loopback plus ``extra`` networks (``--allow-host`` values)."""
        return cls(allow=LOOPBACK + parse_networks(extra), **kwargs)

    # -- checks -------------------------------------------------------------------------------
    def allowed(self, address: str) -> bool:
        ip = _address(address)
        return ip is not None and any(ip in net for net in self.allow)

    @property
    def loopback_only(self) -> bool:
        """Whether only loopback is allowed: names are then looked up in the hosts file alone."""
        return all(
            any(net.version == lo.version and net.subnet_of(lo) for lo in LOOPBACK)  # type: ignore[arg-type]
            for net in self.allow
        )

    def _lookup(self, host: str, port: int, resolve: Resolver | None = None) -> list[tuple[Any, ...]] | None:
        """Without a resolver: an IP literal's address, or the hosts file's addresses of a name
        when the list is loopback only; ``None`` when the name is for the system's resolver.
        ``resolve`` (``socket.getaddrinfo`` by default) reads the literals."""
        resolve = resolve or socket.getaddrinfo
        if _address(host) is not None:
            return resolve(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        if not self.loopback_only:
            return None
        addresses = hosts_addresses(host)
        if not addresses:
            widen = f"; or {self._widen_hint}" if self.widen else ""
            raise EgressDenied(
                f"cannot {self.action} {host}: the allow-list is loopback only, so names are looked up in"
                f" {HOSTS_FILE} alone (a DNS query would leave the machine) and it is not there;"
                f" use 127.0.0.1 or localhost{widen}"
            )
        infos: list[tuple[Any, ...]] = []
        for address in addresses:
            try:
                infos += resolve(address, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
            except socket.gaierror:
                continue  # not an address (a malformed line of the hosts file)
        return infos

    @property
    def _widen_hint(self) -> str:
        return f"set {self.widen}" if self.switch else f"add its network with {self.widen}"

    def _deny(self, host: str, address: str) -> EgressDenied:
        allowed = ", ".join(str(n) for n in self.allow)
        hint = f"{self._widen_hint} if you really mean it" if self.widen else "only loopback is allowed here"
        shown = host if address == host else f"{host} ({address})"
        return EgressDenied(
            f"refusing to {self.action} {shown}: it is outside the allow-list ({allowed}); {hint}"
        )

    def _checked(self, host: str, port: int, infos: Sequence[tuple[Any, ...]]) -> Endpoint:
        addresses: list[str] = []
        for info in infos:
            if info[0] not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = str(info[4][0])
            if not self.allowed(address):
                raise self._deny(host, address)
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise EgressDenied(f"cannot {self.action} {host}: it resolves to no IP address")
        return Endpoint(host, port, tuple(addresses))

    def check(self, host: str, port: int, *, resolve: Resolver | None = None) -> Endpoint:
        """Resolve ``host`` once and check every address; raises :class:`EgressDenied`.
        ``resolve`` is the ``getaddrinfo`` to ask (``socket.getaddrinfo`` by default; the guard
        of Locust's process passes the one it wraps)."""
        host = host.strip("[]")
        try:
            infos = self._lookup(host, port, resolve)
            if infos is None:
                infos = (resolve or socket.getaddrinfo)(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
            raise EgressDenied(f"cannot {self.action} {host}: the name does not resolve ({reason})") from None
        return self._checked(host, port, infos)

    async def check_async(self, host: str, port: int) -> Endpoint:
        """:meth:`check` on the running event loop (the resolver runs in a daemon thread)."""
        host = host.strip("[]")
        try:
            infos = self._lookup(host, port)
            if infos is None:
                infos = await _resolve_in_daemon_thread(host, port)
        except (socket.gaierror, UnicodeError) as exc:
            reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
            raise EgressDenied(f"cannot {self.action} {host}: the name does not resolve ({reason})") from None
        return self._checked(host, port, infos)

    def check_url(
        self, url: str, *, flag: str, example: str = "http://127.0.0.1:9090", resolve: Resolver | None = None
    ) -> Endpoint:
        """The endpoint of an http(s) URL given with ``flag``; every address checked
        (``resolve`` as for :meth:`check`). A port no server listens on (0, or beyond 65535) is
        refused here (:func:`sloctl.ports.url_port`), before any connection: ``:0`` was taken
        for no port (80, "connection refused") and ``:70000`` said only "must be an http(s) URL"."""
        try:
            parts = urlsplit(url)
        except ValueError:  # a bracketed host that is not an IPv6 address
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise MalformedTarget(
                f"{flag} must be an http(s) URL such as {example}, not {mask_text(url)!r}", "an http(s) URL"
            )
        try:
            port = url_port(parts)
        except ValueError as exc:
            raise MalformedTarget(
                f"{flag} {mask_text(url)}: {exc}, such as {example}",
                "an http(s) URL with a port from 1 to 65535",
            ) from None
        return self.check(parts.hostname, port or (443 if parts.scheme == "https" else 80), resolve=resolve)

    # -- sockets ------------------------------------------------------------------------------
    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """A TCP connection to a checked address of ``host`` (tried in resolver order)."""
        for address, attempt in _in_turn(self.check(host, port), OSError):
            with attempt:
                return socket.create_connection((address, port), timeout=timeout)
        raise AssertionError(_UNREACHABLE)

    async def open_connection(
        self, host: str, port: int, **kwargs: Any
    ) -> tuple[str, asyncio.StreamReader, asyncio.StreamWriter]:
        """``asyncio.open_connection`` to a checked address of ``host``: (address, reader, writer)."""
        for address, attempt in _in_turn(await self.check_async(host, port), OSError):
            with attempt:
                reader, writer = await asyncio.open_connection(address, port, **kwargs)
                return address, reader, writer
        raise AssertionError(_UNREACHABLE)

    # -- HTTP ---------------------------------------------------------------------------------
    def http_client(
        self, *, timeout: float = 5.0, follow_redirects: bool = False, **kwargs: Any
    ) -> httpx.Client:
        """An ``httpx.Client`` whose every request (redirects too) goes to a checked address;
        ``*_proxy`` variables ignored. ``kwargs`` go to ``httpx.HTTPTransport`` (``verify``,
        ``limits``)."""
        return httpx.Client(
            transport=GuardedTransport(self, **kwargs),
            timeout=timeout,
            follow_redirects=follow_redirects,
            trust_env=False,
        )

    def async_http_client(
        self, *, timeout: float = 5.0, follow_redirects: bool = False, **kwargs: Any
    ) -> httpx.AsyncClient:
        """:meth:`http_client` for asyncio."""
        return httpx.AsyncClient(
            transport=AsyncGuardedTransport(self, **kwargs),
            timeout=timeout,
            follow_redirects=follow_redirects,
            trust_env=False,
        )

    # -- database connection strings ----------------------------------------------------------
    def pin_dsn(self, dsn: str) -> str:
        """A libpq connection string (URI or ``key=value``) with every host checked and its
        checked address in ``hostaddr``. Read by libpq's own parser, with the ``PG*`` variables
        libpq would fall back on; ``service=`` is refused (a service file can name any host)."""
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        try:
            params: dict[str, Any] = conninfo_to_dict(dsn)
        except ProgrammingError as exc:
            raise MalformedTarget(
                f"not a PostgreSQL connection string: {mask_text(str(exc))}", "a PostgreSQL connection string"
            ) from None
        if params.get("service") or os.environ.get("PGSERVICE"):
            raise EgressDenied(
                "a libpq service (service= or PGSERVICE) can name any host, which the allow-list cannot"
                " check; write host and port in the connection string"
            )
        hosts = str(params.get("host") or os.environ.get("PGHOST", "")).split(",")
        given = str(params.get("hostaddr") or os.environ.get("PGHOSTADDR", ""))
        addrs = given.split(",") if given else [""] * len(hosts)
        ports = str(params.get("port") or os.environ.get("PGPORT", "") or "5432").split(",")
        if len(addrs) != len(hosts) or len(ports) not in (1, len(hosts)):
            raise EgressDenied(
                f"the connection string lists {len(hosts)} host(s), {len(addrs)} hostaddr"
                f" and {len(ports)} port(s)"
            )
        pinned: list[str] = []
        for i, (host, addr) in enumerate(zip(hosts, addrs, strict=True)):
            port = int(ports[0] if len(ports) == 1 else ports[i] or "5432")
            if addr:
                if not self.allowed(addr):
                    raise self._deny(host or addr, addr)
                pinned.append(addr)
            elif not host or _local_socket(host):
                pinned.append("")  # a Unix-domain socket (libpq's default without a host)
            else:
                pinned.append(self.check(host, port).addresses[0])
        params["host"] = ",".join(hosts)
        params["hostaddr"] = ",".join(pinned)
        return make_conninfo("", **params)

    def pin_redis_url(self, url: str) -> dict[str, Any]:
        """``redis.ConnectionPool`` keyword arguments for ``url`` (parsed by redis-py's own
        ``parse_url``, query parameters included) with the host replaced by its checked address."""
        from redis.connection import parse_url

        try:
            kwargs: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
        except ValueError as exc:
            raise MalformedTarget(f"not a Redis URL: {mask_text(str(exc))}", "a Redis URL") from None
        if "path" in kwargs:
            return kwargs  # unix://: a local socket
        host = str(kwargs.get("host") or "localhost")
        kwargs["host"] = self.check(host, int(kwargs.get("port") or 6379)).addresses[0]
        return kwargs

    def pin_mongodb_uri(self, uri: str) -> str:
        """``uri`` with its seed checked and replaced by its checked address, and
        ``directConnection=true`` (replica-set discovery would connect to members the guard has
        not checked). SRV URIs and seed lists of several hosts are refused."""
        from pymongo.errors import InvalidURI
        from pymongo.uri_parser import parse_uri

        scheme, sep, rest = uri.partition("://")
        if scheme == "mongodb+srv":
            raise EgressDenied(
                "mongodb+srv:// makes the driver look up SRV records the allow-list cannot check;"
                " give the server as mongodb://HOST:PORT/?directConnection=true"
            )
        try:
            parsed = parse_uri(uri)
        except (InvalidURI, ValueError) as exc:
            raise MalformedTarget(f"not a MongoDB URI: {mask_text(str(exc))}", "a MongoDB URI") from None
        nodes = parsed["nodelist"]
        checked = [
            (host, port) if _local_socket(host) else (self.check(host, port).addresses[0], port)
            for host, port in nodes
        ]
        if len(checked) != 1:
            raise EgressDenied(
                f"a seed list of {len(checked)} hosts: the driver would discover and connect to replica-set"
                " members the allow-list has not checked; give one server with directConnection=true"
            )
        if parsed["options"].get("directConnection") is False:
            raise EgressDenied(
                "directConnection=false lets the driver connect to replica-set members the allow-list"
                " has not checked; remove it"
            )
        host, port = checked[0]
        shown = f"[{host}]" if ":" in host else host
        end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
        userinfo, at, _hosts = rest[:end].rpartition("@")
        tail = rest[end:] or "/"
        if tail.startswith("?"):
            tail = "/" + tail
        if "directConnection" not in parsed["options"]:
            tail += ("&" if "?" in tail else "?") + "directConnection=true"
        return f"{scheme}{sep}{userinfo}{at}{shown}:{port}{tail}"


async def _resolve_in_daemon_thread(host: str, port: int) -> list[tuple[Any, ...]]:
    """``socket.getaddrinfo`` in a daemon thread of its own, awaited on the running loop.

    Not in the loop's default executor: a resolution that never returns (a resolver that
    swallows queries) would hold ``asyncio.run``'s exit, which joins that executor's threads,
    and then the interpreter's, which joins them again; a stop signal waited as long. A
    cancelled wait here leaves the thread behind, and the process exits without it.
    """
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[list[tuple[Any, ...]]] = loop.create_future()

    def settle(result: list[tuple[Any, ...]] | None, error: BaseException | None) -> None:
        if answer.done():  # the wait was cancelled
            return
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(result or [])

    def resolve() -> None:
        result, error = None, None
        try:
            result = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except Exception as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=resolve, name=f"sloctl-resolve-{host}", daemon=True).start()
    return await answer


def _in_turn(
    endpoint: Endpoint, failure: type[Exception]
) -> Iterator[tuple[str, contextlib.AbstractContextManager[None]]]:
    """Each checked address of ``endpoint`` in resolver order, with the context to try it in:
    there a ``failure`` moves on to the next address, except at the last, where it propagates.
    A caller returns from inside the first context that succeeds."""
    last = len(endpoint.addresses) - 1
    for i, address in enumerate(endpoint.addresses):
        yield address, contextlib.nullcontext() if i == last else contextlib.suppress(failure)


_UNREACHABLE = "unreachable: an Endpoint has at least one address, and the last one's failure propagates"


@contextlib.contextmanager
def _pinned(request: httpx.Request, address: str) -> Iterator[None]:
    """Inside, ``request`` goes to ``address``; the ``Host`` header and the TLS server name (SNI
    and certificate check) keep the name. The original URL is put back on the way out."""
    original = request.url
    if _address(original.host) is None:
        request.extensions = {**request.extensions, "sni_hostname": original.host}
    request.url = original.copy_with(host=address)
    try:
        yield
    finally:
        request.url = original


class GuardedTransport(httpx.BaseTransport):
    """An ``httpx.HTTPTransport`` behind the guard: each request's host is checked and the
    connection goes to a checked address (pooled connections are keyed by that address)."""

    def __init__(self, egress: Egress, **kwargs: Any) -> None:
        self._egress = egress
        self._inner = httpx.HTTPTransport(trust_env=False, **kwargs)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        endpoint = self._egress.check(request.url.host, request.url.port or _default_port(request.url))
        for address, attempt in _in_turn(endpoint, httpx.ConnectError):
            with attempt, _pinned(request, address):
                return self._inner.handle_request(request)
        raise AssertionError(_UNREACHABLE)

    def close(self) -> None:
        self._inner.close()


class AsyncGuardedTransport(httpx.AsyncBaseTransport):
    """:class:`GuardedTransport` for asyncio."""

    def __init__(self, egress: Egress, **kwargs: Any) -> None:
        self._egress = egress
        self._inner = httpx.AsyncHTTPTransport(trust_env=False, **kwargs)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        endpoint = await self._egress.check_async(url.host, url.port or _default_port(url))
        for address, attempt in _in_turn(endpoint, httpx.ConnectError):
            with attempt, _pinned(request, address):
                return await self._inner.handle_async_request(request)
        raise AssertionError(_UNREACHABLE)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


#: The largest answer :func:`get_json` reads, decompressed: Prometheus' largest answers to
#: sloctl are about a megabyte (the overview of 1,000 SLOs) and a few for a quarter of history
#: per SLO; an endless or decompression-bomb answer stops here, not when memory runs out.
MAX_ANSWER_BYTES = 64 * 1024 * 1024


def _read_within(response: httpx.Response, started: float, limit: float | None) -> bytes:
    """The body of ``response``; :class:`httpx.ReadTimeout` once ``limit`` seconds have passed
    since ``started`` (the client's timeouts bound each read, so a byte every few seconds would
    hold a CI job for as long as the server likes); :class:`UnexpectedAnswer` past
    :data:`MAX_ANSWER_BYTES` of it, decompressed."""
    chunks = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            where = mask_text(str(response.request.url.copy_with(query=None)))
            raise UnexpectedAnswer(
                f"{where}: the answer passed {MAX_ANSWER_BYTES // 2**20} MiB (decompressed) and was given"
                " up: the server, or a proxy in front of it, sends more than any answer to sloctl holds"
            )
        if limit is not None and time.monotonic() - started > limit:
            message = f"the answer was still arriving, {size} bytes in"
            raise httpx.ReadTimeout(message, request=response.request)
    return b"".join(chunks)


def get_json(
    client: httpx.Client, url: str, form: Mapping[str, str | Sequence[str]] | None = None
) -> tuple[int, object]:
    """GET ``url`` (POST ``form`` to it, form-encoded, when given) with a guarded client: the
    answer's HTTP status and its decoded JSON body, whatever the status (APIs such as
    Prometheus' answer errors in JSON, and the status tells an API not served, 404, from a
    failing one). A redirect is an error: it is not followed, because
    it could lead outside the allow-list. The client's read timeout bounds the whole answer, not
    only each wait for a byte: a server (or a proxy) that trickles its answer is given up once
    that long has passed since the request, as one that never answers is."""
    limit = client.timeout.read
    started = time.monotonic()
    try:
        sent = client.stream("GET", url) if form is None else client.stream("POST", url, data=dict(form))
        with sent as response:
            content = b"" if response.is_redirect else _read_within(response, started, limit)
    except httpx.HTTPError as exc:
        # The server, not the query, is what failed: name it without the query string.
        where = mask_text(str(httpx.URL(url).copy_with(query=None)))
        reason = mask_text(str(exc)) or type(exc).__name__
        if isinstance(exc, httpx.ConnectError):
            reason += "; nothing answers there: check the URL, and that the server is running"
        elif isinstance(exc, httpx.TimeoutException):
            reason = f"no answer within {limit:g} s ({reason})" if limit else f"no answer ({reason})"
        raise UnexpectedAnswer(f"{where}: {reason}") from None
    if response.is_redirect:
        target = mask_text(response.headers.get("location", "?"))
        raise UnexpectedAnswer(
            f"{mask_text(url)} answered {response.status_code}, a redirect to {target}: redirects are not"
            " followed (they could lead outside the allow-list); give the final URL"
        )
    try:
        return response.status_code, json.loads(content)
    except (ValueError, RecursionError):  # RecursionError: nested past the decoder's depth ("[[[…")
        raise UnexpectedAnswer(_not_json(url, response), response.status_code) from None


def _not_json(url: str, response: httpx.Response) -> str:
    """What to say of an answer that is not JSON: for an error status (an authenticating or
    failing proxy in front, a path prefix left out) what it means and what to do, without the
    query string, which is not what failed."""
    status = response.status_code
    if status < 400:
        return f"{mask_text(url)} answered {status} without a JSON body (invalid JSON)"
    parts = httpx.URL(url)
    said = (
        f"{mask_text(str(parts.copy_with(query=None)))} answered {status} {response.reason_phrase}, not JSON"
    )
    sent_token = response.request.headers.get("authorization", "").lower().startswith("bearer ")
    if status == 401 and sent_token:
        return f"{said}: the bearer token of --prometheus-token-file was refused"
    if status == 401 and parts.userinfo:
        return f"{said}: the user and password in the URL were refused"
    if status == 401 and response.headers.get("www-authenticate", "").lower().startswith("bearer"):
        return f"{said}: it asks for a bearer token; give it in a file, --prometheus-token-file FILE"
    if status == 401:
        return (
            f"{said}: it asks for credentials; give basic authentication's in the URL,"
            " http://user:password@host:port, or a bearer token in a file, --prometheus-token-file FILE"
        )
    if status == 403:
        return f"{said}: the credentials were refused, or do not allow reading this API"
    if status == 404:
        return (
            f"{said}: no API at that path; if the server answers under a path prefix (Prometheus'"
            " --web.route-prefix, a reverse proxy's), include it in the URL, http://host:port/prefix"
        )
    if status >= 500:
        return f"{said}: the server, or a proxy in front of it, is failing or still starting"
    return said
