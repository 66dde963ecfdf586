"""What every probe shares: phase timing (with one child span per phase), the probe report,
and the allow-listed TCP connect that gives every database kind a separately timed
``connect`` phase and an unambiguous ``refused``."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from sloctl.collector.config import ConnectionMode, Target, TlsConfig
from sloctl.collector.reasons import ProbeFailure, classify, detail, timeout_reason
from sloctl.contract import Phase, Reason, Role
from sloctl.egress import Egress, EgressDenied

__all__ = [
    "CLEANUP_ALLOWANCE",
    "MAX_PENDING_CLEANUPS",
    "Cleanups",
    "DatabaseAccess",
    "DatabaseProbe",
    "PgBouncerPool",
    "PgBouncerStats",
    "PhaseRecorder",
    "Probe",
    "ProbeReport",
    "checked_address",
    "connection_lifetime",
    "refused_after_handshake",
    "retry_stale_once",
    "tcp_connect",
    "worth_retrying",
]


@dataclass
class PgBouncerPool:
    database: str
    user: str
    cl_active: float
    cl_waiting: float
    sv_active: float
    sv_idle: float
    maxwait_seconds: float


@dataclass
class PgBouncerStats:
    database: str
    queries_total: float
    query_seconds_total: float


@dataclass
class ProbeReport:
    """Saturation and role facts a successful run learned; ``None`` means "not known"."""

    connections_used: float | None = None
    connections_max: float | None = None
    memory_used: float | None = None
    memory_max: float | None = None
    role: Role | None = None
    cert_not_after: float | None = None
    pools: list[PgBouncerPool] = field(default_factory=list)
    stats: list[PgBouncerStats] = field(default_factory=list)
    #: why the PgBouncer admin console gave no pools and stats (it never fails the run)
    console_error: str | None = None


#: How long a run may outlast its deadline (seconds): the time to interrupt a driver and let go
#: of its connection, on a loaded machine too. Whatever waits on the server after the deadline
#: (a cancel request PostgreSQL is asked to confirm, a TLS ``close_notify``, pymongo's
#: ``endSessions``) is a background :class:`Cleanups` task, never the lane's, or is cut short:
#: a frozen server must not hold a lane past its deadline, nor make it skip its next slot
#: (psycopg's cancel handling held PostgreSQL and PgBouncer lanes 0.07–0.1 s past it, a TLS
#: ``close_notify`` a Redis lane 0.5 s; ``tests/collector/test_deadline.py``).
CLEANUP_ALLOWANCE = 0.05

#: Background cleanups one probe may have pending at once. Each is bounded in time, so a lane
#: has at most a few at a time (one per run its deadline ended, each ending within seconds):
#: the bound only bites when a server is frozen for long and its cleanups wait on it, and then
#: handing off one more ends the oldest at once, which closes its connection without waiting.
MAX_PENDING_CLEANUPS = 8


class Cleanups:
    """A probe's background cleanups: work that may wait on the server after a run ended,
    taken off the lane's critical path, each bounded in time by its own code and at most
    :data:`MAX_PENDING_CLEANUPS` at once (the oldest is cancelled to make room: a cleanup
    answers cancellation by closing hard, without waiting)."""

    def __init__(self, limit: int = MAX_PENDING_CLEANUPS) -> None:
        self._limit = limit
        self._tasks: dict[asyncio.Task[None], None] = {}  # in hand-off order

    def __len__(self) -> int:
        return len(self._tasks)

    def hand_off(self, cleanup: Coroutine[object, object, None]) -> None:
        while len(self._tasks) >= self._limit:
            oldest = next(iter(self._tasks))
            del self._tasks[oldest]
            oldest.cancel()
        task = asyncio.create_task(cleanup)
        self._tasks[task] = None
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        if not task.cancelled():
            task.exception()  # retrieved: a cleanup's failure is no run's

    async def wait(self, timeout: float) -> None:
        """Wait for the pending cleanups, at most ``timeout`` seconds; those still pending
        then are cancelled (closed hard)."""
        if not self._tasks:
            return
        pending = set(self._tasks)
        _done, late = await asyncio.wait(pending, timeout=timeout)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=CLEANUP_ALLOWANCE)


class PhaseRecorder:
    """Times the phases of one run and opens a child span for each.

    ``current`` is the phase in progress, so that a deadline that cancels the run can be
    classified (``connect_timeout`` versus ``query_timeout``) without the probe's help.
    """

    def __init__(self, tracer: trace.Tracer, clock: Callable[[], float] = time.perf_counter) -> None:
        self._tracer = tracer
        self._clock = clock
        self.durations: dict[Phase, float] = {}
        self.current: Phase | None = None
        self.hint: Reason | None = None  # a probe may say what a timeout in this phase means
        self.why: str | None = None  # and, with its hint, what it saw (else: "no answer within …")
        self.deadline: asyncio.Timeout | None = None  # the run's, to tell its end from a stop

    def record(self, phase: Phase, start_ns: int, end_ns: int, failed: bool = False) -> None:
        """Record a phase measured by callbacks (httpx trace events) rather than a ``with`` block."""
        self.durations[phase] = self.durations.get(phase, 0.0) + (end_ns - start_ns) / 1e9
        span = self._tracer.start_span(phase.value, start_time=start_ns)
        if failed:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end_ns)

    @asynccontextmanager
    async def phase(self, phase: Phase) -> AsyncIterator[None]:
        self.current = phase
        start = self._clock()
        with self._tracer.start_as_current_span(
            phase.value, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield
            except BaseException as exc:
                if (reason := self._reason(exc, phase)) is not None:
                    span.set_status(Status(StatusCode.ERROR, reason.value))
                raise
            finally:
                self.durations[phase] = self.durations.get(phase, 0.0) + self._clock() - start
        self.current = None

    def _reason(self, exc: BaseException, phase: Phase) -> Reason | None:
        """Why ``phase`` failed, as the run's reason is told (a trace showed ``CancelledError``
        and ``ProbeFailure`` there); None when the collector's stop cancelled it: no failure."""
        if isinstance(exc, asyncio.CancelledError):
            if self.deadline is None or not self.deadline.expired():
                return None
            return self.hint or timeout_reason(phase)
        return classify(exc, phase)


