"""The testbed's HTTP protocol adds its request-target extension to the ASGI scope's
``extensions``, merged into those the server set: it replaced the whole dict, so that an
extension uvicorn (or a later version of it) had set for the app was lost. Against a real
uvicorn server on loopback with the testbed's protocol, no databases."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from testbed.protocol import REQUEST_TARGET, BoundedHeadProtocol
from tests.waiting import wait_until

#: an extension of the ASGI specification that a server may set before the head is whole
SERVERS_OWN = "http.response.trailers"


class _ServerSetsAnExtension(BoundedHeadProtocol):
    """The testbed's protocol under a server that sets an extension of its own as a request
    begins, as uvicorn's scope may one day hold one."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {SERVERS_OWN: {}}


async def _extensions_app(scope: Any, receive: Any, send: Any) -> None:
    """Answers the scope's extensions: their names, and the request target the testbed's holds."""
    extensions = scope.get("extensions") or {}
    target = extensions.get(REQUEST_TARGET, {}).get("target", b"").decode()
    body = json.dumps({"names": sorted(extensions), "target": target}).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


@contextmanager
def _serving(protocol: type[BoundedHeadProtocol]) -> Iterator[str]:
    """A uvicorn server of ``_extensions_app`` with ``protocol``, on a loopback port: its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_extensions_app, http=protocol, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=30, what="the server started")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    assert not thread.is_alive(), "the server stopped"


@pytest.mark.parametrize(
    ("protocol", "names"),
    [
        (_ServerSetsAnExtension, [SERVERS_OWN, REQUEST_TARGET]),
        (BoundedHeadProtocol, [REQUEST_TARGET]),
    ],
    ids=["the server's own kept", "none before"],
)
def test_the_request_target_extension_joins_the_servers_own(
    protocol: type[BoundedHeadProtocol], names: list[str]
) -> None:
    with _serving(protocol) as url, httpx.Client(timeout=10) as client:
        answer = client.get(f"{url}/v1/projects?limit=1").json()
    assert answer == {"names": sorted(names), "target": "/v1/projects?limit=1"}
