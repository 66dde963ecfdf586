"""Content negotiation (RFC 9110 §12.5.1): which of the media types a route answers an
``Accept`` header takes. Pure; the middleware answers 406 when it takes none of them.

``Accept`` is a list of media ranges (``type/subtype``, ``type/*``, ``*/*``), each with
parameters and a weight ``q`` (0 to 1, three decimals at most; 1 when absent; 0 excludes). A
media type takes the weight of the most specific range that matches it (``application/json``
before ``application/*`` before ``*/*``; the highest of equally specific ones). Parameters other
than ``q`` do not narrow a match: the API has one representation per media type. A range that
does not parse (``json``, ``*/json``, ``q=2``) is skipped, as if the client had not sent it; a
header with no range left takes nothing. No ``Accept`` at all, or an empty one, takes anything.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["acceptable"]

#: RFC 9110's ``token``: the characters of a type, a subtype and a parameter's name.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: RFC 9110's ``weight``: 0 to 1, at most three decimals.
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


def _split(text: str, separator: str) -> list[str]:
    """``text`` cut at ``separator`` outside double quotes (a parameter's quoted value may hold
    ``,`` or ``;``; a backslash escapes the next character inside quotes)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _media_range(element: str) -> tuple[str, str, float] | None:
    """``(type, subtype, q)`` of one element of ``Accept``, in lower case; None when it does not
    parse."""
    media, *params = (p.strip() for p in _split(element, ";"))
    kind, _, sub = media.partition("/")
    if not (_TOKEN.fullmatch(kind) and _TOKEN.fullmatch(sub)) or (kind == "*" and sub != "*"):
        return None
    q = 1.0
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            if not _QVALUE.fullmatch(value.strip()):
                return None
            q = float(value)
    return kind.lower(), sub.lower(), q


def _weight(media_type: str, ranges: Sequence[tuple[str, str, float]]) -> float:
    """The weight ``ranges`` give ``media_type`` (``type/subtype``, lower case): that of the most
    specific matching range, 0 when none matches."""
    kind, _, sub = media_type.partition("/")
    best: tuple[int, float] = (-1, 0.0)  # (specificity, q)
    for r_kind, r_sub, q in ranges:
        if (r_kind, r_sub) == (kind, sub):
            specificity = 2
        elif r_kind == kind and r_sub == "*":
            specificity = 1
        elif (r_kind, r_sub) == ("*", "*"):
            specificity = 0
        else:
            continue
        best = max(best, (specificity, q))
    return best[1]


def acceptable(accept: str | None, offered: Sequence[str]) -> str | None:
    """The first of ``offered`` (media types, ``type/subtype``) with the highest weight in
    ``accept`` (an ``Accept`` header's value, its lines joined with commas); None when
    ``accept`` gives each a weight of 0.

    >>> offered = ("application/json", "application/problem+json")
    >>> [acceptable(a, offered) for a in (None, "*/*", "application/*", "text/html, */*;q=0.1")]
    ['application/json', 'application/json', 'application/json', 'application/json']
    >>> acceptable("application/xml", offered), acceptable("application/json;q=0", offered)
    (None, None)
    >>> acceptable("application/xml, application/problem+json;q=0.5", offered)
    'application/problem+json'
    """
    if accept is None or not accept.strip():
        return offered[0] if offered else None
    ranges = [r for r in map(_media_range, _split(accept, ",")) if r is not None]
    weights = [_weight(media.lower(), ranges) for media in offered]
    best = max(weights, default=0.0)
    return offered[weights.index(best)] if best > 0 else None
