"""The platform API's OpenAPI 3.1 description, served at ``/openapi.json``.

The operations are data keyed by the contract's operation ids; their methods and paths are the
contract's (:data:`sloctl.contract.ROUTES`), so ``paths`` is built by walking its route table.
``tests/testbed/test_openapi.py`` checks the document with openapi-spec-validator and against
the route table (every route described under its operationId, nothing else).
"""

from __future__ import annotations

import re
from typing import Any

from sloctl.contract import ROUTES, TIERS

from .config import API_VERSION
from .protocol import MAX_HEAD

__all__ = ["answer_media_types", "openapi_document"]

_PROBLEM = {"$ref": "#/components/responses/Problem"}
#: a problem document per status, where the API says more of it than "a problem" (:func:`_responses`)
_PROBLEMS = {
    400: {"$ref": "#/components/responses/BadRequest"},
    406: {"$ref": "#/components/responses/NotAcceptable"},
    408: {"$ref": "#/components/responses/Timeout"},
    413: {"$ref": "#/components/responses/TooLarge"},
    415: {"$ref": "#/components/responses/UnsupportedMediaType"},
    431: {"$ref": "#/components/responses/HeadTooLarge"},
    505: {"$ref": "#/components/responses/HttpVersionNotSupported"},
}
#: What every operation may answer, the request judged as HTTP before its route reads it: its
#: head too slow (408) or too large (431), before any operation is known (``testbed.protocol``);
#: its Host or a header given twice (400) and its HTTP version (505)
#: (``testbed.middleware._malformed``); and, where the operation answers a body, its Accept taking
#: none of it (406).
_PROTOCOL = (400, 408, 431, 505)
#: The shared answers left out of what a route offers to an ``Accept`` (:func:`answer_media_types`):
#: the protocol's, sent whatever the request accepts (the 406 is the refusal itself).
_UNNEGOTIATED = {_PROBLEMS[code]["$ref"] for code in (*_PROTOCOL, 406)}
_JSON = "application/json"


def answer_media_types() -> dict[tuple[str, str], tuple[str, ...]]:
    """What each operation answers, by (method, path template): the media types of its own
    answers, then those of the problem documents it describes (through ``$ref``) but the
    protocol's (:data:`_UNNEGOTIATED`); an operation whose own answers have no body (204) is left
    out, having nothing to negotiate. The middleware's content negotiation offers these, so that
    a 406 lists what this description says."""
    document = openapi_document()
    shared = document["components"]["responses"]
    offered: dict[tuple[str, str], tuple[str, ...]] = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            own: list[str] = []
            problems: list[str] = []
            for answer in operation["responses"].values():
                ref = answer.get("$ref")
                if ref in _UNNEGOTIATED:
                    continue
                found = shared[ref.rsplit("/", 1)[1]] if ref else answer
                (problems if ref else own).extend(found.get("content", ()))
            if own:
                offered[method.upper(), path] = tuple(dict.fromkeys([*own, *problems]))
    return offered


def _rate_limited(description: str, content: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "headers": {
            name: {"$ref": f"#/components/headers/{name}"}
            for name in (
                "API-Version",
                "X-Request-ID",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            )
        },
    }
    if content is not None:
        out["content"] = content
    return out


def _with_location(response: dict[str, Any]) -> dict[str, Any]:
    headers = {**response["headers"], "Location": {"schema": {"type": "string"}}}
    return {**response, "headers": headers}


