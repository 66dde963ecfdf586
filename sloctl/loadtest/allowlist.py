"""Where load may go: every address the target host resolves to must be in the allow-list,
which defaults to loopback, so that a typo in ``--host`` cannot load-test somebody else."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

__all__ = ["DEFAULT_ALLOW", "AllowListError", "check_url", "parse_networks"]

DEFAULT_ALLOW = ("127.0.0.0/8", "::1/128")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AllowListError(ValueError):
    """The target is not allowed (or not a usable URL); the message says why."""


def parse_networks(items: Sequence[str] | None) -> list[Network]:
    out: list[Network] = []
    for item in items or DEFAULT_ALLOW:
        try:
            out.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError as exc:
            raise AllowListError(f"not a network in the allow-list: {item!r} ({exc})") from exc
    return out


def check_url(url: str, allow: Sequence[str] | None = None) -> str:
    """Return the host of ``url`` when every address it resolves to is allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AllowListError(f"--host must be an http(s) URL such as http://127.0.0.1:8000, not {url!r}")
    networks = parse_networks(allow)
    host = parts.hostname
    try:
        infos = socket.getaddrinfo(host, parts.port or 80, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise AllowListError(f"cannot resolve {host!r}: {exc.strerror}") from exc
    addresses = sorted({str(info[4][0]) for info in infos})
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not any(ip in net for net in networks):
            allowed = ", ".join(str(n) for n in networks)
            raise AllowListError(
                f"refusing to load-test {host} ({address}): not in the allow-list ({allowed}); "
                "add its network with --allow-host if you really mean it"
            )
    return host
