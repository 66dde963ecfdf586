"""MongoDB probe (pymongo's native asyncio client).

Phases: ``connect`` is our own TCP handshake to the allow-listed address (it makes ``refused``
unambiguous and shows a frozen server as ``connect_timeout``); ``auth`` is the driver's
connection handshake — server selection, ``hello``, TLS when configured and SCRAM — ended by a
``hello`` round trip that also tells the role; ``query`` is ``ping`` plus ``serverStatus``
(connections), and ``hello`` on a kept connection (its role now); ``canary`` an upsert with
``w: majority`` then a read-back.

A client certificate (``tls.certFile`` and ``tls.keyFile``) reaches pymongo as the one PEM file
its ``tlsCertificateKeyFile`` takes, certificate and key together: when they are two files, the
probe joins them in an in-memory file of its own (``memfd_create``, read through
``/proc/self/fd``), so that the key is never copied to disk and goes with the process.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pymongo
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError, ServerSelectionTimeoutError
from pymongo.write_concern import WriteConcern

from sloctl.collector.config import ConnectionMode
from sloctl.collector.probes.base import (
    DatabaseAccess,
    DatabaseProbe,
    PhaseRecorder,
    ProbeReport,
    close_quietly,
    connection_lifetime,
    refused_after_handshake,
    retry_stale_once,
    tcp_connect,
)
from sloctl.collector.reasons import ProbeFailure, classify, detail, timeout_reason
from sloctl.contract import Phase, Reason, Role

__all__ = ["MongoProbe"]

T = TypeVar("T")


class _Abandoned(Exception):
    """A driver call passed its budget; on a kept client this is worth one fresh attempt."""


class MongoProbe(DatabaseProbe):
    def __init__(self, access: DatabaseAccess) -> None:
        super().__init__(access)
        self._client: AsyncMongoClient[dict[str, object]] | None = None
        self._budget = access.target.timeout
        self._rec: PhaseRecorder | None = None
        self._certificate_fd: int | None = None  # the joined certificate and key, when made

    def app_name(self) -> str:
        """Lets fault tests aim a ``failCommand`` at this probe only."""
        return f"sloctl-probe-{self.target.name}"

    def _new_client(self, address: str) -> AsyncMongoClient[dict[str, object]]:
        t = self.target
        ms = int(t.timeout * 1000)
        kwargs: dict[str, object] = {}
        if t.user is not None:
            kwargs.update(username=t.user, password=self._password, authSource=t.database or "admin")
        if t.tls.enabled:
            kwargs.update(tls=True, tlsAllowInvalidCertificates=t.tls.insecure_skip_verify)
            if t.tls.ca_file:
                kwargs["tlsCAFile"] = t.tls.ca_file
            if t.tls.cert_file and t.tls.key_file:
                kwargs["tlsCertificateKeyFile"] = self._certificate_key_file(t.tls.cert_file, t.tls.key_file)
        return AsyncMongoClient(
            host=address,
            port=t.port,
            directConnection=True,
            appname=self.app_name(),
            # Half the deadline: a kept client whose server went away waits in server selection,
            # and must give up in time for one fresh attempt (which then sees "refused").
            serverSelectionTimeoutMS=ms // 2,
            connectTimeoutMS=ms,
            socketTimeoutMS=ms,
            maxPoolSize=1,
            retryReads=False,
            retryWrites=False,
            **kwargs,  # type: ignore[arg-type]
        )

    def _certificate_key_file(self, cert_file: str, key_file: str) -> str:
        """One file with the client certificate and its key, as pymongo takes them: the
        certificate file itself when it holds the key too, else an in-memory join of the two,
        made once (the check loaded the pair; a file unreadable since fails the run: ``tls``)."""
        if os.path.abspath(cert_file) == os.path.abspath(key_file):
            return cert_file
        if self._certificate_fd is None:
            try:
                joined = Path(cert_file).read_bytes().rstrip(b"\n") + b"\n" + Path(key_file).read_bytes()
            except OSError as exc:
                raise ProbeFailure(Reason.TLS, f"cannot read the client certificate or key: {exc}") from exc
            fd = os.memfd_create(f"sloctl-{self.target.name}-client-pem", os.MFD_CLOEXEC)
            os.write(fd, joined)
            self._certificate_fd = fd
        return f"/proc/self/fd/{self._certificate_fd}"

    async def run(self, rec: PhaseRecorder) -> ProbeReport:
        reused = self._client is not None and self.mode is ConnectionMode.WARM
        return await retry_stale_once(reused, lambda: self._attempt(rec))

    async def _attempt(self, rec: PhaseRecorder) -> ProbeReport:
        report = ProbeReport()
        self._rec = rec
        # A kept client gets half the deadline, so that when its server went away (and pymongo
        # waits in server selection) one fresh attempt still fits and reports what is wrong.
        reused = self._client is not None and self.mode is ConnectionMode.WARM
        self._budget = self.target.timeout * (0.5 if reused else 1.0)
        async with connection_lifetime(self):
            if self._client is None or self.mode is ConnectionMode.COLD:
                await self._drop()
                address, _r, writer = await tcp_connect(self.target, self._egress, rec)
                await close_quietly(writer)
                self._client = self._new_client(address)
                async with rec.phase(Phase.AUTH):
                    hello = await self._detach(self._client.admin.command("hello"))
                report.role = _role(hello)
            client = self._client
            async with rec.phase(Phase.QUERY):
                await self._detach(client.admin.command("ping"))
                if report.role is None:
                    # A kept connection said its role when it was opened, and the role may have
                    # changed since (a step-down keeps connections open): ask again. Without it
                    # every warm run removed the role that the last cold run exported.
                    report.role = _role(await self._detach(client.admin.command("hello")))
                status = await self._detach(client.admin.command("serverStatus"))
                conns = status.get("connections")
                if isinstance(conns, dict):
                    current, available = conns.get("current"), conns.get("available")
                    if isinstance(current, int | float):
                        report.connections_used = float(current)
                        if isinstance(available, int | float):
                            report.connections_max = float(current) + float(available)
                mem = status.get("mem")
                if isinstance(mem, dict) and isinstance(mem.get("resident"), int | float):
                    report.memory_used = float(mem["resident"]) * 1024 * 1024  # serverStatus reports MiB
            if self.target.canary:
                async with rec.phase(Phase.CANARY):
                    coll = client.get_database(self.target.database or "sloctl").get_collection(
                        "probe_canary", write_concern=WriteConcern(w="majority")
                    )
                    value = secrets.token_hex(8)
                    key = f"{self.target.name}:{self.mode.value}"
                    await self._detach(coll.replace_one({"_id": key}, {"value": value}, upsert=True))
                    doc = await self._detach(coll.find_one({"_id": key}))
                    if doc is None or doc.get("value") != value:
                        raise ProbeFailure(Reason.VALIDATION, "canary read-back mismatch")
            return report

    async def _detach(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await a driver call that the run's deadline may abandon but never cancels.

        pymongo 4.x leaks the socket when a task is cancelled inside its connect
        (``pool_shared._async_create_connection`` closes it only on ``TimeoutError`` and
        ``OSError``). So the call runs in its own task under pymongo's own deadline
        (``pymongo.timeout``), which ends it cleanly; on cancellation the run moves on and
        the task finishes in the background.
        """

        async def bounded() -> T:
            with pymongo.timeout(self._budget):
                return await coro

        task = asyncio.ensure_future(bounded())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        try:
            done = await self._wait(task)
        except asyncio.CancelledError:
            self._abandon(task)
            self._explain_deadline()
            raise
        if not done:
            # pymongo did not honour its own deadline (seen when a kept client's server was
            # just stopped): give up on it here, so that a fresh attempt still fits.
            self._abandon(task)
            self._slow_server(f"no answer within {self._budget:.2f}s")
            raise _Abandoned(f"timed out after {self._budget:.2f}s")
        try:
            return task.result()
        except PyMongoError as exc:
            if exc.timeout and not isinstance(exc, ServerSelectionTimeoutError):
                self._slow_server(detail(exc), exc)
            raise

    async def _wait(self, task: asyncio.Task[T]) -> bool:
        """Wait for ``task`` up to the budget (True: it is done), looking at the driver's view
        of the server every 50 ms: pymongo retries a handshake whose certificate it cannot
        verify until the deadline, which read as a frozen server's ``connect_timeout``; a
        verification failure does not pass by waiting, and the run fails with ``tls`` at once."""
        loop = asyncio.get_running_loop()
        end = loop.time() + self._budget
        while (left := end - loop.time()) > 0:  # bounded: each pass waits 50 ms or less
            done, _pending = await asyncio.wait({task}, timeout=min(0.05, left))
            if done:
                return True
            if (refused := self._refused_tls()) is not None:
                self._abandon(task)
                raise refused
        return task.done()

    def _refused_tls(self) -> ProbeFailure | None:
        """Reason ``tls`` for what pymongo's monitor said of a TLS handshake that waiting will
        not mend, if it did: a server certificate it could not verify, or a server that refused
        the client's: none given (TLS 1.3's ``certificate required`` alert), or one it does not
        trust (``unknown ca``); the server often just ends the connection right after the
        handshake instead, judged so while the run opens its connection
        (:func:`refused_after_handshake`)."""
        if self._client is None:
            return None
        tls = self.target.tls
        opening = self._rec is not None and self._rec.current is Phase.AUTH
        for server in self._client.topology_description.server_descriptions().values():
            if server.error is None:
                continue
            said = f"{type(server.error).__name__}: {server.error}"
            text = str(server.error).lower()
            if "certificate verify failed" in text:
                return ProbeFailure(Reason.TLS, said)
            if "certificate required" in text:
                needs = "the server requires a client certificate (tls.certFile and tls.keyFile)"
                return ProbeFailure(Reason.TLS, f"{said}: {needs}")
            if "alert unknown ca" in text or "alert bad certificate" in text:
                distrusted = f"the server does not trust tls.certFile {tls.cert_file}"
                return ProbeFailure(Reason.TLS, f"{said}: {distrusted}")
            ended = "eof occurred in violation of protocol" in text or "connection is already closed" in text
            if ended and opening and tls.enabled:
                return refused_after_handshake(tls, server.error)
        return None

    def _slow_server(self, said: str, cause: BaseException | None = None) -> None:
        """Raise the timeout it is when a call timed out on a server that pymongo still knows
        (it answered the handshake and its monitor has not given up on it): sent and unanswered,
        a slow server, which a fresh connection would only wait on again. As the exception it
        was, a kept client's run was retried as stale: it reconnected and, on a loaded machine,
        met the deadline in the new handshake (``connect_timeout`` for a slow ``ping``)."""
        client, rec = self._client, self._rec
        if client is None or rec is None:
            return
        servers = client.topology_description.server_descriptions().values()
        if servers and all(s.is_server_type_known for s in servers):
            raise ProbeFailure(timeout_reason(rec.current), said) from cause

    def _explain_deadline(self) -> None:
        """The run's deadline ended a driver call. pymongo retries a peer that hangs up on its
        handshake until then (server selection), so that a port where something else listens,
        or a server that wants TLS, looked like a frozen server (``connect_timeout``, "no
        answer"): when its monitor saw the connection closed, the run says ``protocol``."""
        client, rec = self._client, self._rec
        if client is None or rec is None:
            return
        for address, server in client.topology_description.server_descriptions().items():
            error = server.error
            if error is not None and classify(error, rec.current) is Reason.PROTOCOL:
                rec.hint = Reason.PROTOCOL
                rec.why = (
                    f"{type(error).__name__}: {error}: the server at {address[0]}:{address[1]} "
                    "hangs up on the MongoDB handshake (another service on this port, or TLS "
                    "that the target's tls does not enable?)"
                )
                return

    def _abandon(self, task: asyncio.Task[Any]) -> None:
        """A driver call the run no longer waits for ends in the background (pymongo's own
        deadline bounds it), counted among the probe's cleanups."""
        self._cleanups.hand_off(_ended(task))

    async def _drop(self) -> None:
        """Close in the background: ``close()`` sends ``endSessions``, which waits on a frozen
        server for up to the socket timeout, and the lane must not wait with it."""
        client, self._client = self._client, None
        if client is None:
            return
        self._cleanups.hand_off(self._close_client(client))

    @staticmethod
    async def _close_client(client: AsyncMongoClient[dict[str, object]]) -> None:
        try:
            async with asyncio.timeout(10.0):
                await client.close()
        except (TimeoutError, PyMongoError, OSError):
            pass

    async def close(self) -> None:
        await self._drop()
        await self._cleanups.wait(timeout=10.0)
        if self._certificate_fd is not None:
            os.close(self._certificate_fd)
            self._certificate_fd = None


async def _ended(task: asyncio.Task[Any]) -> None:
    """Wait for ``task`` to end; cancelled, cancel it."""
    try:
        await asyncio.wait({task})
    finally:
        if not task.done():
            task.cancel()


def _role(hello: dict[str, Any]) -> Role:
    """The server's role from its ``hello`` answer."""
    return Role.PRIMARY if hello.get("isWritablePrimary") else Role.REPLICA
