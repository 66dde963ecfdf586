"""The testbed serves the contract's route table: each route bound to its handler by operation
id, in the contract's order, and a handler table that does not match it fails at import."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from sloctl import contract
from testbed.routes import HANDLERS, ROUTES, bind


def test_the_testbed_serves_exactly_the_routes_of_the_contract_in_its_order() -> None:
    served = [(method, route.path) for route in ROUTES for method in route.methods or () if method != "HEAD"]
    assert served == [(r.method, r.path) for r in contract.ROUTES]


def test_each_route_is_served_by_the_handler_of_its_operation_id() -> None:
    assert [route.endpoint for route in ROUTES] == [HANDLERS[r.operation_id] for r in contract.ROUTES]


def test_a_route_without_a_handler_or_a_handler_without_a_route_is_an_error() -> None:
    async def spare(request: Request) -> Response:
        return Response()

    missing = {k: v for k, v in HANDLERS.items() if k != "getCache"}
    with pytest.raises(LookupError, match=r"no handler for \['getCache'\], no route for \[\]"):
        bind(contract.ROUTES, missing)
    with pytest.raises(LookupError, match=r"no handler for \[\], no route for \['spare'\]"):
        bind(contract.ROUTES, {**HANDLERS, "spare": spare})
