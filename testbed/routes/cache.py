"""The cache on Redis."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from ..dependencies import ClientProblem
from .common import (
    audited,
    bad_request,
    deps_of,
    guarded,
    int_param,
    read_body,
    single_query_params,
)

__all__ = ["get_cache", "put_cache"]


CACHE_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


def _cache_key(request: Request) -> str | None:
    key: str = request.path_params["key"]
    return key if CACHE_KEY.fullmatch(key) else None


async def get_cache(request: Request) -> Response:
    key = _cache_key(request)
    if key is None:
        return bad_request("key must match [A-Za-z0-9_.:-]{1,200}", request.url.path)

    async def run() -> Response:
        with audited(request, "redis", "get", "GET cache:%s", "cache"):
            value = await deps_of(request).redis.get(f"cache:{key}")
        if value is None:
            raise ClientProblem(404, "not-found", "Not found", f"cache key {key!r} does not exist")
        return Response(
            value if isinstance(value, bytes) else value.encode(), media_type="application/octet-stream"
        )

    return await guarded(request, "redis", run)


async def put_cache(request: Request) -> Response:
    key = _cache_key(request)
    if key is None:
        return bad_request("key must match [A-Za-z0-9_.:-]{1,200}", request.url.path)
    params = single_query_params(request, ("ttl",))
    if isinstance(params, Response):
        return params
    ttl_raw = params.get("ttl")
    ttl = None if ttl_raw is None else int_param(ttl_raw, 1, 86400 * 30)
    if ttl_raw is not None and ttl is None:
        return bad_request("ttl must be a whole number of seconds, 1 to 2592000", request.url.path)
    body = await read_body(request)
    if isinstance(body, Response):
        return body

    async def run() -> Response:
        query = "SET cache:%s %s" + (" EX %s" if ttl else "")
        with audited(request, "redis", "set", query, "cache", "change"):
            await deps_of(request).redis.set(f"cache:{key}", body, ex=ttl)
        return Response(status_code=204)

    return await guarded(request, "redis", run)
