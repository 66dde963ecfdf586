"""HTTP probe of the platform API (httpx, async).

Phases come from httpcore's trace events: ``connect`` is DNS + TCP handshake, ``tls`` the TLS
handshake, ``query`` from sending the request line to the end of the body. Checks: the status is
one of ``expect.status`` (a 5xx is ``server_error``, any other surprise ``validation``); error
answers (4xx/5xx that were expected) must be RFC 9457 ``application/problem+json`` objects; when
configured, the IETF ``RateLimit`` headers and a well-formed ``Link`` header must be present.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping

import httpx
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sloctl.collector.config import ConnectionMode, Target
from sloctl.collector.probes.base import (
    PhaseRecorder,
    ProbeReport,
    cert_not_after,
    connection_lifetime,
    refused_after_handshake,
    retry_stale_once,
)
from sloctl.collector.reasons import ProbeFailure, classify, detail
from sloctl.contract import Phase, Reason
from sloctl.egress import Egress, EgressDenied
from sloctl.files import parse_json

__all__ = ["HttpProbe", "check_link", "check_problem_json", "check_rate_limit"]

_W3C = TraceContextTextMapPropagator()
_LINK_RE = re.compile(r'^\s*<[^>]+>\s*(;\s*[a-zA-Z*]+\s*=\s*("[^"]*"|[^;,]+)\s*)+$')


def check_problem_json(headers: Mapping[str, str], body: bytes) -> str | None:
    """Why an error body is not RFC 9457 problem details, or ``None`` when it is."""
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/problem+json":
        return f"error answer has content type {ctype or 'none'!r}, not application/problem+json"
    try:
        doc = parse_json(body)
    except ValueError:
        return "problem+json body is not JSON"
    if not isinstance(doc, dict):
        return "problem+json body is not an object"
    for key, typ in (("type", str), ("title", str), ("status", int), ("detail", str), ("instance", str)):
        if key in doc and not isinstance(doc[key], typ):
            return f"problem+json member {key!r} has the wrong type"
    if "title" not in doc and "type" not in doc:
        return "problem+json body has neither 'type' nor 'title'"
    return None


def check_rate_limit(headers: Mapping[str, str]) -> str | None:
    """IETF draft-ietf-httpapi-ratelimit-headers: ``RateLimit`` + ``RateLimit-Policy`` (draft 7+)
    or the older ``RateLimit-Limit``/``-Remaining``/``-Reset`` triple."""
    h = {k.lower(): v for k, v in headers.items()}
    if "ratelimit" in h:
        if "ratelimit-policy" not in h:
            return "RateLimit header without RateLimit-Policy"
        if not re.search(r"\br=\d+", h["ratelimit"]) and not re.search(r"remaining=\d+", h["ratelimit"]):
            return "RateLimit header has no remaining quota (r=)"
        return None
    triple = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")
    if all(k in h for k in triple):
        if not all(h[k].split(",")[0].split(";")[0].strip().isdigit() for k in triple):
            return "RateLimit-* headers are not integers"
        return None
    return "no RateLimit headers"


def check_link(headers: Mapping[str, str]) -> str | None:
    """RFC 8288 ``Link``: present, each entry ``<uri>; rel="…"``."""
    value = headers.get("link")
    if not value:
        return "no Link header"
    for part in re.split(r",(?=\s*<)", value):
        if not _LINK_RE.match(part) or "rel=" not in part:
            return "malformed Link header"
    return None


class HttpProbe:
    def __init__(
        self, target: Target, mode: ConnectionMode, egress: Egress, ssl_context: ssl.SSLContext
    ) -> None:
        """``ssl_context``: the target's, shared with every probe of the same TLS configuration
        (:class:`~sloctl.collector.config.TlsContexts`)."""
        assert target.url is not None and target.http is not None
        self.target = target
        self.mode = mode
        self._egress = egress
        self._client: httpx.AsyncClient | None = None
        self._cert_not_after: float | None = None
        #: the client's connection has had an answer (response headers): the server took it
        self._answered = False
        # Given built, never built in a run: httpx would otherwise load the CA bundle for every
        # cold client (tens of milliseconds of CPU per run, even for http:// URLs). Import
        # httpcore's asyncio backend now too: imported lazily by the first run, with many
        # targets starting together it blocked the event loop long enough to push every other
        # first run past its deadline.
        self._ssl = ssl_context
        for module in ("anyio._backends._asyncio", "httpcore._backends.anyio"):
            with contextlib.suppress(ImportError):
                importlib.import_module(module)

    def _new_client(self) -> httpx.AsyncClient:
        # The guard's client: each request goes to a checked address, no redirect is followed
        # and no *_proxy variable is honoured.
        return self._egress.async_http_client(
            verify=self._ssl,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )

    async def run(self, rec: PhaseRecorder) -> ProbeReport:
        # A warm run may meet the server closing its idle keep-alive connection at the moment
        # the request goes out (uvicorn closes after 5 s idle, the default interval is 5 s or a
        # multiple): the request then dies with no answer. Reopen once, as the database probes do.
        reused = self._client is not None and self.mode is ConnectionMode.WARM
        return await retry_stale_once(reused, lambda: self._attempt(rec))

    async def _attempt(self, rec: PhaseRecorder) -> ProbeReport:
        t = self.target
        assert t.url is not None and t.http is not None
        rec.current = Phase.CONNECT
        if self._client is None or self.mode is ConnectionMode.COLD:
            await self._drop()
            self._client = self._new_client()
            self._answered = False
        async with connection_lifetime(self):  # any failure drops the client, as for the databases
            try:
                # W3C trace context of the run's span: the API continues it, so one trace holds the
                # probe's phases, the API's server span and its database calls.
                headers: dict[str, str] = {}
                _W3C.inject(headers)
                # tls.serverName: the name sent (SNI) and the certificate verified against,
                # in place of the URL's host (httpcore's sni_hostname)
                extensions: dict[str, object] = {"trace": self._trace(rec)}
                if t.tls.server_name:
                    extensions["sni_hostname"] = t.tls.server_name
                response = await self._client.request(
                    t.http.method, t.url, headers=headers, extensions=extensions
                )
                rec.current = None
                self._validate(response)
                return ProbeReport(cert_not_after=self._cert_not_after if t.tls.enabled else None)
            except EgressDenied as exc:
                raise ProbeFailure(Reason.DNS, str(exc)) from None
            except httpx.ConnectTimeout as exc:
                raise ProbeFailure(Reason.CONNECT_TIMEOUT, detail(exc)) from exc
            except (httpx.ReadTimeout, httpx.WriteTimeout) as exc:
                raise ProbeFailure(Reason.QUERY_TIMEOUT, detail(exc)) from exc
            except httpx.PoolTimeout as exc:
                raise ProbeFailure(Reason.POOL_TIMEOUT, detail(exc)) from exc
            except httpx.ConnectError as exc:
                raise ProbeFailure(_connect_reason(exc), detail(exc)) from exc
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                if t.tls.enabled and not self._answered:  # ended before its first answer
                    raise refused_after_handshake(t.tls, exc) from exc
                # The broken connection is dropped with its client (connection_lifetime): a
                # stale keep-alive is reopened once by run().
                raise ProbeFailure(Reason.PROTOCOL, detail(exc)) from exc

    def _trace(self, rec: PhaseRecorder) -> Callable[[str, Mapping[str, object]], Awaitable[None]]:
        """httpcore's trace callback: connect, TLS and query phases into ``rec``, and the peer
        certificate's expiry once TLS completes."""
        started: dict[str, int] = {}

        async def trace(event: str, info: Mapping[str, object]) -> None:
            name, _, stage = event.rpartition(".")
            now = time.time_ns()
            phase = {"connection.connect_tcp": Phase.CONNECT, "connection.start_tls": Phase.TLS}.get(name)
            if name.startswith("http11.send_request_headers") or name.startswith(
                "http2.send_request_headers"
            ):
                phase = Phase.QUERY
            if phase is None:
                self._answered |= name.endswith("receive_response_headers") and stage == "complete"
                if (
                    name.endswith("receive_response_body")
                    and stage in ("complete", "failed")
                    and "q" in started
                ):
                    rec.record(Phase.QUERY, started.pop("q"), now, stage == "failed")
                return
            if stage == "started":
                rec.current = phase
                started["q" if phase is Phase.QUERY else phase.value] = now
            elif phase is not Phase.QUERY and phase.value in started:
                rec.record(phase, started.pop(phase.value), now, stage == "failed")
                if phase is Phase.TLS and stage == "complete":
                    stream = info.get("return_value")
                    get = getattr(stream, "get_extra_info", None)
                    obj = get("ssl_object") if get else None
                    self._cert_not_after = cert_not_after(obj if isinstance(obj, ssl.SSLObject) else None)

        return trace

    def _validate(self, response: httpx.Response) -> None:
        check = self.target.http
        assert check is not None
        status = response.status_code
        if status not in check.expect_status:
            reason = Reason.SERVER_ERROR if status >= 500 else Reason.VALIDATION
            raise ProbeFailure(reason, f"HTTP {status}, expected {sorted(check.expect_status)}")
        problems: list[str | None] = []
        if status >= 400 and check.problem_json:
            problems.append(check_problem_json(response.headers, response.content))
        if check.rate_limit_headers:
            problems.append(check_rate_limit(response.headers))
        if check.link_header:
            problems.append(check_link(response.headers))
        first = next((p for p in problems if p), None)
        if first:
            raise ProbeFailure(Reason.VALIDATION, first)

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def close(self) -> None:
        await self._drop()


def _connect_reason(exc: httpx.ConnectError) -> Reason:
    """Why a connection failed, from httpx's wrapped error."""
    text = str(exc).lower()
    if isinstance(exc.__cause__, ssl.SSLError) or "ssl" in text or "certificate" in text:
        return Reason.TLS
    if "name or service" in text or "nodename" in text:
        return Reason.DNS
    if "refused" in text or "errno 111" in text:
        return Reason.REFUSED
    # anyio wraps the per-address errors ("All connection attempts failed"): the cause chain holds
    # the real one (ConnectionRefusedError, a timeout, ...).
    return classify(exc, Phase.CONNECT)
