"""What a client sends that the API cannot take as meant is refused, naming what and where: a
body not sent as JSON (415, with Accept-Post), a JSON object naming a member twice or a query
parameter or an ``API-Version`` or ``Authorization`` header given twice (400: which one counts is
the parser's guess), an absolute-form target naming another authority than ``Host`` (400), a
document carrying
the server's own fields (422), a head or a body that never comes whole (408 after the head or
the body timeout) and a
client gone before its body is whole (a 400 in the metrics, no traceback in the log). Against
the real API on the real databases; nothing is stored."""

from __future__ import annotations

import json
import select
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pymongo
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sloctl import contract
from sloctl.servers import MongoServer
from sloctl.testbed_runner import ApiServer
from tests.fixtures.servers import api_fixture
from tests.security.api import is_problem
from tests.waiting import wait_until

pytestmark = pytest.mark.servers


@pytest.fixture
def client(platform_api: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform_api.url, timeout=15) as c:
        yield c


def _name() -> str:
    return f"p{uuid.uuid4().hex[:12]}"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"name": "%s"}'),  # JSON in it: parsed and provisioned before
        ("application/x-www-form-urlencoded", b"name=%s"),
        (None, b'{"name": "%s"}'),  # no Content-Type at all, with a body
        ("application/json; charset=iso-8859-1", b'{"name": "%s"}'),  # JSON is UTF-8
        ("application/jsonx", b'{"name": "%s"}'),
    ],
)
def test_a_project_body_not_sent_as_json_is_a_415_and_provisions_nothing(
    client: httpx.Client, content_type: str | None, body: bytes
) -> None:
    name = _name()
    headers = {"content-type": content_type} if content_type else {}
    r = client.post("/v1/projects", content=body.replace(b"%s", name.encode()), headers=headers)
    assert r.status_code == 415 and is_problem(r), (r.status_code, r.text)
    assert r.json()["type"].endswith("/unsupported-media-type")
    detail = r.json()["detail"]
    assert (repr(content_type) if content_type else "no Content-Type") in detail, detail
    assert "application/json" in detail
    assert r.headers["Accept-Post"] == "application/json"
    # nothing was provisioned: the same name sent as JSON is new
    assert client.post("/v1/projects", json={"name": name}).status_code == 201


@pytest.mark.parametrize("end", ["\n", "\r\n", " "])
def test_a_project_name_with_a_line_break_or_blank_after_it_is_a_400_and_provisions_nothing(
    client: httpx.Client, end: str
) -> None:
    """Python's ``$`` matches before a last newline: ``p…\\n`` passed the name's pattern, and
    PostgreSQL got a schema whose name ends in a newline."""
    name = _name()
    r = client.post("/v1/projects", json={"name": name + end})
    assert r.status_code == 400 and is_problem(r), (r.status_code, r.text)
    assert "name must match" in r.json()["detail"]
    assert client.post("/v1/projects", json={"name": name}).status_code == 201


def test_a_document_body_not_sent_as_json_is_a_415(client: httpx.Client) -> None:
    r = client.post("/v1/documents", content=b'{"a": 1}', headers={"content-type": "text/plain"})
    assert r.status_code == 415 and is_problem(r), r.text
    assert "'text/plain'" in r.json()["detail"] and r.headers["Accept-Post"] == "application/json"


def _answer_to_headers_alone(api: ApiServer, headers: str, first_chunk: bytes = b"") -> tuple[int, bytes]:
    """The status, headers (in lower case) and body of the API's answer to a POST of which
    only ``headers`` (and ``first_chunk``) were sent, the rest of its body never: the answer
    can only come from what the headers say, not from reading the body."""
    with socket.create_connection((api.host, api.port), timeout=10) as conn:
        conn.sendall(
            f"POST /v1/projects HTTP/1.1\r\nHost: {api.host}\r\n{headers}\r\n".encode() + first_chunk
        )
        reader = conn.makefile("rb")  # each read bounded by the socket's timeout
        status = int(reader.readline().split()[1])
        lines = []
        for _ in range(100):  # an answer's header lines, bounded
            line = reader.readline()
            if line in (b"\r\n", b""):
                break
            lines.append(line)
        head = b"".join(lines).lower()
        length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
        return status, head + reader.read(length)