def _json_schema(ref: str) -> dict[str, Any]:
    return {_JSON: {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _path_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query_param(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    described = {"description": description} if description else {}
    return {"name": name, "in": "query", **described, "schema": schema}


_PROJECT_ID = _path_param("project_id", {"type": "integer", "minimum": 1, "maximum": 2**63 - 1})
_KEY = _path_param("key", {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,200}$"})
_BACKUP_ID = _path_param("backup_id", {"type": "string", "pattern": "^[0-9a-f]{16}$"})
_DOCUMENT_ID = _path_param("document_id", {"type": "string", "pattern": "^[0-9a-f]{24}$"})
_VERSION = {"$ref": "#/components/parameters/API-Version"}
#: a path template's parameters, declared once for every path that has them
_PATH_PARAMS = {"project_id": _PROJECT_ID, "key": _KEY, "backup_id": _BACKUP_ID, "document_id": _DOCUMENT_ID}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Platform API (sloctl testbed)",
            "version": API_VERSION,
            "description": "Projects on PostgreSQL (through PgBouncer), a cache on Redis, documents on "
            "MongoDB. Errors are RFC 9457 problem documents.",
        },
        "servers": [{"url": "/"}],
        "paths": _paths(),
        # An API key is optional: with one, the caller gets its tier's rate limit and pool.
        "security": [{}, {"apiKey": []}],
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API key naming a tenant and its tier"
                    f" ({', '.join(t.name for t in TIERS)}); an unknown key is a 401",
                }
            },
            "parameters": {
                "API-Version": {
                    "name": "API-Version",
                    "in": "header",
                    "description": "the version to answer with; an older one gets Deprecation and Sunset",
                    "schema": {"type": "string", "default": API_VERSION},
                }
            },
            "headers": {
                "API-Version": {"schema": {"type": "string"}},
                "X-Request-ID": {"description": "the request's W3C trace id", "schema": {"type": "string"}},
                "RateLimit-Limit": {"schema": {"type": "integer"}},
                "RateLimit-Remaining": {"schema": {"type": "integer"}},
                "RateLimit-Reset": {
                    "description": "seconds until the bucket is full",
                    "schema": {"type": "integer"},
                },
            },
            "responses": _responses(),
            "schemas": _schemas(),
        },
    }


#: a problem document's content: what every problem the API answers is (testbed.problems)
_PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _responses() -> dict[str, Any]:
    """The problem answers: any problem, those of the protocol (:func:`_protocol_responses`) and
    those of a body (:func:`_body_responses`)."""
    return {
        "Problem": {"description": "an RFC 9457 problem document", "content": _PROBLEM_CONTENT},
        **_protocol_responses(),
        **_body_responses(),
    }


def _protocol_responses() -> dict[str, Any]:
    """What the API answers a request whose HTTP it refuses before its route reads it (the 400s
    by problem type, the 431 of a head too large, :data:`_PROTOCOL`; the 408 of a head too slow is
    :func:`_body_responses`' too), and the 406 of its content negotiation."""
    return {
        "HeadTooLarge": {
            "description": f"`head-too-large`: the request line and headers pass {MAX_HEAD} bytes (1 MiB,"
            " Go's net/http default), refused while they stream, before any operation is known;"
            " the connection is closed, the rest unread",
            "headers": {"Connection": {"required": True, "schema": {"type": "string", "const": "close"}}},
            "content": _PROBLEM_CONTENT,
        },
        "BadRequest": {
            "description": "a problem of the request: `invalid-host`, a Host header missing (HTTP/1.1),"
            " given twice or not host[:port], or an absolute-form target (GET http://host/path) whose"
            " authority is not the Host header's (RFC 9112 §3.2); `invalid-request`, API-Version or"
            " Authorization given twice; on /v1/ routes, `unsupported-version`, an API-Version not"
            " served; or what the operation says of its parameters or body",
            "content": _PROBLEM_CONTENT,
        },
        "NotAcceptable": {
            "description": "`not-acceptable`: the Accept header takes none of the media types the"
            " operation answers, which `offered` lists",
            "content": _PROBLEM_CONTENT,
        },
        "HttpVersionNotSupported": {
            "description": "`http-version-not-supported`: a request line of another HTTP version than"
            " HTTP/1.1 and HTTP/1.0",
            "content": _PROBLEM_CONTENT,
        },
    }


def _body_responses() -> dict[str, Any]:
    """What the API answers a request body it refuses: the 408 of a body (or of a head, before
    any operation is known) not whole in time, the 413 of a body too large (and when it comes
    before a 415), and the 415 of a body not sent as JSON, which says in ``Accept-Post`` (W3C LDP)
    what a POST takes."""
    content = _PROBLEM_CONTENT
    return {
        "Timeout": {
            "description": "`head-timeout`: the request line and headers were not whole within the"
            " API's head timeout (--head-timeout, 10 s by default) of the connection's opening,"
            " before any operation is known; `body-timeout`: the body was not whole within its body"
            " timeout (--body-timeout, 10 s by default); the connection is closed, the rest unread",
            "headers": {"Connection": {"required": True, "schema": {"type": "string", "const": "close"}}},
            "content": content,
        },
        "TooLarge": {
            "description": "the body exceeds 65536 bytes (64 KiB): judged from Content-Length"
            " before its media type (a body declared too large is a 413 whatever its type, not a"
            " 415), else while it streams; it is never read past that",
            "content": content,
        },
        "UnsupportedMediaType": {
            "description": "the body was not sent as JSON (application/json or application/*+json, "
            "UTF-8), or was sent with a content coding, which the API does not decode (then with"
            " Accept-Encoding: identity): the problem names the Content-Type sent; judged from the"
            " headers, the body unread",
            "headers": {
                "Accept-Post": {
                    "description": "the media type a POST takes",
                    "required": True,
                    "schema": {"type": "string", "const": _JSON},
                }
            },
            "content": content,
        },
    }


