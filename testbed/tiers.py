"""Who is calling: API keys name a tenant and its tier (:data:`sloctl.contract.TIERS`).

A caller sends ``Authorization: Bearer <key>``. The keys file (``--api-keys``) holds the
SHA-256 of each key, never the key itself, with its tenant and tier::

    {"keys": [{"sha256": "9f86d0…", "tenant": "acme", "tier": "enterprise"}]}

A request with a known key is limited per tenant at its tier's rate and uses its tier's
PostgreSQL pool and breaker; an unknown key is a 401. A request without a key keeps the
unauthenticated policy (a bucket per client address, the pool sized ``(cores × 2) +
spindles``): the collector's probes, the load tests and the game days' background traffic.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from sloctl.contract import TIERS

__all__ = ["CALLER_TIER", "TIER_NAMES", "ApiKey", "bearer_key", "key_digest", "load_api_keys"]

TIER_NAMES = tuple(t.name for t in TIERS)
#: the tier of the request being served (None: no API key); set by the middleware, read by the
#: PostgreSQL pool and breaker selection
CALLER_TIER: contextvars.ContextVar[str | None] = contextvars.ContextVar("caller_tier", default=None)


@dataclass(frozen=True)
class ApiKey:
    sha256: str
    tenant: str
    tier: str


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def bearer_key(authorization: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header; ``""`` for another scheme or an
    empty key (refused like an unknown key), None without the header."""
    if authorization is None:
        return None
    scheme, _, key = authorization.strip().partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


def load_api_keys(path: Path) -> tuple[ApiKey, ...]:
    """The keys of ``path``; :class:`ValueError` naming the file and the entry otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"--api-keys {path}: cannot read it ({exc.strerror})") from None
    except ValueError as exc:
        raise ValueError(f"--api-keys {path}: not JSON ({exc})") from None
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f'--api-keys {path}: expected {{"keys": [{{"sha256", "tenant", "tier"}}, …]}}')
    keys: list[ApiKey] = []
    for index, entry in enumerate(entries):
        where = f"--api-keys {path}: keys[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected an object with sha256, tenant and tier")
        digest, tenant, tier = entry.get("sha256"), entry.get("tenant"), entry.get("tier")
        if not (
            isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
        ):
            raise ValueError(f"{where}.sha256: expected 64 lower-case hex digits (the key's SHA-256)")
        if not isinstance(tenant, str) or not tenant:
            raise ValueError(f"{where}.tenant: expected a non-empty string")
        if tier not in TIER_NAMES:
            raise ValueError(f"{where}.tier: {tier!r} is not a tier; one of {', '.join(TIER_NAMES)}")
        keys.append(ApiKey(digest, tenant, tier))
    return tuple(keys)
