"""The one Prometheus access layer (:mod:`sloctl.prometheus`) on an httpx mock transport: the
allow-list is checked before any request, errors name the query, long ranges are chunked under
Prometheus' point limit and joined, rules/alerts/TSDB status are read; and the exposition-format
parser the probes use reads escaped label values right."""

from __future__ import annotations

import json
import math
import socket

import httpx
import pytest

from sloctl.chaos.probes import parse_metrics
from sloctl.egress import EgressDenied, UnexpectedAnswer
from sloctl.prometheus import (
    MAX_POINTS,
    MAX_QUERY_STRING,
    NotServed,
    Prometheus,
    PrometheusError,
    by_label,
    scalar,
)
from sloctl.servers import free_port


def _ok(data: object) -> httpx.Response:
    return httpx.Response(200, json={"status": "success", "data": data})


def test_a_prometheus_outside_the_allow_list_is_refused_before_any_request() -> None:
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: sent.append(r) or _ok({}))  # type: ignore[func-returns-value]
    with pytest.raises(EgressDenied, match=r"192\.0\.2\.1"):
        Prometheus("http://192.0.2.1:9090", transport=transport)
    assert sent == []


def test_an_error_answer_names_the_query_and_prometheus_error() -> None:
    transport = httpx.MockTransport(
        lambda r: httpx.Response(400, json={"status": "error", "error": "parse error at char 3"})
    )
    with Prometheus.connect("http://127.0.0.1:9", transport=transport) as prom:
        with pytest.raises(PrometheusError, match=r"'sum\(\(': parse error at char 3"):
            prom.query("sum((")
        assert prom.requests == 1


def test_a_long_range_is_read_in_chunks_under_the_point_limit_and_joined_per_series() -> None:
    seen: list[tuple[float, float, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        p = request.url.params
        start, end, step = float(p["start"]), float(p["end"]), float(p["step"])
        seen.append((start, end, step))
        values = [[start + i * step, "1"] for i in range(int((end - start) / step) + 1)]
        return _ok({"resultType": "matrix", "result": [{"metric": {"a": "b"}, "values": values}]})

    with Prometheus.connect("http://127.0.0.1:9", transport=httpx.MockTransport(handler)) as prom:
        (series,) = prom.query_range("up", 0, 25_000, 1)
    assert len(seen) == 3
    assert all((end - start) / step + 1 <= MAX_POINTS for start, end, step in seen)
    times = [t for t, _ in series["values"]]
    assert times == list(range(25_001))


def test_rules_alerts_and_tsdb_status_read_their_endpoints() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/rules"):
            assert request.url.params["type"] == "alert"
            return _ok({"groups": [{"name": "g", "rules": []}]})
        if path.endswith("/alerts"):
            return _ok({"alerts": [{"labels": {"alertname": "X"}, "state": "firing"}]})
        assert path.endswith("/status/tsdb")
        return _ok({"headStats": {"numSeries": 7}})

    with Prometheus.connect("http://127.0.0.1:9", transport=httpx.MockTransport(handler)) as prom:
        assert [g["name"] for g in prom.rules("alert")] == ["g"]
        assert prom.alerts()[0]["state"] == "firing"
        assert prom.tsdb_status()["headStats"]["numSeries"] == 7
        assert prom.requests == 3


#: a rules API's "not here" answers, whatever their body: plain text, a gateway's or a query
#: frontend's JSON error, JSON that is no Prometheus answer at all
NOT_HERE_BODIES = {
    "text": b"404 page not found\n",
    "a JSON error": b'{"status":"error","errorType":"not_found","error":"no ruler configured"}',
    "other JSON": b'{"message":"route not found"}',
}


@pytest.mark.parametrize("status", [404, 405, 501])
@pytest.mark.parametrize("body", list(NOT_HERE_BODIES.values()), ids=list(NOT_HERE_BODIES))
def test_a_rules_api_that_is_not_served_is_not_served_whatever_the_body(status: int, body: bytes) -> None:
    """A 404 with a JSON body was a PrometheusError ("did not answer rules: …"), which status
    and gate took for a failing Prometheus rather than "rule health unknown"."""
    transport = httpx.MockTransport(lambda r: httpx.Response(status, content=body))
    with (
        Prometheus.connect("http://127.0.0.1:9", transport=transport) as prom,
        pytest.raises(NotServed) as raised,
    ):
        prom.rules(names=["slo:info"], exclude_alerts=True)
    assert str(raised.value).startswith(
        f"http://127.0.0.1:9/api/v1/rules answered {status}: no rules API there"
    )


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b'{"status":"error","errorType":"internal","error":"ruler failing"}'),
        (503, b"service unavailable\n"),
        (401, b'{"status":"error","errorType":"unauthorized","error":"no token"}'),
        (403, b'{"status":"error","error":"forbidden"}'),
        (200, b"not json"),
        (200, b'{"status":"success","data":{"groups":{}}}'),
    ],
)
def test_a_failing_rules_api_is_a_failure_not_one_that_is_not_served(status: int, body: bytes) -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(status, content=body))
    with (
        Prometheus.connect("http://127.0.0.1:9", transport=transport) as prom,
        pytest.raises((PrometheusError, UnexpectedAnswer)) as raised,
    ):
        prom.rules()
    assert not isinstance(raised.value, NotServed)
    assert getattr(raised.value, "status", None) == status


