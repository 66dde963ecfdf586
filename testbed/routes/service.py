"""Routes outside the SLOs: liveness, readiness, metrics, the OpenAPI description."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sloctl.contract import READINESS_TIMEOUT_SECONDS, Dependency

from ..dependencies import Dependencies
from ..openapi import openapi_document
from .common import (
    deps_of,
)

__all__ = ["healthz", "metrics_endpoint", "openapi_endpoint", "readyz"]


async def healthz(request: Request) -> Response:
    """Liveness of the API process itself; breaker states for humans (no database call)."""
    deps = deps_of(request)
    return JSONResponse({"status": "ok", "breakers": {d: b.state.label for d, b in deps.breakers.items()}})


async def readyz(request: Request) -> Response:
    """Readiness: each database answers a ping within :data:`READINESS_TIMEOUT_SECONDS` (all
    three at once, not through the breakers: a probe is not traffic, and an open breaker must
    not hide a database that is back): 200 ``ready``, else 503 ``not ready`` naming the
    failing ones (``failing``) and why (``checks``)."""
    deps = deps_of(request)
    names = [Dependency.POSTGRES.value, Dependency.REDIS.value, Dependency.MONGODB.value]
    results = await asyncio.gather(*(_check(deps, _PINGS[name]) for name in names))
    checks = dict(zip(names, results, strict=True))
    failing = [name for name, result in checks.items() if result != "ok"]
    body = {
        "status": "not ready" if failing else "ready",
        "failing": failing,
        "checks": checks,
        "breakers": {d: b.state.label for d, b in deps.breakers.items()},
    }
    return JSONResponse(body, status_code=503 if failing else 200)


async def _ping_postgres(deps: Dependencies) -> None:
    """A connection of the shared pool (PostgreSQL through PgBouncer) runs ``SELECT 1``."""
    async with deps.pg_pool.connection(timeout=READINESS_TIMEOUT_SECONDS) as conn:
        await conn.execute("SELECT 1")


async def _ping_redis(deps: Dependencies) -> None:
    await deps.redis.ping()


async def _ping_mongodb(deps: Dependencies) -> None:
    await deps.mongo.admin.command("ping")


_PINGS: dict[str, Callable[[Dependencies], Awaitable[None]]] = {
    Dependency.POSTGRES.value: _ping_postgres,
    Dependency.REDIS.value: _ping_redis,
    Dependency.MONGODB.value: _ping_mongodb,
}


async def _check(deps: Dependencies, ping: Callable[[Dependencies], Awaitable[None]]) -> str:
    """``ok``, or why not in one line (passwords masked), within the readiness timeout."""
    try:
        await asyncio.wait_for(ping(deps), READINESS_TIMEOUT_SECONDS)
    except TimeoutError:
        return f"no answer within {READINESS_TIMEOUT_SECONDS:g} s"
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return deps.audit.mask(f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__)
    return "ok"


async def openapi_endpoint(request: Request) -> Response:
    return JSONResponse(openapi_document())


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(deps_of(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)