def worth_retrying(exc: BaseException) -> bool:
    """A kept (warm) connection that fails for anything but a deadline, a rejected password or a
    wrong answer is most likely stale (the server restarted): reconnect once within the run,
    as connection pools do, instead of reporting a failure the server did not cause."""
    if isinstance(exc, ProbeFailure):
        return exc.reason is Reason.PROTOCOL
    return isinstance(exc, Exception) and not isinstance(exc, TimeoutError)


async def retry_stale_once(reused: bool, attempt: Callable[[], Awaitable[ProbeReport]]) -> ProbeReport:
    """Run ``attempt``; when it ran on a reused connection and failed in a way that
    ``worth_retrying`` blames on staleness, run it once more (the probe reconnects)."""
    try:
        return await attempt()
    except BaseException as exc:
        if not (reused and worth_retrying(exc)):
            raise
    return await attempt()


@dataclass(frozen=True)
class DatabaseAccess:
    """What every database probe is built from: the target, whether it keeps its connection,
    the password (from the secrets) and the egress guard every address is checked against."""

    target: Target
    mode: ConnectionMode
    password: str | None
    egress: Egress


class DatabaseProbe:
    """What a probe of a database target holds: its :class:`DatabaseAccess`, unpacked, and its
    background cleanups."""

    def __init__(self, access: DatabaseAccess) -> None:
        self.target = access.target
        self.mode = access.mode
        self._password = access.password
        self._egress = access.egress
        self._cleanups = Cleanups()


class Probe(Protocol):
    """One per (target, connection mode). ``run`` raises on failure; ``close`` is bounded."""

    async def run(self, rec: PhaseRecorder) -> ProbeReport: ...

    async def close(self) -> None: ...


