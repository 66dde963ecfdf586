"""Backups off the request path: ``POST …/backups`` queues a job and answers 202 with its
``Location``; a bounded number of workers run ``pg_dump``; ``GET …/backups/{backup_id}`` says
``pending``, ``running``, ``done``, ``failed`` or ``cancelled`` (``POST …/cancel``: a job waiting
is taken off the queue, a running dump is killed and its PostgreSQL session ended).

Why: a ``pg_dump`` per request (a process, 100–380 ms on 2 shared cores) held the request and
slowed the requests around it (docs/benchmarks.md, "Latency at 50 req/s"). The operation's
outcome (``platform_operations_total{operation="backup"}``) is counted when the dump ends, so
the backup SLO judges the dumps, not their acceptance; a cancelled backup is counted apart
(``outcome="cancelled"``): the user stopped it, the service did not fail it, and the SLO counts it
in neither its good nor its total events. Bounded: ``workers`` dumps at a time, ``queue`` jobs
waiting (a full queue is a 503 and a failed backup; a cancelled job frees its place at once), the
last ``keep`` jobs remembered (a job that was forgotten is a 404).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from sloctl.contract import Outcome

from .audit import Caller

__all__ = [
    "DUMP",
    "SESSION_NAME",
    "BackupFailed",
    "BackupJob",
    "BackupJobs",
    "Ended",
    "QueueFull",
    "Status",
    "pg_dump",
]

DUMP = "pg_dump --schema=%s --no-owner"
#: a dump's PostgreSQL ``application_name`` (%s: the backup's id): how its session is found
#: to end it with the dump (63 bytes at most, PostgreSQL's NAMEDATALEN)
SESSION_NAME = "platform-backup-%s"
#: seconds given to ending a stopped dump's session, connecting and its exit included (a stop of
#: the API, or a worker's next job, waits that long at most when PostgreSQL does not answer)
SESSION_END_SECONDS = 5.0
Status = Literal["pending", "running", "done", "failed", "cancelled"]


@dataclass
class BackupJob:
    id: str
    project_id: int
    schema: str
    #: who asked, for the dump's audit line
    caller: Caller | None = None
    created_at: float = field(default_factory=time.time)
    status: Status = "pending"
    file: str | None = None
    bytes: int | None = None
    duration_seconds: float | None = None
    error: str | None = None
    #: the running dump (None while pending): what a cancellation cancels
    dump_task: asyncio.Task[str | None] | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "project_id": self.project_id,
            "status": self.status,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created_at)),
            "file": self.file,
            "bytes": self.bytes,
            "duration_seconds": self.duration_seconds,
            "error": self.error,
        }


class BackupFailed(Exception):
    """pg_dump exited with an error (its last line of output is the message)."""


class QueueFull(Exception):
    """As many jobs are waiting as the queue holds."""


class Ended(Exception):
    """The job has ended (done or failed): there is nothing left to cancel."""


#: (job) -> the error of a failed dump, None when it succeeded; also audits it
Dumper = Callable[[BackupJob, Path], Coroutine[Any, Any, str | None]]
#: (outcome) -> None: counts the end of a job
Count = Callable[[Outcome], None]


class BackupJobs:
    def __init__(
        self,
        backup_dir: Path,
        dump: Dumper,
        outcome: Count,
        *,
        workers: int = 1,
        queue: int = 16,
        keep: int = 1000,
    ) -> None:
        if workers < 1 or queue < 1 or keep < queue:
            raise ValueError(
                f"backup workers and queue must be at least 1 (workers={workers}, queue={queue})"
            )
        self.backup_dir = Path(backup_dir)
        self._dump = dump
        self._outcome = outcome
        self._workers = workers
        # Unbounded: the bound is on the jobs still pending (``_waiting``), so that a cancelled
        # job, which stays in the queue until a worker skips it, frees its place at once.
        self._queue: asyncio.Queue[BackupJob] = asyncio.Queue()
        self._capacity = queue
        self._waiting = 0
        self._jobs: OrderedDict[str, BackupJob] = OrderedDict()
        self._keep = keep
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._work(), name=f"backup-worker-{i}") for i in range(self._workers)
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def submit(self, project_id: int, schema: str, caller: Caller | None = None) -> BackupJob:
        if self._waiting >= self._capacity:
            raise QueueFull
        job = BackupJob(os.urandom(8).hex(), project_id, schema, caller)
        self._queue.put_nowait(job)
        self._waiting += 1
        self._jobs[job.id] = job
        while len(self._jobs) > self._keep:
            self._jobs.popitem(last=False)
        return job

    def get(self, backup_id: str) -> BackupJob | None:
        return self._jobs.get(backup_id)

    def cancel(self, job: BackupJob) -> None:
        """Cancel ``job``: a pending one leaves the queue (counted cancelled now), a running one
        has its dump cancelled (pg_dump killed; counted cancelled when the worker sees it end).
        A job already cancelled stays so; one that ended raises :class:`Ended`."""
        if job.status == "cancelled":
            return
        if job.status == "pending":
            self._waiting -= 1
            self._outcome(Outcome.CANCELLED)
        elif job.status in ("done", "failed") or job.dump_task is None or not job.dump_task.cancel():
            # (a dump task that cannot be cancelled has ended; its worker records how)
            raise Ended(job.status)
        job.status = "cancelled"

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                if job.status == "pending":  # else cancelled while it waited
                    self._waiting -= 1
                    await self._run(job)
            finally:
                self._queue.task_done()

    async def _run(self, job: BackupJob) -> None:
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = self.backup_dir / f"project-{job.project_id}-{stamp}-{job.id[:6]}.sql"
        started = time.perf_counter()
        job.status = "running"
        job.dump_task = asyncio.create_task(self._dump(job, target), name=f"backup-{job.id}")
        cancelled = False
        try:
            error = await job.dump_task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the API stops: the worker itself is cancelled
            cancelled, error = True, None
        except Exception as exc:  # a worker must outlive any one job
            error = f"{type(exc).__name__}: {exc}"[:200]
        finally:
            job.dump_task = None
        job.duration_seconds = round(time.perf_counter() - started, 4)
        if error is None and not cancelled:
            job.status, job.file, job.bytes = "done", target.name, target.stat().st_size
            self._outcome(Outcome.SUCCESS)
            return
        if not cancelled:
            job.status, job.error = "failed", error
        with contextlib.suppress(OSError):
            target.unlink()
        self._outcome(Outcome.CANCELLED if cancelled else Outcome.FAILURE)


def pg_dump_binary() -> str:
    from sloctl.servers import ServerStartError, pg_bin

    try:
        return pg_bin("pg_dump")
    except ServerStartError:
        found = shutil.which("pg_dump")
        if found is None:
            raise
        return found


async def pg_dump(dsn: str, schema: str, target: Path, timeout: float, backup_id: str) -> str | None:
    """Run pg_dump against ``dsn`` (password in the environment, never on its command line) in a
    session named after ``backup_id`` (:data:`SESSION_NAME`); the last line of its output when
    it failed, else None. A dump timed out or cancelled is killed, and its session ended."""
    params: dict[str, Any] = conninfo_to_dict(dsn)
    password = str(params.pop("password", "") or "")
    params["application_name"] = SESSION_NAME % backup_id
    env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"}
    proc = await asyncio.create_subprocess_exec(
        pg_dump_binary(),
        f"--dbname={make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})}",
        f"--schema={schema}",
        "--no-owner",
        f"--file={target}",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout):
            _, stderr = await proc.communicate()
    except TimeoutError:
        await _stop(proc, dsn, SESSION_NAME % backup_id)
        stderr = b"pg_dump timed out"
    except asyncio.CancelledError:  # cancelled, or the API stops: no pg_dump outlives it
        await _stop(proc, dsn, SESSION_NAME % backup_id)
        raise
    if proc.returncode == 0:
        return None
    last = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
    return last[0][:200]


async def _stop(proc: asyncio.subprocess.Process, dsn: str, session: str) -> None:
    """Kill pg_dump, then end its server session: a backend waiting on a lock (a table another
    session holds in ACCESS EXCLUSIVE mode) does not notice its client is gone until the lock
    frees, and holds its connection slot and its place in the lock queue until then. The dump's
    own role may end it (pg_terminate_backend needs no superuser for a backend of one's own
    role); its second argument waits for the backend to exit (PostgreSQL 14 and later)."""
    proc.kill()
    await proc.wait()
    ms = int(SESSION_END_SECONDS * 1000)
    # PostgreSQL unreachable or too slow: nothing more can be done from here; the session ends
    # when its lock frees and it next writes to its closed socket.
    with contextlib.suppress(psycopg.Error, OSError, TimeoutError):
        async with asyncio.timeout(SESSION_END_SECONDS):
            conn = await psycopg.AsyncConnection.connect(
                dsn, autocommit=True, connect_timeout=int(SESSION_END_SECONDS)
            )
            async with conn:
                await conn.execute(
                    "SELECT pg_terminate_backend(pid, %s) FROM pg_stat_activity"
                    " WHERE application_name = %s AND pid <> pg_backend_pid()",
                    (ms, session),
                )
