"""Projects on PostgreSQL (through PgBouncer): listing, provisioning, deprovisioning, backups."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from starlette.requests import Request
from starlette.responses import Response

from ..cursors import Direction, decode_cursor, encode_cursor
from ..dependencies import ClientProblem
from ..problems import problem
from .common import (
    MAX_INT64,
    audited,
    bad_request,
    deps_of,
    guarded,
    int_param,
    json_response,
    not_found,
    read_json_object,
)

__all__ = ["create_backup", "create_project", "delete_project", "get_project", "list_projects"]


PROJECT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Every statement once, so that what runs is what the audit log says ran (placeholders kept).
SQL_LIST = "SELECT id, name, schema_name, created_at FROM projects WHERE id > %s ORDER BY id LIMIT %s"
SQL_LIST_BEFORE = (
    "SELECT id, name, schema_name, created_at FROM projects WHERE id < %s ORDER BY id DESC LIMIT %s"
)
# Offset pagination, for comparison only (benchmarks/pagination.py): the database reads and
# throws away every row before the offset, so its cost grows with the depth.
SQL_LIST_OFFSET = "SELECT id, name, schema_name, created_at FROM projects ORDER BY id LIMIT %s OFFSET %s"
MAX_OFFSET = 10_000_000
SQL_INSERT = (
    "INSERT INTO projects (name, schema_name) VALUES (%s, %s) RETURNING id, name, schema_name, created_at"
)
SQL_SCHEMA = "CREATE SCHEMA {}"
SQL_ITEMS = "CREATE TABLE {}.items (id bigserial PRIMARY KEY, body jsonb NOT NULL)"
SQL_GET = "SELECT id, name, schema_name, created_at FROM projects WHERE id = %s"
SQL_SCHEMA_OF = "SELECT schema_name FROM projects WHERE id = %s"
SQL_DELETE = "DELETE FROM projects WHERE id = %s RETURNING schema_name"
SQL_DROP = "DROP SCHEMA {} CASCADE"
DUMP = "pg_dump --schema=%s --no-owner"


async def list_projects(request: Request) -> Response:
    """Cursor pagination (``cursor``: opaque, signed; ``Link`` first/next/prev), or ``offset``
    for comparison; not both."""
    deps = deps_of(request)
    config = deps.config
    raw_limit = request.query_params.get("limit")
    limit = config.page_size_default if raw_limit is None else int_param(raw_limit, 1, config.page_size_max)
    if limit is None:
        return bad_request(f"limit must be a whole number from 1 to {config.page_size_max}", request.url.path)
    raw_offset = request.query_params.get("offset")
    offset = None if raw_offset is None else int_param(raw_offset, 0, MAX_OFFSET)
    if raw_offset is not None and offset is None:
        return bad_request(f"offset must be a whole number from 0 to {MAX_OFFSET}", request.url.path)
    direction: Direction = "after"
    position = 0
    if "cursor" in request.query_params:
        if offset is not None:
            return bad_request("give cursor or offset, not both", request.url.path)
        try:
            direction, position = decode_cursor(request.query_params["cursor"], deps.cursor_key)
        except ValueError as exc:
            return bad_request(f"cursor must be one this API gave: {exc}", request.url.path)

    async def run() -> Response:
        async with deps.pg() as conn:
            if offset is not None:
                with audited(request, "postgresql", "select", SQL_LIST_OFFSET, "projects"):
                    cur = await conn.execute(SQL_LIST_OFFSET, (limit + 1, offset))
                    rows = await cur.fetchall()
            elif direction == "before":
                with audited(request, "postgresql", "select", SQL_LIST_BEFORE, "projects"):
                    cur = await conn.execute(SQL_LIST_BEFORE, (position, limit + 1))
                    rows = list(reversed(await cur.fetchall()))
            else:
                with audited(request, "postgresql", "select", SQL_LIST, "projects"):
                    cur = await conn.execute(SQL_LIST, (position, limit + 1))
                    rows = await cur.fetchall()
        more = len(rows) > limit
        page = (rows[1:] if direction == "before" else rows[:limit]) if more else rows
        items = [_project(r) for r in page]
        base = f"/v1/projects?limit={limit}"
        links = [f'<{base}>; rel="first"']
        if offset is not None:
            if more:
                links.append(f'<{base}&offset={offset + limit}>; rel="next"')
            if offset > 0:
                links.append(f'<{base}&offset={max(0, offset - limit)}>; rel="prev"')
        elif page:
            key = deps.cursor_key
            # after a backwards page the rows after it exist (we came from them)
            if more or direction == "before":
                links.append(f'<{base}&cursor={encode_cursor("after", page[-1][0], key)}>; rel="next"')
            if position > 0 and (direction == "after" or more):
                links.append(f'<{base}&cursor={encode_cursor("before", page[0][0], key)}>; rel="prev"')
        return json_response({"items": items}, headers={"Link": ", ".join(links)})

    return await guarded(request, "postgres", run)


async def create_project(request: Request) -> Response:
    data = await read_json_object(request)
    if isinstance(data, Response):
        return data
    name = data.get("name")
    if not isinstance(name, str) or not PROJECT_NAME.match(name):
        return bad_request("name must match [a-z][a-z0-9_]{0,39}", request.url.path)
    schema = f"project_{name}"
    metrics = deps_of(request).metrics

    async def run() -> Response:
        async with deps_of(request).pg() as conn:
            try:
                async with conn.transaction():
                    with audited(request, "postgresql", "insert", SQL_INSERT, "projects", "creation"):
                        cur = await conn.execute(SQL_INSERT, (name, schema))
                        row = await cur.fetchone()
                    with audited(request, "postgresql", "create", SQL_SCHEMA, "schema", "creation"):
                        await conn.execute(sql.SQL(SQL_SCHEMA).format(sql.Identifier(schema)))
                    with audited(request, "postgresql", "create", SQL_ITEMS, "items", "creation"):
                        await conn.execute(sql.SQL(SQL_ITEMS).format(sql.Identifier(schema)))
            except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateSchema) as exc:
                raise ClientProblem(409, "conflict", "Conflict", f"project {name!r} exists") from exc
        assert row is not None
        project = _project(row)
        return json_response(project, 201, {"Location": f"/v1/projects/{project['id']}"})

    response = await guarded(request, "postgres", run)
    # A provisioning attempt either provisioned (2xx) or failed on our side (5xx); client
    # errors (409) are not provisioning attempts.
    if response.status_code < 300:
        metrics.operations.labels("provision_database", "success").inc()
    elif response.status_code >= 500:
        metrics.operations.labels("provision_database", "failure").inc()
    return response


def _project_id(request: Request) -> int | None:
    return int_param(request.path_params["project_id"], 1, MAX_INT64)


async def get_project(request: Request) -> Response:
    project_id = _project_id(request)
    if project_id is None:
        return not_found("project", request.url.path)

    async def run() -> Response:
        async with deps_of(request).pg() as conn:
            with audited(request, "postgresql", "select", SQL_GET, "projects"):
                cur = await conn.execute(SQL_GET, (project_id,))
                row = await cur.fetchone()
        if row is None:
            raise ClientProblem(404, "not-found", "Not found", "project does not exist")
        return json_response(_project(row))

    return await guarded(request, "postgres", run)


async def delete_project(request: Request) -> Response:
    """Deprovision: the project's row and its schema go in one transaction."""
    project_id = _project_id(request)
    if project_id is None:
        return not_found("project", request.url.path)

    async def run() -> Response:
        async with deps_of(request).pg() as conn, conn.transaction():
            with audited(request, "postgresql", "delete", SQL_DELETE, "projects", "deletion"):
                cur = await conn.execute(SQL_DELETE, (project_id,))
                row = await cur.fetchone()
            if row is None:
                raise ClientProblem(404, "not-found", "Not found", "project does not exist")
            with audited(request, "postgresql", "drop", SQL_DROP, "schema", "deletion"):
                await conn.execute(sql.SQL(SQL_DROP).format(sql.Identifier(str(row[0]))))
        return Response(status_code=204)

    return await guarded(request, "postgres", run)


