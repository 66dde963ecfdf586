"""RFC 9457 problem details (``application/problem+json``), with two extension members: the
``request_id`` (the W3C trace id of the request) and the ``timestamp`` (RFC 3339, UTC)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from contextvars import ContextVar

from starlette.responses import Response

__all__ = ["PROBLEM_BASE", "REQUEST_ID", "internal_error", "problem", "problem_document"]

#: The id of the request being answered (the trace id of its server span, set by the
#: middleware): every problem carries it, so a client's bug report finds the trace.
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="")

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
    extra: Mapping[str, str | int | float | list[str]] | None = None,
) -> Response:
    """The problem ``slug`` as the app's answer (:func:`problem_document`, ``headers`` added)."""
    return Response(
        json.dumps(problem_document(status, slug, title, detail, instance=instance, extra=extra)),
        status_code=status,
        media_type="application/problem+json",
        headers=dict(headers or {}),
    )


def problem_document(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    extra: Mapping[str, str | int | float | list[str]] | None = None,
) -> dict[str, str | int | float | list[str]]:
    """The problem document of type ``slug``: what the app answers (:func:`problem`) and what
    the HTTP protocol writes itself, before any app sees the request (``testbed.protocol``)."""
    body: dict[str, str | int | float | list[str]] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if REQUEST_ID.get():
        body["request_id"] = REQUEST_ID.get()
    body["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if extra:
        body.update(extra)
    return body


def internal_error(instance: str) -> Response:
    """The 500 of a failure of the API itself (the error goes to its log, not to the client)."""
    return problem(
        500,
        "internal-error",
        "Internal server error",
        "the API failed while answering; the error is in its log",
        instance=instance,
    )