@pytest.mark.parametrize("content_type", ["text/plain", "application/json"])
def test_a_body_declared_past_64_kib_is_a_413_whatever_its_type_and_is_never_read(
    platform_api: ApiServer, content_type: str
) -> None:
    """A 100 MiB body sent as text/plain was a 415: the client fixed its type and got a 413
    next, where a proxy in front (nginx, HAProxy) answers the 413 first."""
    headers = f"Content-Type: {content_type}\r\nContent-Length: {100 * 2**20}\r\n"
    status, rest = _answer_to_headers_alone(platform_api, headers)
    assert status == 413 and b"too-large" in rest, rest


def test_a_streamed_body_of_the_wrong_type_is_a_415_before_it_is_read(platform_api: ApiServer) -> None:
    """Its size is only known by reading it: the type is judged first, from the headers."""
    headers = "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
    status, rest = _answer_to_headers_alone(platform_api, headers, b"4\r\nabcd\r\n")
    assert status == 415 and b"accept-post: application/json" in rest, rest


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        'Application/JSON; Charset="UTF-8"',
        "application/vnd.platform+json",
    ],
)
def test_json_and_structured_json_media_types_are_taken(client: httpx.Client, content_type: str) -> None:
    name = _name()
    r = client.post(
        "/v1/projects", content=f'{{"name": "{name}"}}'.encode(), headers={"content-type": content_type}
    )
    assert r.status_code == 201, r.text


def test_an_empty_body_without_a_content_type_is_the_400_of_a_missing_object(client: httpx.Client) -> None:
    r = client.post("/v1/projects")
    assert r.status_code == 400 and is_problem(r), r.text


@pytest.mark.parametrize(
    ("path", "body", "key", "pointer"),
    [
        ("/v1/projects", b'{"name": "%s", "name": "b"}', "name", "/name"),
        ("/v1/documents", b'{"a": [1, {"k": 1, "k": 2}]}', "k", "/a/1/k"),
        ("/v1/documents", b'{"x": {"a/b~": 1, "a/b~": 2}}', "a/b~", "/x/a~1b~0"),
    ],
)
def test_a_member_named_twice_is_a_400_naming_it_and_its_pointer(
    client: httpx.Client, path: str, body: bytes, key: str, pointer: str
) -> None:
    name = _name()
    r = client.post(
        path, content=body.replace(b"%s", name.encode()), headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and is_problem(r), (r.status_code, r.text)
    assert r.json()["pointer"] == pointer
    assert f"{key!r} twice (at {pointer})" in r.json()["detail"], r.json()["detail"]
    if path == "/v1/projects":  # the first name was not taken for the last
        assert client.post("/v1/projects", json={"name": name}).status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "parameter"),
    [
        ("GET", "/v1/projects?limit=5&limit=50", "limit"),
        ("GET", "/v1/projects?limit=5&limit=5", "limit"),
        ("GET", "/v1/projects?offset=0&offset=10", "offset"),
        ("GET", "/v1/projects?cursor=a&cursor=b", "cursor"),
        ("PUT", "/v1/cache/twice?ttl=5&ttl=60", "ttl"),
    ],
)
def test_a_query_parameter_given_twice_is_a_400_naming_it(
    client: httpx.Client, method: str, path: str, parameter: str
) -> None:
    r = client.request(method, path, content=b"v" if method == "PUT" else None)
    assert r.status_code == 400 and is_problem(r), (r.status_code, r.text)
    assert r.json()["detail"] == f"query parameter {parameter!r} is given 2 times; give it once"
    if method == "PUT":
        assert client.get("/v1/cache/twice").status_code == 404  # nothing was stored


@pytest.mark.parametrize("field", ["_id", "id"])
def test_a_document_with_the_servers_id_field_is_a_422_naming_it_and_nothing_is_stored(
    client: httpx.Client, mongodb_server: MongoServer, field: str
) -> None:
    marker = uuid.uuid4().hex
    r = client.post("/v1/documents", json={field: "mine", "marker": marker})
    assert r.status_code == 422 and is_problem(r), (r.status_code, r.text)
    assert f"field {field!r} is the server's" in r.json()["detail"]
    mongo: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(mongodb_server.uri, serverSelectionTimeoutMS=5000) as mongo:
        assert mongo.platform.documents.count_documents({"marker": marker}) == 0


def test_an_id_field_inside_a_document_is_the_clients_and_comes_back(client: httpx.Client) -> None:
    r = client.post("/v1/documents", json={"line": {"_id": 7, "id": "x"}})
    assert r.status_code == 201, r.text
    doc_id = r.json()["id"]
    assert client.get(f"/v1/documents/{doc_id}").json() == {"id": doc_id, "line": {"_id": 7, "id": "x"}}