def _pg_dump_binary() -> str:
    from sloctl.servers import ServerStartError, pg_bin

    try:
        return pg_bin("pg_dump")
    except ServerStartError:
        found = shutil.which("pg_dump")
        if found is None:
            raise
        return found


async def create_backup(request: Request) -> Response:
    """``pg_dump`` of the project's schema to the backup directory, outcome counted."""
    deps = deps_of(request)
    project_id = _project_id(request)
    if project_id is None:
        return not_found("project", request.url.path)
    found: list[str] = []

    async def lookup() -> Response:
        async with deps.pg() as conn:
            with audited(request, "postgresql", "select", SQL_SCHEMA_OF, "projects"):
                cur = await conn.execute(SQL_SCHEMA_OF, (project_id,))
                row = await cur.fetchone()
        if row is None:
            raise ClientProblem(404, "not-found", "Not found", "project does not exist")
        found.append(str(row[0]))
        return Response(status_code=204)

    looked_up = await guarded(request, "postgres", lookup)
    if looked_up.status_code != 204:
        if looked_up.status_code >= 500:
            deps.metrics.operations.labels("backup", "failure").inc()
        return looked_up
    # pg_dump needs a session: it runs against PostgreSQL directly, not through PgBouncer.
    params = conninfo_to_dict(deps.config.postgres_direct_dsn or deps.config.postgres_dsn)
    password = str(params.pop("password", "") or "")
    env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"}
    backup_dir = Path(deps.config.backup_dir)
    backup_dir.mkdir(parents=True, exist_ok=True)
    target = backup_dir / f"project-{project_id}-{time.strftime('%Y%m%dT%H%M%S')}-{os.urandom(3).hex()}.sql"
    started = time.perf_counter()
    failed: str | None = None
    try:
        with audited(request, "postgresql", "dump", DUMP, "schema"):
            failed = await _pg_dump(params, env, found[0], target, deps.config.backup_timeout)
            if failed is not None:
                raise BackupFailed(failed)
    except BackupFailed:
        deps.metrics.operations.labels("backup", "failure").inc()
        with contextlib.suppress(OSError):
            target.unlink()
        return problem(
            503, "backup-failed", "Backup failed", f"pg_dump failed: {failed}", instance=request.url.path
        )
    deps.metrics.operations.labels("backup", "success").inc()
    body = {
        "project_id": project_id,
        "file": target.name,
        "bytes": target.stat().st_size,
        "duration_seconds": round(time.perf_counter() - started, 4),
    }
    return json_response(body, 201)


class BackupFailed(Exception):
    """pg_dump exited with an error (its last line of output is the message)."""


async def _pg_dump(
    params: dict[str, Any], env: dict[str, str], schema: str, target: Path, timeout: float
) -> str | None:
    """Run pg_dump (password in the environment, never on its command line); the last line of
    its output when it failed, else None."""
    proc = await asyncio.create_subprocess_exec(
        _pg_dump_binary(),
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
        proc.kill()
        await proc.wait()
        stderr = b"pg_dump timed out"
    if proc.returncode == 0:
        return None
    last = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
    return last[0][:200]


def _project(row: tuple[Any, ...]) -> dict[str, object]:
    return {"id": row[0], "name": row[1], "schema": row[2], "created_at": row[3].isoformat()}
