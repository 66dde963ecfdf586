"""The MongoDB probe over TLS against a real SecantusDB whose port speaks TLS alone
(``start_mongodb(..., tls=(cert, key))``, SecantusDB's ``--tls-cert-file``/``--tls-key-file``),
with a private CA made by ``openssl`` on the spot: verified against ``tls.caFile`` it passes,
cold and warm; a certificate from another CA is reason ``tls``, long before the deadline (pymongo
retries that handshake until the deadline, and it read ``connect_timeout``, a frozen server's
reason); and a plaintext probe of a TLS port is ``protocol``, saying TLS may be what is missing.
MongoDB over TLS had no test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sloctl.servers import MongoServer, start_mongodb
from tests.collector.helpers import collector_config, runs_of_each
from tests.fixtures.certs import issue_cert, make_ca

pytestmark = pytest.mark.servers

#: the deadline of every run: a handshake's failure on loopback must come long before it (its
#: runs take some 50 ms). The plaintext target's runs wait it out (pymongo retries a peer that
#: hangs up until then), and the two runs of each target one interval apart (the deadline and
#: half a second) are this test's time: 4 s made it 12 s.
DEADLINE = 2.0


@pytest.fixture(scope="module")
def cas(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, tuple[Path, Path]]:
    """The CA that signed the server's certificate, another CA, and that certificate (and key)."""
    tmp = tmp_path_factory.mktemp("mongo-pki")
    ca, other = make_ca(tmp, "ca"), make_ca(tmp, "other-ca")
    return ca[0], other[0], issue_cert(tmp, ca, "server")


@pytest.fixture(scope="module")
def mongo_tls(
    tmp_path_factory: pytest.TempPathFactory, cas: tuple[Path, Path, tuple[Path, Path]]
) -> Iterator[MongoServer]:
    with start_mongodb(tmp_path_factory.mktemp("mongo-tls"), tls=cas[2]) as server:
        yield server


def test_a_mongodb_over_tls_is_verified_against_tls_ca_file(
    mongo_tls: MongoServer, cas: tuple[Path, Path, tuple[Path, Path]]
) -> None:
    ca, other, _server = cas
    common = f"kind: mongodb, port: {mongo_tls.port}"
    config = collector_config(
        [
            f"name: trusted, {common}, canary: true, connections: [cold, warm], tls: {{caFile: '{ca}'}}",
            f"name: other-ca, {common}, tls: {{caFile: '{other}'}}",
            f"name: plaintext, {common}",
        ],
        f"interval: {(DEADLINE + 0.5) * 1000:.0f}ms, timeout: {DEADLINE:g}s, connections: [cold]",
    )

    history = runs_of_each(config, "mongo-tls.yaml", logger="sloctl.collector.mongotls", runs=2, timeout=60)
    trusted, other_ca, plaintext = history["trusted"], history["other-ca"], history["plaintext"]
    assert trusted and all(r.ok for r in trusted), [r.error for r in trusted]
    assert {r.connection for r in trusted} == {"cold", "warm"}, trusted
    assert all(r.durations.keys() >= {"query", "canary"} for r in trusted), trusted
    assert {r.reason for r in other_ca} == {"tls"}, [(r.reason, r.error) for r in other_ca]
    assert all(r.durations["total"] < DEADLINE / 2 for r in other_ca), [r.durations for r in other_ca]
    assert all(r.error and "certificate verify failed" in r.error for r in other_ca), other_ca
    # a plaintext handshake on a TLS port: the server hangs up, which the run says and names
    assert plaintext and {r.reason for r in plaintext} == {"protocol"}, [r.error for r in plaintext]
    assert all(r.error and "or TLS that the target's tls does not enable?" in r.error for r in plaintext)