#: The body and head timeouts of the API that the tests below wait out (the defaults are 10 s).
BODY_TIMEOUT = 1.0
HEAD_TIMEOUT = 1.0
#: What these tests wait for an answer at most: only a failure takes that long.
ANSWER_TIMEOUT = 10.0
#: How much earlier than this process' clock says the API's timers may fire: uvloop (libuv)
#: reckons a timer from the loop's clock as read at the start of its current iteration, so it
#: fires up to that iteration's age early (0.12 ms seen, 1.0 s less 0.00012).
TIMER_SLACK = 0.05
short_body_api = api_fixture("short-timeouts", {"body-timeout": BODY_TIMEOUT, "head-timeout": HEAD_TIMEOUT})


def _start_post(api: ApiServer, headers: str, first_chunk: bytes) -> socket.socket:
    conn = socket.create_connection((api.host, api.port), timeout=ANSWER_TIMEOUT)
    conn.sendall(f"POST /v1/projects HTTP/1.1\r\nHost: {api.host}\r\n{headers}\r\n".encode() + first_chunk)
    return conn


@pytest.mark.parametrize(
    ("headers", "first_chunk"),
    [
        ("Content-Type: application/json\r\nContent-Length: 100\r\n", b'{"name": "x"'),  # 12 of 100
        ("Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n", b'5\r\n{"nam\r\n'),
    ],
    ids=["shorter-than-declared", "chunked-never-ending"],
)
def test_a_body_that_never_comes_whole_is_a_408_after_the_body_timeout_and_the_connection_closes(
    short_body_api: ApiServer, headers: str, first_chunk: bytes
) -> None:
    """Each was waited on for ever (a client gone quiet held its request and connection)."""
    started = time.monotonic()
    with _start_post(short_body_api, headers, first_chunk) as conn:
        answer = conn.makefile(
            "rb"
        ).read()  # to the server's close; each read bounded by the socket's timeout
    waited = time.monotonic() - started
    status = int(answer.split(b" ", 2)[1])
    assert status == 408 and b"/body-timeout" in answer, answer
    assert b"connection: close" in answer.lower()  # the rest of a body is not read as a request
    assert BODY_TIMEOUT - TIMER_SLACK <= waited < ANSWER_TIMEOUT


def _read_to_close(conn: socket.socket) -> bytes:
    """What the server sends until it closes ``conn`` (each read bounded by its timeout: a
    server that holds the connection open fails the test with a timeout)."""
    return conn.makefile("rb").read()


