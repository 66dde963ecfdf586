"""The TCP port rule: which port a URL names, read once for every URL sloctl takes.

A URL given with a flag (``--prometheus``, ``--host``: :meth:`sloctl.egress.Egress.check_url`)
and a URL written in a file (the project file's ``grafana.url``, an SLO's runbook:
:func:`sloctl.spec.build.url_problem`) are read by :func:`url_port`, so that both refuse the same
ports with the same words: ``:0`` and ``:00`` were taken for a URL's default port by one and
passed by the other, and ``:70000`` was "not an http(s) URL" to one, "Port out of range" to the
other.

>>> from urllib.parse import urlsplit
>>> url_port(urlsplit("http://127.0.0.1:9090")), url_port(urlsplit("https://example.test/"))
(9090, None)
>>> url_port(urlsplit("http://127.0.0.1:0"))
Traceback (most recent call last):
ValueError: its port is not one a server listens on; give a port from 1 to 65535
"""

from __future__ import annotations

from urllib.parse import SplitResult

__all__ = ["MAX_PORT", "url_port"]

MAX_PORT = 65535
"""The highest TCP port (ports are 16 bits); 0 is none a server listens on."""


def url_port(parts: SplitResult) -> int | None:
    """The port ``parts`` (a split URL) names, None when it names none (the scheme's default);
    :class:`ValueError` saying what to give for 0, one beyond :data:`MAX_PORT` or one that is
    not a number."""
    try:
        port = parts.port
    except ValueError:  # beyond 65535, or not a number
        port = -1
    if port is not None and not 0 < port <= MAX_PORT:
        raise ValueError(f"its port is not one a server listens on; give a port from 1 to {MAX_PORT}")
    return port
