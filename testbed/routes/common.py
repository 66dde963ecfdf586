"""What every route shares: JSON and problem answers, checked parameters and bodies, the audit
log, and the guard that turns breaker rejections and dependency failures into problems."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..audit import Caller, EventType
from ..breaker import BreakerOpenError
from ..dependencies import ClientProblem, Dependencies
from ..problems import problem

__all__ = [
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


def int_param(text: str, low: int, high: int) -> int | None:
    """A whole number written in ASCII digits within ``[low, high]``, else None. Not
    ``str.isdigit()``, which also accepts '²' (that ``int()`` refuses) and '١' (that it reads)."""
    if not (0 < len(text) <= 19 and text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if low <= value <= high else None


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


async def read_body(request: Request) -> bytes | Response:
    """The body, refused as soon as it is known to exceed ``MAX_BODY``: from ``Content-Length``
    before reading, else while it streams. Never more than ``MAX_BODY`` bytes are held."""
    too_large = problem(
        413, "too-large", "Body too large", f"at most {MAX_BODY} bytes", instance=request.url.path
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        return too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return too_large
        chunks.append(chunk)
    return b"".join(chunks)


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


async def read_json_object(request: Request) -> dict[str, Any] | Response:
    body = await read_body(request)
    if isinstance(body, Response):
        return body
    try:
        data = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
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
