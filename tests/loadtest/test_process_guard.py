"""What Locust's process may reach, whoever asks: an absolute URL or a redirect outside the
allow-list fails its request with the address and ``--allow-host`` named, and never connects,
from ``HttpUser`` (requests) and ``FastHttpUser`` (geventhttpclient) alike. The run's
allow-list leaves 127.0.0.2 out (``RunOptions.allow``), where a second stub stands for a host
outside: loopback, so that nothing leaves the machine even on the old code."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloctl.loadtest import RunOptions, run_scenario
from tests.fixtures.stub_http import Answer, StubRequest, serve, text

#: the run's allow-list: 127.0.0.1 alone (and ::1), so that 127.0.0.2 is "outside"
INSIDE = ("127.0.0.1/32", "::1/128")

ESCAPING_LOCUST_FILE = """
import os

from locust import FastHttpUser, HttpUser, constant, task

OUTSIDE = os.environ["SLOCTL_TEST_OUTSIDE"]


class Fast(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def visit(self) -> None:
        self.client.get("/ok", name="fast /ok")
        self.client.get(OUTSIDE + "/absolute", name="fast absolute")
        self.client.get("/redirect", name="fast redirect")


class Plain(HttpUser):
    wait_time = constant(0.05)

    @task
    def visit(self) -> None:
        self.client.get("/ok", name="plain /ok")
        self.client.get(OUTSIDE + "/absolute", name="plain absolute")
        self.client.get("/redirect", name="plain redirect")
"""


@pytest.mark.slow
@pytest.mark.waits
def test_an_absolute_url_or_a_redirect_outside_the_allow_list_fails_and_never_connects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "escaping.py").write_text(ESCAPING_LOCUST_FILE)
    with serve(lambda _request: text("elsewhere"), host="127.0.0.2") as outside:
        monkeypatch.setenv("SLOCTL_TEST_OUTSIDE", outside.url)

        def inside(request: StubRequest) -> Answer:
            if request.path == "/redirect":
                return Answer(b"", status=302, headers=(("Location", f"{outside.url}/moved"),))
            return text("ok")

        with serve(inside) as stub:
            options = RunOptions(host=stub.url, duration=10, users=2, max_requests=60, allow=INSIDE)
            stats = run_scenario(tmp_path / "escaping.py", options, workdir=tmp_path / "run")
    routes = {r.name: r for r in stats.routes}
    for client in ("fast", "plain"):
        assert routes[f"{client} /ok"].num_failures == 0 < routes[f"{client} /ok"].num_requests, routes
        for escape in ("absolute", "redirect"):
            route = routes[f"{client} {escape}"]
            # Before: every one answered 200 by the stub on 127.0.0.2.
            assert route.num_failures == route.num_requests > 0, (client, escape, route)
    assert outside.requests == [], [r.path for r in outside.requests]
    errors = " ".join(error for error, _ in stats.errors)
    assert "refusing to load-test 127.0.0.2: it is outside the allow-list" in errors, stats.errors
    assert "--allow-host" in errors, stats.errors
