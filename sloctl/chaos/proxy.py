"""A small asyncio TCP fault proxy: latency, connection resets and a blackhole.

toxiproxy cannot be installed here, so game days put this proxy between the platform API and
a database. It listens on loopback, forwards to an upstream that must be on the allow-list
(loopback only by default; resolved once, every address checked, and the proxy connects to the
checked address: :mod:`sloctl.egress`), and applies one fault at a time:

- ``latency``: every chunk is delayed by ``latency_ms`` in both directions;
- ``reset``: live connections are aborted with a TCP RST and new ones are reset at once;
- ``blackhole``: connections are accepted, data is read and dropped, nothing answers.

It runs on its own event loop in a daemon thread so that synchronous callers (Chaos Toolkit
actions, tests) can drive it, and a line-based JSON control port lets another process (a
``chaos run``) change the fault: send ``{"fault": "latency", "latency_ms": 300}`` and read
back the state. Every loop is bounded: connections by ``max_connections``, reads by
``idle_timeout``, the whole proxy by ``max_lifetime`` (it stops itself afterwards), and a fault
by ``MAX_LATENCY_MS``.

>>> with FaultProxy(("127.0.0.1", 6379)) as proxy:        # doctest: +SKIP
...     proxy.set_fault("latency", latency_ms=200)
...     proxy.clear()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Literal, Self

from sloctl.durations import HOUR
from sloctl.egress import LOOPBACK, Egress, EgressDenied, Network, parse_networks

__all__ = [
    "FAULTS",
    "MAX_LATENCY_MS",
    "FaultProxy",
    "ProxyError",
    "ProxyState",
    "control",
]

Fault = Literal["none", "latency", "reset", "blackhole"]
FAULTS: tuple[Fault, ...] = ("none", "latency", "reset", "blackhole")
MAX_LATENCY_MS = 30_000
_CHUNK = 65536
#: The control port is ours, on loopback: nothing else is ever asked to change a fault.
_CONTROL = Egress(action="reach a fault proxy's control port at")


class ProxyError(RuntimeError):
    """A refused upstream, a bad fault or an unreachable control port."""


@dataclass(frozen=True)
class ProxyState:
    fault: Fault
    latency_ms: int
    connections: int
    accepted: int
    resets: int


class FaultProxy:
    """Forward ``listen`` → ``upstream`` with an injectable fault; see the module docstring."""

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        listen_port: int = 0,
        control_port: int | None = 0,
        allow: Iterable[str | Network] = LOOPBACK,
        max_connections: int = 256,
        idle_timeout: float = 600.0,
        max_lifetime: float = 6.0 * HOUR,
        connect_timeout: float = 5.0,
    ) -> None:
        egress = Egress(allow=parse_networks(allow), action="forward faults to")
        try:
            # Pinned: the proxy connects to the address checked here, never to a new resolution.
            self.upstream = (egress.check(upstream[0], upstream[1]).addresses[0], upstream[1])
        except EgressDenied as exc:
            raise ProxyError(str(exc)) from None
        self.host = "127.0.0.1"
        self._listen_port = listen_port
        self._control_port = control_port
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.max_lifetime = max_lifetime
        self.connect_timeout = connect_timeout
        self.port = 0
        self.control_port = 0
        self._fault: Fault = "none"
        self._latency_ms = 0
        self._accepted = 0
        self._resets = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._stop_future: asyncio.Future[None] | None = None

    # -- public, thread-safe API -----------------------------------------------------------
    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name=f"fault-proxy-{self.upstream[1]}", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise ProxyError("fault proxy did not start within 10 s")
        if self._start_error is not None:
            raise ProxyError(f"fault proxy failed to start: {self._start_error}") from self._start_error
        return self

    def stop(self) -> None:
        loop, future = self._loop, self._stop_future
        if loop is not None and future is not None and not loop.is_closed():

            def finish() -> None:
                if not future.done():
                    future.set_result(None)

            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(finish)
        if self._thread is not None:
            self._thread.join(10)
        self._stopped.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def set_fault(self, fault: str, *, latency_ms: int = 0) -> ProxyState:
        """Apply ``fault`` (one of :data:`FAULTS`) and return the state the proxy now has."""
        self._call(lambda: self._apply(fault, latency_ms))
        return self.state()

    def clear(self) -> ProxyState:
        return self.set_fault("none")

    def state(self) -> ProxyState:
        return ProxyState(
            fault=self._fault,
            latency_ms=self._latency_ms,
            connections=len(self._writers),
            accepted=self._accepted,
            resets=self._resets,
        )

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- event loop side -------------------------------------------------------------------
    def _call(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None or not self.running:
            raise ProxyError("fault proxy is not running")
        done = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # handed back to the caller's thread
                errors.append(exc)
            finally:
                done.set()

        loop.call_soon_threadsafe(run)
        if not done.wait(5):
            raise ProxyError("fault proxy did not answer within 5 s")
        if errors:
            raise errors[0]

    def _apply(self, fault: str, latency_ms: int) -> None:
        if fault not in FAULTS:
            raise ProxyError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        if not 0 <= latency_ms <= MAX_LATENCY_MS:
            raise ProxyError(f"latency_ms must be within 0..{MAX_LATENCY_MS}, not {latency_ms}")
        if fault == "latency" and latency_ms == 0:
            raise ProxyError("a latency fault needs latency_ms > 0")
        self._fault = fault
        self._latency_ms = latency_ms if fault == "latency" else 0
        if fault == "reset":
            for writer in list(self._writers):
                self._reset(writer)

    def _reset(self, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                # SO_LINGER 0: close() sends RST instead of FIN, as a crashed peer would.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        self._writers.discard(writer)
        self._resets += 1

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:
            self._start_error = exc
            self._ready.set()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        self._stop_future = loop.create_future()
        server = await asyncio.start_server(self._handle, self.host, self._listen_port, limit=_CHUNK)
        self.port = server.sockets[0].getsockname()[1]
        control: asyncio.Server | None = None
        if self._control_port is not None:
            control = await asyncio.start_server(self._handle_control, self.host, self._control_port)
            self.control_port = control.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._stop_future), self.max_lifetime)
        except TimeoutError:
            pass
        finally:
            server.close()
            if control is not None:
                control.close()
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A cancelled handler (proxy shutdown) must end quietly: asyncio's stream callback
        # would log the CancelledError as an unhandled exception.
        with contextlib.suppress(asyncio.CancelledError):
            await self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._accepted += 1
        if len(self._writers) >= self.max_connections:
            writer.transport.abort()
            return
        self._writers.add(writer)
        if self._fault == "reset":
            self._reset(writer)
            return
        if self._fault == "blackhole":
            await self._drain_forever(reader, writer)
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream, limit=_CHUNK), self.connect_timeout
            )
        except (OSError, TimeoutError):
            self._drop(writer)
            return
        self._writers.add(up_writer)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._drop(writer)
            self._drop(up_writer)

    def _drop(self, writer: asyncio.StreamWriter) -> None:
        """Forget a connection and abort it."""
        self._writers.discard(writer)
        writer.transport.abort()

    async def _chunks(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        """What ``reader`` receives, chunk by chunk, until the peer closes, the connection fails
        or nothing comes for ``idle_timeout`` seconds."""
        with contextlib.suppress(OSError, TimeoutError):
            while data := await asyncio.wait_for(reader.read(_CHUNK), self.idle_timeout):
                yield data

    async def _drain_forever(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Blackhole: read and drop until the client gives up or the idle timeout ends it."""
        try:
            async for _ in self._chunks(reader):
                pass
        finally:
            self._drop(writer)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async for data in self._chunks(reader):
                if self._fault == "blackhole":
                    continue  # dropped on the floor
                if self._fault == "latency" and self._latency_ms:
                    await asyncio.sleep(self._latency_ms / 1000)
                if writer.is_closing():
                    break
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()

    async def _handle_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One JSON request per line, one JSON answer per line; at most 100 lines and 30 s idle."""
        try:
            for _ in range(100):
                line = await asyncio.wait_for(reader.readline(), 30)
                if not line:
                    break
                try:
                    request = json.loads(line or b"{}")
                    if "fault" in request:
                        self._apply(str(request["fault"]), int(request.get("latency_ms", 0)))
                    answer: dict[str, object] = {"ok": True, **asdict(self.state())}
                except (ValueError, TypeError, ProxyError) as exc:
                    answer = {"ok": False, "error": str(exc), **asdict(self.state())}
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()


def control(port: int, request: dict[str, object] | None = None, *, host: str = "127.0.0.1") -> ProxyState:
    """Send one request to a proxy's control port (``{}`` asks for the state only)."""
    payload = json.dumps(request or {}).encode() + b"\n"
    data = b""
    for attempt in range(3):  # bounded retries: a reset on a busy shared machine is transient
        deadline = time.monotonic() + 5
        data = b""
        try:
            with _CONTROL.connect(host, port, timeout=5) as sock:
                sock.sendall(payload)
                while not data.endswith(b"\n") and time.monotonic() < deadline:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            break
        except (ConnectionResetError, ConnectionRefusedError) as exc:
            if attempt == 2:
                raise ProxyError(f"fault proxy control port {host}:{port}: {exc}") from exc
            time.sleep(0.05)
        except (OSError, EgressDenied) as exc:
            raise ProxyError(f"fault proxy control port {host}:{port}: {exc}") from exc
    try:
        answer = json.loads(data)
    except ValueError as exc:
        raise ProxyError(f"fault proxy control port {host}:{port}: bad answer {data[:200]!r}") from exc
    if not answer.get("ok"):
        raise ProxyError(str(answer.get("error")))
    return ProxyState(
        fault=answer["fault"],
        latency_ms=int(answer["latency_ms"]),
        connections=int(answer["connections"]),
        accepted=int(answer["accepted"]),
        resets=int(answer["resets"]),
    )