@pytest.mark.parametrize(
    "sent",
    [b"GET /v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"GET /v1/proj"],
    ids=["headers-never-ending", "request-line-cut"],
)
def test_a_head_that_never_comes_whole_is_a_408_after_the_head_timeout(
    short_body_api: ApiServer, sent: bytes
) -> None:
    """Half a request held its connection for ever (uvicorn times no head)."""
    started = time.monotonic()
    with socket.create_connection((short_body_api.host, short_body_api.port), timeout=ANSWER_TIMEOUT) as conn:
        conn.sendall(sent)
        answer = _read_to_close(conn)
    waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ") and b"connection: close" in answer.lower(), answer
    assert HEAD_TIMEOUT - TIMER_SLACK <= waited < ANSWER_TIMEOUT, waited


def test_a_dripped_head_is_cut_at_the_head_timeout_from_the_connections_opening(
    short_body_api: ApiServer,
) -> None:
    """Slowloris: a header byte every fifth of the timeout was never idle long enough for any
    timer; the head's clock runs from the connection's opening."""
    started = time.monotonic()
    with socket.create_connection((short_body_api.host, short_body_api.port), timeout=ANSWER_TIMEOUT) as conn:
        conn.sendall(b"GET /v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: ")
        answer = b""
        for _ in range(int(ANSWER_TIMEOUT / (HEAD_TIMEOUT / 5))):  # bounded: a byte a fifth of it
            if select.select([conn], [], [], HEAD_TIMEOUT / 5)[0]:
                answer = _read_to_close(conn)
                break
            conn.sendall(b"x")
    waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert HEAD_TIMEOUT - TIMER_SLACK <= waited < 3 * HEAD_TIMEOUT, waited


def test_a_connection_that_sends_nothing_is_closed_at_the_head_timeout(short_body_api: ApiServer) -> None:
    started = time.monotonic()
    with socket.create_connection((short_body_api.host, short_body_api.port), timeout=ANSWER_TIMEOUT) as conn:
        assert _read_to_close(conn) == b""
    waited = time.monotonic() - started
    assert HEAD_TIMEOUT - TIMER_SLACK <= waited < ANSWER_TIMEOUT, waited


def test_a_slow_head_leaves_a_kept_alive_connections_next_request_alone(short_body_api: ApiServer) -> None:
    """The head's clock stops when a head is whole: a kept-alive connection's second request,
    sent after the head timeout has passed since the connection opened, is answered."""
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection((short_body_api.host, short_body_api.port), timeout=ANSWER_TIMEOUT) as conn:
        replies = conn.makefile("rb")
        for _ in range(2):
            conn.sendall(request)
            assert replies.readline().startswith(b"HTTP/1.1 200 ")
            headers = list(iter(replies.readline, b"\r\n"))  # to the empty line
            length = next(int(h.split(b":")[1]) for h in headers if h.lower().startswith(b"content-length:"))
            replies.read(length)
            # uvicorn's keep-alive (5 s) outlasts the head timeout here; the second request must
            # find the head's clock stopped at the first head's end, not run out
            time.sleep(HEAD_TIMEOUT * 1.5)  # real timer: the head timeout's, the thing tested


def _answered(client: httpx.Client, code: str) -> float:
    """POST /v1/projects requests answered ``code``, from the API's request counter."""
    return sum(
        s.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for s in family.samples
        if s.name == contract.API_REQUESTS.name
        and s.labels["route"] == "/v1/projects"
        and s.labels["method"] == "POST"
        and s.labels["code"] == code
    )


def test_a_client_gone_before_its_body_is_whole_is_counted_a_400_and_logs_no_traceback(
    short_body_api: ApiServer,
) -> None:
    """It was a 500 in the request counter (an availability SLO's error) and a traceback of
    starlette's ClientDisconnect in the API's log."""
    with httpx.Client(base_url=short_body_api.url, timeout=ANSWER_TIMEOUT) as client:
        before = _answered(client, "400"), _answered(client, "500")
        _start_post(short_body_api, "Content-Type: application/json\r\nContent-Length: 100\r\n", b"{").close()
        wait_until(
            lambda: _answered(client, "400") > before[0],
            timeout=ANSWER_TIMEOUT,
            what="the abandoned request counted as answered 400",
        )
        assert _answered(client, "500") == before[1]
    assert "Traceback" not in short_body_api.logfile.read_text()


@pytest.mark.parametrize("path", ["/v1/projects", "/v1/documents"])
def test_a_json_body_with_a_content_coding_is_a_415_with_accept_encoding_and_nothing_is_stored(
    client: httpx.Client, mongodb_server: MongoServer, path: str
) -> None:
    """The API decodes no content coding: a body said to be gzip was parsed as it came (and
    provisioned or stored)."""
    name = _name()
    r = client.post(
        path,
        content=f'{{"name": "{name}"}}'.encode(),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert r.status_code == 415 and is_problem(r), (r.status_code, r.text)
    assert "Content-Encoding 'gzip'" in r.json()["detail"], r.json()["detail"]
    assert r.headers["Accept-Encoding"] == "identity" and r.headers["Accept-Post"] == "application/json"
    if path == "/v1/projects":  # nothing was provisioned: the same name sent unencoded is new
        assert client.post("/v1/projects", json={"name": name}).status_code == 201
    mongo: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(mongodb_server.uri, serverSelectionTimeoutMS=5000) as mongo:
        assert mongo.platform.documents.count_documents({"name": name}) == 0


def _spellings(number: int) -> list[str]:
    """Other ways ``int()`` reads ``number``, each percent-encoded for a path."""
    text = str(number)
    fullwidth = "".join(chr(0xFF10 + int(d)) for d in text)  # '１２'
    return [f"0{text}", f"00{text}", f"+{text}", f"%20{text}", f"{text}%20", f"{text[0]}_{text[1:] or '0'}",
            quote(fullwidth), quote("".join(chr(0x0660 + int(d)) for d in text))]  # fmt: skip


def test_an_id_in_a_path_has_one_spelling_the_others_are_answered_like_any_malformed_id(
    client: httpx.Client,
) -> None:
    """``/v1/projects/01`` was project 1 (``int()`` also reads '+1', ' 1', '1_0' and '１'): two
    URLs for one resource, two cache entries, two audit lines."""
    project_id = 0
    for _ in range(10):  # to a two-digit id, which has a spelling with '_' in it (1_0)
        created = client.post("/v1/projects", json={"name": _name()})
        assert created.status_code == 201, created.text
        project_id = created.json()["id"]
        if project_id >= 10:
            break
    malformed = client.get("/v1/projects/abc")
    assert malformed.status_code == 404 and is_problem(malformed), malformed.text
    for spelling in _spellings(project_id):
        for method in ("GET", "DELETE"):
            r = client.request(method, f"/v1/projects/{spelling}")
            assert (r.status_code, r.json()["type"]) == (404, malformed.json()["type"]), (spelling, r.text)
        r = client.post(f"/v1/projects/{spelling}/backups")
        assert (r.status_code, r.json()["type"]) == (404, malformed.json()["type"]), (spelling, r.text)
    assert client.get(f"/v1/projects/{project_id}").status_code == 200  # nothing deleted, one spelling
    for query in ("limit=05", "limit=+5", "offset=00"):
        r = client.get(f"/v1/projects?{query}")
        assert r.status_code == 400 and is_problem(r), (query, r.text)


def _raw(api: ApiServer, head: bytes) -> bytes:
    """The API's whole answer to a request of ``head`` (request line and headers, no body),
    read to the close that ``Connection: close`` asks for; each read bounded by the timeout."""
    with socket.create_connection((api.host, api.port), timeout=ANSWER_TIMEOUT) as conn:
        conn.sendall(head + b"Connection: close\r\n\r\n")
        return conn.makefile("rb").read()


@pytest.mark.parametrize(
    ("version", "hosts", "status"),
    [
        ("1.1", ["127.0.0.1", "evil.invalid"], 400),  # two lines: which one counts is a guess
        ("1.1", ["127.0.0.1", "127.0.0.1"], 400),
        ("1.0", ["127.0.0.1", "evil.invalid"], 400),
        ("1.1", [], 400),  # HTTP/1.1 requires it
        ("1.1", ["a b"], 400),
        ("1.1", ["a/b"], 400),
        ("1.1", ["127.0.0.1:8x"], 400),
        ("1.1", ["[::1]:8000"], 200),
        ("1.1", ["127.0.0.1:8000"], 200),
        ("1.1", [""], 200),  # an empty Host is what a URI without an authority sends
        ("1.0", [], 200),  # HTTP/1.0 did not have it
    ],
)
def test_a_request_with_no_one_valid_host_is_a_400_on_every_route(
    platform_api: ApiServer, version: str, hosts: list[str], status: int
) -> None:
    """RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without ``Host``, to any
    with more than one ``Host`` line or an invalid one; uvicorn's httptools protocol answered
    each (h11 refuses the first two only)."""
    lines = "".join(f"Host: {h}\r\n" for h in hosts)
    for path in ("/healthz", "/v1/cache/host-check"):
        answer = _raw(platform_api, f"GET {path} HTTP/{version}\r\n{lines}".encode())
        got = int(answer.split(b" ", 2)[1])
        if status == 400:
            assert got == 400 and b"application/problem+json" in answer, answer
            assert b"/invalid-host" in answer and b"x-request-id" in answer.lower(), answer
        else:  # /v1/cache/host-check was never written: its 404 is the route's own answer
            assert got == (200 if path == "/healthz" else 404), answer


def _problem_of(answer: bytes) -> tuple[int, dict[str, Any]]:
    """The status of a raw ``answer`` and its problem+json body (an empty dict for another body)."""
    head, _, body = answer.partition(b"\r\n\r\n")
    is_json = b"application/problem+json" in head.lower()
    return int(answer.split(b" ", 2)[1]), json.loads(body) if is_json else {}


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        # the middleware took the last of each: which one counts was its guess
        (["API-Version: 2025-06-01", "API-Version: 2026-11-01"], 400),
        (["API-Version: 2026-11-01", "api-version: 2026-11-01"], 400),
        (["Authorization: Bearer a", "Authorization: Bearer b"], 400),
        (["API-Version: 2026-11-01", "Accept: application/json", "Accept: */*"], 200),
    ],
)
def test_a_header_the_api_reads_once_given_twice_is_a_400_naming_it(
    platform_api: ApiServer, lines: list[str], status: int
) -> None:
    head = "".join(f"{line}\r\n" for line in lines)
    name = lines[0].split(":")[0]
    for path in ("/healthz", "/v1/projects"):
        got, body = _problem_of(_raw(platform_api, f"GET {path} HTTP/1.1\r\nHost: a\r\n{head}".encode()))
        assert got == status, (path, got, body)
        if status == 400:
            assert body["type"].endswith("/invalid-request") and body["request_id"], body
            assert body["detail"] == f"{name} is given 2 times; give it once", body


