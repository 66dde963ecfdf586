"""What every route shares: JSON and problem answers, checked parameters and bodies, the audit
log, and the guard that turns breaker rejections and dependency failures into problems."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from ..audit import Caller, EventType
from ..breaker import BreakerOpenError
from ..dependencies import ClientProblem, Dependencies
from ..problems import problem

__all__ = [
    "CANONICAL_DECIMAL",
    "MAX_BODY",
    "MAX_INT64",
    "audited",
    "bad_request",
    "caller_of",
    "deps_of",
    "guarded",
    "int_param",
    "json_response",
    "not_found",
    "read_body",
    "read_json_object",
    "single_query_params",
    "unprocessable",
]


MAX_BODY = 64 * 1024
#: Ids and counters are PostgreSQL bigints and BSON int64s.
MAX_INT64 = 2**63 - 1


def json_response(data: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(data, default=str),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


def deps_of(request: Request) -> Dependencies:
    deps: Dependencies = request.app.state.deps
    return deps


def bad_request(detail: str, instance: str) -> Response:
    return problem(400, "invalid-request", "Invalid request", detail, instance=instance)


def unprocessable(detail: str, instance: str) -> Response:
    return problem(422, "invalid-document", "Unprocessable document", detail, instance=instance)


#: A whole number's one spelling: ASCII digits, no leading zero, at most 19 (an int64's). Not
#: ``int()`` alone, which also reads '01', '+1', ' 1', '1_0' and other scripts' digits ('１',
#: '١'): ``/v1/projects/01`` was project 1, a second URL for one resource (another cache entry,
#: another audit line); nor ``str.isdigit()``, which also says yes to '²' (that ``int()`` refuses).
CANONICAL_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


def int_param(text: str, low: int, high: int) -> int | None:
    """A whole number written as :data:`CANONICAL_DECIMAL` within ``[low, high]``, else None.

    >>> [int_param(t, 0, 100) for t in ("7", "0", "07", "+7", " 7", "1_0", "\uff17", "101")]
    [7, 0, None, None, None, None, None, None]
    """
    if CANONICAL_DECIMAL.fullmatch(text) is None:
        return None
    value = int(text)
    return value if low <= value <= high else None


def single_query_params(request: Request, names: tuple[str, ...]) -> dict[str, str] | Response:
    """The query parameters ``names`` that were given, each at most once: a 400 naming one given
    twice (``?limit=5&limit=50``: Starlette would take the last, another framework the first)."""
    for name in names:
        given = request.query_params.getlist(name)
        if len(given) > 1:
            return bad_request(
                f"query parameter {name!r} is given {len(given)} times; give it once", request.url.path
            )
    return {name: request.query_params[name] for name in names if name in request.query_params}


def caller_of(request: Request) -> Caller:
    return Caller(
        request.client.host if request.client else None,
        request.method,
        str(request.scope.get("state", {}).get("route", "other")),
    )


@contextlib.contextmanager
def audited(
    request: Request, system: str, action: str, query: str, target: str, kind: EventType = "access"
) -> Iterator[None]:
    """One database operation of this request, in its own span and audit line."""
    with deps_of(request).audit.operation(
        system, action, query, target=target, kind=kind, caller=caller_of(request)
    ):
        yield


def not_found(what: str, instance: str) -> Response:
    return problem(404, "not-found", "Not found", f"{what} does not exist", instance=instance)


async def guarded(request: Request, dependency: str, fn: Callable[[], Awaitable[Response]]) -> Response:
    """Turn breaker rejections, timeouts and dependency errors into problem responses."""
    deps = deps_of(request)
    instance = request.url.path
    try:
        return await deps.call(dependency, fn)
    except ClientProblem as exc:
        return problem(exc.status, exc.slug, exc.title, exc.detail, instance=instance)
    except BreakerOpenError as exc:
        return problem(
            503,
            "circuit-open",
            "Dependency unavailable",
            f"the circuit breaker for {dependency} is open; the request was not attempted",
            instance=instance,
            headers={"Retry-After": str(max(1, int(exc.retry_after + 0.999)))},
            extra={"dependency": dependency},
        )
    except TimeoutError:
        return problem(
            503,
            "dependency-timeout",
            "Dependency timeout",
            f"{dependency} did not answer within {deps.breakers[dependency].settings.call_timeout:g} s",
            instance=instance,
            extra={"dependency": dependency},
        )
    except Exception as exc:  # any driver error: the dependency failed, not the client
        return problem(
            503,
            "dependency-failure",
            "Dependency failure",
            f"{dependency} failed: {type(exc).__name__}",
            instance=instance,
            extra={"dependency": dependency},
        )


def _too_large(request: Request) -> Response:
    return problem(413, "too-large", "Body too large", f"at most {MAX_BODY} bytes", instance=request.url.path)


def _declared_too_large(request: Request) -> bool:
    """Whether the request's ``Content-Length`` says its body exceeds ``MAX_BODY``."""
    declared = request.headers.get("content-length")
    return declared is not None and declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY


