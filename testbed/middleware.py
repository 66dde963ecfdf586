"""The API's ASGI middleware: route template, API version, trace context, rate limit, request
id, Server-Timing, request counter and latency histogram."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from contextvars import Token

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sloctl.http1 import SHOWN_HOST, host_problem, more_than_once

from .config import API_VERSION, DEPRECATED_VERSIONS
from .metrics import PlatformMetrics
from .negotiation import acceptable
from .openapi import answer_media_types
from .problems import REQUEST_ID, internal_error, problem
from .protocol import REQUEST_TARGET
from .ratelimit import RateLimiter
from .routes import ROUTE_DEPENDENCY, ROUTES
from .tiers import CALLER_TIER, ApiKey, bearer_key, key_digest

__all__ = [
    "HTTP_VERSIONS",
    "SINGLE_HEADERS",
    "PlatformMiddleware",
    "negotiate_version",
    "repeated_problem",
    "target_problem",
]


class PlatformMiddleware:
    """Pure ASGI middleware (cheaper than BaseHTTPMiddleware): route template, rate limit,
    server span, ``API-Version`` header, request counter and latency histogram."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: PlatformMetrics,
        limiter: RateLimiter,
        tracer: trace.Tracer,
        api_keys: Sequence[ApiKey] = (),
        tier_limiters: Mapping[str, RateLimiter] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        #: requests without an API key: a bucket per client address
        self.limiter = limiter
        self.tracer = tracer
        self.api_keys = {k.sha256: k for k in api_keys}
        #: tier -> its limiter: a bucket per tenant
        self.tier_limiters = dict(tier_limiters or {})

    def _caller(self, headers: Mapping[str, str], scope: Scope) -> tuple[RateLimiter, str, str | None] | None:
        """(limiter, bucket key, tier) of the request; None for a key this API does not know."""
        key = bearer_key(headers.get("authorization"))
        if key is None:
            client = scope.get("client")
            return self.limiter, client[0] if client else "unknown", None
        known = self.api_keys.get(key_digest(key)) if key else None
        if known is None:
            return None
        return self.tier_limiters[known.tier], known.tenant, known.tier

    @staticmethod
    def _route(scope: Scope) -> str:
        partial = None
        for route in ROUTES:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route.path
            if match is Match.PARTIAL and partial is None:
                partial = route.path
        return partial or "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        route = self._route(scope)
        # For the audit log: the route template, not the path (ids in paths are values).
        scope.setdefault("state", {})["route"] = route
        method: str = scope["method"]
        dependency = ROUTE_DEPENDENCY.get(route, "none")
        request_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        version, version_headers = negotiate_version(request_headers.get("api-version"))
        extra: list[tuple[bytes, bytes]] = [(b"api-version", (version or API_VERSION).encode())]
        extra += [(k.lower().encode(), v.encode()) for k, v in version_headers.items()]
        status = 500
        # W3C trace context: a caller's traceparent (the collector's probe, a client) is
        # continued, so that one trace spans the caller, the API and the database calls.
        parent = _W3C.extract(request_headers)
        with self.tracer.start_as_current_span(
            f"{method} {route}", kind=SpanKind.SERVER, context=parent
        ) as span:
            request_id = format(span.get_span_context().trace_id, "032x")
            token = REQUEST_ID.set(request_id)
            extra.append((b"x-request-id", request_id.encode()))
            span.set_attribute("http.request.method", method)
            span.set_attribute("http.route", route)
            tier_token: Token[str | None] | None = None
            try:
                refused, tier = await self._admit(scope, receive, send, request_headers, version, extra)
                if tier is not None:
                    span.set_attribute("platform.tier", tier)
                    tier_token = CALLER_TIER.set(tier)
                if refused is not None:
                    status = refused
                    return

                answer = _Answer(send, extra, started)
                try:
                    await self.app(scope, receive, answer.send)
                except Exception:
                    # Answered here, inside the request's context, so that the 500 carries its
                    # request id (body and X-Request-ID) like every other problem; Starlette's
                    # last resort, outside this middleware, would answer without it. Raised
                    # again for the server's log (Starlette sends nothing once we have).
                    if answer.status is None:
                        await internal_error(scope["path"])(scope, receive, answer.send)
                    raise
                finally:
                    status = answer.status or status
            finally:
                REQUEST_ID.reset(token)
                if tier_token is not None:
                    CALLER_TIER.reset(tier_token)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                elapsed = time.perf_counter() - started
                self.metrics.requests.labels(route, method, str(status), dependency).inc()
                self.metrics.duration.labels(route, method, dependency).observe(elapsed)

    async def _admit(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_headers: dict[str, str],
        version: str | None,
        extra: list[tuple[bytes, bytes]],
    ) -> tuple[int | None, str | None]:
        """Every request's ``Host`` and ``Accept``, then a ``/v1/`` request's API version, key and
        rate limit: the status of the refusal sent (None: admitted, its rate-limit headers added
        to ``extra``), and the caller's tier."""
        route: str = scope["state"]["route"]
        refused = _malformed(scope, route)
        if refused is not None:
            await refused(scope, receive, _with_headers(send, extra))
            return refused.status_code, None
        if not route.startswith("/v1/"):
            return None, None
        if version is None:
            await self._refuse_version(request_headers["api-version"], scope, receive, send, extra)
            return 400, None
        caller = self._caller(request_headers, scope)
        if caller is None:
            await self._refuse_key(scope, receive, send, extra)
            return 401, None
        limiter, bucket, tier = caller
        decision = limiter.check(bucket)
        headers = limiter.headers(decision)
        if not decision.allowed:
            response = problem(
                429,
                "rate-limited",
                "Too many requests",
                limiter.describe(),
                instance=scope["path"],
                headers=headers,
            )
            await response(scope, receive, _with_headers(send, extra))
            return 429, tier
        extra += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        return None, tier

    @staticmethod
    async def _refuse_key(
        scope: Scope, receive: Receive, send: Send, extra: list[tuple[bytes, bytes]]
    ) -> None:
        response = problem(
            401,
            "unauthorized",
            "Unknown API key",
            "the Authorization header must be 'Bearer <key>' with a key of this API (or be left out)",
            instance=scope["path"],
            headers={"WWW-Authenticate": 'Bearer realm="platform"'},
        )
        await response(scope, receive, _with_headers(send, extra))

    @staticmethod
    async def _refuse_version(
        asked: str, scope: Scope, receive: Receive, send: Send, extra: list[tuple[bytes, bytes]]
    ) -> None:
        supported = ", ".join([API_VERSION, *DEPRECATED_VERSIONS])
        response = problem(
            400,
            "unsupported-version",
            "Unsupported API version",
            f"API-Version {asked[:40]!r} is not served; supported: {supported}",
            instance=scope["path"],
        )
        await response(scope, receive, _with_headers(send, extra))


