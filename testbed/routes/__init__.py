"""The API's routes, one module per database, and the route → dependency table of docs/metrics.md."""

from __future__ import annotations

from starlette.routing import Route

from .cache import get_cache, put_cache
from .documents import create_document, get_document
from .projects import create_backup, create_project, delete_project, get_project, list_projects
from .service import healthz, metrics_endpoint, openapi_endpoint

__all__ = ["ROUTES", "ROUTE_DEPENDENCY"]


#: route template -> dependency label (docs/metrics.md, "Routes of the platform API")
ROUTE_DEPENDENCY: dict[str, str] = {
    "/v1/projects": "postgres",
    "/v1/projects/{project_id}": "postgres",
    "/v1/projects/{project_id}/backups": "postgres",
    "/v1/cache/{key}": "redis",
    "/v1/documents": "mongodb",
    "/v1/documents/{document_id}": "mongodb",
    "/healthz": "none",
    "/metrics": "none",
    "/openapi.json": "none",
}


ROUTES = [
    Route("/v1/projects", list_projects, methods=["GET"]),
    Route("/v1/projects", create_project, methods=["POST"]),
    Route("/v1/projects/{project_id}", get_project, methods=["GET"]),
    Route("/v1/projects/{project_id}", delete_project, methods=["DELETE"]),
    Route("/v1/projects/{project_id}/backups", create_backup, methods=["POST"]),
    Route("/v1/cache/{key}", get_cache, methods=["GET"]),
    Route("/v1/cache/{key}", put_cache, methods=["PUT"]),
    Route("/v1/documents", create_document, methods=["POST"]),
    Route("/v1/documents/{document_id}", get_document, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/metrics", metrics_endpoint, methods=["GET"]),
    Route("/openapi.json", openapi_endpoint, methods=["GET"]),
]