def _operation(
    summary: str,
    status: int,
    answer: dict[str, Any],
    problems: tuple[int, ...] = (),
    *,
    parameters: tuple[dict[str, Any], ...] = (),
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An API operation: the API-Version header and its own ``parameters``, its required request
    ``body`` (content by media type) if it takes one, its one success ``answer`` under ``status``,
    a problem document for each of ``problems`` and for the 401, 429 and 503 that every ``/v1/``
    operation may answer, and the protocol's (:func:`_protocol_problems`)."""
    operation: dict[str, Any] = {"summary": summary, "parameters": [_VERSION, *parameters]}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": body}
    errors = {code: _PROBLEMS.get(code, _PROBLEM) for code in (*problems, 401, 429, 503)}
    answers = {status: answer, **errors, **_protocol_problems({status: answer})}
    return {**operation, "responses": {str(code): answers[code] for code in sorted(answers)}}


def _protocol_problems(answers: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The problems of :data:`_PROTOCOL` that an operation whose own ``answers`` these are may
    answer besides: the 400 and 505, and the 406 when one of them has a body."""
    negotiated = (406,) if any("content" in answer for answer in answers.values()) else ()
    return {code: _PROBLEMS[code] for code in (*_PROTOCOL, *negotiated)}


def _paths() -> dict[str, Any]:
    """The contract's routes, each described by its operation; a path's template parameters are
    declared once on its path item."""
    # Split at its seams: the operations per database and the operational ones.
    operations = {
        **_project_operations(),
        **_backup_operations(),
        **_cache_operations(),
        **_document_operations(),
        **_operational_operations(),
    }
    ids = {r.operation_id for r in ROUTES}
    if operations.keys() != ids:
        raise LookupError(
            f"operations without a route: {sorted(operations.keys() - ids)}; "
            f"routes without an operation: {sorted(ids - operations.keys())}"
        )
    paths: dict[str, dict[str, Any]] = {}
    for r in ROUTES:
        if r.path not in paths:
            params = [_PATH_PARAMS[name] for name in re.findall(r"\{(\w+)\}", r.path)]
            paths[r.path] = {"parameters": params} if params else {}
        paths[r.path][r.method.lower()] = {"operationId": r.operation_id, **operations[r.operation_id]}
    return paths


def _project_operations() -> dict[str, Any]:
    """PostgreSQL: the projects."""
    return {
        "listProjects": _operation(
            "List projects, a page at a time",
            200,
            _rate_limited("a page; Link has first, next and prev", _json_schema("ProjectPage")),
            (400,),
            parameters=(
                _query_param("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
                _query_param(
                    "cursor", {"type": "string"}, "opaque and signed; from a Link header of this API"
                ),
                _query_param(
                    "offset",
                    {"type": "integer", "minimum": 0},
                    "offset pagination, for comparison; not with cursor",
                ),
            ),
        ),
        "createProject": _operation(
            "Provision a project (a PostgreSQL schema)",
            201,
            _rate_limited("provisioned", _json_schema("Project")),
            (400, 408, 409, 413, 415),
            body=_json_schema("NewProject"),
        ),
        "getProject": _operation(
            "One project", 200, _rate_limited("the project", _json_schema("Project")), (404,)
        ),
        "deleteProject": _operation(
            "Deprovision a project (drops its schema)", 204, _rate_limited("deprovisioned"), (404,)
        ),
    }


def _backup_operations() -> dict[str, Any]:
    """PostgreSQL: a project's backups (pg_dump)."""
    return {
        "createBackup": _operation(
            "Queue a backup of the project's schema (pg_dump, off the request path)",
            202,
            _with_location(_rate_limited("queued", _json_schema("Backup"))),
            (404,),
        ),
        "getBackup": _operation(
            "A backup's status: pending, running, done, failed or cancelled",
            200,
            _rate_limited("the backup", _json_schema("Backup")),
            (404,),
        ),
        "cancelBackup": _operation(
            "Cancel a backup: a pending one leaves the queue, a running dump is stopped; counted "
            "as cancelled, in neither the good nor the total events of the backup SLO",
            200,
            _rate_limited("cancelled (cancelling twice is no error)", _json_schema("Backup")),
            (404, 409),
        ),
    }


def _cache_operations() -> dict[str, Any]:
    """Redis: the cache."""
    return {
        "getCache": _operation(
            "Read a cached value",
            200,
            _rate_limited("the value", {"application/octet-stream": {"schema": {"type": "string"}}}),
            (400, 404),
        ),
        "putCache": _operation(
            "Write a cached value",
            204,
            _rate_limited("stored"),
            (400, 408, 413),
            parameters=(_query_param("ttl", {"type": "integer", "minimum": 1, "maximum": 2592000}),),
            body={"application/octet-stream": {"schema": {"type": "string", "maxLength": 65536}}},
        ),
    }


def _document_operations() -> dict[str, Any]:
    """MongoDB: the documents."""
    return {
        "createDocument": _operation(
            "Store a JSON document",
            201,
            _rate_limited("stored", _json_schema("DocumentId")),
            (400, 408, 413, 415, 422),
            body=_json_schema("NewDocument"),
        ),
        "getDocument": _operation(
            "One document",
            200,
            _rate_limited("the document", {_JSON: {"schema": {"type": "object"}}}),
            (404,),
        ),
    }


def _operational(summary: str, answers: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """An operational route's GET: its own ``answers`` (no rate limit, no API version) and the
    protocol's problems (:func:`_protocol_problems`)."""
    every = {**answers, **_protocol_problems(answers)}
    return {"summary": summary, "responses": {str(code): every[code] for code in sorted(every)}}


def _operational_get(summary: str, description: str, media_type: str, schema_type: str) -> dict[str, Any]:
    """A GET of the operational routes with one answer, a 200."""
    content = {media_type: {"schema": {"type": schema_type}}}
    return _operational(summary, {200: {"description": description, "content": content}})


def _readiness() -> dict[str, Any]:
    """``/readyz``: 200 when every database answers its ping, 503 naming those that do not."""
    content = {_JSON: {"schema": {"type": "object"}}}
    return _operational(
        "Readiness: a ping of PostgreSQL (through PgBouncer), Redis and MongoDB, each bounded",
        {
            200: {"description": "ready", "content": content},
            503: {
                "description": "not ready: `failing` names the databases, `checks` says why",
                "content": content,
            },
        },
    )


def _operational_operations() -> dict[str, Any]:
    """Health, metrics and this document."""
    return {
        "getHealth": _operational_get(
            "Liveness and breaker states (no database call)", "alive", _JSON, "object"
        ),
        "getReadiness": _readiness(),
        "getMetrics": _operational_get("Prometheus metrics", "exposition", "text/plain", "string"),
        "getOpenapi": _operational_get("This description", "OpenAPI 3.1", _JSON, "object"),
    }


def _problem_schema() -> dict[str, Any]:
    """An RFC 9457 problem document, with the API's extension members."""
    return {
        "type": "object",
        "required": ["type", "title", "status", "detail", "timestamp"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "request_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            "timestamp": {"type": "string", "format": "date-time"},
            "pointer": {
                "type": "string",
                "description": "the RFC 6901 JSON pointer of what the body got wrong",
            },
            "offered": {
                "type": "array",
                "items": {"type": "string"},
                "description": "in a 406: the media types the route answers",
            },
        },
    }


def _schemas() -> dict[str, Any]:
    """The bodies' JSON Schemas."""
    return {
        "Problem": _problem_schema(),
        "NewProject": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"}},
        },
        "Project": {
            "type": "object",
            "required": ["id", "name", "schema", "created_at"],
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "schema": {"type": "string"},
                "created_at": {"type": "string", "format": "date-time"},
            },
        },
        "ProjectPage": {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Project"}}},
        },
        "Backup": {
            "type": "object",
            "required": ["id", "project_id", "status", "created_at"],
            "properties": {
                "id": {"type": "string"},
                "project_id": {"type": "integer"},
                "status": {"enum": ["pending", "running", "done", "failed", "cancelled"]},
                "created_at": {"type": "string", "format": "date-time"},
                "file": {"type": ["string", "null"]},
                "bytes": {"type": ["integer", "null"]},
                "duration_seconds": {"type": ["number", "null"]},
                "error": {"type": ["string", "null"], "description": "pg_dump's last line"},
            },
        },
        "NewDocument": {
            "type": "object",
            "description": "any JSON object without the server's fields: the API gives each "
            "document its id, as 'id'",
            "not": {"anyOf": [{"required": ["_id"]}, {"required": ["id"]}]},
        },
        "DocumentId": {
            "type": "object",
            "required": ["id"],
            "properties": {"id": {"type": "string"}},
        },
    }