_W3C = TraceContextTextMapPropagator()

#: What each route answers, by (method, route template): a request whose ``Accept`` takes none
#: of it is a 406 (HEAD is answered as GET). From the OpenAPI description, which says it.
_OFFERED = answer_media_types()

#: The HTTP versions of the request lines answered. httptools (llhttp) reads any digit pair: a
#: request line ending ``HTTP/2.0`` was answered 200 as HTTP/1.1 (it is a 505 now, RFC 9110
#: §15.6.6); HTTP/2 itself is not served (uvicorn's h2c upgrade is not used).
HTTP_VERSIONS = ("1.1", "1.0")

#: Request headers the API reads one value of, each named as a client writes it: with two lines,
#: which one counts is each reader's guess (the middleware took the last ``API-Version`` and
#: ``Authorization``, another layer might take the first), so a request with two is a 400, as
#: one with two ``Host`` lines is.
SINGLE_HEADERS = ("API-Version", "Authorization")


def repeated_problem(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    """Which of :data:`SINGLE_HEADERS` ``headers`` (name, value lines) give more than once, or None.

    >>> repeated_problem([(b"api-version", b"2026-11-01"), (b"API-Version", b"2025-06-01")])
    'API-Version is given 2 times; give it once'
    >>> repeated_problem([(b"accept", b"a/b"), (b"accept", b"c/d"), (b"authorization", b"Bearer k")])
    """
    for name in SINGLE_HEADERS:
        wrong = more_than_once(name, sum(1 for k, _ in headers if k.lower() == name.lower().encode()))
        if wrong:
            return wrong
    return None


def target_problem(target: bytes, hosts: Sequence[bytes]) -> str | None:
    """What is wrong with an absolute-form request target (``GET http://host/path``) whose
    authority is not the request's one ``Host`` (the same text, case aside), or None: an
    origin-form target (``/path``) or ``*`` has none. RFC 9112 §3.2.2 makes the target's authority
    the one the request is for, and uvicorn dropped it: ``GET http://other.example/v1/projects``
    was answered as this API's own. No name is resolved.

    >>> target_problem(b"/v1/projects", [b"127.0.0.1:8000"])
    >>> target_problem(b"http://127.0.0.1:8000/v1/projects", [b"127.0.0.1:8000"])
    >>> target_problem(b"http://other.example/v1/projects", [b"127.0.0.1:8000"])
    "the request target names 'other.example' and Host '127.0.0.1:8000'; name one authority in both"
    """
    if target.startswith(b"/") or target == b"*":
        return None
    # what follows the scheme's "//" up to the path, query or fragment (RFC 3986's authority)
    authority = re.split(r"[/?#]", target.decode("latin-1").partition("://")[2], maxsplit=1)[0]
    host = hosts[0].decode("latin-1") if len(hosts) == 1 else ""
    if authority.lower() == host.lower():
        return None
    return (
        f"the request target names {authority[:SHOWN_HOST]!r} and Host {host[:SHOWN_HOST]!r};"
        " name one authority in both"
    )


def _malformed(scope: Scope, route: str) -> Response | None:
    """The 505 of a request line of another HTTP version than :data:`HTTP_VERSIONS`, the 400 of
    a request's ``Host`` (:func:`host_problem`) or absolute-form target (:func:`target_problem`),
    of a header given twice (:func:`repeated_problem`), or the 406 of its ``Accept`` (none of
    what its route answers), else None."""
    version: str = scope.get("http_version", "1.1")
    if version not in HTTP_VERSIONS:
        served = " and ".join(f"HTTP/{v}" for v in HTTP_VERSIONS)
        detail = f"HTTP/{version[:10]} is not served; this API speaks {served}"
        return problem(505, "http-version-not-supported", "HTTP Version Not Supported", detail)
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    hosts = [v for k, v in headers if k.lower() == b"host"]
    target: bytes = (scope.get("extensions") or {}).get(REQUEST_TARGET, {}).get("target", b"/")
    wrong = host_problem(hosts, version) or target_problem(target, hosts)
    if wrong is not None:
        return problem(400, "invalid-host", "Invalid Host header", wrong, instance=scope["path"])
    wrong = repeated_problem(headers)
    if wrong is not None:
        return problem(400, "invalid-request", "Invalid request", wrong, instance=scope["path"])
    method = "GET" if scope["method"] == "HEAD" else scope["method"]
    offered = _OFFERED.get((method, route))
    lines = [v.decode("latin-1") for k, v in headers if k.lower() == b"accept"]
    if offered is None or not lines or acceptable(", ".join(lines), offered) is not None:
        return None
    asked = ", ".join(lines)
    return problem(
        406,
        "not-acceptable",
        "Not Acceptable",
        f"Accept {asked[:200]!r} takes none of what {route} answers: {', '.join(offered)}",
        instance=scope["path"],
        extra={"offered": list(offered)},
    )


class _Answer:
    """The app's ``send``, adding the API's headers and ``Server-Timing`` to the response's
    start; ``status`` is the status sent (None: nothing yet)."""

    def __init__(self, send: Send, extra: Sequence[tuple[bytes, bytes]], started: float) -> None:
        self._send = send
        self._extra = extra
        self._started = started
        self.status: int | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            # W3C Server-Timing: the time the API took until it answered, so that clients
            # (the game days' fast-fail check) can tell it from the network.
            took = f"app;dur={(time.perf_counter() - self._started) * 1000:.3f}".encode()
            headers = [*message.get("headers", []), *self._extra, (b"server-timing", took)]
            message = {**message, "headers": headers}
        await self._send(message)


def _with_headers(send: Send, extra: Sequence[tuple[bytes, bytes]]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


def _http_date(unix: int) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(unix))


def negotiate_version(asked: str | None) -> tuple[str | None, dict[str, str]]:
    """The version to answer with (``None``: not served) and the headers that go with it: an
    older version is served with ``Deprecation: @<unix>`` (RFC 9745) and ``Sunset`` (RFC 8594)."""
    if asked is None or asked.strip() == API_VERSION:
        return API_VERSION, {}
    asked = asked.strip()
    if asked in DEPRECATED_VERSIONS:
        deprecated, sunset = DEPRECATED_VERSIONS[asked]
        return asked, {"Deprecation": f"@{deprecated}", "Sunset": _http_date(sunset)}
    return None, {}
