"""``/openapi.json``: a valid OpenAPI 3.1 document (openapi-spec-validator) that describes
exactly the routes the API serves, and whose problem schema the API's problems meet."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import httpx
import jsonschema
import psycopg
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from sloctl import contract
from sloctl.servers import PostgresServer
from sloctl.testbed_runner import ApiServer
from testbed.config import API_VERSION
from testbed.openapi import openapi_document
from testbed.protocol import MAX_HEAD
from testbed.routes import ROUTES
from tests.fixtures.servers import api_fixture
from tests.waiting import wait_until

pytestmark = pytest.mark.servers

METHODS = {"get", "post", "put", "delete", "patch"}


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    validate(doc, cls=OpenAPIV31SpecValidator)


def test_the_document_describes_every_route_and_only_those() -> None:
    described = {
        (path, method.upper())
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method in METHODS
    }
    served = {(r.path, m) for r in ROUTES for m in (r.methods or ()) if m != "HEAD"}
    assert described == served


def test_each_operation_is_described_under_the_contracts_operation_id() -> None:
    described = {
        (method.upper(), path): operation["operationId"]
        for path, item in openapi_document()["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }
    assert described == {(r.method, r.path): r.operation_id for r in contract.ROUTES}


def test_the_served_document_is_the_same_and_problems_meet_its_schema(platform_api: ApiServer) -> None:
    with httpx.Client(base_url=platform_api.url, timeout=10) as c:
        served = c.get("/openapi.json")
        assert served.status_code == 200
        doc = served.json()
        assert doc == openapi_document()
        problem = c.get("/v1/projects/424242424242").json()
    jsonschema.validate(problem, doc["components"]["schemas"]["Problem"])


def _declared(doc: dict[str, Any], operation_id: str, response: httpx.Response) -> None:
    """``response`` is one the document declares for ``operation_id``: its status, its media
    type, its body against the declared schema, and every header declared required."""
    route = contract.route(operation_id)
    declared = doc["paths"][route.path][route.method.lower()]["responses"]
    assert str(response.status_code) in declared, (operation_id, response.status_code, response.text)
    answer = declared[str(response.status_code)]
    if "$ref" in answer:
        answer = doc["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    media_type = response.headers["content-type"].split(";")[0]
    assert media_type in answer["content"], (operation_id, media_type)
    # the schema inside a copy of the document's components, so that its $refs resolve
    schema = {**answer["content"][media_type]["schema"], "components": doc["components"]}
    jsonschema.validate(response.json(), schema)
    for name, header in answer.get("headers", {}).items():
        assert not header.get("required") or name in response.headers, (operation_id, name)


def test_the_new_client_errors_and_cancellations_meet_the_document(
    platform_api: ApiServer, postgres_server: PostgresServer
) -> None:
    with httpx.Client(base_url=platform_api.url, timeout=10) as c:
        doc = c.get("/openapi.json").json()
        text = {"content-type": "text/plain"}
        _declared(doc, "createProject", c.post("/v1/projects", content=b'{"name": "x"}', headers=text))
        _declared(doc, "createDocument", c.post("/v1/documents", content=b"{}", headers=text))
        twice = {"content-type": "application/json"}
        _declared(doc, "createDocument", c.post("/v1/documents", content=b'{"a": 1, "a": 2}', headers=twice))
        _declared(doc, "listProjects", c.get("/v1/projects?limit=1&limit=2"))
        _declared(doc, "putCache", c.put("/v1/cache/k?ttl=1&ttl=2", content=b"v"))
        _declared(doc, "createDocument", c.post("/v1/documents", json={"_id": 1}))
        project = c.post("/v1/projects", json={"name": "openapi_cancel"}).json()
        backups = f"/v1/projects/{project['id']}/backups"
        with psycopg.connect(postgres_server.admin_dsn) as locker:
            locker.execute("LOCK TABLE project_openapi_cancel.items IN ACCESS EXCLUSIVE MODE")
            location = c.post(backups).headers["Location"]
            _declared(doc, "cancelBackup", c.post(f"{location}/cancel"))
            _declared(doc, "getBackup", c.get(location))
            locker.rollback()
        done = c.post(backups).headers["Location"]
        wait_until(lambda: c.get(done).json()["status"] == "done", timeout=30, what="the backup done")
        _declared(doc, "cancelBackup", c.post(f"{done}/cancel"))
        _declared(doc, "cancelBackup", c.post(f"{backups}/0123456789abcdef/cancel"))


#: a value of each path template parameter, so that every operation's route is the one reached
SAMPLE = {"project_id": "1", "key": "k", "backup_id": "0123456789abcdef", "document_id": "0" * 24}
#: requests every operation answers as HTTP, before its route reads them: the request line's
#: HTTP version, the header lines, and the status (the 406: an operation that answers a body;
#: the 408 and 431: a head never whole, sent to the API of a short head timeout, or cut one byte
#: past the bound, so that nothing sent lies unread when the API closes)
PROTOCOL = {
    "two Host lines": ("1.1", ["Host: a", "Host: b"], 400),
    "an absolute-form target of another authority": ("1.1", ["Host: a"], 400),
    "two API-Version lines": (
        "1.1",
        ["Host: a", f"API-Version: {API_VERSION}", f"API-Version: {API_VERSION}"],
        400,
    ),
    "HTTP/2.0": ("2.0", ["Host: a"], 505),
    "an Accept of nothing it answers": ("1.1", ["Host: a", "Accept: application/x-nothing"], 406),
    "a head too slow": ("1.1", ["Host: a", "X-Never-Ends: a"], 408),
    "a head too large": ("1.1", ["Host: a", "X-Big: " + "a" * MAX_HEAD], 431),
}
#: The head timeout of the API the 408 is awaited from (the default is 10 s, a wait per operation).
HEAD_TIMEOUT = 1
short_head_api = api_fixture("openapi-short-head", {"head-timeout": HEAD_TIMEOUT})


def _send(api: ApiServer, head: str, status: int) -> socket.socket:
    """A connection to ``api`` that sent the request ``head`` (request line and headers): whole,
    without a body and asking for the close, or, for a 408 or 431, never whole (cut one byte past
    the bound for the 431)."""
    conn = socket.create_connection((api.host, api.port), timeout=30)
    if status == 408:
        conn.sendall(head.encode())
    elif status == 431:
        conn.sendall(head.encode()[: MAX_HEAD + 1])
    else:
        conn.sendall(f"{head}Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
    return conn


def _raw_response(conn: socket.socket) -> httpx.Response:
    """The answer on ``conn``, read to the API's close (each read bounded by the socket's timeout)."""
    answer = conn.makefile("rb").read()
    top, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = top.decode("latin-1").split("\r\n")
    headers = [(name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in lines)]
    return httpx.Response(int(status.split()[1]), headers=headers, content=body)


@pytest.mark.parametrize("case", list(PROTOCOL))
def test_every_operation_declares_the_problems_of_the_protocol_it_answers(
    request: pytest.FixtureRequest, case: str
) -> None:
    """The 400 of a Host or a header given twice (``invalid-host``, ``invalid-request``) and the
    505 of another HTTP version were answered by every operation and declared by none, the 400 by
    a few for their parameters alone; the 406, by the /v1/ operations alone; the 408 and 431 of a
    head, by none, and in plain text. Every operation's request is sent before any answer is
    read, so that the 408s come in one head timeout."""
    version, lines, status = PROTOCOL[case]
    api: ApiServer = request.getfixturevalue("short_head_api" if status == 408 else "platform_api")
    doc = openapi_document()
    sent: list[tuple[str, socket.socket]] = []
    with contextlib.ExitStack() as connections:
        for route in contract.ROUTES:
            responses = doc["paths"][route.path][route.method.lower()]["responses"]
            if status == 406 and not any("content" in responses[c] for c in responses if c.startswith("2")):
                continue  # a 204 has nothing to negotiate
            path = route.path.format(**SAMPLE)
            target = f"http://elsewhere.invalid{path}" if "absolute-form" in case else path
            head = "".join(f"{line}\r\n" for line in [f"{route.method} {target} HTTP/{version}", *lines])
            sent.append((route.operation_id, connections.enter_context(_send(api, head, status))))
        for operation_id, conn in sent:
            response = _raw_response(conn)
            assert response.status_code == status, (operation_id, response.text)
            _declared(doc, operation_id, response)
