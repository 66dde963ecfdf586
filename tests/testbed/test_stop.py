"""The API stops at once when a database has gone first (``testbed up`` stopping the rest after a
server died, a game day's rig after its fault): it waited out MongoDB's 10 s server selection to
end its client's sessions there, and was killed at its own 10 s stop timeout."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from sloctl.testbed_runner import start_testbed

pytestmark = [pytest.mark.servers, pytest.mark.slow]


def test_the_api_stops_at_once_after_mongodb_went_first(tmp_path: Path) -> None:
    with start_testbed(tmp_path) as testbed:
        # a document written and read: the API's MongoDB client holds sessions to end
        made = httpx.post(f"{testbed.api.url}/v1/documents", json={"hello": "world"}, timeout=10)
        assert made.status_code == 201, made.text
        assert httpx.get(f"{testbed.api.url}{made.headers['location']}", timeout=10).status_code == 200
        testbed.mongodb.stop()
        began = time.monotonic()
        testbed.api.stop()
        took = time.monotonic() - began
    assert took < 3.0, f"the API took {took:.2f} s to stop (10.02 s before, 0.9 s after)"