async def checked_address(egress: Egress, host: str, port: int) -> str:
    """The address to connect to: ``host`` resolved once, every address inside the allow-list.

    Enforced at every run, not only at start-up, because a name can start resolving elsewhere.
    A name that does not resolve, or resolves to any address outside, fails the run with
    reason ``dns``.
    """
    try:
        return (await egress.check_async(host, port)).addresses[0]
    except EgressDenied as exc:
        raise ProbeFailure(Reason.DNS, str(exc)) from None


async def tcp_connect(
    target: Target, egress: Egress, rec: PhaseRecorder
) -> tuple[str, asyncio.StreamReader, asyncio.StreamWriter]:
    """The ``connect`` phase: resolve, check the allow-list, complete the TCP handshake to the
    checked address."""
    async with rec.phase(Phase.CONNECT):
        try:
            return await egress.open_connection(target.host, target.port, limit=1 << 20)
        except EgressDenied as exc:
            raise ProbeFailure(Reason.DNS, str(exc)) from None


def refused_after_handshake(tls: TlsConfig, exc: BaseException) -> ProbeFailure:
    """Reason ``tls`` for a TLS connection its server ended before its first answer. In TLS 1.3
    the client's handshake is over before the server checks the client's certificate; a server
    that requires one it trusts (Redis's default, ``tls-auth-clients yes``; nginx's
    ``ssl_verify_client on``) then sends an alert and closes, and the alert often loses the race
    with the reset that the probe's first request provokes: the run saw a reset, not TLS."""
    got = f"does not trust the one it got (tls.certFile {tls.cert_file})" if tls.cert_file else "gets none"
    return ProbeFailure(
        Reason.TLS,
        f"the server ended the connection after the TLS handshake, before its first answer"
        f" ({detail(exc)}), as a server that requires a client certificate does when it {got}:"
        " give tls.certFile and tls.keyFile a client certificate signed by a CA the server trusts",
    )


def cert_not_after(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> float | None:
    """``notAfter`` of the peer certificate as Unix time (only when it was verified). None too
    when the server's alert, read with the handshake's last bytes, undid it (``ValueError:
    handshake not done yet``): the run's first request then meets the refusal."""
    if ssl_object is None:
        return None
    try:
        cert = ssl_object.getpeercert()
    except ValueError:
        return None
    if not cert or "notAfter" not in cert:
        return None
    return float(ssl.cert_time_to_seconds(str(cert["notAfter"])))


async def close_quietly(writer: asyncio.StreamWriter | None) -> None:
    """Close a connection, waiting at most half the cleanup allowance: a TLS connection waits
    for its peer's ``close_notify``, which a frozen peer never sends (it held the lane 0.5 s
    past its deadline); past that, the connection is aborted (a reset), as it is dropped anyway."""
    if writer is None:
        return
    writer.close()
    try:
        async with asyncio.timeout(CLEANUP_ALLOWANCE / 2):
            await writer.wait_closed()
    except (OSError, TimeoutError, ssl.SSLError):
        writer.transport.abort()


async def closed_or_reset(writer: asyncio.StreamWriter) -> None:
    """:func:`close_quietly` as a background cleanup (:meth:`Cleanups.hand_off`), so that a lane
    ending at its deadline does not wait for a frozen peer's ``close_notify``; cancelled (the
    probe's cleanups full, or waited out at its close), the connection is reset at once."""
    try:
        await close_quietly(writer)
    except asyncio.CancelledError:
        writer.transport.abort()
        raise


def mode_label(mode: ConnectionMode) -> str:
    return mode.value


class _KeepsAConnection(Protocol):
    mode: ConnectionMode

    async def _drop(self) -> None: ...


@asynccontextmanager
async def connection_lifetime(probe: _KeepsAConnection) -> AsyncIterator[None]:
    """A run's hold on its probe's connection: dropped when the run fails in any way (a broken
    connection is never kept), and after every cold run; a warm run that succeeded keeps it."""
    try:
        yield
    except BaseException:
        await probe._drop()
        raise
    finally:
        if probe.mode is ConnectionMode.COLD:
            await probe._drop()
