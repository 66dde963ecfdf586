"""Simultaneous misses of the page cache collapse into one computation: a page reloaded by many
people at once, or a wallboard's refresh meeting a slow Prometheus, costs Prometheus one set of
queries, and the other requests wait for it (bounded by the request timeout)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from sloctl import naming
from sloctl.prometheus import Prometheus
from sloctl.serve import App, ServeConfig
from sloctl.serve.data import OVERVIEW_QUERY_COUNT, CacheWaitTimeout, TtlCache
from tests.fixtures.stub_http import Answer, StubRequest, prometheus_answer, serve, vector
from tests.waiting import wait_until

#: Bounds a failure only: the test releases the stub as soon as every request is in.
DEADLINE = 30.0
PARALLEL_PAGES = 50


def test_fifty_parallel_overviews_on_a_cold_cache_cost_one_set_of_queries() -> None:
    release = threading.Event()
    info = ({naming.LABEL_ID: "s-0", naming.LABEL_SERVICE: "s", naming.LABEL_SLO: "0"}, 1.0)

    def slow(request: StubRequest) -> Answer:
        release.wait(DEADLINE)  # a slow Prometheus: answers when the test says so
        if request.path.endswith("/rules"):  # the rules' health: no group listed
            return prometheus_answer({"groups": []})
        return vector(info) if naming.SLO_INFO in request.query.get("query", "") else vector()

    with serve(slow) as stub, Prometheus.connect(stub.url) as prom:
        # A cold cache, as after the cache time: every request misses the overview. Its page
        # then reads the rows' details, a second key: with a cache time of 0, a request reaching
        # it after that read ended would rightly read again (a flaky count), so the time is long.
        app = App(ServeConfig(cache_seconds=60), prom)
        cache = app._cache
        with ThreadPoolExecutor(PARALLEL_PAGES) as pool:
            pages = [pool.submit(app.handle, "/", {}) for _ in range(PARALLEL_PAGES)]
            # Every request is in: one reads Prometheus, the others wait for it (or, as before,
            # each sent its own queries).
            wait_until(
                lambda: (
                    getattr(cache, "waiting", 0) == PARALLEL_PAGES - 1
                    or len(stub.requests) > OVERVIEW_QUERY_COUNT + 1
                ),
                timeout=DEADLINE,
                what="every request in",
            )
            release.set()
            statuses = [p.result(DEADLINE).status for p in pages]
    assert statuses == [200] * PARALLEL_PAGES
    # The queries and the one request for the SLOs' info rules (none of their groups is listed)
    assert len(stub.requests) == OVERVIEW_QUERY_COUNT + 1


def test_a_request_waits_for_the_computation_under_way_and_shares_its_error() -> None:
    cache = TtlCache(10)
    started, release = threading.Event(), threading.Event()

    def failing() -> object:
        started.set()
        release.wait(DEADLINE)
        raise OSError("Prometheus went away")

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(cache.get, "k", failing)
        started.wait(DEADLINE)
        second = pool.submit(cache.get, "k", lambda: pytest.fail("computed twice"))
        wait_until(lambda: cache.waiting == 1, timeout=DEADLINE, what="the second request waiting")
        release.set()
        for future in (first, second):
            with pytest.raises(OSError, match="went away"):
                future.result(DEADLINE)
    # An error is not kept: the next look computes again.
    assert cache.get("k", lambda: "back") == "back"


def test_a_request_waits_for_another_no_longer_than_its_timeout() -> None:
    cache = TtlCache(10, wait=0.01)
    started, release = threading.Event(), threading.Event()

    def slow() -> object:
        started.set()
        release.wait(DEADLINE)
        return "late"

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(cache.get, "k", slow)
        started.wait(DEADLINE)
        with pytest.raises(CacheWaitTimeout, match=r"no answer within 0\.01 s"):
            cache.get("k", lambda: pytest.fail("computed twice"))
        release.set()
        assert first.result(DEADLINE) == "late"
    assert cache.get("k", lambda: "again") == "late" and cache.waiting == 0