def test_vector_readers_give_nan_for_no_sample_and_key_by_a_label() -> None:
    vector = [{"metric": {"id": "a"}, "value": [0, "0.5"]}, {"metric": {}, "value": [0, "1"]}]
    assert math.isnan(scalar([]))
    assert scalar(vector) == 0.5
    assert by_label(vector, "id") == {"a": ({"id": "a"}, 0.5)}


def test_escaped_label_values_of_the_exposition_format_are_read_whole() -> None:
    # Our former hand-written parser split on the comma and kept the backslashes.
    text = '# TYPE example_pool_size gauge\nexample_pool_size{dependency="a,\\"b\\"",x="c\\\\d"} 5\n'
    assert parse_metrics(text) == {
        ("example_pool_size", frozenset({("dependency", 'a,"b"'), ("x", "c\\d")})): 5.0
    }


def test_a_server_that_is_down_or_silent_is_named_without_the_query_string() -> None:
    """What failed is the server: the error names it and what to check, not the percent-encoded
    query (``/api/v1/query?query=max+by+%28sloctl_id…``)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the connection, never answers
        port = silent.getsockname()[1]
        with (
            Prometheus.connect(f"http://127.0.0.1:{port}", timeout=0.3) as prom,
            pytest.raises(UnexpectedAnswer) as timed_out,
        ):
            prom.query('max by (sloctl_id) (sloctl_slo_info{sloctl_id="x y"})')
    message = str(timed_out.value)
    assert message.startswith(f"http://127.0.0.1:{port}/api/v1/query: no answer within 0.3 s"), message
    assert "query=" not in message and "sloctl_id" not in message
    closed = free_port()  # nothing listens there
    with Prometheus.connect(f"http://127.0.0.1:{closed}") as prom, pytest.raises(UnexpectedAnswer) as refused:
        prom.query("up")
    message = str(refused.value)
    assert message.startswith(f"http://127.0.0.1:{closed}/api/v1/query: "), message
    assert "check the URL, and that the server is running" in message and "query=" not in message


def test_an_answer_nested_too_deep_to_decode_is_unreadable_not_a_recursion_error() -> None:
    """``[`` a hundred thousand times was a RecursionError traceback (and ``gate`` exit 1,
    "freeze"); it is read as any other body that is not JSON."""
    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=b"[" * 100_000))
    invalid = r"/api/v1/query\?query=up answered 200 without a JSON body \(invalid JSON\)"
    with (
        Prometheus.connect("http://127.0.0.1:9", transport=transport) as prom,
        pytest.raises(UnexpectedAnswer, match=invalid),
    ):
        prom.query("up")


#: answers of the right JSON but the wrong shape, and what the error says of each
MISSHAPEN: dict[str, tuple[object, str]] = {
    "a list for data": ({"status": "success", "data": [1, 2, 3]}, "its data is a list, not an object"),
    "a status but no error": (
        {"status": "error"},
        "its status is 'error', not 'success', and it gives no error",
    ),
    "a matrix": (
        {"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": []}]}},
        "its resultType is 'matrix', not 'vector'",
    ),
    "no result": (
        {"status": "success", "data": {"resultType": "vector"}},
        "its data.result is null, not a list",
    ),
    "a sample without labels": (
        {"status": "success", "data": {"resultType": "vector", "result": [{"value": [1, "1"]}]}},
        "data.result[0]: it has no metric",
    ),
    "a value that is no number": (
        {
            "status": "success",
            "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "x"]}]},
        },
        'data.result[0]: a sample is [1, "x"], not [time, "value"] with numbers',
    ),
}


@pytest.mark.parametrize(("body", "said"), list(MISSHAPEN.values()), ids=list(MISSHAPEN))
def test_an_instant_query_answer_of_the_wrong_shape_is_an_error_naming_the_query_and_the_shape(
    body: object, said: str
) -> None:
    """Such answers were read as an empty result ("Prometheus knows no SLO", exit 2) or said
    "did not answer …: None"."""
    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=json.dumps(body).encode()))
    with (
        Prometheus.connect("http://127.0.0.1:9", transport=transport) as prom,
        pytest.raises(PrometheusError) as raised,
    ):
        prom.query("sum(up)")
    assert (
        str(raised.value)
        == f"Prometheus at http://127.0.0.1:9: the answer to 'sum(up)' could not be read: {said}"
    )


def test_range_rules_and_alerts_answers_are_checked_as_instant_ones_are() -> None:
    answers = {
        "/api/v1/query_range": {"resultType": "vector", "result": []},
        "/api/v1/rules": {"groups": {"name": "g"}},
        "/api/v1/alerts": {"alerts": [{"labels": {}}]},
    }
    transport = httpx.MockTransport(lambda r: _ok(answers[r.url.path]))
    with Prometheus.connect("http://127.0.0.1:9", transport=transport) as prom:
        with pytest.raises(
            PrometheusError, match=r"'up' could not be read: its resultType is 'vector', not 'matrix'"
        ):
            prom.query_range("up", 0, 60, 60)
        with pytest.raises(
            PrometheusError, match=r"rules could not be read: its data.groups is an object, not a list"
        ):
            prom.rules()
        with pytest.raises(
            PrometheusError, match=r"alerts could not be read: data.alerts\[0\]: it has no state"
        ):
            prom.alerts()


def test_an_instant_query_of_a_range_selector_reads_its_matrix_when_asked_for_one() -> None:
    series = [{"metric": {"a": "b"}, "values": [[1, "1"], [2, "2"]]}]
    transport = httpx.MockTransport(lambda r: _ok({"resultType": "matrix", "result": series}))
    with Prometheus.connect("http://127.0.0.1:9", transport=transport) as prom:
        assert prom.query("up[2m]", result_type="matrix") == series
        with pytest.raises(PrometheusError, match="its resultType is 'matrix', not 'vector'"):
            prom.query("up[2m]")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9?x=1", "http://127.0.0.1:9/#frag", "http://127.0.0.1:9/prom?"]
)
def test_a_url_with_a_query_string_or_fragment_is_refused_before_any_request(url: str) -> None:
    """``/api/v1/query`` was appended to the query string: ``GET /?x=1/api/v1/query…``."""
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: sent.append(r) or _ok({}))  # type: ignore[func-returns-value]
    with pytest.raises(EgressDenied) as refused:
        Prometheus(url, transport=transport)
    assert str(refused.value).startswith(
        "--prometheus must be Prometheus' base URL, such as http://127.0.0.1:9090"
    )
    assert f"without a query string or fragment; not {url!r}" in str(refused.value)
    assert sent == []


def test_a_path_prefix_is_kept_as_behind_a_reverse_proxy() -> None:
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(
        lambda r: sent.append(r) or _ok({"resultType": "vector", "result": []})  # type: ignore[func-returns-value]
    )
    with Prometheus.connect("http://127.0.0.1:9/prometheus/", transport=transport) as prom:
        assert prom.query("up") == []
    assert [r.url.path for r in sent] == ["/prometheus/api/v1/query"]


def test_a_query_too_long_for_a_query_string_is_posted_as_a_form_and_a_short_one_is_a_get() -> None:
    """A page of long SLO ids, or an id a client typed, makes a query of tens of kilobytes:
    httpx refused to build its URL (past 64 KiB), and a proxy in front refuses a request line
    past 8 KiB. Prometheus takes the same parameters form-encoded in a POST."""
    sent: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode())) if request.method == "POST" else {}
        sent.append((request.method, {**request.url.params, **form}["query"]))
        return _ok({"resultType": "vector", "result": []})

    long_query = 'up{job="' + "é" * (MAX_QUERY_STRING // 2) + '"}'
    with Prometheus.connect("http://127.0.0.1:9", transport=httpx.MockTransport(handler)) as prom:
        prom.query("up")
        prom.query(long_query, 12.5)
    assert sent == [("GET", "up"), ("POST", long_query)]
