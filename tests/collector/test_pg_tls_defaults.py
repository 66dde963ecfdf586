"""A postgres target's TLS is what its targets file says, not what libpq finds in the home folder:
without ``tls.certFile`` the probe presents no client certificate (libpq presented
``~/.postgresql/postgresql.crt`` when the server asked), and without ``tls.caFile`` it verifies
the server against the system's trusted CAs, as every other kind's probe does (libpq wanted
``~/.postgresql/root.crt``, and every run failed where there was none). Against a real
PostgreSQL that requires a client certificate, ``HOME`` pointed at a folder of the test's and
``SSL_CERT_FILE`` standing for the system's store."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sloctl.collector.runner import RunResult
from sloctl.servers import PostgresServer, start_postgres
from tests.collector.helpers import collector_config, runs_of_each
from tests.fixtures.certs import Pki, make_pki

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    made = make_pki(tmp_path_factory.mktemp("pg-defaults-pki"), client="platform", stranger="stranger")
    os.chmod(made.client[1], 0o600)  # libpq's rule for a client key
    return made


@pytest.fixture(scope="module")
def cert_postgres(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[PostgresServer]:
    """A PostgreSQL that requires a client certificate signed by ``pki.ca`` of role platform."""
    with start_postgres(tmp_path_factory.mktemp("pg-defaults"), tls=pki.server, client_ca=pki.ca) as server:
        yield server


def _runs(target: str) -> list[RunResult]:
    config = collector_config([target], "interval: 2s, timeout: 1500ms, connections: [cold]")

    (runs,) = runs_of_each(config, "pg-defaults.yaml", logger="sloctl.collector.pgdefaults").values()
    return runs


def test_a_client_certificate_in_the_home_folder_is_not_presented(
    cert_postgres: PostgresServer, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / ".postgresql"
    home.mkdir()
    shutil.copy(pki.client[0], home / "postgresql.crt")
    shutil.copy(pki.client[1], home / "postgresql.key")
    os.chmod(home / "postgresql.key", 0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    runs = _runs(
        f"name: pg, kind: postgres, port: {cert_postgres.port}, user: platform, database: postgres,"
        f" tls: {{caFile: '{pki.ca}'}}"
    )
    assert {r.reason for r in runs} == {"auth"}, [(r.reason, r.error) for r in runs]
    assert all(r.error and "requires a valid client certificate" in r.error for r in runs), runs


def test_without_ca_file_the_server_is_verified_against_the_systems_cas(
    cert_postgres: PostgresServer, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.postgresql/root.crt
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))  # the system's store, as OpenSSL reads it
    cert, key = pki.client
    runs = _runs(
        f"name: pg, kind: postgres, port: {cert_postgres.port}, user: platform, database: postgres,"
        f" tls: {{certFile: '{cert}', keyFile: '{key}'}}"
    )
    assert runs and all(r.ok for r in runs), [(r.reason, r.error) for r in runs]
