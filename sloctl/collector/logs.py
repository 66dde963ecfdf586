"""JSON-lines logs with ECS field names, with secrets and personal data masked.

The platform's audit-log plan forbids emails, card numbers and phone numbers in logs; error
texts from drivers can carry any of them (a failing ``INSERT`` echoes its values), and they
can carry connection strings with passwords. Every string that leaves through a log line or
the debug page goes through :class:`Masker` first.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import IO

__all__ = ["EcsJsonFormatter", "Masker", "make_logger"]

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_PHONE = re.compile(
    r"(?<![\w.:])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]\d{3,4}\b"
)
_URL_USERINFO = re.compile(r"(://[^:/@\s]+:)[^@/\s]+@")
_KV_SECRET = re.compile(r"(?i)\b(password|passwd|pwd|secret|token)\s*[=:]\s*('[^']*'|\"[^\"]*\"|\S+)")


def _luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class Masker:
    """Masks configured secrets (exact values), credentials in URLs and ``key=value`` pairs,
    emails, card numbers (Luhn-checked, so that ports and counters survive) and phone numbers."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first so that a password containing another password is masked whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "[secret]")
        text = _URL_USERINFO.sub(r"\1[secret]@", text)
        text = _KV_SECRET.sub(lambda m: f"{m.group(1)}=[secret]", text)
        text = _EMAIL.sub("[email]", text)
        text = _CARD.sub(lambda m: "[card]" if _luhn(re.sub(r"\D", "", m.group(0))) else m.group(0), text)
        text = _PHONE.sub("[phone]", text)
        return text


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
                doc[str(key)] = self._mask(value) if isinstance(value, str) else value
        if record.exc_info and record.exc_info[1] is not None:
            doc["error.type"] = type(record.exc_info[1]).__name__
            doc["error.message"] = self._mask(str(record.exc_info[1]))
        return json.dumps(doc, separators=(",", ":"), default=str)


def make_logger(
    stream: IO[str], masker: Masker, service_name: str, name: str = "sloctl.collector"
) -> logging.Logger:
    """A logger writing ECS JSON lines to ``stream`` only (no propagation to the root logger)."""
    logger = logging.getLogger(name)
    logger.handlers.clear()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(EcsJsonFormatter(masker, service_name))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger
