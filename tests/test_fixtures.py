"""The shared test fixtures' own behaviour, where it can leak into other tests."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from tests.fixtures.stub_http import Answer, serve, text

#: an answer larger than the sockets' buffers, so that writing it meets the client's reset
LARGE = b"x" * 8_000_000


def test_a_client_that_resets_the_stub_mid_answer_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    """A reset client's traceback went to stderr from the stub's thread, into whichever test was
    reading stderr then (a CLI test that asserts "no Traceback" failed on it)."""
    with serve(lambda _request: Answer(LARGE)) as stub:
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", stub.port)) as client:
                client.sendall(b"GET / HTTP/1.1\r\nHost: stub\r\n\r\n")
                client.recv(1)  # the answer has started
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        answered = len(stub.requests)
    assert answered == 3
    assert capfd.readouterr().err == ""


def test_a_stub_stops_without_waiting_out_a_poll_period() -> None:
    """Every stub's exit took 0.5 s, socketserver's default poll period, which ``shutdown()``
    waits out: a test half a second longer for each stub it used (79 places in tests/ start one,
    many of them parametrized). The fastest of five stops, so that one slow moment of a busy
    machine does not count."""
    stops = []
    for _ in range(5):
        with serve(lambda _request: text("ok")) as stub:
            assert stub.port
            began = time.monotonic()
        stops.append(time.monotonic() - began)
    assert min(stops) < 0.25, stops
