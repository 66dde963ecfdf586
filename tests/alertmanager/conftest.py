"""The ``amtool`` fixture: one test per amtool of the matrix (tests/alertmanager/tools.py)."""

from __future__ import annotations

import pytest

from tests.alertmanager.tools import AMTOOLS, Amtool


@pytest.fixture(params=sorted(AMTOOLS))
def amtool(request: pytest.FixtureRequest) -> Amtool:
    locate, features, how = AMTOOLS[request.param]
    path = locate()
    if path is None:
        pytest.skip(f"{request.param} is not on this machine: {how}")
    return Amtool(f"alertmanager-{request.param.split('-')[1]}", str(path), features)
