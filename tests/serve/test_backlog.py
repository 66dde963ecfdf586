"""A burst of connections (a wallboard farm, everyone reloading during an incident) while every
connection thread waits for a slow Prometheus: the connections past the threads wait, their
requests read, in the head reader, those past it in the listen backlog, and all are answered.
With the standard library's backlog of 5, Linux queued 6 and dropped the handshake's last ACK
of the others: their clients, connected as far as they knew, waited on TCP retransmissions
(seconds, growing) before their request was even read."""

from __future__ import annotations

import selectors
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sloctl.prometheus import Prometheus
from sloctl.serve import App, ServeConfig, start
from sloctl.serve.server import MAX_CONNECTIONS, MAX_READING, Listener
from tests.fixtures.one_slo_prometheus import answer
from tests.fixtures.stub_http import Answer, StubRequest, serve
from tests.waiting import wait_until

#: More connections than the threads and the head reader take and the standard library's backlog
#: of 5 holds (Linux queues backlog + 1), fewer than those and
#: :data:`~sloctl.serve.server.LISTEN_BACKLOG`.
BURST = MAX_CONNECTIONS + MAX_READING + 60
#: Seconds the burst may take to be taken in and answered: only a failure waits that long.
DEADLINE = 10.0


@contextmanager
def held_prometheus(release: threading.Event) -> Iterator[str]:
    """A stub Prometheus that holds every answer until ``release`` (at most :data:`DEADLINE`)."""

    def holding(request: StubRequest) -> Answer:
        release.wait(DEADLINE)
        return answer(request)

    with serve(holding) as stub:
        yield stub.url


def _queued(listening: socket.socket) -> int:
    """Connections in ``listening``'s accept queue: Linux's ``tcp_info`` of a listening socket
    says it in ``tcpi_unacked`` (after 8 one-byte fields and 4 ``u32``)."""
    info = listening.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return int(struct.unpack_from("<I", info, 24)[0])


def _held(served: Listener) -> int:
    """Connections the server holds: handled by a thread, read by the head reader (waiting for
    a thread), or waiting in its accept queue; the accept loop holds one more, accepted, while
    it waits for room in the head reader."""
    server = served.server
    return server.connections + server.reading + _queued(server.socket) + (server.reading == MAX_READING)


class Burst:
    """:data:`BURST` connections opened at once (non-blocking connects), each sending a request
    for the overview as soon as it is connected."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.selector = selectors.DefaultSelector()
        self.sockets: list[socket.socket] = []
        for _ in range(BURST):
            s = socket.socket()
            self.sockets.append(s)
            s.setblocking(False)
            s.connect_ex(address)
            self.selector.register(s, selectors.EVENT_WRITE)

    def send(self) -> None:
        """Send the request on every connection connected since the last call."""
        for key, _ in self.selector.select(0):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            self.selector.unregister(s)
            s.settimeout(DEADLINE)
            s.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")

    def statuses(self) -> list[str]:
        """The status line of every answer, read to its end."""
        out = []
        for s in self.sockets:
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
            out.append(reply.split(b"\r\n", 1)[0].decode())
        return out

    def close(self) -> None:
        self.selector.close()
        for s in self.sockets:
            s.close()


def test_a_burst_of_connections_while_every_thread_waits_for_prometheus_is_all_answered() -> None:
    release = threading.Event()
    with held_prometheus(release) as url, Prometheus.connect(url) as prom:
        served = start(App(ServeConfig(), prom), "127.0.0.1:0")
        burst = Burst(("127.0.0.1", int(served.server.server_address[1])))
        try:
            # Every thread waits for Prometheus (the first request's read, the others for it):
            # the connections past them are held by the head reader and the listen backlog.
            def held() -> bool:
                burst.send()
                return served.server.connections == MAX_CONNECTIONS and _held(served) == BURST

            wait_until(held, timeout=DEADLINE, what=f"the server holding all {BURST} connections")
            release.set()
            burst.send()  # none left: every connection was taken in
            statuses = burst.statuses()
        finally:
            release.set()
            burst.close()
            served.stop()
    assert statuses == ["HTTP/1.0 200 OK"] * BURST
    assert served.server.peak_connections == MAX_CONNECTIONS
