"""The listener of ``sloctl serve`` as a client sees it: error pages with the UI's headers (a
Prometheus that cannot be read is an HTML 502 that keeps refreshing), parameters checked before
Prometheus is read, every method but GET and HEAD refused alike, no framing, idle connections
dropped (a request dripped a byte at a time too) and half-sent requests holding no handler
thread, links that
survive any SLO id, and ``--listen`` and ``--workdir`` read strictly."""

from __future__ import annotations

import html
import json
import re
import select
import signal
import socket
import struct
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from sloctl import naming
from sloctl.cli.main import main
from sloctl.prometheus import Prometheus
from sloctl.serve import App, ListenError, ServeConfig, start
from sloctl.serve.app import MAX_QUERY_VALUE, SHOWN_VALUE
from sloctl.serve.server import Listener, parse_listen
from tests.fixtures.cli import start_sloctl
from tests.fixtures.fake_prometheus import fake_app
from tests.fixtures.stub_http import Answer, serve, vector
from tests.waiting import wait_until

#: What a client waits at most for an answer the test expects: only a failure takes that long.
ANSWER_TIMEOUT = 10.0
SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options")


def _free_port() -> int:
    """A loopback port nothing listens on (taken and given back)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def listening(app: App, **options: float) -> Iterator[Listener]:
    served = start(app, "127.0.0.1:0", **options)  # type: ignore[arg-type]
    try:
        yield served
    finally:
        served.stop()


@contextmanager
def unreadable_prometheus() -> Iterator[App]:
    """The UI over a Prometheus that nothing answers for."""
    with Prometheus.connect(f"http://127.0.0.1:{_free_port()}") as prom:
        yield App(ServeConfig(), prom)


@pytest.mark.parametrize("path", ["/", "/slo/s-0", "/slo/s-0?range=1h"])
def test_a_prometheus_that_cannot_be_read_is_an_html_502_page_that_keeps_its_refresh(path: str) -> None:
    with unreadable_prometheus() as app, listening(app) as served, httpx.Client(trust_env=False) as client:
        sep = "&" if "?" in path else "?"
        page = client.get(served.url + path + sep + "refresh=30")
        plain = client.get(served.url + path)
    assert page.status_code == 502 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<meta http-equiv="refresh" content="30">' in page.text
    assert "Cannot read Prometheus" in page.text and "nothing answers there" in page.text
    assert all(h in page.headers for h in SECURITY_HEADERS)
    assert plain.status_code == 502 and 'http-equiv="refresh"' not in plain.text


def test_the_502_page_escapes_what_prometheus_said() -> None:
    said = '<script>alert("x")</script>'
    body = json.dumps({"status": "error", "errorType": "bad_data", "error": said}).encode()
    with serve(lambda _r: Answer(body, status=400)) as stub, Prometheus.connect(stub.url) as prom:
        page = App(ServeConfig(), prom).handle("/", {}).body.decode()
    assert "Cannot read Prometheus" in page and "&lt;script&gt;alert(" in page and "<script>" not in page


@pytest.mark.parametrize(
    ("key", "value"), [("sort", "bogus"), ("page", "x"), ("dir", "up"), ("refresh", "7")]
)
def test_parameters_are_checked_before_prometheus_is_read(key: str, value: str) -> None:
    with unreadable_prometheus() as app:
        page = app.handle("/", {key: [value]})
        slo = app.handle("/slo/s-0", {"range": ["2h"]})
    assert page.status == 400 and f"{key}=" in page.body.decode()
    assert slo.status == 400 and "range=" in slo.body.decode()


@pytest.mark.parametrize(
    ("path", "key"),
    [("/", "label"), ("/", "service"), ("/", "sort"), ("/", "unknown"), ("/runs/gameday", "slo"),
     ("/report", "run"), ("/slo", "id")],
)  # fmt: skip
def test_a_query_value_past_the_bound_is_a_414_quoting_a_few_characters_of_it(path: str, key: str) -> None:
    """A 60 KB ``label=`` was echoed in the filter box and every sort and page link: a 424 KB
    page (a 20 KB one of ``<`` made 443 KB); a long bad ``sort=`` was quoted whole in its 400."""
    with fake_app(3) as (app, calls):
        sent = len(calls)
        refused = app.handle(path, {key: ["<" * 60_000]})
        assert len(calls) == sent, "refused before Prometheus is read"
        at_bound = app.handle("/", {"label": ["<" * MAX_QUERY_VALUE]})
        bad_sort = app.handle("/", {"sort": ["<" * MAX_QUERY_VALUE]})
    body = refused.body.decode()
    assert refused.status == 414 and f"{key[:SHOWN_VALUE]}=" in body and "60000" in body, body[-800:]
    assert "&lt;" * SHOWN_VALUE + "…" in body and "&lt;" * (SHOWN_VALUE + 1) not in body
    assert at_bound.status == 200 and "&lt;" * MAX_QUERY_VALUE in at_bound.body.decode()
    sort_body = bad_sort.body.decode()
    assert bad_sort.status == 400 and "&lt;" * (SHOWN_VALUE + 1) not in sort_body and "sort=" in sort_body


def test_a_query_value_past_the_bound_is_a_414_over_http() -> None:
    with fake_app(1) as (app, _calls), listening(app) as served, httpx.Client(trust_env=False) as client:
        answer = client.get(served.url + "/", params={"label": "x" * 60_000}, timeout=ANSWER_TIMEOUT)
        small = client.get(served.url + "/", params={"label": "x"}, timeout=ANSWER_TIMEOUT)
    assert answer.status_code == 414 and all(h in answer.headers for h in SECURITY_HEADERS)
    assert len(answer.content) < len(small.content), (len(answer.content), len(small.content))


@pytest.mark.parametrize("digits", [10, MAX_QUERY_VALUE, 4301, 100_000])
def test_a_page_number_of_many_digits_is_a_client_error_naming_the_parameter(digits: int) -> None:
    """Past :data:`MAX_QUERY_VALUE` characters, any value is a 414 before it is read."""
    with fake_app(3) as (app, _calls):
        page = app.handle("/", {"page": ["1" * digits]})
        zeros = app.handle("/", {"page": ["0001"]})
    assert page.status == (400 if digits <= MAX_QUERY_VALUE else 414) and "page=" in page.body.decode()
    assert zeros.status == 200


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "CONNECT", "POST", "PUT", "DELETE", "PATCH", "BREW"])
def test_every_method_but_get_and_head_is_refused_405_with_allow_and_the_ui_headers(method: str) -> None:
    with fake_app(1) as (app, _calls), listening(app) as served, httpx.Client(trust_env=False) as client:
        answer = client.request(method, served.url + "/")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD"
    assert answer.headers["content-type"] == "text/plain; charset=utf-8" and "read-only" in answer.text
    assert all(h in answer.headers for h in SECURITY_HEADERS)


def test_a_malformed_request_is_answered_with_the_ui_headers_too() -> None:
    with fake_app(1) as (app, _calls), listening(app) as served:
        host, port = served.server.server_address[:2]
        with socket.create_connection((str(host), port), timeout=ANSWER_TIMEOUT) as s:
            # A header line longer than the standard library reads (64 KiB): 431.
            s.sendall(b"GET / HTTP/1.1\r\nX-Long: " + b"x" * 70_000 + b"\r\n\r\n")
            answer = b"".join(iter(lambda: s.recv(65536), b""))
    head = answer.decode().lower()
    assert head.startswith("http/1.0 431") and "x-frame-options: deny" in head and "<html" not in head


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        (b"GET / HTTP/2.0", 505),
        (b"GET / HTTP/12.3", 505),
        (b"GET / HTTP/1.x", 400),
        (b"GET / HTTP/1.1 x", 400),
        (b"GET / HTTP/3", 400),
        (b"GET /", 505),  # HTTP/0.9: the page went out bare, without a status line or the CSP
    ],
)
def test_a_request_line_of_an_unsupported_or_malformed_version_gets_a_status_line_and_headers(
    request_line: bytes, status: int
) -> None:
    """The standard library answers these before it has taken the request's version, as to an
    HTTP/0.9 request: the body alone ('sloctl serve: 505 …'), no status line, no header."""
    with fake_app(1) as (app, _calls), listening(app) as served:
        host, port = served.server.server_address[:2]
        with socket.create_connection((str(host), port), timeout=ANSWER_TIMEOUT) as s:
            s.sendall(request_line + b"\r\nHost: x\r\n\r\n")
            answer = b"".join(iter(lambda: s.recv(65536), b""))  # to the server's close
    head, _, body = answer.decode().partition("\r\n\r\n")
    lines = head.lower().split("\r\n")
    assert lines[0].startswith(f"http/1.0 {status} "), answer
    assert all(f"{h}: " in head.lower() for h in SECURITY_HEADERS) and "connection: close" in lines
    assert f"content-length: {len(body)}" in lines and body.startswith(f"sloctl serve: {status} "), answer


@pytest.mark.parametrize(
    ("version", "host_lines", "status", "said"),
    [
        (b"1.1", b"Host: x\r\n", 200, "ok\n"),
        (b"1.0", b"", 200, "ok\n"),
        (b"1.1", b"Host: a\r\nHost: b\r\n", 400, "sloctl serve: 400 Host is given 2 times; give it once\n"),
        (b"1.1", b"Host: x\r\nhost: x\r\n", 400, "sloctl serve: 400 Host is given 2 times; give it once\n"),
        (b"1.1", b"", 400, "sloctl serve: 400 an HTTP/1.1 request must carry Host\n"),
        (b"1.1", b"Host: a b\r\n", 400, "sloctl serve: 400 Host 'a b' is not host[:port]\n"),
    ],
    ids=["one", "none-in-1.0", "two", "the-same-twice", "none-in-1.1", "not-host-port"],
)
def test_a_request_whose_host_rfc_9112_refuses_is_a_400(
    version: bytes, host_lines: bytes, status: int, said: str
) -> None:
    """RFC 9112 §3.2, as the testbed answers it (one rule, ``sloctl.http1``): two ``Host`` lines
    were answered 200, a proxy in front free to have read another one than the server behind it;
    so were an HTTP/1.1 request without one and a value that is no ``host[:port]``."""
    with fake_app(1) as (app, _calls), listening(app) as served:
        host, port = served.server.server_address[:2]
        with socket.create_connection((str(host), port), timeout=ANSWER_TIMEOUT) as s:
            s.sendall(b"GET /healthz HTTP/" + version + b"\r\n" + host_lines + b"\r\n")
            answer = b"".join(iter(lambda: s.recv(65536), b""))  # to the server's close
    head, _, body = answer.decode().partition("\r\n\r\n")
    assert head.lower().split("\r\n")[0].startswith(f"http/1.0 {status} "), answer
    assert all(f"{h}: " in head.lower() for h in SECURITY_HEADERS) and body == said, answer


def test_no_page_can_be_framed_by_another_site() -> None:
    with fake_app(1) as (app, _calls), listening(app) as served, httpx.Client(trust_env=False) as client:
        answers = [client.get(served.url + p) for p in ("/", "/slo/s-0", "/runs/gameday", "/nope")]
    for answer in answers:
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-frame-options"] == "DENY"


def test_an_idle_connection_is_dropped_after_the_connection_timeout() -> None:
    with fake_app(1) as (app, _calls), listening(app, connection_timeout=0.2) as served:
        host, port = served.server.server_address[:2]
        with socket.create_connection((str(host), port), timeout=ANSWER_TIMEOUT) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # half a request, then silence
            assert s.recv(1) == b""  # closed by the server (a timeout here raises)


def test_a_client_that_drips_its_request_is_dropped_after_the_connection_timeout_in_all() -> None:
    """Slowloris: each byte came within the timeout, so the connection (and its thread, one of
    ``max_connections``) was held for as long as the client went on dripping."""
    timeout = 0.5
    with fake_app(1) as (app, _calls), listening(app, connection_timeout=timeout) as served:
        host, port = served.server.server_address[:2]
        with socket.create_connection((str(host), port), timeout=ANSWER_TIMEOUT) as s:
            started = time.monotonic()
            s.sendall(b"GET / HTTP/1.1\r\n")
            try:
                for _ in range(int(ANSWER_TIMEOUT / (timeout / 5))):  # bounded: a byte a fifth of it
                    if select.select([s], [], [], timeout / 5)[0]:
                        break  # the server answered or closed
                    s.sendall(b"X")  # one header line that never ends
                answer = s.recv(1)
            except ConnectionError:  # closed while a dripped byte was on its way: a reset
                answer = b""
            held = time.monotonic() - started
    assert answer == b"", "the server answered a request it never got whole"
    assert timeout <= held < 4 * timeout, held


def test_half_sent_requests_take_no_handler_thread_and_a_whole_one_is_answered_beside_them() -> None:
    """Slowloris past the threads: more clients than ``max_connections`` that sent half a
    request each held every handler thread, and a whole request waited for the first of them to
    be dropped (27 s of the default 30, docs/benchmarks.md). Their heads are read by the head
    reader now: no thread is taken, and a page is answered at once."""
    bound = 2
    with fake_app(1) as (app, _calls), listening(app, max_connections=bound) as served, ExitStack() as stack:
        host, port = served.server.server_address[:2]
        half = []
        for _ in range(bound + 3):
            s = stack.enter_context(socket.create_connection((str(host), port), timeout=ANSWER_TIMEOUT))
            s.sendall(b"GET / HTTP/1.1\r\n")
            half.append(s)
        server = served.server
        wait_until(
            lambda: server.reading + server.connections == bound + 3, timeout=ANSWER_TIMEOUT, what="held"
        )
        with httpx.Client(trust_env=False) as client:
            assert client.get(served.url + "/healthz", timeout=ANSWER_TIMEOUT).status_code == 200
        assert server.peak_connections == 1  # the page's thread alone
        # The half requests still held, none dropped to make room. The head reader counts the
        # page's connection off once its thread has started, which may answer first (c144 read 6
        # for 5): wait for that count, and see every half request still open.
        wait_until(lambda: server.reading == bound + 3, timeout=ANSWER_TIMEOUT, what="the page counted off")
        for s in half:
            s.setblocking(False)
            with pytest.raises(BlockingIOError):  # open, nothing sent: not closed by the server
                s.recv(1)


IDS = ("a/b", "..", ".", "<script>", "x y?z#w", "100%")


def test_links_to_slos_of_any_id_lead_to_their_page() -> None:
    def answer(request: object) -> Answer:
        query = getattr(request, "query", {}).get("query", "")
        if "query_range" in getattr(request, "path", ""):
            return Answer(b'{"status":"success","data":{"resultType":"matrix","result":[]}}')
        if getattr(request, "path", "").endswith("/rules"):  # the rules' health: no group listed
            return Answer(b'{"status":"success","data":{"groups":[]}}')
        if query.startswith("max by") and naming.SLO_INFO in query:
            return vector(
                *(({naming.LABEL_ID: i, naming.LABEL_SERVICE: "s", naming.LABEL_SLO: i}, 1) for i in IDS)
            )
        return vector()

    with serve(answer) as stub, Prometheus.connect(stub.url) as prom:
        app = App(ServeConfig(), prom)
        overview = app.handle("/", {}).body.decode()
        hrefs = [html.unescape(h) for h in re.findall(r'<th scope="row"><a href="([^"]+)"', overview)]
        assert len(hrefs) == len(IDS)
        for slo_id, href in zip(sorted(IDS), hrefs, strict=True):
            # Where a browser goes: dot segments resolved, as RFC 3986 says.
            where = urllib.parse.urlsplit(urllib.parse.urljoin("http://127.0.0.1:8080/", href))
            page = app.handle(where.path, urllib.parse.parse_qs(where.query))
            assert page.status == 200, (slo_id, href)
            assert f"<h1>{html.escape(slo_id, quote=False)}</h1>" in page.body.decode().replace("&#39;", "'")


@pytest.mark.parametrize(
    "listen",
    ["127.0.0.1:٨٠٨٠", "127.0.0.1:８０８０", "127.0.0.1:8²", "127.0.0.1:" + "9" * 5000],
    ids=["arabic-indic", "fullwidth", "superscript", "5000-digits"],
)
def test_a_listen_port_is_ascii_digits(listen: str) -> None:
    with pytest.raises(ListenError, match="HOST:PORT"):
        parse_listen(listen)


def test_workdir_without_demo_is_a_usage_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", "--prometheus", "http://127.0.0.1:9", "--listen", "127.0.0.1:0", "--for", "1s"]
    assert main([*argv, "--workdir", str(tmp_path)]) == 2
    assert "--workdir" in capsys.readouterr().err


def test_a_game_day_budget_is_shown_as_the_other_percentages(tmp_path: Path) -> None:
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "report.json").write_text(
        '{"gameday": "x", "verdict": "pass", "budget_consumed_percent": 12.345678}'
    )
    with fake_app(1) as (app, _calls):
        app = App(ServeConfig(run_dirs={"gameday": (tmp_path,)}), app.prom)
        page = app.handle("/runs/gameday", {}).body.decode()
    assert "<td>12.35 %</td>" in page and "12.345678" not in page


@pytest.mark.waits
def test_serve_timeout_bounds_each_read_of_a_prometheus_that_never_answers(tmp_path: Path) -> None:
    """serve had no ``--timeout`` (status and gate have): every page over a hung Prometheus
    waited the client's 30 s before saying it could not be read."""
    err = tmp_path / "stderr.txt"
    with socket.create_server(("127.0.0.1", 0)) as silent, err.open("w") as sink:
        prometheus = f"http://127.0.0.1:{silent.getsockname()[1]}"
        proc = start_sloctl(
            "serve", "--prometheus", prometheus, "--listen", "127.0.0.1:0", "--timeout", "500ms",
            "--for", "5m", stdout=subprocess.DEVNULL, stderr=sink,
        )  # fmt: skip
        try:
            wait_until(lambda: "Ctrl-C stops" in err.read_text() or proc.poll() is not None,
                       timeout=60, what="serve to start")  # fmt: skip
            served = re.search(r"sloctl serve: (http://\S+)/ ", err.read_text())
            assert served, err.read_text()
            started = time.monotonic()
            page = httpx.get(served.group(1) + "/", timeout=ANSWER_TIMEOUT * 3, trust_env=False)
            took = time.monotonic() - started
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    assert page.status_code == 502 and took < 5, took
    assert f"{prometheus}/api/v1/query: no answer within 0.5 s" in html.unescape(page.text)


