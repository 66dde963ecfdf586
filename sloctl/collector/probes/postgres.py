"""PostgreSQL and PgBouncer probes (psycopg 3, async).

Phases: ``connect`` is a TCP handshake of our own to the resolved, allow-listed address (libpq
cannot hand us its socket, so this is a second, immediately closed connection: it is what makes
``refused`` and a frozen server's ``connect_timeout`` unambiguous); ``auth`` is the driver's
whole connect — its own TCP handshake, TLS when ``sslmode`` asks for it, the startup message
and SCRAM — so TLS is not split out for PostgreSQL; ``query`` is one round trip reading role
and saturation; ``canary`` an upsert then read-back in a probe table.

The PgBouncer probe runs the same query through the pooler (transaction mode: no prepared
statements) and reads ``SHOW POOLS``/``SHOW STATS`` from the admin console, which needs the
simple query protocol (psycopg's client-side cursor). When the pooled query misses its
deadline, the console says whether clients are queueing for a server connection, which turns
an ambiguous ``query_timeout`` into the ``pool_timeout`` it really is.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncClientCursor, AsyncConnection
from psycopg.rows import TupleRow

from sloctl.collector.config import ConnectionMode, Kind
from sloctl.collector.probes.base import (
    Cleanups,
    DatabaseAccess,
    DatabaseProbe,
    PgBouncerPool,
    PgBouncerStats,
    PhaseRecorder,
    ProbeReport,
    checked_address,
    close_quietly,
    connection_lifetime,
    retry_stale_once,
    tcp_connect,
)
from sloctl.collector.reasons import ProbeFailure, detail
from sloctl.contract import Phase, Reason, Role

__all__ = ["PgBouncerProbe", "PostgresProbe", "interruptible"]

#: libpq 16 or later: ``sslcertmode`` and ``sslrootcert=system`` (psycopg's binary wheels carry
#: a newer one; a system libpq may be older, and its probes keep libpq's defaults)
_LIBPQ_16 = psycopg.pq.version() >= 160000

T = TypeVar("T")

_SATURATION_SQL = (
    "SELECT pg_is_in_recovery(),"
    " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),"
    " current_setting('max_connections')::int"
)
_CANARY_DDL = (
    "CREATE TABLE IF NOT EXISTS sloctl_probe_canary"
    " (target text PRIMARY KEY, value text NOT NULL, written_at timestamptz NOT NULL DEFAULT now())"
)
_CANARY_UPSERT = (
    "INSERT INTO sloctl_probe_canary (target, value) VALUES (%s, %s)"
    " ON CONFLICT (target) DO UPDATE SET value = EXCLUDED.value, written_at = now()"
)


#: How long psycopg, cancelled, may wait for the server to confirm its cancel request before it
#: is interrupted again, which makes it close the connection (a live server confirms in
#: milliseconds, a frozen one or a PgBouncer queue never). Spent in a background cleanup.
_CANCEL_GRACE = 0.1


async def interruptible(task: asyncio.Task[T], cleanups: Cleanups) -> T:
    """Await a psycopg call (in a task of its own) so that a deadline interrupts it at once.

    When cancelled mid-query, psycopg sends a cancel request and waits up to 5 s + 5 s for the
    server to confirm: against a frozen server or a PgBouncer queue that held the lane past its
    deadline (it waited here 0.1 s, then up to 0.5 s more: runs of 0.87–0.90 s against a
    0.8 s deadline, on a kept connection to a frozen server or in an exhausted pool). Now the
    deadline cancels the call and hands it to ``cleanups``, and the run ends at once; the call
    is given :data:`_CANCEL_GRACE` to have its query cancelled, then interrupted again.
    """
    task.add_done_callback(lambda t: t.cancelled() or t.exception())  # never "never retrieved"
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        _let_go(task, cleanups)
        raise


def _let_go(task: asyncio.Task[T], cleanups: Cleanups) -> None:
    """Cancel ``task`` (once: psycopg then asks the server to cancel its query) and hand what
    remains of it to ``cleanups``."""
    if task.done():
        return
    if not task.cancelling():
        task.cancel()
    cleanups.hand_off(_interrupt(task))


async def _interrupt(task: asyncio.Task[T]) -> None:
    """A cancelled psycopg call's end, in the background: the server has :data:`_CANCEL_GRACE`
    to confirm the cancel request, then the call is interrupted again (psycopg closes its
    connection); cancelled itself (too many cleanups pending), it interrupts at once."""
    try:
        done, _pending = await asyncio.wait({task}, timeout=_CANCEL_GRACE)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=_CANCEL_GRACE)
    finally:
        if not task.done():
            task.cancel()


def _close_conn(conn: AsyncConnection[TupleRow] | None, busy: Iterable[asyncio.Task[Any]] = ()) -> None:
    """Close ``conn`` without waiting on its server (``close()`` is libpq's ``PQfinish``: it
    sends Terminate, which does not wait). While a call the deadline interrupted (``busy``)
    still uses it, it is closed when that call ends: closed under it, its socket's file
    descriptor could be reused while the call still watches it."""
    if conn is None or conn.closed:
        return
    pending = [t for t in busy if not t.done()]
    if pending:
        ended = asyncio.gather(*pending, return_exceptions=True)
        ended.add_done_callback(lambda _f: conn.pgconn.finish())
        return
    conn.pgconn.finish()


class PostgresProbe(DatabaseProbe):
    _conn: AsyncConnection[TupleRow] | None = None
    _canary_ready = False
    _busy: tuple[asyncio.Task[Any], ...] = ()  # calls on _conn, the last maybe still running

    def _on_conn(self, coro: Coroutine[object, object, T]) -> asyncio.Task[T]:
        """A call on the kept connection, in a task of its own: remembered, so that the
        connection is not closed under it."""
        task = asyncio.ensure_future(coro)
        self._busy = (*(t for t in self._busy if not t.done()), task)
        return task

    def _conninfo(self, address: str, dbname: str, user: str | None, password: str | None) -> str:
        t = self.target
        params: dict[str, str | int | None] = {
            # libpq connects to hostaddr (the address the egress guard checked) and verifies the
            # server's certificate against host (verify-full): tls.serverName where given
            "host": t.tls.server_name or t.host,
            "hostaddr": address,
            "port": t.port,
            "dbname": dbname,
            "user": user,
            "application_name": f"sloctl-probe-{t.name}",
            "connect_timeout": max(1, int(t.timeout)),
            "sslmode": ("verify-full" if not t.tls.insecure_skip_verify else "require")
            if t.tls.enabled
            else "disable",
        }
        if t.tls.enabled and t.tls.ca_file:
            params["sslrootcert"] = t.tls.ca_file
        elif t.tls.enabled and _LIBPQ_16:
            # the system's trusted CAs, as the other kinds' probes use without a caFile (libpq's
            # own default is ~/.postgresql/root.crt, and the run failed where it is missing)
            params["sslrootcert"] = "system"
        if t.tls.enabled and t.tls.cert_file:
            # the client certificate (``cert`` or ``clientcert=verify-full`` in pg_hba.conf);
            # its files were checked when the config was (mode 0600 included, as libpq wants)
            params["sslcert"], params["sslkey"] = t.tls.cert_file, t.tls.key_file
        elif _LIBPQ_16:
            # none: libpq would otherwise present ~/.postgresql/postgresql.crt (or $PGSSLCERT)
            # when the server asks, a certificate the targets file does not name
            params["sslcertmode"] = "disable"
        if password is not None:
            params["password"] = password
        return psycopg.conninfo.make_conninfo("", **{k: v for k, v in params.items() if v is not None})

    async def _connect(self, rec: PhaseRecorder) -> AsyncConnection[TupleRow]:
        address, _r, writer = await tcp_connect(self.target, self._egress, rec)
        await close_quietly(writer)
        async with rec.phase(Phase.AUTH):
            assert self.target.database is not None
            conn: AsyncConnection[TupleRow] = await AsyncConnection.connect(
                self._conninfo(address, self.target.database, self.target.user, self._password),
                autocommit=True,
                prepare_threshold=None,  # PgBouncer in transaction mode cannot keep prepared statements
            )
        return conn

    async def _query(self, conn: AsyncConnection[TupleRow], report: ProbeReport) -> None:
        async with conn.cursor() as cur:
            await cur.execute(_SATURATION_SQL)
            row = await cur.fetchone()
        if row is None:
            raise ProbeFailure(Reason.VALIDATION, "saturation query returned no row")
        in_recovery, used, max_conn = row
        report.role = Role.REPLICA if in_recovery else Role.PRIMARY
        report.connections_used = float(used)
        report.connections_max = float(max_conn)

    def _canary_key(self) -> str:
        # Per lane: the cold and the warm lane of one target run concurrently.
        return f"{self.target.name}:{self.mode.value}"

    async def _canary(self, conn: AsyncConnection[TupleRow]) -> None:
        value = secrets.token_hex(8)
        async with conn.cursor() as cur:
            if not self._canary_ready:
                await cur.execute(_CANARY_DDL)
                self._canary_ready = True
            await cur.execute(_CANARY_UPSERT, (self._canary_key(), value))
            await cur.execute(
                "SELECT value FROM sloctl_probe_canary WHERE target = %s", (self._canary_key(),)
            )
            row = await cur.fetchone()
        if row is None or row[0] != value:
            raise ProbeFailure(Reason.VALIDATION, "canary read-back mismatch")

    async def run(self, rec: PhaseRecorder) -> ProbeReport:
        reused = self._conn is not None and self.mode is ConnectionMode.WARM
        return await retry_stale_once(reused, lambda: self._attempt(rec))

    async def _attempt(self, rec: PhaseRecorder) -> ProbeReport:
        async with connection_lifetime(self):
            if self._conn is None or self._conn.closed or self.mode is ConnectionMode.COLD:
                await self._drop()
                self._conn = await self._connect(rec)
            conn = self._conn
            report = ProbeReport()
            async with rec.phase(Phase.QUERY):
                await interruptible(self._on_conn(self._pooled_query(conn, report, rec)), self._cleanups)
            if self.target.canary:
                async with rec.phase(Phase.CANARY):
                    await interruptible(self._on_conn(self._canary(conn)), self._cleanups)
            await self._extra(report)
            return report

    async def _pooled_query(
        self, conn: AsyncConnection[TupleRow], report: ProbeReport, rec: PhaseRecorder
    ) -> None:
        await self._query(conn, report)

    async def _extra(self, report: ProbeReport) -> None:
        return None

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        busy, self._busy = self._busy, ()
        _close_conn(conn, busy)

    async def close(self) -> None:
        await self._drop()
        await self._cleanups.wait(timeout=1.0)


class PgBouncerProbe(PostgresProbe):
    """A query through the pooler plus the admin console's pools and stats."""

    def __init__(self, access: DatabaseAccess, admin_password: str | None) -> None:
        super().__init__(access)
        self._admin_password = admin_password
        assert access.target.kind is Kind.PGBOUNCER

    async def _pooled_query(
        self, conn: AsyncConnection[TupleRow], report: ProbeReport, rec: PhaseRecorder
    ) -> None:
        # When the query is still waiting after 40 % of the deadline, ask the console, while it
        # keeps waiting, whether clients queue for a server connection. The run's deadline
        # then reads as pool_timeout instead of an ambiguous query_timeout. The console has the
        # rest of the deadline to answer (it had 30 % of it, which a busy PgBouncer or a loaded
        # machine overran: query_timeout), and is let go as soon as the query answers.
        query = self._on_conn(self._select_one(conn))
        query.add_done_callback(lambda t: t.cancelled() or t.exception())
        asking: asyncio.Task[float] | None = None
        try:
            done, _pending = await asyncio.wait({query}, timeout=self.target.timeout * 0.4)
            if not done:
                asking = asyncio.create_task(self._clients_waiting())
                await asyncio.wait({query, asking}, return_when=asyncio.FIRST_COMPLETED)
                if asking.done() and asking.result():
                    rec.hint = Reason.POOL_TIMEOUT
            await query
        finally:
            # never awaited here: the console and the query are let go of in the background
            if asking is not None:
                _let_go(asking, self._cleanups)
            _let_go(query, self._cleanups)

    @staticmethod
    async def _select_one(conn: AsyncConnection[TupleRow]) -> None:
        async with conn.cursor() as cur:
            await cur.execute("SELECT 1")
            await cur.fetchone()

    async def _admin(self) -> AsyncConnection[TupleRow] | None:
        if self.target.admin_user is None:
            return None
        address = await checked_address(self._egress, self.target.host, self.target.port)
        return await AsyncConnection.connect(
            self._conninfo(address, "pgbouncer", self.target.admin_user, self._admin_password),
            autocommit=True,
            cursor_factory=AsyncClientCursor,  # the console speaks only the simple query protocol
        )

    async def _show(self, conn: AsyncConnection[TupleRow], what: str) -> list[dict[str, object]]:
        async with conn.cursor() as cur:
            await cur.execute(f"SHOW {what}")
            names = [d.name for d in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]

    async def _clients_waiting(self) -> float:
        """Clients queueing in the target's pool, by the console; 0 when it cannot tell. Bounded
        by the run's deadline, and by its caller, which stops asking once the query answers."""
        try:
            conn = await self._admin()
            if conn is None:
                return 0.0
            try:
                pools = await self._show(conn, "POOLS")
            finally:
                _close_conn(conn)
        except (psycopg.Error, OSError, ProbeFailure):
            return 0.0
        db, user = self.target.database, self.target.user
        return sum(
            _f(p.get("cl_waiting")) for p in pools if p.get("database") == db and p.get("user") == user
        )

    async def _extra(self, report: ProbeReport) -> None:
        """Console figures are saturation data: their absence never fails the run."""
        conn = None
        try:
            async with asyncio.timeout(max(0.1, self.target.timeout * 0.3)):
                conn = await self._admin()
                if conn is None:
                    return
                pools = await self._show(conn, "POOLS")
                stats = await self._show(conn, "STATS")
        except TimeoutError:
            report.console_error = f"no answer within {max(0.1, self.target.timeout * 0.3):g}s"
            return
        except (psycopg.Error, OSError, ProbeFailure) as exc:
            report.console_error = detail(exc)
            return
        finally:
            _close_conn(conn)
        for p in pools:
            report.pools.append(
                PgBouncerPool(
                    database=str(p.get("database")),
                    user=str(p.get("user")),
                    cl_active=_f(p.get("cl_active")),
                    cl_waiting=_f(p.get("cl_waiting")),
                    sv_active=_f(p.get("sv_active")),
                    sv_idle=_f(p.get("sv_idle")),
                    maxwait_seconds=_f(p.get("maxwait")) + _f(p.get("maxwait_us")) / 1e6,
                )
            )
        for s in stats:
            report.stats.append(
                PgBouncerStats(
                    database=str(s.get("database")),
                    queries_total=_f(s.get("total_query_count")),
                    query_seconds_total=_f(s.get("total_query_time")) / 1e6,  # microseconds
                )
            )


def _f(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