@pytest.mark.parametrize(
    ("target", "host", "status"),
    [
        ("http://other.example/v1/projects", "{api}", 400),  # answered as this API's own before
        ("http://{api}/v1/projects", "other.example", 400),
        ("http://127.0.0.1:1/v1/projects", "127.0.0.1:{port}", 400),  # another port: another origin
        ("http://user@{api}/v1/projects", "{api}", 400),  # userinfo: RFC 9110 §4.2.4 calls it an error
        ("http://{api}/v1/projects", "{api}", 200),
        ("HTTP://{API}/v1/projects", "{api}", 200),  # scheme and host names have no case
        ("http://other.example/v1/projects", "other.example", 200),  # no name is resolved
    ],
)
def test_an_absolute_form_target_is_a_400_unless_its_authority_is_the_host_header(
    platform_api: ApiServer, target: str, host: str, status: int
) -> None:
    """RFC 9112 §3.2.2: an absolute-form target names the authority the request is for; uvicorn
    dropped it, and ``GET http://other.example/v1/projects`` was answered as this API's."""
    api = f"{platform_api.host}:{platform_api.port}"
    fill = {"{api}": api, "{API}": api.upper(), "{port}": str(platform_api.port)}
    for key, value in fill.items():
        target, host = target.replace(key, value), host.replace(key, value)
    got, body = _problem_of(_raw(platform_api, f"GET {target} HTTP/1.1\r\nHost: {host}\r\n".encode()))
    assert got == status, (got, body)
    if status == 400:
        assert body["type"].endswith("/invalid-host") and body["request_id"], body
        assert "the request target" in body["detail"], body


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/v1/projects", "application/xml"),
        ("/v1/projects", "text/html, application/xhtml+xml"),
        ("/v1/projects", "application/json;q=0"),
        ("/v1/projects", "application/json;q=0, application/problem+json;q=0, text/*"),
        ("/v1/projects", "json"),  # no media range at all
        ("/v1/cache/negotiated", "application/json"),  # the cache answers octet-stream
        ("/metrics", "application/json"),
    ],
)
def test_an_accept_that_takes_nothing_the_route_answers_is_a_406_listing_what_it_offers(
    client: httpx.Client, path: str, accept: str
) -> None:
    r = client.get(path, headers={"accept": accept})
    assert r.status_code == 406 and is_problem(r), (r.status_code, r.text)
    offered = r.json()["offered"]
    expected = {
        "/v1/projects": ["application/json", "application/problem+json"],
        "/v1/cache/negotiated": ["application/octet-stream", "application/problem+json"],
        "/metrics": ["text/plain"],
    }[path]
    assert offered == expected and all(t in r.json()["detail"] for t in offered), r.text


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        "application/*",
        "application/json",
        "Application/JSON",
        "application/problem+json",
        "application/xml, application/json;q=0.5",
        "application/xml;q=1, */*;q=0.1",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",  # a browser's
        "application/json; charset=utf-8",
        "application/xml,, */*;q=0.1",  # an empty element is skipped
    ],
)
def test_an_accept_that_takes_json_keeps_working(client: httpx.Client, accept: str | None) -> None:
    request = client.build_request("GET", "/v1/projects", headers={"accept": accept or "*/*"})
    if accept is None:  # httpx sends */* unless told: a request without the header at all
        del request.headers["accept"]
    r = client.send(request)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json", r.text


@pytest.mark.parametrize(("version", "status"), [("2.0", 505), ("1.2", 400), ("3.0", 400), ("9.9", 400)])
def test_a_request_line_of_another_http_version_is_a_client_error(
    platform_api: ApiServer, version: str, status: int
) -> None:
    """``GET /healthz HTTP/2.0`` was answered 200, as HTTP/1.1: httptools (llhttp) takes 2.0
    (and refuses the others with uvicorn's own 400, before the app)."""
    host = f"Host: {platform_api.host}\r\n"
    for path in ("/healthz", "/v1/projects"):
        answer = _raw(platform_api, f"GET {path} HTTP/{version}\r\n{host}".encode())
        assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer
        if status == 505:
            assert b"/http-version-not-supported" in answer and b"x-request-id" in answer.lower(), answer
            assert b"HTTP/2.0 is not served; this API speaks HTTP/1.1 and HTTP/1.0" in answer, answer