def test_a_listener_stops_without_waiting_out_a_poll_period() -> None:
    """The accept loop looked for a stop every 0.5 s (``serve_forever``'s default): every stop,
    a Ctrl-C of ``sloctl serve`` included, waited up to half a second (0.50 s each, measured)."""
    with fake_app(1) as (app, _calls):
        took = []
        for _ in range(5):
            listener = start(app)
            # answered: the accept loop runs, and is back in its poll when the stop comes
            assert httpx.get(f"{listener.url}/healthz", timeout=5, trust_env=False).status_code < 500
            began = time.perf_counter()
            listener.stop()
            took.append(time.perf_counter() - began)
    # the fastest of five: one slow moment of a busy machine does not decide
    assert min(took) < 0.25, took


def _reset(s: socket.socket) -> None:
    """Close ``s`` with a reset (linger 0): the client gone, as a closed tab or a stopped scraper."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def test_a_client_gone_mid_request_is_no_traceback_on_the_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A client that reset its connection halfway through its request (a tab closed while it
    loaded) printed ``ConnectionResetError`` and its traceback on ``sloctl serve``'s stderr."""
    with fake_app(1) as (app, _calls), listening(app) as served:
        host, port = served.server.server_address[:2]
        s = socket.create_connection((str(host), port), timeout=ANSWER_TIMEOUT)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # half a request: the server waits for the rest
        wait_until(lambda: served.server.reading == 1, timeout=ANSWER_TIMEOUT, what="head being read")
        _reset(s)
        wait_until(lambda: served.server.reading == 0, timeout=ANSWER_TIMEOUT, what="connection closed")
        with httpx.Client(trust_env=False) as client:  # the server goes on
            assert client.get(served.url + "/healthz", timeout=ANSWER_TIMEOUT).status_code == 200
    assert capsys.readouterr().err == ""
