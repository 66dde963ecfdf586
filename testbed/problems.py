"""RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.responses import Response

__all__ = ["PROBLEM_BASE", "problem"]

#: Problem type URIs live under a reserved (.invalid) domain: they identify, nobody fetches them.
PROBLEM_BASE = "https://platform.sloctl.invalid/problems/"


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, str | int | float] | None = None,
) -> Response:
    body: dict[str, str | int | float] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if extra:
        body.update(extra)
    return Response(
        json.dumps(body),
        status_code=status,
        media_type="application/problem+json",
        headers=dict(headers or {}),
    )
