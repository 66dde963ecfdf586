"""Routes outside the SLOs: liveness, metrics, the OpenAPI description."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..openapi import openapi_document
from .common import (
    deps_of,
)

__all__ = ["healthz", "metrics_endpoint", "openapi_endpoint"]


async def healthz(request: Request) -> Response:
    """Liveness of the API process itself; breaker states for humans (no database call)."""
    deps = deps_of(request)
    return JSONResponse({"status": "ok", "breakers": {d: b.state.label for d, b in deps.breakers.items()}})


async def openapi_endpoint(request: Request) -> Response:
    return JSONResponse(openapi_document())


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(deps_of(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)
