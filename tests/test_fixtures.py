"""The shared test fixtures' own behaviour, where it can leak into other tests."""

from __future__ import annotations

import socket
import struct

import pytest

from tests.fixtures.stub_http import Answer, serve

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
