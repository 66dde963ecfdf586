"""Hypothesis fuzz of the real platform API on the real databases: whatever a client sends, no
5xx answer comes without an RFC 9457 body, and no breaker opens or counts a failure (the
databases are healthy, so any failure would be the client's input). Bounded: a fixed number of
examples, each request with a timeout, and the whole run with a deadline."""

from __future__ import annotations

import json
import time
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloctl.testbed_runner import ApiServer
from tests.fixtures.servers import api_fixture
from tests.security.api import breaker_figures, is_problem

pytestmark = [pytest.mark.servers, pytest.mark.slow]

EXAMPLES = 1000
RUN_SECONDS = 240.0

# Text a careless or hostile client writes: digits of other scripts, superscripts, NUL and
# other controls, '$' and '.', long runs, surrogate-free Unicode.
_NASTY = st.sampled_from(
    ["²", "١٢٣", "٠", "𝟗", "\x00", "$", ".", "%", "/", "..", "\u202e", "9" * 30, "-1", " 1"]
)
_text = st.one_of(st.text(max_size=40), _NASTY, st.lists(_NASTY, max_size=4).map("".join))
_numberish = st.one_of(
    st.integers().map(str), st.integers(min_value=-(2**70), max_value=2**70).map(str), _text
)
_segment = st.one_of(_numberish, st.text(alphabet="0123456789abcdef", min_size=24, max_size=24))

_json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
)
_json = st.recursive(
    _json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def _body(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["json", "object", "raw", "deep", "digits"]))
    if kind == "json":
        return json.dumps(draw(_json)).encode()
    if kind == "object":
        return json.dumps(draw(st.dictionaries(_text, _json, min_size=1, max_size=5))).encode()
    if kind == "raw":
        return draw(st.binary(max_size=200))
    if kind == "deep":
        depth = draw(st.integers(min_value=30, max_value=30000))
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b'{"n": ' + b"9" * draw(st.integers(min_value=18, max_value=6000)) + b"}"


@st.composite
def _request(draw: st.DrawFn) -> tuple[str, str, bytes]:
    seg = quote(draw(_segment), safe="")
    query = {
        k: draw(_numberish) for k in draw(st.sets(st.sampled_from(["limit", "cursor", "ttl"]), max_size=2))
    }
    qs = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    method, path = draw(
        st.sampled_from(
            [
                ("GET", "/v1/projects"),
                ("POST", "/v1/projects"),
                ("GET", f"/v1/projects/{seg}"),
                ("GET", f"/v1/cache/{seg}"),
                ("PUT", f"/v1/cache/{seg}"),
                ("POST", "/v1/documents"),
                ("GET", f"/v1/documents/{seg}"),
                ("DELETE", f"/v1/documents/{seg}"),
                ("GET", f"/{seg}"),
            ]
        )
    )
    body = draw(_body()) if method in ("POST", "PUT") else b""
    return method, f"{path}?{qs}" if qs else path, body


api = api_fixture("fuzz", {"rate-limit": 100000, "rate-burst": 100000})


def test_fuzzed_requests_get_problem_documents_and_never_trip_a_breaker(api: ApiServer) -> None:
    seen: dict[str, int] = {"requests": 0, "5xx": 0, "5xx_without_problem": 0, "no_answer": 0}
    bad: list[tuple[str, str, int, str]] = []
    deadline = time.monotonic() + RUN_SECONDS

    with httpx.Client(base_url=api.url, timeout=15) as client:
        before = breaker_figures(client)

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(_request())
        def one(request: tuple[str, str, bytes]) -> None:
            if time.monotonic() > deadline:
                return  # bounded in time as well as in count
            method, path, body = request
            seen["requests"] += 1
            # sent as JSON: the API takes no other type (415), and the parser is what is fuzzed
            headers = {"content-type": "application/json"} if body else {}
            try:
                response = client.request(method, path, content=body or None, headers=headers)
            except httpx.TransportError as exc:  # no answer at all: as bad as a bare 5xx
                seen["no_answer"] += 1
                bad.append((method, path[:80], 0, type(exc).__name__))
                return
            if response.status_code >= 500:
                seen["5xx"] += 1
                if not is_problem(response):
                    seen["5xx_without_problem"] += 1
                bad.append((method, path[:80], response.status_code, response.text[:120]))

        one()
        after = breaker_figures(client)

    added = {
        k: after[k] - before.get(k, 0.0)
        for k in after
        if not k.startswith("state") and after[k] != before.get(k)
    }
    print(f"fuzz: {seen}, breaker failures added: {added}")  # the run's figures, for docs/security.md
    assert seen["requests"] >= 100
    assert seen["5xx_without_problem"] == 0 and seen["no_answer"] == 0, bad
    assert {k: v for k, v in after.items() if not k.startswith("state")} == {
        k: v for k, v in before.items() if not k.startswith("state")
    }, bad
    assert all(v == 0 for k, v in after.items() if k.startswith("state")), after
    assert bad == []  # healthy databases: any 5xx was caused by the input
