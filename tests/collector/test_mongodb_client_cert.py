"""Mutual TLS on MongoDB: a real SecantusDB that requires a client certificate
(``start_mongodb(..., tls=…, client_ca=…)``, its ``--tls-ca-file`` and
``--tls-require-client-cert``), with a private CA made by ``openssl`` on the spot. The probe
presents ``tls.certFile`` with ``tls.keyFile`` (joined in memory for pymongo, or one file that
holds both) and passes, cold and warm; without a certificate, or with one from another CA, the
run is reason ``tls`` well before the deadline, saying why. Before, a mongodb target refused
``certFile`` and ``keyFile`` and could not probe such a server at all."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sloctl.servers import MongoServer, start_mongodb
from tests.collector.helpers import collector_config, runs_of_each
from tests.fixtures.certs import Pki, make_pki

pytestmark = pytest.mark.servers

#: the deadline of every run: a refused handshake on loopback must end long before it
DEADLINE = 4.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("mongo-mtls-pki"))


@pytest.fixture(scope="module")
def mongo_mtls(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[MongoServer]:
    with start_mongodb(tmp_path_factory.mktemp("mongo-mtls"), tls=pki.server, client_ca=pki.ca) as server:
        yield server


def test_a_mongodb_that_requires_a_client_certificate_gets_the_targets_and_refuses_the_others(
    mongo_mtls: MongoServer, pki: Pki, tmp_path: Path
) -> None:
    (cert, key), (their_cert, their_key) = pki.client, pki.stranger
    both = tmp_path / "client-and-key.pem"  # one file holding both, as pymongo's own option takes
    both.write_bytes(cert.read_bytes() + key.read_bytes())
    both.chmod(0o600)
    common = f"kind: mongodb, port: {mongo_mtls.port}"
    ca = f"caFile: '{pki.ca}'"
    config = collector_config(
        [
            f"name: mutual, {common}, canary: true, connections: [cold, warm],"
            f" tls: {{{ca}, certFile: '{cert}', keyFile: '{key}'}}",
            f"name: one-file, {common}, tls: {{{ca}, certFile: '{both}', keyFile: '{both}'}}",
            f"name: none, {common}, tls: {{{ca}}}",
            f"name: stranger, {common}, tls: {{{ca}, certFile: '{their_cert}', keyFile: '{their_key}'}}",
        ],
        f"interval: {(DEADLINE + 0.5) * 1000:.0f}ms, timeout: {DEADLINE:g}s, connections: [cold]",
    )
    fds_before = set(os.listdir("/proc/self/fd"))
    history = runs_of_each(config, "mongo-mtls.yaml", logger="sloctl.collector.mongomtls", runs=2, timeout=60)
    mutual, one_file = history["mutual"], history["one-file"]
    assert mutual and all(r.ok for r in mutual), [r.error for r in mutual]
    assert {r.connection for r in mutual} == {"cold", "warm"}, mutual
    assert all(r.durations.keys() >= {"query", "canary"} for r in mutual), mutual
    assert one_file and all(r.ok for r in one_file), [r.error for r in one_file]
    none, stranger = history["none"], history["stranger"]
    assert {r.reason for r in none} == {"tls"}, [(r.reason, r.error) for r in none]
    assert all(r.error and "requires a client certificate" in r.error for r in none), none
    assert {r.reason for r in stranger} == {"tls"}, [(r.reason, r.error) for r in stranger]
    assert all(r.error and "does not trust" in r.error for r in stranger), stranger
    # Well before the deadline: as soon as pymongo's monitor says why (0.05–0.6 s seen), at the
    # latest when its server selection gives up: half the deadline and a monitor's beat (2.08 s seen)
    refused = none + stranger
    late = [(r.target, r.durations, r.error) for r in refused if r.durations["total"] >= DEADLINE * 0.75]
    assert not late, late
    # the in-memory joins went with the probes that made them
    assert set(os.listdir("/proc/self/fd")) <= fds_before | {"0", "1", "2"}
