"""The head reader of ``sloctl serve`` (sloctl/serve/heads.py): a head is whole exactly when
the standard library's handler would stop reading it; slow clients past the reader's bound
give way to a new connection, oldest first; a head too long to hold goes to a handler, which
refuses it at once."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.client import parse_headers

import httpx
from hypothesis import given
from hypothesis import strategies as st

from sloctl.serve import start
from sloctl.serve.heads import EVICTABLE_AFTER, head_complete
from sloctl.serve.server import Listener
from tests.fixtures.fake_prometheus import fake_app
from tests.waiting import wait_until

#: What a client waits at most for an answer the test expects: only a failure takes that long.
ANSWER_TIMEOUT = 10.0

_TOKEN = st.text(st.sampled_from("abcXYZ019-_/.%"), min_size=1, max_size=12)
_HEADER = st.tuples(_TOKEN, st.text(st.sampled_from("abc 019;=,"), max_size=20))


def _handler_reads(data: bytes) -> int | None:
    """How many bytes of ``data`` the standard library's handler reads as the head (its
    ``readline`` for the request line, ``parse_headers`` for the rest), None when it would wait
    for more."""
    stream = io.BytesIO(data)
    line = stream.readline(65537)
    if not line.endswith(b"\n"):
        return None
    if len(line.split()) >= 3:
        before = stream.tell()
        parse_headers(stream)
        rest = data[before : stream.tell()]
        if not rest.endswith(b"\n") or not (rest in (b"\n", b"\r\n") or rest.endswith((b"\n\n", b"\n\r\n"))):
            return None
    return stream.tell()


@given(
    st.sampled_from(["GET", "HEAD", "POST"]),
    _TOKEN,
    st.lists(_HEADER, max_size=5),
    st.sampled_from([b"\r\n", b"\n"]),
    st.binary(max_size=20),
)
def test_a_head_is_whole_exactly_when_the_handler_would_stop_reading_it(
    method: str, target: str, headers: list[tuple[str, str]], end: bytes, after: bytes
) -> None:
    """Every prefix of a request head: whole from the byte at which the handler's own reading
    would end, never before (the reader would hand on a head the handler then waits on, or hold
    one the handler could answer)."""
    lines = [f"{method} /{target} HTTP/1.1".encode(), *(f"{k}: {v}".encode() for k, v in headers)]
    head = b"".join(line + end for line in lines) + end
    data = head + after
    assert _handler_reads(data) == len(head)
    for size in range(len(data) + 1):
        assert head_complete(data[:size]) == (size >= len(head)), data[:size]


def test_short_first_lines_are_whole_heads_for_the_handler_to_answer() -> None:
    """HTTP/0.9's ``GET /`` and a first line of one word or none: the handler answers (or
    closes) at once, reading no header, so the reader must not wait for an empty line."""
    for data in (b"GET /\r\n", b"nonsense\n", b"\r\n"):
        assert head_complete(data) and _handler_reads(data) == len(data)


@contextmanager
def _serving(**options: float) -> Iterator[Listener]:
    with fake_app(1) as (app, _calls):
        served = start(app, "127.0.0.1:0", **options)  # type: ignore[arg-type]
        try:
            yield served
        finally:
            served.stop()


def _half_request(stack: ExitStack, served: Listener) -> socket.socket:
    host, port = served.server.server_address[:2]
    s = stack.enter_context(socket.create_connection((str(host), port), timeout=ANSWER_TIMEOUT))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the empty line never comes
    return s


def test_slow_clients_past_the_bound_give_way_to_a_new_connection_oldest_first() -> None:
    """With the reader full of heads left unfinished for over :data:`EVICTABLE_AFTER`, a new
    connection drops the oldest of them and is answered at once; the others stay. (Before, a
    full reader made every new client wait for the first slow one to time out.)"""
    bound = 3
    with _serving(max_reading=bound) as served, ExitStack() as stack:
        server = served.server
        slow = [_half_request(stack, served) for _ in range(bound)]
        wait_until(lambda: server.reading == bound, timeout=ANSWER_TIMEOUT, what="the reader full")
        time.sleep(EVICTABLE_AFTER)  # real timer: the head reader's own, the thing tested
        began = time.monotonic()
        with httpx.Client(trust_env=False) as client:
            assert client.get(served.url + "/healthz", timeout=ANSWER_TIMEOUT).status_code == 200
        waited = time.monotonic() - began
        assert waited < EVICTABLE_AFTER, waited
        assert slow[0].recv(1) == b""  # the oldest, closed to make room
        for s in slow[1:]:
            s.setblocking(False)
            try:
                s.recv(1)
                raise AssertionError("a newer slow client was dropped or answered too")
            except BlockingIOError:
                pass  # still open, still waited on
        # The head reader counts the page's connection off once its thread has started, which may
        # answer first (one more, for a moment): the newer slow clients' sockets are open (above).
        wait_until(lambda: server.reading == bound - 1, timeout=ANSWER_TIMEOUT, what="the page counted off")


def test_a_fresh_head_is_not_dropped_for_a_new_connection() -> None:
    """Heads unfinished for less than :data:`EVICTABLE_AFTER` (a burst of real requests whose
    bytes are on their way) are kept: the new connection waits in the backlog until the oldest
    of them is that old, and only then is it taken in and that one dropped."""
    bound = 2
    with _serving(max_reading=bound) as served, ExitStack() as stack:
        server = served.server
        opened = time.monotonic()
        slow = [_half_request(stack, served) for _ in range(bound)]
        wait_until(lambda: server.reading == bound, timeout=ANSWER_TIMEOUT, what="the reader full")
        host, port = server.server_address[:2]
        late = stack.enter_context(socket.create_connection((str(host), port), timeout=ANSWER_TIMEOUT))
        late.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert late.recv(12) == b"HTTP/1.0 200"
        answered = time.monotonic() - opened
        assert answered >= EVICTABLE_AFTER, answered
        assert slow[0].recv(1) == b""  # the oldest gave way
        slow[1].setblocking(False)
        try:
            slow[1].recv(1)
            raise AssertionError("the newer slow client was dropped or answered too")
        except BlockingIOError:
            pass  # still open, still waited on


def test_a_head_longer_than_the_reader_holds_is_refused_at_once() -> None:
    """A header line past 64 KiB that never ends: handed to a handler as it is, which answers
    431 at once rather than the reader holding it to the connection's deadline."""
    with _serving() as served:
        host, port = served.server.server_address[:2]
        with socket.create_connection((str(host), port), timeout=ANSWER_TIMEOUT) as s:
            s.sendall(b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70_000)
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.0 431"), answer[:80]