async def read_body(request: Request) -> bytes | Response:
    """The body, refused as soon as it is known to exceed ``MAX_BODY``: from ``Content-Length``
    before reading, else while it streams. Never more than ``MAX_BODY`` bytes are held, nor
    waited for longer than the config's ``body_timeout`` (a 408 that closes the connection, whose
    rest of a body is unknown). A client gone before its body is whole is the client's 400, not
    the API's 500 (nobody reads that answer; the metrics and the log do)."""
    if _declared_too_large(request):
        return _too_large(request)
    chunks: list[bytes] = []
    size = 0
    timeout = deps_of(request).config.body_timeout
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY:
                    return _too_large(request)
                chunks.append(chunk)
    except TimeoutError:
        detail = f"the body was not whole after {timeout:g} s ({size} bytes came)"
        return problem(
            408, "body-timeout", "Request timeout", detail, instance=request.url.path, headers=_CLOSE
        )
    except ClientDisconnect:
        detail = f"the client closed the connection before its body was whole ({size} bytes came)"
        return bad_request(detail, request.url.path)
    return b"".join(chunks)


#: The connection of a body given up on carries the rest of it: it is not read as a next request.
_CLOSE = {"Connection": "close"}


class _NotANumber(ValueError):
    """``NaN``, ``Infinity`` or a number beyond a double: Python's parser takes them, JSON
    (RFC 8259) has no such number, and a document holding one is served back as invalid JSON."""


def _refuse_constant(name: str) -> float:
    raise _NotANumber(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotANumber(text[:40])
    return value


class _DuplicateKey(ValueError):
    """A JSON object names a member twice: RFC 8259 leaves the outcome to the parser (Python's
    keeps the last one), so what the client meant is unknown."""

    def __init__(self, key: str, pointer: str) -> None:
        super().__init__(key)
        self.key, self.pointer = key, pointer


def _pointer_token(key: str) -> str:
    """A key as an RFC 6901 reference token."""
    return key.replace("~", "~0").replace("/", "~1")


def _pointer_to(root: object, target: object) -> str:
    """The RFC 6901 pointer to ``target`` (by identity) inside ``root``; a walk with its own stack
    (the document is at most ``MAX_BODY`` bytes), not recursion, which a deep document would
    exhaust."""
    stack: list[tuple[object, str]] = [(root, "")]
    while stack:
        node, pointer = stack.pop()
        if node is target:
            return pointer
        if isinstance(node, dict):
            stack += [(v, f"{pointer}/{_pointer_token(k)}") for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(v, f"{pointer}/{i}") for i, v in enumerate(node)]
    raise LookupError("target not in the document")


def _parse_json(body: bytes) -> object:
    """``body`` parsed, refusing what JSON has no meaning for: NaN, Infinity and numbers beyond a
    double (:class:`_NotANumber`), and an object that names a member twice (:class:`_DuplicateKey`,
    the first one the parser completed)."""
    duplicate: list[tuple[str, dict[str, Any]]] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items) and not duplicate:
            seen: set[str] = set()
            for key, _ in items:
                if key in seen:
                    duplicate.append((key, obj))
                    break
                seen.add(key)
        return obj

    data = json.loads(
        body, parse_constant=_refuse_constant, parse_float=_finite_float, object_pairs_hook=pairs
    )
    if duplicate:
        key, obj = duplicate[0]
        raise _DuplicateKey(key, f"{_pointer_to(data, obj)}/{_pointer_token(key)}")
    return data


#: The media types of a JSON body (RFC 8259, and RFC 6838's ``+json`` structured suffix).
JSON_MEDIA_TYPE = "application/json"


def _media_type(header: str) -> tuple[str, dict[str, str]]:
    """``type/subtype`` (lower case) and the parameters (names lower case, quotes removed) of a
    ``Content-Type`` value."""
    kind, *params = header.split(";")
    parsed: dict[str, str] = {}
    for param in params:
        name, _, value = param.partition("=")
        parsed[name.strip().lower()] = value.strip().strip('"')
    return kind.strip().lower(), parsed


