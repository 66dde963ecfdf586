"""The TCP fault proxy against a loopback echo server: it forwards, delays, resets, blackholes,
refuses non-loopback upstreams and is driven through its control port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from sloctl.chaos.proxy import FaultProxy, ProxyError, control
from tests.waiting import wait_until


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        conn.settimeout(5)
        with conn:
            for _ in range(1000):
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                conn.sendall(data)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[:2]
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def roundtrip(port: int, payload: bytes = b"ping", timeout: float = 3.0) -> tuple[bytes, float]:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        data = sock.recv(4096)
    return data, time.monotonic() - started


def test_the_proxy_forwards_bytes_both_ways(echo_server: tuple[str, int]) -> None:
    with FaultProxy(echo_server) as proxy:
        assert roundtrip(proxy.port)[0] == b"ping"
        assert proxy.state().fault == "none"
        assert proxy.state().accepted == 1


def test_latency_delays_each_direction(echo_server: tuple[str, int]) -> None:
    with FaultProxy(echo_server) as proxy:
        _, fast = roundtrip(proxy.port)
        state = proxy.set_fault("latency", latency_ms=150)
        assert (state.fault, state.latency_ms) == ("latency", 150)
        data, slow = roundtrip(proxy.port)
        assert data == b"ping"
        assert slow >= 0.3 > fast  # 150 ms each way
        proxy.clear()
        assert roundtrip(proxy.port)[1] < 0.3


def test_reset_aborts_live_connections_and_refuses_new_ones(echo_server: tuple[str, int]) -> None:
    with FaultProxy(echo_server) as proxy:
        live = socket.create_connection(("127.0.0.1", proxy.port), timeout=3)
        live.sendall(b"a")
        assert live.recv(10) == b"a"
        proxy.set_fault("reset")
        with pytest.raises((ConnectionResetError, BrokenPipeError)):
            live.sendall(b"b")
            if not live.recv(10):
                raise ConnectionResetError("closed")
        live.close()
        with pytest.raises((ConnectionResetError, BrokenPipeError)):
            data, _ = roundtrip(proxy.port)
            if not data:
                raise ConnectionResetError("closed")
        assert proxy.state().resets >= 2
        proxy.clear()
        assert roundtrip(proxy.port)[0] == b"ping"


def test_blackhole_accepts_and_never_answers(echo_server: tuple[str, int]) -> None:
    with FaultProxy(echo_server) as proxy:
        proxy.set_fault("blackhole")
        with pytest.raises(TimeoutError):
            roundtrip(proxy.port, timeout=0.5)
        proxy.clear()
        assert roundtrip(proxy.port)[0] == b"ping"


def test_the_control_port_changes_the_fault_from_another_client(echo_server: tuple[str, int]) -> None:
    with FaultProxy(echo_server) as proxy:
        assert control(proxy.control_port, {"fault": "latency", "latency_ms": 50}).latency_ms == 50
        assert proxy.state().fault == "latency"
        assert control(proxy.control_port).fault == "latency"
        with pytest.raises(ProxyError, match="unknown fault"):
            control(proxy.control_port, {"fault": "meteor"})
        with pytest.raises(ProxyError, match="latency_ms"):
            control(proxy.control_port, {"fault": "latency", "latency_ms": 10**6})
        assert control(proxy.control_port, {"fault": "none"}).fault == "none"


def test_only_loopback_upstreams_are_allowed_by_default() -> None:
    for host in ("127.0.0.1", "127.3.4.5", "::1", "localhost"):
        assert FaultProxy((host, 5432)).upstream[1] == 5432
    for host in ("10.0.0.1", "192.0.2.7", "2001:db8::1"):
        with pytest.raises(ProxyError, match="allow-list"):
            FaultProxy((host, 5432))


def test_the_proxy_stops_itself_after_its_lifetime(echo_server: tuple[str, int]) -> None:
    proxy = FaultProxy(echo_server, max_lifetime=0.3).start()
    wait_until(lambda: not proxy.running, timeout=5, what="the proxy's end of life")
    with pytest.raises(ProxyError, match="not running"):
        proxy.set_fault("reset")
    proxy.stop()


def test_an_unreachable_upstream_closes_the_client_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as tmp:
        port = tmp.getsockname()[1]
    with (
        FaultProxy(("127.0.0.1", port), connect_timeout=1) as proxy,
        socket.create_connection(("127.0.0.1", proxy.port), timeout=3) as sock,
    ):
        sock.sendall(b"x")
        with pytest.raises(ConnectionResetError):
            if not sock.recv(10):
                raise ConnectionResetError("closed")
