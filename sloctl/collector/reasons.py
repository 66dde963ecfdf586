"""The fixed set of failure reasons, and the mapping from driver exceptions to them.

A probe run fails at its first failing phase with exactly one reason. Raw error text never
becomes a label value (it is unbounded and may carry secrets); it goes only to the debug page
and to logs, masked. The mapping is phase-aware: a timeout while connecting is a frozen or
filtered target (``connect_timeout``), a timeout after the handshake is a slow server
(``query_timeout``).
"""

from __future__ import annotations

import socket
import ssl

from sloctl.contract import Phase, Reason

__all__ = ["ProbeFailure", "classify", "detail"]


_HANDSHAKE_PHASES = frozenset({Phase.CONNECT, Phase.TLS, Phase.AUTH})


class ProbeFailure(Exception):
    """Raised by probes when they already know the reason (e.g. a canary read-back mismatch)."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# Substrings of server messages that identify the reason where drivers give no better handle.
_AUTH_TEXT = (
    "password authentication failed",
    "wrongpass",
    "noauth",
    "authentication failed",
    "invalid username-password",
    "no password supplied",
    "sasl authentication",
    "pg_hba.conf",  # "no pg_hba.conf entry for host …", "pg_hba.conf rejects connection …"
    # PostgreSQL's refusal, after the handshake, of a connection that brought no client
    # certificate where pg_hba.conf asks for one (``cert``, ``clientcert=verify-full``)
    "requires a valid client certificate",
)
# libpq's words for an error the server answered a new connection with (psycopg gives it no
# SQLSTATE): out of connection slots, no such database, shutting down, PgBouncer's "no such
# database". The server answered; nothing broke the protocol, which is what these were called.
_PG_REFUSED_AT_START = "failed: fatal:"
# libpq says its TLS failures in text alone (psycopg's OperationalError), e.g. 'server
# certificate for "db.test" does not match host name "127.0.0.1"'.
_TLS_TEXT = (
    "certificate verify failed",
    "does not match host name",
    "ssl error:",
    "server does not support ssl",
    "root certificate file",
    # libpq's own refusals of tls.certFile/keyFile: changed since the config was checked
    'certificate file "',
    'private key file "',
)
_POOL_TEXT = ("query_wait_timeout", "no more connections allowed", "pool_timeout")
_CLOSED_TEXT = (
    "server closed the connection",
    "connection closed",
    "consuming input failed",
    "connection reset",
    "eof",
    "broken pipe",
    "lost synchronization",
)


def timeout_reason(phase: Phase | None) -> Reason:
    """A deadline hit during ``phase``: before or during the handshake is ``connect_timeout``."""
    return Reason.CONNECT_TIMEOUT if phase in _HANDSHAKE_PHASES or phase is None else Reason.QUERY_TIMEOUT


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 8:  # bounded: cause chains can loop
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def detail(exc: BaseException) -> str:
    """What went wrong, for the run's error text: the first exception of the cause chain that
    says something, as ``Type: message``. httpx's ``ReadError`` of a connection the peer reset
    says nothing (the reset is two causes down), and the run used to read ``ProbeFailure: ``.
    A :class:`ProbeFailure`'s message is given as it is (``WRONGPASS invalid username-password
    pair …``, the server's words): the class is ours, not what went wrong.

    >>> try:
    ...     try:
    ...         raise ConnectionResetError(104, "Connection reset by peer")
    ...     except OSError as inner:
    ...         raise RuntimeError() from inner
    ... except RuntimeError as outer:
    ...     print(detail(outer))
    ConnectionResetError: [Errno 104] Connection reset by peer
    """
    chain = _chain(exc)
    said = next((e for e in chain if str(e)), chain[0])
    if isinstance(said, ProbeFailure):  # its message is the server's or the probe's own
        return str(said)
    return f"{type(said).__name__}: {said}" if str(said) else type(said).__name__


def _by_type(chain: list[BaseException]) -> Reason | None:
    """The reason a probe already gave, or one the exception types of the cause chain say."""
    for e in chain:
        if isinstance(e, ProbeFailure):
            return e.reason
    for e in chain:
        if isinstance(e, socket.gaierror):
            return Reason.DNS
        if isinstance(e, ConnectionRefusedError):
            return Reason.REFUSED
        if isinstance(e, ssl.SSLError | ssl.CertificateError):
            return Reason.TLS
    return None


def classify(exc: BaseException, phase: Phase | None) -> Reason:
    """Map an exception raised during ``phase`` to one :class:`Reason`."""
    chain = _chain(exc)
    typed = _by_type(chain)
    if typed is not None:
        return typed
    text = " ".join(str(e).lower() for e in chain)
    sqlstate = next((getattr(e, "sqlstate", None) for e in chain if getattr(e, "sqlstate", None)), None)
    code = next((getattr(e, "code", None) for e in chain if isinstance(getattr(e, "code", None), int)), None)
    names = {type(e).__name__ for e in chain}

    if any(t in text for t in _TLS_TEXT):
        return Reason.TLS
    if any(t in text for t in _POOL_TEXT):
        return Reason.POOL_TIMEOUT
    if sqlstate in ("28P01", "28000") or code == 18 or any(t in text for t in _AUTH_TEXT):
        return Reason.AUTH
    if _PG_REFUSED_AT_START in text:
        return Reason.SERVER_ERROR
    if "connection refused" in text:
        return Reason.REFUSED
    if "name or service not known" in text or "could not translate host name" in text:
        return Reason.DNS
    if sqlstate == "57014" or names & {
        "QueryCanceled",
        "NetworkTimeout",
        "ReadTimeout",
        "WriteTimeout",
        "ExecutionTimeout",
        "PoolTimeout",
    }:
        if "PoolTimeout" in names:
            return Reason.POOL_TIMEOUT
        return timeout_reason(phase) if phase in _HANDSHAKE_PHASES else Reason.QUERY_TIMEOUT
    if names & {"ServerSelectionTimeoutError", "ConnectTimeout"} or isinstance(exc, TimeoutError):
        return timeout_reason(phase)
    if "timed out" in text or "timeout expired" in text:
        return timeout_reason(phase)
    if names & {
        "RemoteProtocolError",
        "LocalProtocolError",
        "ProtocolError",
        "InvalidBSON",
        "IncompleteReadError",
    }:
        return Reason.PROTOCOL
    if any(t in text for t in _CLOSED_TEXT) or isinstance(exc, ConnectionError | EOFError):
        return Reason.PROTOCOL
    if sqlstate or names & {
        "OperationFailure",
        "ResponseError",
        "WriteError",
        "WriteConcernError",
        "ServerError",
    }:
        return Reason.SERVER_ERROR
    return Reason.PROTOCOL
