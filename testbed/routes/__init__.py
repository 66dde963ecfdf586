"""The API's routes, one module per database. The route table is the contract's
(:data:`sloctl.contract.ROUTES`: method, path template, dependency, operation id); this module
only binds a handler to each operation id."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sloctl import contract

from .cache import get_cache, put_cache
from .documents import create_document, get_document
from .projects import (
    cancel_backup,
    create_backup,
    create_project,
    delete_project,
    get_backup,
    get_project,
    list_projects,
)
from .service import healthz, metrics_endpoint, openapi_endpoint, readyz

__all__ = ["HANDLERS", "ROUTES", "ROUTE_DEPENDENCY", "bind"]


#: route template -> dependency label (the contract's route table)
ROUTE_DEPENDENCY = contract.ROUTE_DEPENDENCY


Endpoint = Callable[[Request], Awaitable[Response]]

#: operation id (the contract's) -> its handler
HANDLERS: dict[str, Endpoint] = {
    "listProjects": list_projects,
    "createProject": create_project,
    "getProject": get_project,
    "deleteProject": delete_project,
    "createBackup": create_backup,
    "getBackup": get_backup,
    "cancelBackup": cancel_backup,
    "getCache": get_cache,
    "putCache": put_cache,
    "createDocument": create_document,
    "getDocument": get_document,
    "getHealth": healthz,
    "getReadiness": readyz,
    "getMetrics": metrics_endpoint,
    "getOpenapi": openapi_endpoint,
}


def bind(routes: Sequence[contract.ApiRoute], handlers: Mapping[str, Endpoint]) -> list[Route]:
    """Starlette routes for ``routes``, in their order (Starlette takes the first match), each
    with its handler; a route without a handler, or a handler without a route, is an error."""
    wanted = [r.operation_id for r in routes]
    missing = sorted(set(wanted) - handlers.keys())
    extra = sorted(handlers.keys() - set(wanted))
    if missing or extra:
        raise LookupError(
            f"the handlers do not match the contract's routes: no handler for {missing}, no route for {extra}"
        )
    return [Route(r.path, handlers[r.operation_id], methods=[r.method]) for r in routes]


ROUTES = bind(contract.ROUTES, HANDLERS)
