"""Projects on PostgreSQL (through PgBouncer): listing, provisioning, deprovisioning, backups."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg import sql
from starlette.requests import Request
from starlette.responses import Response

from ..backups import BackupJob, Ended, QueueFull
from ..cursors import Direction, decode_cursor, encode_cursor
from ..dependencies import ClientProblem
from ..problems import problem
from .common import (
    MAX_INT64,
    audited,
    bad_request,
    caller_of,
    deps_of,
    guarded,
    int_param,
    json_response,
    not_found,
    read_json_object,
    single_query_params,
)

__all__ = [
    "cancel_backup",
    "create_backup",
    "create_project",
    "delete_project",
    "get_backup",
    "get_project",
    "list_projects",
]


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


async def list_projects(request: Request) -> Response:
    """Cursor pagination (``cursor``: opaque, signed; ``Link`` first/next/prev), or ``offset``
    for comparison; not both."""
    deps = deps_of(request)
    config = deps.config
    params = single_query_params(request, ("limit", "cursor", "offset"))
    if isinstance(params, Response):
        return params
    raw_limit = params.get("limit")
    limit = config.page_size_default if raw_limit is None else int_param(raw_limit, 1, config.page_size_max)
    if limit is None:
        return bad_request(f"limit must be a whole number from 1 to {config.page_size_max}", request.url.path)
    raw_offset = params.get("offset")
    offset = None if raw_offset is None else int_param(raw_offset, 0, MAX_OFFSET)
    if raw_offset is not None and offset is None:
        return bad_request(f"offset must be a whole number from 0 to {MAX_OFFSET}", request.url.path)
    direction: Direction = "after"
    position = 0
    if "cursor" in params:
        if offset is not None:
            return bad_request("give cursor or offset, not both", request.url.path)
        try:
            direction, position = decode_cursor(params["cursor"], deps.cursor_key)
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
    if not isinstance(name, str) or not PROJECT_NAME.fullmatch(name):
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


async def create_backup(request: Request) -> Response:
    """Queue a backup of the project's schema (:mod:`testbed.backups`): 202 with the job's
    ``Location``; the dump runs off the request path and its outcome is counted when it ends."""
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
    try:
        job = deps.backups.submit(project_id, found[0], caller_of(request))
    except QueueFull:
        # A backup asked for and not taken: a failed backup, as a failed dump is.
        deps.metrics.operations.labels("backup", "failure").inc()
        return problem(
            503,
            "backup-busy",
            "Backups busy",
            f"{deps.config.backup_queue} backups are already waiting; try again later",
            instance=request.url.path,
            headers={"Retry-After": "1"},
        )
    return json_response(job.to_json(), 202, {"Location": f"{request.url.path}/{job.id}"})


def _backup_job(request: Request) -> BackupJob | None:
    project_id = _project_id(request)
    job = deps_of(request).backups.get(request.path_params["backup_id"])
    return None if project_id is None or job is None or job.project_id != project_id else job


async def get_backup(request: Request) -> Response:
    """A backup job: ``pending``, ``running`` (with ``Retry-After``: when to look again),
    ``done`` (file and size), ``failed`` (pg_dump's last line) or ``cancelled``."""
    job = _backup_job(request)
    if job is None:
        return not_found("backup", request.url.path)
    headers = {"Retry-After": "1"} if job.status in ("pending", "running") else {}
    return json_response(job.to_json(), headers=headers)


async def cancel_backup(request: Request) -> Response:
    """Cancel a backup job (:meth:`testbed.backups.BackupJobs.cancel`): 200 with the job,
    ``cancelled`` (again: cancelling twice is no error); 409 once it has ended."""
    job = _backup_job(request)
    if job is None:
        return not_found("backup", request.url.path)
    try:
        deps_of(request).backups.cancel(job)
    except Ended:
        ended = job.status if job.status in ("done", "failed") else "its dump has just ended"
        return problem(
            409,
            "conflict",
            "Conflict",
            f"the backup has ended ({ended}); there is nothing to cancel: read it for its outcome",
            instance=request.url.path,
        )
    return json_response(job.to_json())


def _project(row: tuple[Any, ...]) -> dict[str, object]:
    return {"id": row[0], "name": row[1], "schema": row[2], "created_at": row[3].isoformat()}
