"""Reading request heads off the handler threads: one thread waits, with a selector, for the
request line and headers of every new connection of ``sloctl serve``, and hands a connection
to a handler thread only once its head is whole. A client that sends half a request, or drips
it a byte a second (slowloris), costs a socket and a buffer here until
:data:`~sloctl.serve.server.CONNECTION_TIMEOUT`, not one of the bounded handler threads: with
a thread reading each head, 70 such clients held all 64 and a normal page waited 27 s for a
thread (docs/benchmarks.md, "sloctl serve under slow clients").

The server answers one request a connection (HTTP/1.0) and no method with a body, so the head
is all a handler reads; what came of it is handed on with the connection.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EVICTABLE_AFTER", "HEAD_READ_LIMIT", "HeadReader", "ReadHead", "head_complete"]

#: Bytes of a head read here at most: past them the connection goes to a handler as it is,
#: which answers 414 or 431 (the standard library's handler refuses a line over 65,536 bytes
#: and more than 100 headers) or reads the rest within the connection's deadline. A bound on
#: the memory of the heads being read: 64 KiB a connection.
HEAD_READ_LIMIT = 65_537
#: Bytes taken from a socket in one read.
_CHUNK = 16_384
#: Seconds the reader waits at most between two looks at the clock when nothing happens: the
#: deadlines of the heads are kept to within it.
_TICK = 0.25
#: Seconds a head must have been unfinished before it may be dropped to make room
#: (:meth:`HeadReader.make_room`): a whole request comes in one packet or a few, within a
#: round trip; one still unfinished after a second is a slow link or a slow client, and a burst
#: of real requests whose bytes are not in yet is never dropped for another.
EVICTABLE_AFTER = 1.0


def head_complete(data: bytes) -> bool:
    """True when ``data`` (the first bytes of a connection) holds a whole request head as the
    standard library's handler reads one: its first line and, when that line has the three
    words of a request (method, target, version), header lines up to an empty one. A first
    line of fewer words is HTTP/0.9 or a mistake the handler answers at once; an empty first
    line it closes. Lines end in LF, CR LF too.

    >>> head_complete(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n")
    False
    >>> head_complete(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    True
    >>> head_complete(b"GET /\\r\\n"), head_complete(b"GET / HTTP/1.0\\n\\n"), head_complete(b"GET / HTT")
    (True, True, False)
    """
    line, newline, rest = data.partition(b"\n")
    if not newline:
        return False
    if len(line.split()) < 3:
        return True
    return rest.startswith((b"\n", b"\r\n")) or b"\n\n" in rest or b"\n\r\n" in rest


@dataclass
class ReadHead:
    """A connection whose head is whole (or past :data:`HEAD_READ_LIMIT`): what was read of
    it, and the ``deadline`` (``time.monotonic()``) by which the rest of a head must come."""

    sock: socket.socket
    address: Any
    head: bytes
    deadline: float


@dataclass
class _Reading:
    sock: socket.socket
    address: Any
    deadline: float
    data: bytearray = field(default_factory=bytearray)


class HeadReader:
    """The thread that reads heads. :meth:`add` gives it a new connection (from the accept
    loop); ``dispatch`` is called, in this thread, with each :class:`ReadHead` and returns
    False when no handler thread is free: the connection then waits, its head read, until
    :meth:`wake` says one may be. A connection that closes, fails or passes its deadline
    before its head is whole is closed here, and ``released`` called for each connection it
    lets go of; :meth:`make_room` drops the oldest unfinished head; :meth:`stop` closes all."""

    def __init__(
        self, timeout: float, dispatch: Callable[[ReadHead], bool], released: Callable[[], None]
    ) -> None:
        self._timeout = timeout
        self._dispatch = dispatch
        self._released = released
        self._selector = selectors.DefaultSelector()
        self._waker, self._wakee = socket.socketpair()
        self._waker.setblocking(False)
        self._wakee.setblocking(False)
        self._selector.register(self._wakee, selectors.EVENT_READ)
        self._lock = threading.Lock()
        self._new: deque[_Reading] = deque()
        self._waiting: deque[ReadHead] = deque()
        self._count = 0
        self._room_wanted = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sloctl-serve-heads", daemon=True)
        self._thread.start()

    @property
    def held(self) -> int:
        """Connections held here: heads being read, and read ones waiting for a thread."""
        with self._lock:
            return self._count

    def add(self, sock: socket.socket, address: Any) -> None:
        """Read the head of ``sock`` (a connection just accepted) by the timeout from now."""
        sock.setblocking(False)
        with self._lock:
            self._count += 1
            self._new.append(_Reading(sock, address, time.monotonic() + self._timeout))
        self.wake()

    def make_room(self) -> None:
        """Drop, once, the head unfinished the longest (at least :data:`EVICTABLE_AFTER`), as
        soon as there is one, unless a connection is let go of first: the accept loop asks it
        when the reader is full, so that slow clients past its bound cannot keep a new one
        out; while only read heads wait (for threads), the new one waits in the backlog."""
        self._room_wanted = True
        self.wake()

    def wake(self) -> None:
        """Look again at once: a connection added, a handler thread freed, a stop."""
        with contextlib.suppress(OSError):  # a full buffer: a wake is pending; or stopped
            self._waker.send(b"\0")

    def stop(self) -> None:
        """End the thread and close every connection it holds (once; again does nothing)."""
        if self._stopping:
            return
        self._stopping = True
        self.wake()
        self._thread.join(timeout=10)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        for reading in self._new:
            reading.sock.close()
        for ready in self._waiting:
            ready.sock.close()
        self._selector.close()
        self._waker.close()

    def _run(self) -> None:
        while not self._stopping:
            self._take_new()
            self._hand_on()
            for key, _ in self._selector.select(self._wait()):
                if key.fileobj is self._wakee:
                    self._drain()
                else:
                    self._read(key.data)
            self._drop_late()
            if self._room_wanted:
                self._evict()

    def _take_new(self) -> None:
        with self._lock:
            new, self._new = list(self._new), deque()
        for reading in new:
            self._selector.register(reading.sock, selectors.EVENT_READ, reading)

    def _hand_on(self) -> None:
        """Give waiting heads to handler threads while one is free."""
        while self._waiting and self._dispatch(self._waiting[0]):
            self._waiting.popleft()
            self._forget()

    def _wait(self) -> float:
        readings = [key.data for key in self._selector.get_map().values() if key.data is not None]
        first = min((r.deadline for r in readings), default=time.monotonic() + _TICK)
        return max(0.0, min(_TICK, first - time.monotonic()))

    def _drain(self) -> None:
        try:
            while self._wakee.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _read(self, reading: _Reading) -> None:
        try:
            chunk = reading.sock.recv(_CHUNK)
        except BlockingIOError:
            return
        except OSError:  # reset by the client
            chunk = b""
        if not chunk:
            self._close(reading)
            return
        reading.data += chunk
        if head_complete(bytes(reading.data)) or len(reading.data) >= HEAD_READ_LIMIT:
            self._selector.unregister(reading.sock)
            self._waiting.append(
                ReadHead(reading.sock, reading.address, bytes(reading.data), reading.deadline)
            )
            self._hand_on()

    def _drop_late(self) -> None:
        now = time.monotonic()
        for key in list(self._selector.get_map().values()):
            if key.data is not None and key.data.deadline <= now:
                self._close(key.data)

    def _evict(self) -> None:
        opened_before = time.monotonic() + self._timeout - EVICTABLE_AFTER
        readings = [key.data for key in self._selector.get_map().values() if key.data is not None]
        late = [r for r in readings if r.deadline <= opened_before]
        if late:
            self._close(min(late, key=lambda r: r.deadline))

    def _close(self, reading: _Reading) -> None:
        self._selector.unregister(reading.sock)
        reading.sock.close()
        self._forget()

    def _forget(self) -> None:
        with self._lock:
            self._count -= 1
        self._room_wanted = False  # a connection let go of is the room asked for
        self._released()