def _unsupported_media_type(
    request: Request, sent: str | None, why: str = "", headers: Mapping[str, str] | None = None
) -> Response:
    """415 naming what was sent and what is taken, with ``Accept-Post`` (W3C LDP) or
    ``Accept-Patch`` (RFC 5789) on the methods that have one, and ``headers``."""
    accept = {"POST": "Accept-Post", "PATCH": "Accept-Patch"}.get(request.method)
    said = f"Content-Type {sent[:80]!r}" if sent is not None else "no Content-Type"
    return problem(
        415,
        "unsupported-media-type",
        "Unsupported media type",
        f"the body was sent with {said}{why}; send it as {JSON_MEDIA_TYPE} (or application/*+json), UTF-8",
        instance=request.url.path,
        headers={**({accept: JSON_MEDIA_TYPE} if accept else {}), **(headers or {})},
    )


def _json_media_type_problem(request: Request) -> Response | None:
    """A 415 for a body with a content coding (``Content-Encoding: gzip``), which the API does
    not decode (RFC 9110 §15.5.16, with ``Accept-Encoding: identity``: it was parsed as it came),
    for a ``Content-Type`` that is not JSON, or JSON in a charset other than UTF-8 (RFC 8259
    §8.1); None when it is JSON, or absent (then the body decides: see
    :func:`read_json_object`)."""
    sent = request.headers.get("content-type")
    coding = request.headers.get("content-encoding", "identity").strip().lower()
    if coding != "identity":
        why = f" and Content-Encoding {coding[:40]!r}, which the API does not decode"
        return _unsupported_media_type(request, sent, why, {"Accept-Encoding": "identity"})
    if sent is None:
        return None
    kind, params = _media_type(sent)
    main, _, sub = kind.partition("/")
    if not (kind == JSON_MEDIA_TYPE or (main == "application" and sub.endswith("+json"))):
        return _unsupported_media_type(request, sent)
    charset = params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        return _unsupported_media_type(request, sent, ", but JSON is UTF-8")
    return None


async def read_json_object(request: Request) -> dict[str, Any] | Response:
    """The body as a JSON object, or the problem to answer: 413 for a body whose
    ``Content-Length`` exceeds ``MAX_BODY``, then 415 for a body that is not sent as JSON (an
    empty one without a ``Content-Type`` is the 400 of a missing object), then 413 for a
    streamed body past ``MAX_BODY``, and 400 for JSON that does not parse or that names a
    member twice. The first two are judged from the headers alone, before a byte of the body
    is read."""
    # Size first where the headers tell it, as a proxy in front answers (nginx's
    # client_max_body_size, HAProxy's, Apache's LimitRequestBody judge Content-Length before
    # any handler looks at the media type): a client gets the same 413 with or without one,
    # and sending the body as JSON would not help it. A streamed body's size is only known by
    # reading it, which a body of the wrong type is not worth: that one is a 415 unread.
    if _declared_too_large(request):
        return _too_large(request)
    refused = _json_media_type_problem(request)
    if refused is not None:
        return refused
    body = await read_body(request)
    if isinstance(body, Response):
        return body
    if body and "content-type" not in request.headers:
        return _unsupported_media_type(request, None)
    try:
        data = _parse_json(body)
    except _DuplicateKey as exc:
        return problem(
            400,
            "invalid-request",
            "Invalid request",
            f"the body names the member {exc.key[:80]!r} twice (at {exc.pointer[:200]}); "
            "JSON leaves which one counts to the parser: send it once",
            instance=request.url.path,
            extra={"pointer": exc.pointer[:200]},
        )
    except _NotANumber as exc:
        return bad_request(
            f"the body holds {exc}, which is no JSON number (NaN and Infinity are not JSON, and "
            "numbers must fit in a double): send a finite number, or a string",
            request.url.path,
        )
    except (ValueError, RecursionError):
        # ValueError: not JSON, not UTF-8, or an integer of more than 4,300 digits (Python's
        # limit); RecursionError: nested deeper than the parser's stack.
        return bad_request(
            "the body is not valid JSON (or nests too deep, or holds a number too long)", request.url.path
        )
    if not isinstance(data, dict):
        return bad_request("the body must be a JSON object", request.url.path)
    return data
