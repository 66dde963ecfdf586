"""Opaque, tamper-evident pagination cursors.

A cursor names a position in the projects listing: ``after`` an id (the next page) or
``before`` one (the previous page). It is ``base64url(direction:id.mac)`` with an HMAC-SHA256
(truncated to 128 bits) under the API's key, so a client can neither read a meaning into it
nor forge one that walks the table in steps it was not given: a changed byte is a 400.
The key is random per API process unless configured (``TestbedConfig.cursor_key``), so a
cursor does not outlive the process that gave it.

>>> key = b"k" * 32
>>> decode_cursor(encode_cursor("after", 42, key), key)
('after', 42)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Literal

__all__ = ["Direction", "decode_cursor", "encode_cursor"]

Direction = Literal["after", "before"]
_MAC_BYTES = 16
_MAX_ID = 2**63 - 1


def _mac(payload: bytes, key: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]


def encode_cursor(direction: Direction, project_id: int, key: bytes) -> str:
    payload = f"{direction[0]}:{project_id}".encode()
    return base64.urlsafe_b64encode(payload + b"." + _mac(payload, key)).decode().rstrip("=")


def decode_cursor(cursor: str, key: bytes) -> tuple[Direction, int]:
    """The position a cursor names; ``ValueError`` when it is not one this API gave."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("cursor is not valid") from exc
    # The MAC is binary and may hold a '.': split by length, not by the separator.
    payload, dot, mac = raw[: -_MAC_BYTES - 1], raw[-_MAC_BYTES - 1 : -_MAC_BYTES], raw[-_MAC_BYTES:]
    if dot != b"." or len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, _mac(payload, key)):
        raise ValueError("cursor is not valid")
    kind, _, number = payload.decode("ascii", errors="replace").partition(":")
    direction: Direction | None = {"a": "after", "b": "before"}.get(kind)  # type: ignore[assignment]
    if direction is None or not (number.isascii() and number.isdigit() and int(number) <= _MAX_ID):
        raise ValueError("cursor is not valid")
    return direction, int(number)
