"""The rules of RFC 9112 that both of sloctl's HTTP servers apply to a request's head, said once:
``sloctl serve`` (the standard library's server) and the testbed (uvicorn) answer a request
whose ``Host`` is missing, repeated or not ``host[:port]`` with the same 400 and the same words.

>>> host_problem([b"127.0.0.1:8000"], "1.1"), host_problem([], "1.0")
(None, None)
>>> host_problem([b"a", b"b"], "1.1")
'Host is given 2 times; give it once'
>>> host_problem([b"a b"], "1.1")
"Host 'a b' is not host[:port]"
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["SHOWN_HOST", "host_problem", "more_than_once"]

#: RFC 9110's ``Host`` value: ``uri-host [":" port]``, where the host is an IP literal in
#: brackets or a reg-name (unreserved characters, percent-encodings, sub-delims; may be empty).
_HOST = re.compile(
    r"(\[[0-9A-Za-z._~!$&'()*+,;=:-]+\]|(?:[0-9A-Za-z._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*)(:[0-9]*)?"
)

#: how much of a refused ``Host`` value (or request target's authority) an answer quotes
SHOWN_HOST = 60


def more_than_once(name: str, given: int) -> str | None:
    """The refusal of a header that may stand once and is given ``given`` times, or None."""
    return f"{name} is given {given} times; give it once" if given > 1 else None


def host_problem(hosts: Sequence[bytes], http_version: str) -> str | None:
    """What is wrong with a request's ``Host`` header lines ``hosts`` (RFC 9112 §3.2: none in an
    HTTP/1.1 request, more than one, or a value that is not ``host[:port]`` is a 400), or None.
    Neither server's HTTP reader checks it (uvicorn's httptools protocol none of it, the standard
    library's none): a request with two ``Host`` lines was answered, each layer free to read a
    different one. ``http_version`` is the request line's, ``"1.1"`` or ``"1.0"``."""
    if len(hosts) > 1:
        return more_than_once("Host", len(hosts))
    if not hosts:
        return "an HTTP/1.1 request must carry Host" if http_version == "1.1" else None
    value = hosts[0].decode("latin-1")
    if _HOST.fullmatch(value) is None:
        return f"Host {value[:SHOWN_HOST]!r} is not host[:port]"
    return None
