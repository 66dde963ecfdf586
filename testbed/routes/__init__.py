"""The API's routes, one module per database; the route → dependency table is the contract's
(:data:`sloctl.contract.ROUTES`)."""

from __future__ import annotations

from starlette.routing import Route

from sloctl import contract

from .cache import get_cache, put_cache
from .documents import create_document, get_document
from .projects import (
    create_backup,
    create_project,
    delete_project,
    get_backup,
    get_project,
    list_projects,
)
from .service import healthz, metrics_endpoint, openapi_endpoint

__all__ = ["ROUTES", "ROUTE_DEPENDENCY"]


#: route template -> dependency label (the contract's route table)
ROUTE_DEPENDENCY = contract.ROUTE_DEPENDENCY


ROUTES = [
    Route("/v1/projects", list_projects, methods=["GET"]),
    Route("/v1/projects", create_project, methods=["POST"]),
    Route("/v1/projects/{project_id}", get_project, methods=["GET"]),
    Route("/v1/projects/{project_id}", delete_project, methods=["DELETE"]),
    Route("/v1/projects/{project_id}/backups", create_backup, methods=["POST"]),
    Route("/v1/projects/{project_id}/backups/{backup_id}", get_backup, methods=["GET"]),
    Route("/v1/cache/{key}", get_cache, methods=["GET"]),
    Route("/v1/cache/{key}", put_cache, methods=["PUT"]),
    Route("/v1/documents", create_document, methods=["POST"]),
    Route("/v1/documents/{document_id}", get_document, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/metrics", metrics_endpoint, methods=["GET"]),
    Route("/openapi.json", openapi_endpoint, methods=["GET"]),
]
