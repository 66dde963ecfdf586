"""``/openapi.json``: a valid OpenAPI 3.1 document (openapi-spec-validator) that describes
exactly the routes the API serves, and whose problem schema the API's problems meet."""

from __future__ import annotations

import httpx
import jsonschema
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from sloctl import contract
from sloctl.testbed_runner import ApiServer
from testbed.openapi import openapi_document
from testbed.routes import ROUTES

pytestmark = pytest.mark.servers

METHODS = {"get", "post", "put", "delete", "patch"}


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    validate(doc, cls=OpenAPIV31SpecValidator)


def test_the_document_describes_every_route_and_only_those() -> None:
    described = {
        (path, method.upper())
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method in METHODS
    }
    served = {(r.path, m) for r in ROUTES for m in (r.methods or ()) if m != "HEAD"}
    assert described == served


def test_each_operation_is_described_under_the_contracts_operation_id() -> None:
    described = {
        (method.upper(), path): operation["operationId"]
        for path, item in openapi_document()["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }
    assert described == {(r.method, r.path): r.operation_id for r in contract.ROUTES}


def test_the_served_document_is_the_same_and_problems_meet_its_schema(platform_api: ApiServer) -> None:
    with httpx.Client(base_url=platform_api.url, timeout=10) as c:
        served = c.get("/openapi.json")
        assert served.status_code == 200
        doc = served.json()
        assert doc == openapi_document()
        problem = c.get("/v1/projects/424242424242").json()
    jsonschema.validate(problem, doc["components"]["schemas"]["Problem"])
