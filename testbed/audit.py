"""The audit log of the reliability plan (section 5): every database operation as one ECS 8.x
JSON line, with personal data and secrets masked.

Each operation runs in its own OpenTelemetry client span (named as the database semantic
conventions name them, ``SELECT projects``), and its line carries that span's ``trace.id`` and
``span.id``, so that a line leads to its trace and a trace to its lines. Queries are logged as
written, with their placeholders (``WHERE id = %s``): values never reach the log, and whatever
else does (a driver's error message echoes values and connection strings) goes through the
shared :class:`sloctl.masking.Masker`.

>>> audit = AuditLog(io.StringIO(), "platform-api", Masker(), tracer)     # doctest: +SKIP
>>> with audit.operation("postgresql", "select", "SELECT 1", target="projects"):  # doctest: +SKIP
...     ...
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Literal

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from sloctl.masking import Masker

__all__ = ["ECS_VERSION", "AuditLog", "Caller"]

ECS_VERSION = "8.11.0"
#: ECS ``event.type`` per kind of operation (the "database" category allows these).
EventType = Literal["access", "change", "creation", "deletion"]


@dataclass(frozen=True)
class Caller:
    """Who asked, as far as the API knows: the client address and the route."""

    ip: str | None
    method: str
    route: str


class AuditLog:
    """Writes one line per :meth:`operation` to ``stream`` (line-buffered: a crash loses no
    finished line)."""

    def __init__(
        self,
        stream: IO[str] | None,
        service: str,
        masker: Masker,
        tracer: trace.Tracer,
        users: dict[str, str | None] | None = None,
    ) -> None:
        self._stream = stream
        self._service = service
        self._mask = masker
        self._tracer = tracer
        self._users = dict(users or {})

    def mask(self, text: str) -> str:
        """``text`` with the connection strings' passwords masked (a driver error may repeat them)."""
        return self._mask(text)

    @contextmanager
    def operation(
        self,
        system: str,
        action: str,
        query: str,
        *,
        target: str,
        kind: EventType = "access",
        caller: Caller | None = None,
    ) -> Iterator[None]:
        """Run one database operation in a span of its own and log it, success or failure."""
        started = time.perf_counter_ns()
        with self._tracer.start_as_current_span(
            f"{action.upper()} {target}",
            kind=SpanKind.CLIENT,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            span.set_attribute("db.system", system)
            span.set_attribute("db.operation.name", action.upper())
            span.set_attribute("db.collection.name", target)
            span.set_attribute("db.query.text", query)
            failure: BaseException | None = None
            try:
                yield
            except BaseException as exc:
                failure = exc
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            finally:
                self._write(system, action, query, target, kind, caller, span, failure, started)

    def _write(
        self,
        system: str,
        action: str,
        query: str,
        target: str,
        kind: EventType,
        caller: Caller | None,
        span: trace.Span,
        failure: BaseException | None,
        started: int,
    ) -> None:
        if self._stream is None:
            return
        context = span.get_span_context()
        outcome = "failure" if failure is not None else "success"
        doc: dict[str, object] = {
            "@timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "ecs.version": ECS_VERSION,
            "log.level": "warning" if failure is not None else "info",
            "log.logger": "testbed.audit",
            "message": f"{system} {action} {target}: {outcome}",
            "service.name": self._service,
            "event.kind": "event",
            "event.category": ["database"],
            "event.type": [kind],
            "event.action": f"{system}.{action}",
            "event.outcome": outcome,
            "event.duration": time.perf_counter_ns() - started,
            "user.name": self._users.get(system),
            "database.type": system,
            "database.name": target,
            "database.query": query,
            "trace.id": format(context.trace_id, "032x"),
            "span.id": format(context.span_id, "016x"),
        }
        if caller is not None:
            doc["client.ip"] = caller.ip
            doc["http.request.method"] = caller.method
            doc["url.path"] = caller.route  # the route template: ids in paths are values too
        if failure is not None:
            doc["error.type"] = type(failure).__name__
            doc["error.message"] = str(failure) or type(failure).__name__
        self._stream.write(json.dumps(self._mask.data(doc), separators=(",", ":"), default=str) + "\n")
