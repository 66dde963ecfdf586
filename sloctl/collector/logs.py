"""JSON-lines logs with ECS field names, with secrets and personal data masked.

Error texts from drivers can carry personal data (a failing ``INSERT`` echoes its values) and
connection strings with passwords: every value that leaves through a log line or the debug page
goes through the shared :class:`sloctl.masking.Masker` first.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import IO

from sloctl.masking import Masker

__all__ = ["EcsJsonFormatter", "make_logger", "sdk_logs_to"]


class EcsJsonFormatter(logging.Formatter):
    """One JSON object per line: ``@timestamp``, ``log.level``, ``message``, ``ecs.version``,
    ``service.name``, ``event.*``, ``error.*`` and ``labels.*`` from ``extra={"ecs": {...}}``."""

    def __init__(self, masker: Masker, service_name: str, clock: Callable[[], float] | None = None) -> None:
        super().__init__()
        self._mask = masker
        self._service = service_name
        self._clock = clock

    def format(self, record: logging.LogRecord) -> str:
        ts = self._clock() if self._clock else record.created
        doc: dict[str, object] = {
            "@timestamp": datetime.fromtimestamp(ts, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "log.level": record.levelname.lower(),
            "log.logger": record.name,
            "message": self._mask(record.getMessage()),
            "ecs.version": "8.11.0",
            "service.name": self._service,
        }
        extra = getattr(record, "ecs", None)
        if isinstance(extra, dict):
            for key, value in extra.items():
                doc[str(key)] = self._mask.data(value)
        if record.exc_info and record.exc_info[1] is not None:
            doc["error.type"] = type(record.exc_info[1]).__name__
            doc["error.message"] = self._mask(str(record.exc_info[1]))
        return json.dumps(doc, separators=(",", ":"), default=str)


class _LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that outlives its reader: when the stream is closed (the log shipper or
    the ``| jq`` behind stdout went away), it says so once on stderr and drops the lines that
    follow, and the collector goes on probing and serving ``/metrics``. The standard handler
    printed a 40-line "Logging error" traceback on stderr for every line instead."""

    closed = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.closed:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError | ValueError):  # ValueError: a closed file object
            super().handleError(record)
            return
        self.closed = True
        with contextlib.suppress(OSError, ValueError):
            print(
                f"sloctl collector: cannot write log lines any more ({error}): dropping them; "
                "probes and /metrics go on",
                file=sys.stderr,
                flush=True,
            )


def make_logger(
    stream: IO[str], masker: Masker, service_name: str, name: str = "sloctl.collector"
) -> logging.Logger:
    """A logger writing ECS JSON lines to ``stream`` only (no propagation to the root logger)."""
    logger = logging.getLogger(name)
    logger.handlers.clear()
    handler = _LineHandler(stream)
    handler.setFormatter(EcsJsonFormatter(masker, service_name))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


#: How long one kind of OpenTelemetry SDK log line (its logger and message template) is said
#: once: the exporter retries a refused endpoint with backoff, one line per retry, for ever.
SDK_REPEAT_SECONDS = 60.0


class _SdkLogBridge(logging.Handler):
    """The OpenTelemetry SDK's own log lines (an exporter that cannot reach its endpoint) as the
    collector's JSON lines, level warning, naming the OTLP endpoint: they came out as plain text
    on stderr (Python's last-resort handler), one per retry. Each kind (logger and message
    template) is said once per :data:`SDK_REPEAT_SECONDS`, with how many were held back since."""

    def __init__(self, logger: logging.Logger, endpoint: str, clock: Callable[[], float]) -> None:
        super().__init__(logging.WARNING)
        self._logger = logger
        self._endpoint = endpoint
        self._clock = clock
        self._said: dict[tuple[str, str], float] = {}
        self.held: dict[tuple[str, str], tuple[int, str]] = {}  # kind → (lines held back, last text)

    def emit(self, record: logging.LogRecord) -> None:
        kind, now = (record.name, str(record.msg)), self._clock()
        said = self._said.get(kind)
        if said is not None and now - said < SDK_REPEAT_SECONDS:
            held, _last = self.held.get(kind, (0, ""))
            self.held[kind] = (held + 1, record.getMessage())
            return
        self._said[kind] = now
        held, _last = self.held.pop(kind, (0, ""))
        self._say(record.name, record.getMessage(), held, record.exc_info)

    def _say(self, origin: str, text: str, held: int, exc_info: object = None) -> None:
        more = f" ({held} more like it since the last such line)" if held else ""
        ecs = {
            "event.kind": "event",
            "event.action": "otlp-export",
            "event.outcome": "failure",
            "url.full": self._endpoint,
            "labels.sdk_logger": origin,
            "labels.repeated": held,
        }
        self._logger.warning(
            f"OTLP exporter to {self._endpoint}: {text}{more}",
            extra={"ecs": ecs},
            exc_info=exc_info,  # type: ignore[arg-type]
        )

    def say_held(self) -> None:
        """One last line per kind whose lines were held back (at stop)."""
        with self.lock or contextlib.nullcontext():
            held, self.held = self.held, {}
        for (origin, _template), (count, last) in held.items():
            self._say(origin, last, count)


@contextlib.contextmanager
def sdk_logs_to(
    logger: logging.Logger, endpoint: str, clock: Callable[[], float] = time.monotonic
) -> Iterator[None]:
    """Inside, the OpenTelemetry SDK's log lines (loggers under ``opentelemetry``) go to
    ``logger`` as :class:`_SdkLogBridge` says, and nowhere else."""
    sdk = logging.getLogger("opentelemetry")
    bridge = _SdkLogBridge(logger, endpoint, clock)
    propagate = sdk.propagate
    sdk.addHandler(bridge)
    sdk.propagate = False
    try:
        yield
    finally:
        sdk.removeHandler(bridge)
        sdk.propagate = propagate
        bridge.say_held()
