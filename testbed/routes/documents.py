"""Documents on MongoDB."""

from __future__ import annotations

from bson import ObjectId
from bson import encode as bson_encode
from bson.errors import InvalidDocument, InvalidId
from starlette.requests import Request
from starlette.responses import Response

from ..dependencies import ClientProblem
from .common import (
    MAX_INT64,
    audited,
    deps_of,
    guarded,
    json_response,
    not_found,
    read_json_object,
    unprocessable,
)

__all__ = ["create_document", "get_document"]


#: Documents nest at most this deep (MongoDB refuses more than 100 levels; ours are shallow).
MAX_DEPTH = 32


async def create_document(request: Request) -> Response:
    data = await read_json_object(request)
    if isinstance(data, Response):
        return data
    invalid = _server_field(data) or _document_problem(data)
    if invalid is None:
        try:
            bson_encode(data)  # BSON's own encoder has the last word
        except (InvalidDocument, OverflowError) as exc:
            invalid = str(exc)
        except UnicodeEncodeError:
            # A JSON escape of half a UTF-16 pair ("\ud800") parses to a string that has no UTF-8.
            invalid = "strings and field names must be Unicode: a \\uD800-\\uDFFF escape needs its pair"
    if invalid is not None:
        return unprocessable(invalid, request.url.path)

    async def run() -> Response:
        with audited(request, "mongodb", "insert", '{"insert": "documents"}', "documents", "creation"):
            result = await deps_of(request).mongo.platform.documents.insert_one(dict(data))
        doc_id = str(result.inserted_id)
        return json_response({"id": doc_id}, 201, {"Location": f"/v1/documents/{doc_id}"})

    return await guarded(request, "mongodb", run)


async def get_document(request: Request) -> Response:
    try:
        oid = ObjectId(request.path_params["document_id"])
    except (InvalidId, TypeError):
        return not_found("document", request.url.path)

    async def run() -> Response:
        with audited(
            request, "mongodb", "find", '{"find": "documents", "filter": {"_id": "%s"}}', "documents"
        ):
            doc = await deps_of(request).mongo.platform.documents.find_one({"_id": oid})
        if doc is None:
            raise ClientProblem(404, "not-found", "Not found", "document does not exist")
        doc["id"] = str(doc.pop("_id"))
        return json_response(doc)

    return await guarded(request, "mongodb", run)


#: Fields of a stored document that are the server's: MongoDB's ``_id`` (the document's id,
#: which the API draws) and ``id``, under which a read gives that id back. A client's own would
#: be lost without a word (the API used to drop ``_id``; a read overwrote ``id``).
SERVER_FIELDS = ("_id", "id")


def _server_field(data: dict[str, object]) -> str | None:
    for name in SERVER_FIELDS:
        if name in data:
            return (
                f"field {name!r} is the server's: the API gives each document its id (the answer's "
                "'id' and Location, and 'id' when it is read); send the document without it"
            )
    return None


def _document_problem(value: object, depth: int = 0) -> str | None:
    """Why MongoDB (or BSON) would refuse ``value``, or None: checked before the call, so that
    the refusal is the client's 422 and not a dependency failure."""
    if depth > MAX_DEPTH:
        return f"documents nest at most {MAX_DEPTH} levels"
    if isinstance(value, dict):
        for key, item in value.items():
            if not key or "\x00" in key or key.startswith("$") or "." in key:
                return f"field name {key!r} is empty, holds a NUL or a '.', or starts with '$'"
            found = _document_problem(item, depth + 1)
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _document_problem(item, depth + 1)
            if found:
                return found
    elif isinstance(value, int) and not isinstance(value, bool) and not -MAX_INT64 - 1 <= value <= MAX_INT64:
        return "integers must fit in 64 bits (-2**63 to 2**63-1)"
    return None
