"""Chaos Toolkit actions: each injects one fault into a real server, then checks that the
fault is active and raises :class:`FaultNotActive` when it is not, so that a game day whose
fault never took hold comes out *inconclusive* instead of passing. Each fault has a rollback
that is safe to run twice and safe to run when the fault was never applied.

Every action takes ``apply`` (default true): ``apply=False`` skips the injection but still
runs the check, which is how the tests prove that an unapplied fault is caught.

Servers are reached only on loopback, through the egress guard (:mod:`sloctl.egress`): a DSN,
URL or URI is read by its driver's own parser, every host in it is resolved once and checked,
and the driver is handed the checked address.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from chaoslib.exceptions import ActivityFailed

from sloctl.egress import Egress

from . import proxy as _proxy
from .ledger import LEDGER

__all__ = [
    "BOUNDS",
    "FaultNotActive",
    "mongodb_fail_command",
    "mongodb_fail_command_off",
    "pgbouncer_start",
    "pgbouncer_stop",
    "postgres_slow_query_storm",
    "postgres_slow_query_storm_stop",
    "postgres_terminate_backends",
    "proxy_clear",
    "proxy_fault",
    "redis_client_pause",
    "redis_client_unpause",
    "redis_maxmemory_restore",
    "redis_maxmemory_squeeze",
]

#: The bounds each action holds its arguments to, ``{function: {argument: (lowest, highest)}}``:
#: ``run_gameday`` (and so ``sloctl gameday run``) refuses an argument outside them before anything
#: runs (:func:`sloctl.chaos.experiments.check_experiment_values`, whether it is written in the
#: activity or comes from a configuration key); the actions clamp to them only as a last guard.
BOUNDS: dict[str, dict[str, tuple[float, float]]] = {
    "postgres_slow_query_storm": {"connections": (1, 64), "seconds": (0.1, 300.0)},
    "redis_client_pause": {"seconds": (0.1, 120.0)},
    "redis_maxmemory_squeeze": {"fraction": (0.0, 0.99)},
}


def _bounded(function: str, argument: str, value: float) -> float:
    lowest, highest = BOUNDS[function][argument]
    return max(lowest, min(value, highest))


#: A SQL comment that marks our storm's sessions, so that the rollback cancels only those.
STORM_MARK = "sloctl-gameday-storm"


class FaultNotActive(ActivityFailed):  # type: ignore[misc]
    """The fault was requested but could not be confirmed active."""


#: Game days reach loopback only; there is no flag to widen it.
GAMEDAY = Egress(action="inject a fault into")


def _pg(dsn: str, **kwargs: Any) -> Any:
    """``psycopg.connect`` to the checked address of every host of ``dsn``."""
    import psycopg

    return psycopg.connect(GAMEDAY.pin_dsn(dsn), autocommit=True, connect_timeout=5, **kwargs)


# -- TCP fault proxy ----------------------------------------------------------------------
def proxy_fault(control_port: int, fault: str, latency_ms: int = 0, apply: bool = True) -> dict[str, Any]:
    """Set the fault of a :class:`~sloctl.chaos.proxy.FaultProxy` through its control port and
    confirm the proxy reports it."""
    control_port = int(control_port)
    if apply:
        LEDGER.register(f"proxy:{control_port}", lambda: proxy_clear(control_port))
        state = _proxy.control(control_port, {"fault": fault, "latency_ms": int(latency_ms)})
    else:
        state = _proxy.control(control_port)
    if state.fault != fault or (fault == "latency" and state.latency_ms != int(latency_ms)):
        raise FaultNotActive(
            f"proxy on control port {control_port} reports fault {state.fault!r}, not {fault!r}"
        )
    return {"active": True, "fault": state.fault, "latency_ms": state.latency_ms, "resets": state.resets}


def proxy_clear(control_port: int) -> dict[str, Any]:
    state = _proxy.control(int(control_port), {"fault": "none"})
    LEDGER.done(f"proxy:{int(control_port)}")
    return {"fault": state.fault}


# -- PostgreSQL ---------------------------------------------------------------------------
def postgres_terminate_backends(admin_dsn: str, user: str = "platform", apply: bool = True) -> dict[str, Any]:
    """``pg_terminate_backend`` every session of ``user`` (PgBouncer's server connections
    included): the connection loss a failover or a crash causes."""
    with _pg(admin_dsn) as conn:
        before = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()", (user,)
        ).fetchone()
        terminated = 0
        if apply:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE usename = %s AND pid <> pg_backend_pid()",
                (user,),
            ).fetchall()
            terminated = sum(1 for (ok,) in rows if ok)
    if terminated == 0:
        raise FaultNotActive(f"no session of {user!r} was terminated ({before[0] if before else 0} found)")
    return {"active": True, "terminated": terminated}


def _pgbouncer_admin(admin_dsn: str, *commands: str) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    # The admin console speaks the simple query protocol only.
    with _pg(admin_dsn, prepare_threshold=None) as conn:
        for command in commands:
            cur = conn.cursor()
            cur.execute(command.encode(), prepare=False)
            if cur.description is not None:
                rows = list(cur.fetchall())
    return rows


def _pgbouncer_disabled(admin_dsn: str, database: str) -> bool:
    with _pg(admin_dsn, prepare_threshold=None) as conn:
        cur = conn.cursor()
        cur.execute(b"SHOW DATABASES", prepare=False)
        names = [d.name for d in cur.description or ()]
        for row in cur.fetchall():
            record = dict(zip(names, row, strict=False))
            if record.get("name") == database:
                return bool(int(record.get("disabled", 0) or 0))
    return False


def pgbouncer_stop(admin_dsn: str, database: str = "platform", apply: bool = True) -> dict[str, Any]:
    """Stop PgBouncer serving ``database``: ``DISABLE`` refuses new clients and ``KILL`` drops
    every client and server connection (the effect of stopping the process, through the admin
    console, so that another process can undo it). Checked with ``SHOW DATABASES``."""
    if apply:
        LEDGER.register(f"pgbouncer:{admin_dsn}:{database}", lambda: pgbouncer_start(admin_dsn, database))
        _pgbouncer_admin(admin_dsn, f"DISABLE {database}", f"KILL {database}")
    if not _pgbouncer_disabled(admin_dsn, database):
        raise FaultNotActive(f"PgBouncer still serves {database!r}")
    return {"active": True, "database": database}


def pgbouncer_start(admin_dsn: str, database: str = "platform") -> dict[str, Any]:
    """Undo :func:`pgbouncer_stop` (``RESUME`` then ``ENABLE``); safe when nothing was stopped."""
    import psycopg

    # "database is not paused" is fine: KILL leaves it paused on some versions only.
    with contextlib.suppress(psycopg.Error):
        _pgbouncer_admin(admin_dsn, f"RESUME {database}")
    _pgbouncer_admin(admin_dsn, f"ENABLE {database}")
    if _pgbouncer_disabled(admin_dsn, database):
        raise ActivityFailed(f"PgBouncer still refuses {database!r}")
    LEDGER.done(f"pgbouncer:{admin_dsn}:{database}")
    return {"database": database, "enabled": True}


_STORMS: dict[str, list[threading.Thread]] = {}


def postgres_slow_query_storm(
    dsn: str,
    admin_dsn: str,
    connections: int = 8,
    seconds: float = 10.0,
    apply: bool = True,
    database: str = "",
) -> dict[str, Any]:
    """Run ``connections`` sessions of ``pg_sleep(seconds)`` through ``dsn`` (PgBouncer), or
    through its ``database`` when given (a tier's PgBouncer pool, ``platform_free``), in
    background threads, to hold every server connection of the pool; confirmed when at least
    one query of this storm is running on the server. Bounded: 64 connections and 300 s at
    most."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    GAMEDAY.pin_dsn(admin_dsn)  # refused before any storm starts
    pinned = GAMEDAY.pin_dsn(make_conninfo(dsn, dbname=database) if database else dsn)
    tag = f"{STORM_MARK} {database or 'default'}"
    connections = int(_bounded("postgres_slow_query_storm", "connections", int(connections)))
    seconds = _bounded("postgres_slow_query_storm", "seconds", float(seconds))
    if apply:
        LEDGER.register(f"storm:{admin_dsn}", lambda: postgres_slow_query_storm_stop(admin_dsn))

        def sleeper() -> None:
            try:
                with psycopg.connect(
                    pinned, autocommit=True, connect_timeout=5, prepare_threshold=None
                ) as conn:
                    conn.execute(f"/* {tag} */ SELECT pg_sleep({seconds:.3f})".encode())
            except psycopg.Error:
                pass  # cancelled by the rollback, or refused: the check below decides

        threads = [threading.Thread(target=sleeper, daemon=True) for _ in range(connections)]
        for thread in threads:
            thread.start()
        _STORMS.setdefault(admin_dsn, []).extend(threads)
    running = 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        running = _storm_queries(admin_dsn, tag=tag)
        if running:
            break
        time.sleep(0.1)
    if running == 0:
        raise FaultNotActive("no slow query of the storm is running")
    return {"active": True, "running": running, "connections": connections, "seconds": seconds}


def _storm_queries(admin_dsn: str, cancel: bool = False, tag: str = STORM_MARK) -> int:
    """Running queries of every storm (or of the one ``tag`` names), cancelled with ``cancel``."""
    function = "pg_cancel_backend(pid)" if cancel else "pid"
    with _pg(admin_dsn) as conn:
        rows = conn.execute(
            f"SELECT {function} FROM pg_stat_activity"
            " WHERE state = 'active' AND query LIKE %s AND pid <> pg_backend_pid()",
            (f"%{tag}%SELECT pg_sleep%",),
        ).fetchall()
    return len(rows)


def postgres_slow_query_storm_stop(admin_dsn: str) -> dict[str, Any]:
    """Cancel the storm's queries and wait (5 s at most) for its threads."""
    # Queries queued in PgBouncer start as soon as the running ones are cancelled: cancel in
    # rounds until none is left (5 s at most).
    cancelled = 0
    deadline = time.monotonic() + 5
    threads = _STORMS.pop(admin_dsn, [])
    while time.monotonic() < deadline:
        cancelled += _storm_queries(admin_dsn, cancel=True)
        if not any(t.is_alive() for t in threads) and not _storm_queries(admin_dsn):
            break
        time.sleep(0.05)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    LEDGER.done(f"storm:{admin_dsn}")
    return {"cancelled": cancelled, "remaining": _storm_queries(admin_dsn)}


# -- Redis --------------------------------------------------------------------------------
def _redis(url: str, timeout: float = 2.0) -> Any:
    import redis

    pool = redis.ConnectionPool(
        **GAMEDAY.pin_redis_url(url), socket_timeout=timeout, socket_connect_timeout=timeout
    )
    return redis.Redis.from_pool(pool)


def redis_client_pause(url: str, seconds: float = 10.0, apply: bool = True) -> dict[str, Any]:
    """``CLIENT PAUSE … WRITE`` for ``seconds`` (120 at most): writes stall, reads go on.
    Confirmed when a ``SET`` from a fresh connection does not answer within 0.3 s.

    WRITE, not ALL: Redis 7.0 holds every command under ``PAUSE ALL``, ``CLIENT UNPAUSE``
    included, so an ALL pause could only be rolled back by waiting for it to expire."""
    import redis

    millis = int(_bounded("redis_client_pause", "seconds", float(seconds)) * 1000)
    if apply:
        LEDGER.register(f"redis-pause:{url}", lambda: redis_client_unpause(url))
        client = _redis(url)
        try:
            client.execute_command("CLIENT", "PAUSE", millis, "WRITE")
        finally:
            client.close()
    probe = _redis(url, timeout=0.3)
    try:
        probe.set("sloctl:gameday:pause-check", b"1", ex=5)
    except redis.TimeoutError:
        return {"active": True, "millis": millis}
    finally:
        probe.close()
    raise FaultNotActive("Redis accepted a write: clients are not paused")


def redis_client_unpause(url: str) -> dict[str, Any]:
    client = _redis(url, timeout=5)
    try:
        client.execute_command("CLIENT", "UNPAUSE")
        client.set("sloctl:gameday:pause-check", b"0", ex=5)
    finally:
        client.close()
    LEDGER.done(f"redis-pause:{url}")
    return {"paused": False}


def redis_maxmemory_squeeze(url: str, fraction: float = 0.5, apply: bool = True) -> dict[str, Any]:
    """Set ``maxmemory`` to ``fraction`` of what Redis already uses, with ``noeviction``:
    every write fails with OOM, reads go on. Confirmed by a one-byte ``SET`` that must be
    refused (a limit just above the current use would let small writes through)."""
    import redis

    client = _redis(url)
    try:
        if apply:
            LEDGER.register(f"redis-maxmemory:{url}", lambda: redis_maxmemory_restore(url))
            used = int(client.info("memory")["used_memory"])
            client.config_set("maxmemory-policy", "noeviction")
            share = _bounded("redis_maxmemory_squeeze", "fraction", float(fraction))
            client.config_set("maxmemory", str(max(1, int(used * share))))
        try:
            client.set("sloctl:gameday:squeeze-check", b"x", ex=5)
        except redis.ResponseError as exc:
            # redis-py maps Redis' OOM error to OutOfMemoryError (message without the prefix).
            if isinstance(exc, redis.exceptions.OutOfMemoryError) or "OOM" in str(exc):
                return {"active": True, "maxmemory": client.config_get("maxmemory").get("maxmemory")}
            raise
        client.delete("sloctl:gameday:squeeze-check")
    finally:
        client.close()
    raise FaultNotActive("Redis accepted a write: memory is not squeezed")


def redis_maxmemory_restore(url: str, maxmemory: str = "0", policy: str = "noeviction") -> dict[str, Any]:
    client = _redis(url)
    try:
        client.config_set("maxmemory", maxmemory)
        client.config_set("maxmemory-policy", policy)
    finally:
        client.close()
    LEDGER.done(f"redis-maxmemory:{url}")
    return {"maxmemory": maxmemory, "policy": policy}


# -- MongoDB ------------------------------------------------------------------------------
def _mongo(uri: str, **kwargs: Any) -> Any:
    import pymongo

    options = {"serverSelectionTimeoutMS": 3000, "appname": "sloctl-gameday", **kwargs}
    return pymongo.MongoClient(GAMEDAY.pin_mongodb_uri(uri), **options)


def mongodb_fail_command(
    uri: str,
    mode: str = "errors",
    commands: list[str] | None = None,
    app_name: str = "platform-api",
    block_ms: int = 3000,
    error_code: int = 11601,
    apply: bool = True,
) -> dict[str, Any]:
    """A ``failCommand`` fail point scoped to ``app_name``'s connections: ``errors`` (code
    ``error_code``), ``blocked`` (``blockConnection`` for ``block_ms``) or ``closed``
    (``closeConnection``). Needs a server started with test commands enabled. Confirmed by
    reading the fail point back is not possible on every server, so the check runs the
    failing command from a client with ``app_name`` and expects it to fail or stall."""
    import pymongo
    import pymongo.errors

    if mode not in ("errors", "blocked", "closed"):
        raise ActivityFailed(f"mode must be errors, blocked or closed, not {mode!r}")
    names = list(commands or ["find", "insert"])
    data: dict[str, Any] = {"failCommands": names, "appName": app_name}
    if mode == "errors":
        data["errorCode"] = int(error_code)
    elif mode == "blocked":
        data |= {"blockConnection": True, "blockTimeMS": int(block_ms)}
    else:
        data["closeConnection"] = True
    if apply:
        LEDGER.register(f"mongodb-failcommand:{uri}", lambda: mongodb_fail_command_off(uri))
        client = _mongo(uri)
        try:
            client.admin.command({"configureFailPoint": "failCommand", "mode": "alwaysOn", "data": data})
        except pymongo.errors.OperationFailure as exc:
            raise FaultNotActive(f"configureFailPoint refused (test commands disabled?): {exc}") from exc
        finally:
            client.close()
    # The check: a client with the scoped application name runs one failing command.
    probe = _mongo(uri, appname=app_name, socketTimeoutMS=1000, retryReads=False)
    try:
        started = time.monotonic()
        probe.get_database("platform").get_collection("documents").find_one({})
        elapsed = time.monotonic() - started
        if mode == "blocked" and elapsed >= min(block_ms, 1000) / 1000 * 0.9:
            return {"active": True, "mode": mode}
    except (pymongo.errors.OperationFailure, pymongo.errors.AutoReconnect):
        return {"active": True, "mode": mode}
    finally:
        probe.close()
    raise FaultNotActive(f"a {app_name!r} find succeeded: the failCommand fail point is not active")


def mongodb_fail_command_off(uri: str) -> dict[str, Any]:
    client = _mongo(uri)
    try:
        client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
    finally:
        client.close()
    LEDGER.done(f"mongodb-failcommand:{uri}")
    return {"mode": "off"}
