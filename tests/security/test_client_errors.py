"""Client errors are client errors: what a client gets wrong answers 400, 404, 413 or 422 with
an RFC 9457 body, before any dependency is called, so that it never opens a breaker; every 5xx
is a problem document; bodies and request heads are limited while they stream;
X-Forwarded-For is believed only from a configured proxy. Against a real API on the real databases."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sloctl.testbed_runner import ApiServer
from testbed.config import API_VERSION
from testbed.protocol import MAX_HEAD
from tests.fixtures.servers import Databases, api_fixture
from tests.security.api import breaker_figures, is_problem

pytestmark = pytest.mark.servers


# Plan defaults: a breaker opens on ≥ 50 % failures of ≥ 20 calls in 10 s.
api = api_fixture("client-errors")


@pytest.fixture
def client(api: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=30) as c:
        yield c


def test_integers_out_of_range_never_open_the_mongodb_breaker(client: httpx.Client) -> None:
    before = breaker_figures(client)
    answers = [
        client.post(
            "/v1/documents",
            content=b'{"n": 18446744073709551616}',
            headers={"content-type": "application/json"},
        )
        for _ in range(30)
    ]
    assert {r.status_code for r in answers} == {422}
    assert all(is_problem(r) for r in answers)
    after = breaker_figures(client)
    assert after["state:mongodb"] == 0  # closed
    assert after["failure:mongodb"] == before["failure:mongodb"]
    assert after.get("opened:mongodb", 0) == before.get("opened:mongodb", 0)
    assert client.post("/v1/documents", json={"n": 2**63 - 1}).status_code == 201  # the bound holds


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/documents", b'{"a": ' + b"9" * 5000 + b"}"),  # 5,000 digits
        ("POST", "/v1/documents", b"[" * 20000 + b"]" * 20000),  # 20k deep
        ("POST", "/v1/documents", b'{"a": ' * 120 + b"1" + b"}" * 120),  # deeper than MongoDB takes
        ("POST", "/v1/documents", b'{"a\\u0000b": 1}'),  # a NUL in a key
        ("POST", "/v1/documents", b'{"$where": "1"}'),  # an operator as a field
        ("POST", "/v1/documents", b'{"a.b": 1}'),
        ("POST", "/v1/documents", b'{"a": -9223372036854775809}'),
        ("POST", "/v1/documents", b"\xff\xfe not utf-8"),
        ("POST", "/v1/documents", b'{"a": "\\ud800"}'),  # half a UTF-16 pair: no UTF-8 for BSON
        ("POST", "/v1/documents", b'{"\\udc00": 1}'),
        ("POST", "/v1/documents", b'{"a": NaN}'),  # not JSON: it would be served back as such
        ("POST", "/v1/documents", b'{"a": -Infinity}'),
        ("POST", "/v1/documents", b'{"a": 1e999}'),  # beyond a double: Infinity once parsed
        ("POST", "/v1/projects", b'{"name": "ok", "x": NaN}'),
        ("POST", "/v1/projects", b'{"name": ' + b"1" * 5000 + b"}"),
        ("GET", "/v1/projects/%C2%B2", b""),  # '²': str.isdigit() says yes, int() says no
        ("GET", "/v1/projects/%D9%A1%D9%A2", b""),  # Arabic-Indic digits
        ("POST", "/v1/projects/%C2%B2/backups", b""),
        ("GET", "/v1/projects/99999999999999999999", b""),
        ("PUT", "/v1/cache/k1?ttl=%C2%B2", b"v"),
        ("PUT", "/v1/cache/k1?ttl=%D9%A1", b"v"),
        ("PUT", "/v1/cache/k%00x", b"v"),
        ("GET", "/v1/projects?limit=%C2%B2", b""),
        ("GET", "/v1/projects?limit=%D9%A1%D9%A0", b""),
        ("GET", f"/v1/projects?cursor={_cursor('id:²')}", b""),
        ("GET", f"/v1/projects?cursor={_cursor('id:' + '9' * 30)}", b""),
        ("GET", "/v1/documents/%D9%A1%D9%A2", b""),
    ],
)
def test_what_the_client_got_wrong_is_a_4xx_problem_and_no_dependency_failure(
    client: httpx.Client, method: str, path: str, body: bytes
) -> None:
    before = breaker_figures(client)
    response = client.request(
        method, path, content=body or None, headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 404, 413, 422), (response.status_code, response.text[:300])
    assert is_problem(response), response.headers.get("content-type")
    after = breaker_figures(client)
    assert {k: v for k, v in after.items() if k.startswith(("failure", "timeout"))} == {
        k: v for k, v in before.items() if k.startswith(("failure", "timeout"))
    }


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_200_mb_body_is_refused_while_it_streams(api: ApiServer) -> None:
    peak_before = _peak_rss_kib(api.pid)
    chunk = b"x" * (1 << 20)
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(200):
            sent += len(chunk)
            yield chunk

    with httpx.Client(base_url=api.url, timeout=60) as c:
        try:
            response: httpx.Response | None = c.put("/v1/cache/big", content=body())
        except httpx.TransportError:
            response = None  # the API answered 413 and closed while we were still sending
    if response is not None:
        assert response.status_code == 413 and is_problem(response)
    grown_mib = (_peak_rss_kib(api.pid) - peak_before) / 1024
    assert grown_mib < 20, f"the API's peak memory grew by {grown_mib:.0f} MiB for a refused body"
    with httpx.Client(base_url=api.url, timeout=10) as c:
        declared = c.put("/v1/cache/big", content=b"x" * (64 * 1024 + 1))
    assert declared.status_code == 413 and is_problem(declared)


def _head_start(api: ApiServer) -> bytes:
    return f"GET /healthz HTTP/1.1\r\nHost: {api.host}\r\nX-Big: ".encode()


def test_a_100_mib_header_is_refused_431_while_it_streams_and_a_512_kib_one_is_taken(api: ApiServer) -> None:
    """The API took a 100 MiB header, answered 200 and grew by some 200 MiB. The head goes one
    byte past :data:`MAX_HEAD` and stops there: the 431 must come then, before the rest is sent
    (sent on, the rest would sit unread in the API's socket when it closes, whose reset can
    drop the 431 before the client reads it); the other 99 MiB then find the connection closed."""
    peak_before = _peak_rss_kib(api.pid)
    start = _head_start(api)
    chunk = b"a" * (1 << 20)
    with socket.create_connection((api.host, api.port), timeout=30) as conn:
        conn.sendall(start + b"a" * (MAX_HEAD + 1 - len(start)))
        try:  # to the API's close: with all our bytes read there, a FIN, no reset
            refused = conn.makefile("rb").read()
        except TimeoutError:
            refused = b""  # no answer: the head was not refused at its bound
        rest_sent = 0
        try:
            for _ in range(99):  # the rest of a 100 MiB header, a MiB at a time
                conn.sendall(chunk)
                rest_sent += len(chunk)
        except ConnectionError:
            pass  # the connection is closed: the rest is not read
    grown_mib = (_peak_rss_kib(api.pid) - peak_before) / 1024
    assert refused.startswith(b"HTTP/1.1 431 ") and b"connection: close" in refused.lower(), refused[:300]
    assert rest_sent < 99 * len(chunk), "the API took the rest of the header"
    assert grown_mib < 20, f"the API's peak memory grew by {grown_mib:.0f} MiB for a refused header"
    with socket.create_connection((api.host, api.port), timeout=30) as conn:  # a big real head passes
        conn.sendall(start + b"a" * (512 << 10) + b"\r\nConnection: close\r\n\r\n")
        assert conn.makefile("rb").read().startswith(b"HTTP/1.1 200 ")


def test_a_spoofed_x_forwarded_for_does_not_dodge_the_rate_limit(
    tmp_path: Path, databases: Databases
) -> None:
    limits: dict[str, str | int | float] = {"rate-limit": 0.5, "rate-burst": 3}
    with databases.api(tmp_path / "a", limits) as api, httpx.Client(base_url=api.url) as c:
        codes = [
            c.get("/v1/cache/x", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(8)
        ]
    assert 429 in codes, codes
    # With the proxy configured, its header is believed: eight clients, eight buckets.
    trusted: dict[str, str | int | float] = {**limits, "trusted-proxy": "127.0.0.1"}
    with databases.api(tmp_path / "b", trusted) as api, httpx.Client(base_url=api.url) as c:
        codes = [
            c.get("/v1/cache/x", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(8)
        ]
    assert 429 not in codes, codes


def test_an_unexpected_failure_is_a_500_problem_document(
    databases: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    import testbed.app
    import testbed.routes.projects

    def broken(cursor: str, key: bytes) -> tuple[str, int]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(testbed.routes.projects, "decode_cursor", broken)
    app = testbed.app.create_app(databases.config())

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                return await c.get("/v1/projects?cursor=x")
        finally:
            await app.state.deps.close()

    response = asyncio.run(get())
    assert response.status_code == 500 and is_problem(response), response.text
    # Like every problem, it names the request (its trace id), in the body and the headers.
    assert re.fullmatch("[0-9a-f]{32}", response.json().get("request_id", "")), response.text
    assert response.headers.get("x-request-id") == response.json()["request_id"]
    assert response.headers.get("api-version") == API_VERSION
