"""The collector keeps its pages and its traces on loopback unless its config says otherwise,
and /debug/targets can be turned off."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest

from sloctl.collector import Collector, load_config_text
from sloctl.errors import SpecErrors
from tests.collector.helpers import live_collector
from tests.security.conftest import OUTSIDE, FakeDNS

# One target (loopback, where nothing listens): a config with nothing to probe is refused.
HEAD = (
    "apiVersion: sloctl/v1\nkind: CollectorConfig\n"
    "targets: [{name: api, kind: http, url: 'http://127.0.0.1:9/'}]\n"
)


@pytest.mark.parametrize("listen", ["0.0.0.0:9465", "[::]:9465", f"{OUTSIDE}:9465"])
def test_listening_off_loopback_is_refused_unless_the_config_allows_it(listen: str) -> None:
    with pytest.raises(SpecErrors, match="allowNonLoopbackListen: true") as caught:
        load_config_text(f"{HEAD}listen: '{listen}'\n", "c.yaml")
    assert str(caught.value).startswith("c.yaml:4:1: listen: refusing to listen on")
    allowed = load_config_text(f"{HEAD}listen: '{listen}'\nallowNonLoopbackListen: true\n", "c.yaml")
    assert allowed.listen_non_loopback


@pytest.mark.parametrize(
    ("endpoint", "protocol"),
    [(f"http://{OUTSIDE}:4318", "http/protobuf"), (f"http://{OUTSIDE}:4317", "grpc")],
)
def test_exporting_traces_off_loopback_is_refused_unless_the_config_allows_it(
    endpoint: str, protocol: str
) -> None:
    otlp = f"otlp: {{endpoint: '{endpoint}', protocol: {protocol}}}\n"
    with pytest.raises(SpecErrors, match="allowNonLoopback: true under otlp"):
        load_config_text(HEAD + otlp, "c.yaml")
    allowed = otlp.replace("}", ", allowNonLoopback: true}")
    config = load_config_text(HEAD + allowed, "c.yaml")
    assert config.otlp is not None and config.otlp.allow_non_loopback


def test_names_that_resolve_off_loopback_are_refused_when_the_collector_starts(
    hosts_file: Path, fake_dns: FakeDNS, tripwire: list[object]
) -> None:
    import asyncio

    # Loopback only: names come from the hosts file (one address outside refuses the name), and
    # a name it lacks is refused without a DNS query.
    hosts_file.write_text(f"{OUTSIDE} metrics.test\n127.0.0.1 otel.test\n{OUTSIDE} otel.test\n")
    fake_dns.set("nowhere.test", ["127.0.0.1"])
    for extra, refusal in (
        ("listen: metrics.test:0\n", "refusing to listen on metrics.test"),
        ("listen: 127.0.0.1:0\notlp: {endpoint: 'http://otel.test:4318'}\n", "refusing to export traces"),
        ("listen: nowhere.test:0\n", "cannot listen on nowhere.test: the allow-list is loopback only"),
    ):
        collector = Collector(load_config_text(HEAD + extra, "c.yaml"), {})
        with pytest.raises(SpecErrors, match=refusal):
            asyncio.run(collector.start())
        assert collector.server.addresses == []  # never listened
    assert tripwire == [] and fake_dns.lookups == []


def test_debug_targets_can_be_turned_off() -> None:
    with live_collector(f"{HEAD}listen: 127.0.0.1:0\ndebugTargets: false\n", {}) as c:
        assert c.get("/metrics")[0].startswith("text/plain")
        with pytest.raises(urllib.error.HTTPError) as caught:
            c.get("/debug/targets")
        caught.value.close()  # the error holds the open response
        assert caught.value.code == 404
