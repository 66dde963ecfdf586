"""The breakpoint tests' stub service and statistics: a Locust file of two routes against a stub
whose ``/slow`` slows down as the search adds users, and a route's statistics over one step."""

from __future__ import annotations

import time

from sloctl.loadtest.results import RouteStats
from tests.fixtures.stub_http import Answer, StubRequest

__all__ = ["LOCUST_FILE", "SLOW_PER_USER", "answer", "ok_of", "route_of"]

#: The users' count rides on each request, so that the stub's route slows down with the users
#: the search added (a route whose pool is shared by every user), whatever the machine's load.
LOCUST_FILE = """\
from locust import FastHttpUser, constant, task

from sloctl.loadtest.locustlib import BreakpointShape  # noqa: F401


class Client(FastHttpUser):
    wait_time = constant(0.02)

    def _get(self, path: str) -> None:
        users = str(self.environment.runner.user_count)
        self.client.get(path, name=path, headers={"X-Users": users})

    @task
    def slow(self) -> None:
        self._get("/slow")

    @task
    def steady(self) -> None:
        self._get("/steady")
"""

#: /slow's time per user: 100 ms at 1 user, 200 at 2, 300 at 3 (its gate: p(95) <= 250 ms, 50 ms
#: from either: room for a loaded machine's own delays)
SLOW_PER_USER = 0.1


def answer(request: StubRequest) -> Answer:
    users = int(next((v for k, v in request.headers.items() if k.lower() == "x-users"), "1"))
    delay = SLOW_PER_USER * users if request.path == "/slow" else 0.002
    time.sleep(delay)  # real timer: the service's own time, the figure the gates judge
    return Answer(b"ok")


def route_of(name: str, times: dict[int, int], failures: int = 0, method: str = "GET") -> RouteStats:
    """A route's statistics over a 5 s step: its successes' buckets (ms → count) and
    ``failures`` more requests, which have no bucket here."""
    n = sum(times.values()) + failures
    total = float(sum(k * v for k, v in times.items()))
    return RouteStats(
        name, method, n, failures, total, float(max(times, default=0)), tuple(sorted(times.items())), 0.0, 5.0
    )


def ok_of(route: RouteStats) -> RouteStats:
    """``route``'s successful requests (:func:`route_of`'s buckets)."""
    n = sum(v for _, v in route.response_times)
    return RouteStats(
        route.name,
        route.method,
        n,
        0,
        route.total_response_time,
        route.max_response_time,
        route.response_times,
        0.0,
        5.0,
    )
